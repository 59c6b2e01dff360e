"""The cost of metrics on a simulated turn, against issue 17's target (under 5%).

    .venv/bin/python bench/metrics_bench.py [--quick]

Prints figures, never asserts. In one process, in prometheus_client's multiprocess mode
(what the worker's job processes record in: every increment a write to a memory-mapped
file), the same scripted turns run through a text-only AgentSession with the FlowAgent
adapter, with and without metrics, in alternating rounds so drift falls on both alike.
A turn is what a worker's turn does to the metrics: the caller's line, the model runs a
tool (`lookup_order`) and fires an edge with a parameter, the next state says its
greeting; counted are the turns (user and agent), the tool's latency, the edge. With
metrics the conversation has the worker's observer (``SessionMetrics``) and the session
the worker's hooks (transcript lines, the agent starting to speak).

1. median time per turn without and with metrics, and their ratio (target: < 1.05):
   overall, and the median of each round's ratio (on a busy machine the rounds' noise
   is larger than the difference);
2. the time spent inside the metrics' own code per turn, clocked call by call, and its
   share of a turn: the figure noise does not move;
3. the observer alone: what recording one event costs.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile

# Before prometheus_client is imported (LiveKit imports it): the worker's mode.
METRICS_DIR = tempfile.mkdtemp(prefix="flowctl-metrics-bench-")
os.environ["PROMETHEUS_MULTIPROC_DIR"] = METRICS_DIR

import asyncio  # noqa: E402
import logging  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

import msgspec  # noqa: E402
from genflow import generate  # noqa: E402
from livekit.agents import AgentSession  # noqa: E402

from flowctl.engine.compile import CompiledFlow, compile_flow  # noqa: E402
from flowctl.engine.runtime import Conversation, Fired  # noqa: E402
from flowctl.engine.spec import Flow  # noqa: E402
from flowctl.metrics import Metrics, SessionMetrics  # noqa: E402
from flowctl.worker.agent import FlowAgent  # noqa: E402
from flowctl.worker.llm import ScriptedLLM, Step  # noqa: E402
from flowctl.worker.recording import transcript_line  # noqa: E402

logging.getLogger("livekit").setLevel(logging.ERROR)

STATES = 40
TURNS = STATES - 2  # Step0 .. Step38 advance; Step39 ends the call


def _meter(session: AgentSession[Any], metrics: SessionMetrics) -> None:
    """The worker's hooks (``worker/call.py``): transcript lines and the first word."""

    def item(event: Any) -> None:
        line = transcript_line(event)
        if line is not None:
            metrics.said(line[0])

    def state(event: Any) -> None:
        if event.new_state == "speaking":
            metrics.speaking()

    session.on("conversation_item_added", item)
    session.on("agent_state_changed", state)


class Clocked(SessionMetrics):
    """The observer, clocking each call into it."""

    calls: list[float] = []  # noqa: RUF012 - one list for every instance, on purpose

    def __call__(self, event: Any, cause: Any, /) -> None:
        start = time.perf_counter()
        super().__call__(event, cause)
        Clocked.calls.append(time.perf_counter() - start)

    def said(self, role: str) -> None:
        start = time.perf_counter()
        super().said(role)
        Clocked.calls.append(time.perf_counter() - start)

    def speaking(self) -> None:
        start = time.perf_counter()
        super().speaking()
        Clocked.calls.append(time.perf_counter() - start)


async def conversation(
    compiled: CompiledFlow, model: ScriptedLLM, metrics: Metrics | None, *, clocked: bool = False
) -> list[float]:
    """One call of ``TURNS`` turns; the seconds each turn took."""
    observer = None
    if metrics is not None:
        kind = Clocked if clocked else SessionMetrics
        observer = kind(metrics, "bench", compiled.flow_id, job_started=time.monotonic())
    conv = Conversation(compiled, variables={"customer": "Ana"}, observer=observer)
    times: list[float] = []
    async with AgentSession(llm=model, max_tool_steps=compiled.max_tool_steps) as session:
        if observer is not None:
            _meter(session, observer)
            observer.started()
        await session.start(await FlowAgent.open(conv))
        for i in range(TURNS):
            model.plan([Step.call("lookup_order"), Step.call(f"advance_{i}", {f"note_{i}": "ok"})])
            start = time.perf_counter()
            await session.run(user_input="next please")
            times.append(time.perf_counter() - start)
            assert conv.state == f"Step{i + 1}", conv.state
    if observer is not None:
        observer.ended("hangup")
    conv.close()
    model.requests.clear()
    model.contexts.clear()
    return times


async def turns(rounds: int) -> tuple[list[float], list[float], list[float], list[float], int]:
    """Per-turn seconds without and with metrics, each round's ratio of medians, and
    the seconds of each call into the metrics in the clocked runs, and their turns."""
    compiled = compile_flow(msgspec.convert(generate(STATES), Flow))
    model = ScriptedLLM()
    metrics = Metrics.shared()
    await conversation(compiled, model, None)  # warm-up: imports, first session
    await conversation(compiled, model, metrics)
    bare: list[float] = []
    metered: list[float] = []
    ratios: list[float] = []
    for r in range(rounds):
        order = (None, metrics) if r % 2 == 0 else (metrics, None)
        got: dict[bool, list[float]] = {}
        for m in order:
            got[m is not None] = await conversation(compiled, model, m)
        bare += got[False]
        metered += got[True]
        ratios.append(statistics.median(got[True]) / statistics.median(got[False]))
    clocked = 0
    for _ in range(rounds):
        clocked += len(await conversation(compiled, model, metrics, clocked=True))
    return bare, metered, ratios, Clocked.calls, clocked


def observer_cost(events: int) -> float:
    """Seconds per event the observer records (an edge fired, its series known)."""
    observer = Metrics.shared().session("bench", "observer")
    fired = Fired(at=0.0, edge="advance_0", source="Step0", target="Step1")
    observer(fired, None)
    start = time.perf_counter()
    for _ in range(events):
        observer(fired, None)
    return (time.perf_counter() - start) / events


def main() -> None:
    quick = "--quick" in sys.argv
    rounds = 4 if quick else 20
    try:
        bare, metered, ratios, calls, clocked = asyncio.run(turns(rounds))
        a, b = statistics.median(bare), statistics.median(metered)
        print(f"metrics on a simulated turn ({len(bare)} turns each, multiprocess mode):")
        print(f"  without metrics      median {a * 1000:7.3f} ms")
        print(f"  with metrics         median {b * 1000:7.3f} ms")
        print(f"  ratio                {b / a:7.3f}   (target: < 1.05)")
        print(f"  ratio, by round      {statistics.median(ratios):7.3f}   (median of {rounds})")
        per_turn = len(calls) / clocked
        own = statistics.median(calls) * per_turn
        print(
            f"  metrics' own time    {own * 1e6:7.1f} us per turn: {per_turn:.1f} calls of "
            f"{statistics.median(calls) * 1e6:.2f} us (medians), {own / a:.2%} of a turn"
        )
        cost = observer_cost(20_000 if quick else 200_000)
        print(f"observer alone: {cost * 1e6:.2f} us per event recorded")
    finally:
        shutil.rmtree(METRICS_DIR, ignore_errors=True)


if __name__ == "__main__":
    main()
