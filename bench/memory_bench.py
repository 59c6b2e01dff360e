"""Caller memory at call start against issue 18's target: loading what is remembered
about the caller adds under 2 ms p99 to a call's start.

    .venv/bin/python bench/memory_bench.py [--quick]

Prints medians and p99s, never asserts, for each backend: a fresh SQLite file (WAL
mode, as `flowctl store init` makes it), and a fresh schema on the PostgreSQL server at
$FLOWCTL_TEST_POSTGRES (default postgresql://postgres@127.0.0.1:5432/test; skipped,
saying why, when unreachable). The tenant remembers 10,000 callers (each a few values
and a summary, as the clinic example keeps them).

What a call start adds (worker/call.py): ``TenantStore.recall(caller)`` (one indexed
read), and the conversation starting with it (the values converted to their types, the
note for the prompt), measured as a Conversation with the memory minus one without.
Idle, then while calls end around it (a memory written every 2 ms in the same process,
as a worker's calls ending beside the one starting).
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from flowctl.engine.boundary import TenantPolicy  # noqa: E402
from flowctl.engine.cache import FlowCache  # noqa: E402
from flowctl.engine.compile import CompiledFlow  # noqa: E402
from flowctl.engine.runtime import Conversation  # noqa: E402
from flowctl.engine.store import Remembered, TenantStore, open_store  # noqa: E402
from flowctl.engine.store.documents import push_document  # noqa: E402

CALLERS = 10_000
PG_DEFAULT = "postgresql://postgres@127.0.0.1:5432/test"
SUMMARY = "Daniel Okafor booked his annual physical with Dr. Marsh for Tuesday, March 11."


def _ms(value: float) -> str:
    return f"{value * 1000:.3f} ms"


def _p99(samples: list[float]) -> float:
    return sorted(samples)[int(len(samples) * 0.99)]


def _caller(i: int) -> str:
    return f"+1555{i:07d}"


def _memory(i: int) -> Remembered:
    return Remembered(
        flow_id="clinic",
        session_id=f"call-{i}",
        variables={
            "patient_name": f"Patient {i}",
            "appointment_time": "Tuesday, March 11 at 10:30 AM",
            "appointment_id": f"APT-{i:05d}",
            "insurance_plan": "Blue Cross PPO Gold",
        },
        summary=SUMMARY,
        outcome="end_state",
        ttl_days=180,
    )


async def _fill(url: str, callers: int) -> None:
    async with await open_store(url, create=True) as store:
        policy = TenantPolicy(transfer_to=["tel:+15555550100"])  # the clinic's front desk
        await store.create_tenant("acme", actor="bench", policy=policy)
        t = store.tenant("acme")
        clinic = (ROOT / "flows" / "clinic.json").read_text()
        await push_document(t, clinic, actor="bench", flow_id="clinic")
        await t.publish("clinic", 1, actor="bench")
        for start in range(0, callers, 500):
            await asyncio.gather(
                *(t.remember(_caller(i), _memory(i)) for i in range(start, start + 500))
            )


async def _starts(
    t: TenantStore, compiled: CompiledFlow, n: int, callers: int
) -> tuple[list[float], list[float], list[float]]:
    """``n`` call starts of remembered callers: the recall alone, the conversation with
    what it read, and a conversation of the same caller without memory (the baseline)."""
    reads, withs, withouts = [], [], []
    for k in range(n):
        caller = _caller((k * 7919) % callers)  # spread over the table
        start = time.perf_counter()
        memory = await t.recall(caller)
        read = time.perf_counter()
        conv = Conversation(compiled, memory=memory, caller=caller)
        done = time.perf_counter()
        conv.close()
        bare_start = time.perf_counter()
        bare = Conversation(compiled, caller=caller)
        bare_done = time.perf_counter()
        bare.close()
        assert memory is not None and conv.memory_note is not None
        reads.append(read - start)
        withs.append(done - start)
        withouts.append(bare_done - bare_start)
    return reads, withs, withouts


async def _ending(t: TenantStore, until: asyncio.Future[object], callers: int) -> int:
    """Calls ending beside the starts: a memory written every 2 ms; how many."""
    written = 0
    while not until.done():
        await t.remember(_caller(written % callers), _memory(written))
        written += 1
        await asyncio.sleep(0.002)
    return written


def _report(label: str, reads: list[float], withs: list[float], withouts: list[float]) -> float:
    added = [w - b for w, b in zip(withs, withouts, strict=True)]
    p99 = _p99(added)
    print(f"   {label}:")
    median, p99_read = _ms(statistics.median(reads)), _ms(_p99(reads))
    print(f"     recall (one indexed read): median {median}, p99 {p99_read}")
    print(
        f"     start with memory: median {_ms(statistics.median(withs))}, p99 {_ms(_p99(withs))}; "
        f"without: median {_ms(statistics.median(withouts))}, p99 {_ms(_p99(withouts))}"
    )
    print(
        f"     added by memory: median {_ms(statistics.median(added))}, p99 {_ms(p99)}   "
        f"target p99 < 2 ms   {'OK' if p99 < 0.002 else 'MISS'}"
    )
    return p99


async def _backend(name: str, url: str, n: int, callers: int) -> None:
    print(f"{name}: {callers:,} callers remembered")
    start = time.perf_counter()
    await _fill(url, callers)
    print(f"   filled in {time.perf_counter() - start:.1f} s")
    async with await open_store(url) as store:
        t = store.tenant("acme")
        compiled = await FlowCache().compiled(t, "clinic")
        await _starts(t, compiled, 200, callers)  # warm up
        _report("idle", *await _starts(t, compiled, n, callers))
        until: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        ending = asyncio.create_task(_ending(t, until, callers))
        busy = await _starts(t, compiled, n, callers)
        until.set_result(None)
        written = await ending
        _report(f"while {written:,} calls ended beside them", *busy)


async def _postgres_url() -> tuple[str | None, str]:
    import asyncpg

    base = os.environ.get("FLOWCTL_TEST_POSTGRES", PG_DEFAULT)
    try:
        conn = await asyncpg.connect(base, timeout=3)
    except (OSError, TimeoutError, asyncpg.PostgresError) as exc:
        return None, f"no PostgreSQL server at {base} ({type(exc).__name__})"
    schema = f"flowctl_bench_{os.getpid()}"
    await conn.execute(f'CREATE SCHEMA "{schema}"')
    await conn.close()
    return f"{base}{'&' if '?' in base else '?'}schema={schema}", schema


async def _drop(schema: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(os.environ.get("FLOWCTL_TEST_POSTGRES", PG_DEFAULT))
    await conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
    await conn.close()


async def main(quick: bool) -> None:
    n = 1000 if quick else 5000
    callers = 2000 if quick else CALLERS
    with tempfile.TemporaryDirectory() as folder:
        await _backend("SQLite", f"sqlite:///{folder}/bench.db", n, callers)
    url, schema = await _postgres_url()
    if url is None:
        print(f"PostgreSQL: skipped, {schema}")
        return
    try:
        await _backend("PostgreSQL", url, n, callers)
    finally:
        await _drop(schema)


if __name__ == "__main__":
    asyncio.run(main("--quick" in sys.argv))
