"""What running a plain python tool costs, per call, by how it is run.

    .venv/bin/python bench/tools_bench.py [--quick]

Prints medians and p99, never asserts. A trivial function (the cost is all overhead):

1. ``asyncio.to_thread`` (asyncio's default executor: what the registry used before);
2. ``ToolThreads.run`` (the registry's own bounded pool, stuck calls counted);
3. ``ToolRegistry.call`` for a python tool (signature check, timeout, result to data);
4. a warm ``ProcessPoolExecutor`` round trip (a subprocess per registry: hung calls
   could be killed, at the price of pickling and a process per conversation);
5. a fresh interpreter per call (``subprocess.run``), for scale.
"""

from __future__ import annotations

import asyncio
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import msgspec  # noqa: E402

from flowctl.engine.spec import Tool  # noqa: E402
from flowctl.engine.threads import ToolThreads  # noqa: E402
from flowctl.engine.tools import ToolRegistry  # noqa: E402


def lookup(phone: str) -> dict[str, Any]:
    return {"patient": {"id": "P-17"}, "phone": phone}


def _report(name: str, samples: list[float]) -> None:
    ordered = sorted(samples)
    p99 = ordered[int(len(ordered) * 0.99) - 1]
    print(f"{name:<38} median {statistics.median(samples) * 1e6:8.1f} us   p99 {p99 * 1e6:8.1f} us")


async def _time(fn: Callable[[], Awaitable[Any]], repeat: int) -> list[float]:
    for _ in range(min(repeat // 10, 200)):  # warm up: threads started, caches filled
        await fn()
    out = []
    for _ in range(repeat):
        start = time.perf_counter()
        await fn()
        out.append(time.perf_counter() - start)
    return out


async def main(repeat: int) -> None:
    _report("asyncio.to_thread", await _time(lambda: asyncio.to_thread(lookup, "555"), repeat))
    threads = ToolThreads()
    _report(
        "ToolThreads.run",
        await _time(lambda: threads.run(lookup, {"phone": "555"}, name="lookup"), repeat),
    )
    threads.close()
    tool = msgspec.convert(
        {"kind": "python", "name": "lookup", "function": "tools_bench:lookup"}, Tool
    )
    registry = ToolRegistry({"lookup": tool})
    _report(
        "ToolRegistry.call (python tool)",
        await _time(lambda: registry.call(tool, {"phone": "555"}, {}), repeat),
    )
    await registry.close()
    loop = asyncio.get_running_loop()
    with ProcessPoolExecutor(1) as pool:
        _report(
            "ProcessPoolExecutor (warm)",
            await _time(lambda: loop.run_in_executor(pool, lookup, "555"), repeat),
        )
    argv = [sys.executable, "-c", "print({'phone': '555'})"]
    samples = await _time(
        lambda: asyncio.to_thread(subprocess.run, argv, check=True, capture_output=True),
        max(repeat // 200, 10),
    )
    _report("subprocess per call", samples)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent))
    asyncio.run(main(2000 if "--quick" in sys.argv else 20000))
