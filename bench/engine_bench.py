"""Engine performance against the targets of the engine issue.

    .venv/bin/python bench/engine_bench.py [--quick]

Prints medians (and p99 where asked), never asserts.

1. Compile a 20-state flow (target: median under 2 ms) and a 5,000-state flow (under
   1 s), lint's error rules included.
2. A new Conversation on a compiled flow (under 300 us median), beside transitions' own
   `Machine.add_model` on the same machine, measured in the same run.
3. `fire` for a handoff with argument validation (under 30 us median, 100 us p99).
4. Paths covering every edge of a 500-state flow (under 1 s).
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import msgspec  # noqa: E402
from genflow import generate  # noqa: E402
from timing import time_calls  # noqa: E402
from transitions import Machine  # noqa: E402

from flowctl.engine.compile import CompiledFlow, compile_flow  # noqa: E402
from flowctl.engine.paths import cover  # noqa: E402
from flowctl.engine.runtime import Conversation, Handoff  # noqa: E402
from flowctl.engine.spec import Flow  # noqa: E402


def _ms(samples: list[float]) -> str:
    return f"{statistics.median(samples) * 1000:.2f} ms"


def _us(value: float) -> str:
    return f"{value * 1e6:.1f} us"


def _against(measured: str, target: str, ok: bool) -> str:
    """A result line: what was measured, its target, and whether it met it."""
    return f"   {measured}   target {target}   {'OK' if ok else 'MISS'}"


def _compiled(states: int) -> CompiledFlow:
    """A generated flow of ``states`` states, compiled."""
    return compile_flow(msgspec.convert(generate(states), Flow))


def bench_compile(quick: bool) -> None:
    small = msgspec.convert(generate(20), Flow)
    big = msgspec.convert(generate(5000), Flow)
    compile_flow(small)
    s = time_calls(lambda: compile_flow(small), 20 if quick else 200)
    b = time_calls(lambda: compile_flow(big), 2 if quick else 5)
    ok_s = statistics.median(s) < 0.002
    ok_b = statistics.median(b) < 1
    print("1. compile (lint error rules + types + machine)")
    print(_against(f"20 states: median {_ms(s)}", "< 2 ms", ok_s))
    print(_against(f"5,000 states: median {_ms(b)}", "< 1000 ms", ok_b))
    plain = time_calls(lambda: compile_flow(small, check=False), 20 if quick else 200)
    print(f"   (20 states without the lint pass: median {_ms(plain)})")


def bench_conversation(quick: bool) -> None:
    compiled = _compiled(20)
    n = 2000 if quick else 20000
    convs = []

    def new() -> None:
        convs.append(Conversation(compiled))

    samples = time_calls(new, n)
    for c in convs:
        c.close()
    # transitions' own add_model on a machine of the same shape (states, transitions)
    rows = [{"trigger": r.trigger, "source": r.source, "dest": r.dest} for r in compiled.table]
    machine = Machine(
        model=None,
        states=list(compiled.state_index),
        transitions=rows,
        initial=compiled.states[0].name,
        auto_transitions=False,
    )

    class Model:
        pass

    models: list[Model] = []
    baseline = time_calls(lambda: (models.append(Model()), machine.add_model(models[-1])), n // 10)
    m, b = statistics.median(samples), statistics.median(baseline)
    print(f"2. new Conversation ({len(compiled.table)} transitions, {n:,} sessions)")
    print(_against(f"median {_us(m)}", "< 300 us", m < 300e-6))
    print(
        f"   transitions' Machine.add_model on the same machine: median {_us(b)} "
        f"(Conversation is {b / m:.1f}x faster)"
    )


def bench_fire(quick: bool) -> None:
    compiled = _compiled(20)
    n = 5000 if quick else 50000

    async def run() -> list[float]:
        samples = []
        conv = Conversation(compiled, variables={"customer": "Ana"})
        for _ in range(n):
            i = int(conv.state[4:])
            if conv.ended is not None or i >= 18:
                conv.close()
                conv = Conversation(compiled, variables={"customer": "Ana"})
                i = 0
            start = time.perf_counter()
            outcome = await conv.fire(f"advance_{i}", {f"note_{i}": "ok"})
            samples.append(time.perf_counter() - start)
            assert isinstance(outcome, Handoff), outcome
        return samples

    samples = asyncio.run(run())
    samples.sort()
    med, p99 = statistics.median(samples), samples[int(len(samples) * 0.99)]
    ok = med < 30e-6 and p99 < 100e-6
    print(f"3. fire: handoff with argument validation and a rendered `say` ({n:,} fires)")
    print(_against(f"median {_us(med)}, p99 {_us(p99)}", "< 30 us, < 100 us", ok))


def bench_paths(quick: bool) -> None:
    compiled = _compiled(500)
    samples = time_calls(lambda: cover(compiled), 2 if quick else 5)
    coverage = cover(compiled)
    edges = sum(len(s.edges) for s in compiled.states if not s.end)
    ok = statistics.median(samples) < 1 and not coverage.uncovered
    print(f"4. paths covering every edge of a 500-state flow ({edges:,} edges offered)")
    measured = (
        f"median {_ms(samples)}, {len(coverage.paths)} paths, "
        f"{len(coverage.uncovered)} edges uncovered"
    )
    print(_against(measured, "< 1000 ms", ok))


def main() -> None:
    quick = "--quick" in sys.argv
    bench_compile(quick)
    bench_conversation(quick)
    bench_fire(quick)
    bench_paths(quick)


if __name__ == "__main__":
    main()
