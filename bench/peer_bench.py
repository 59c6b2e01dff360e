"""flowctl against Pipecat Flows and against LiveKit Agents written by hand: the same
restaurant reservation flow, the same scripted conversation, the same fixed model
latency, side by side (issue 20).

    make bench-peers              # or, once .venv-peers exists:
    .venv-peers/bin/python bench/peer_bench.py [--quick]

The flow has four states (greeting, another time, confirmation, goodbye) and branches on
the booking system's answer: seven o'clock is full, nine is free, then the caller needs
nothing else; three transitions a call (``bench/peers/script.py``). flowctl runs
``bench/peers/reservation.json`` through the ``FlowAgent`` adapter in a text-only LiveKit
``AgentSession`` (``bench/peers/flowctl_side.py``); Pipecat Flows runs the same nodes in
a text-only pipeline with its own OpenAI service, the request to OpenAI replaced by a
script (``bench/peers/pipecat_side.py``); LiveKit by hand is the flow written for LiveKit
Agents the way its docs write multi-agent flows, an ``Agent`` a state and a handoff a
transition, in the same session, with the same scripted model, as flowctl's
(``bench/peers/livekit_side.py``, sharing ``bench/peers/livekit_text.py`` with flowctl's
side). Each side is measured in two forms: where a state speaks fixed words (flowctl's
greeting, Pipecat's ``tts_say`` pre-action, ``session.say`` in LiveKit's ``on_enter``)
and where it speaks through the model on entering (flowctl's ``on_enter``, Pipecat's
``respond_immediately``, the form of Pipecat's restaurant example, and
``session.generate_reply`` in LiveKit's ``on_enter``).

Measured, medians of several runs, interleaved so the machine's drift hits every row
alike:

- model calls per transition: the model's chat requests after the transition's
  function call, before the caller speaks again (or the call ends);
- dead air: from the transition's function call reaching the framework (the model's
  stream handing it on: flowctl's and LiveKit's agents read it, Pipecat's OpenAI service
  reads it) to the new state's first words reaching the output (flowctl and
  LiveKit: the session's text output; Pipecat: the ``LLMTextFrame`` or ``TTSSpeakFrame``
  after the LLM), with 0 ms and 400 ms model latency (the model's time to first token,
  the same on every side);
- CPU time per turn: the process's CPU time (``time.process_time``) over a batch of whole
  calls at 0 ms latency, divided by the caller's turns in it; minus nothing (session
  start, greeting and teardown included);
- memory per session: Python heap (``tracemalloc``) grown by K sessions started, greeted
  and waiting for the caller, divided by K.

Both frameworks log warnings only (LiveKit's and Pipecat's debug logging off). All run
in one process, in ``.venv-peers``: flowctl's dependencies at uv.lock's versions but
protobuf (6.x there; Pipecat needs < 7), Pipecat's at ``bench/peers/requirements.txt``'s.
"""

from __future__ import annotations

import asyncio
import gc
import importlib.metadata
import logging
import platform
import statistics
import subprocess
import sys
import textwrap
import time
import tracemalloc
import warnings
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, NamedTuple

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench" / "peers"))

from loguru import logger  # noqa: E402

# Both frameworks' logs at warnings, before Pipecat is imported (it logs a banner).
logging.getLogger("livekit").setLevel(logging.ERROR)
logger.remove()
logger.add(sys.stderr, level="WARNING")
_show = warnings.showwarning


def _quiet(message: Any, category: type[Warning], filename: str, *args: Any) -> None:
    """Pipecat 1.14 warns that its own built-in ``tts_say`` and ``end_conversation``
    handlers use a deprecated signature, under an ``always`` filter of its own that no
    filter of ours can override; its deprecations are not ours to act on."""
    if not (issubclass(category, DeprecationWarning) and "/pipecat/" in filename):
        _show(message, category, filename, *args)


warnings.showwarning = _quiet

import flowctl_side  # noqa: E402
import livekit_side  # noqa: E402
import pipecat_side  # noqa: E402
from script import TURNS, Marks  # noqa: E402

LATENCIES = (0.0, 0.4)


class Row(NamedTuple):
    side: str  # "flowctl", "Pipecat Flows" or "LiveKit by hand"
    form: str  # how its states speak on entering
    converse: Callable[[float], Awaitable[Marks]]
    bare: Callable[[], Awaitable[Marks]]  # a whole call, untimed, at 0 ms
    open_idle: Callable[[], Awaitable[Any]]
    close_idle: Callable[[Any], Awaitable[None]]


def _flowctl(form: str, *, model_speaks: bool) -> Row:
    compiled = flowctl_side.load(model_speaks=model_speaks)
    return Row(
        "flowctl",
        form,
        lambda latency: flowctl_side.converse(compiled, latency=latency, model_speaks=model_speaks),
        lambda: flowctl_side.converse(
            compiled, latency=0.0, model_speaks=model_speaks, timed=False
        ),
        lambda: flowctl_side.open_idle(compiled, model_speaks=model_speaks),
        flowctl_side.close_idle,
    )


def _pipecat(form: str, kind: pipecat_side.Form) -> Row:
    return Row(
        "Pipecat Flows",
        form,
        lambda latency: pipecat_side.converse(kind, latency=latency),
        lambda: pipecat_side.converse(kind, latency=0.0),
        lambda: pipecat_side.open_idle(kind),
        pipecat_side.close_idle,
    )


def _livekit(form: str, kind: livekit_side.Form) -> Row:
    return Row(
        "LiveKit by hand",
        form,
        lambda latency: livekit_side.converse(kind, latency=latency),
        lambda: livekit_side.converse(kind, latency=0.0, timed=False),
        lambda: livekit_side.open_idle(kind),
        livekit_side.close_idle,
    )


# Like for like, in threes: fixed words on entering a state, then the model speaking.
ROWS = [
    _flowctl("on_enter_prompt", model_speaks=False),
    _pipecat("tts_say pre-action", "tts_say"),
    _livekit("session.say", "say"),
    _flowctl("on_enter", model_speaks=True),
    _pipecat("respond_immediately", "llm"),
    _livekit("generate_reply", "generate_reply"),
]
LEGEND = (
    "Fixed words on entering a state: flowctl's greeting (on_enter_prompt), Pipecat's "
    "tts_say pre-action with respond_immediately=False. The model speaks on entering: "
    "flowctl's on_enter (a terminal state still says fixed words and ends the call), "
    "Pipecat's respond_immediately (the form of its restaurant example). LiveKit by hand: "
    "an Agent a state, a tool returning the next Agent, whose on_enter calls session.say "
    "with the fixed words or session.generate_reply with the state's task (a terminal "
    "state says fixed words and ends the call); the same session, model and clock as "
    "flowctl's. Medians. Model "
    "calls: after each transition's function call, before the caller speaks again. Dead "
    "air: from the function call reaching the framework to the new state's first words at "
    "the output. CPU: process time of whole calls at 0 ms (start and teardown included) "
    "over the caller's turns. Memory: Python heap of a session greeted and waiting."
)


class Result:
    def __init__(self) -> None:
        self.dead_air: dict[float, list[float]] = {latency: [] for latency in LATENCIES}
        self.calls_after: list[int] = []
        self.cpu: list[float] = []
        self.memory = 0.0


async def _measure(quick: bool) -> list[Result]:
    results = [Result() for _ in ROWS]
    for row in ROWS:  # warm-up: lazy imports, first-session costs
        for _ in range(3):
            (await row.converse(0.0)).check()
    for latency in LATENCIES:
        for _ in range(3 if quick else 9):
            for row, result in zip(ROWS, results, strict=True):
                marks = await row.converse(latency)
                marks.check()
                result.dead_air[latency] += marks.dead_air
                if latency == 0.0:
                    result.calls_after = marks.calls_after  # the same every call
    batch = 10 if quick else 30
    for _ in range(3 if quick else 7):
        for row, result in zip(ROWS, results, strict=True):
            gc.collect()
            start = time.process_time()
            for _ in range(batch):
                await row.bare()
            result.cpu.append((time.process_time() - start) / (batch * len(TURNS)))
    sessions = 10 if quick else 50
    for row, result in zip(ROWS, results, strict=True):
        gc.collect()
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        idle = [await row.open_idle() for _ in range(sessions)]
        gc.collect()
        result.memory = (tracemalloc.get_traced_memory()[0] - before) / sessions
        tracemalloc.stop()
        for one in idle:
            await row.close_idle(one)
    return results


def _versions() -> str:
    commit = subprocess.run(
        ["git", "describe", "--always", "--dirty"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    version = importlib.metadata.version
    return (
        f"flowctl {commit or 'unknown'} and LiveKit by hand on livekit-agents "
        f"{version('livekit-agents')}; pipecat-ai {version('pipecat-ai')} (Pipecat Flows as "
        "pipecat.flows); "
        f"Python {platform.python_version()}"
    )


def _median_ms(values: list[float]) -> float:
    return statistics.median(values) * 1000


def _calls(result: Result) -> str:
    calls = result.calls_after
    return f"{sum(calls) / len(calls):.2f} {str(tuple(calls)).replace(' ', '')}"


def _target(text: str) -> None:
    print(textwrap.fill(f"target: {text}", width=114, subsequent_indent="  "))


def _print(results: list[Result], quick: bool) -> None:
    print(
        "flowctl against Pipecat Flows and LiveKit Agents by hand: one reservation flow, "
        "3 transitions a call, text only"
    )
    print(_versions() + (" (--quick)" if quick else ""))
    lines = [
        ("", [row.side for row in ROWS]),
        ("", [row.form for row in ROWS]),
        ("model calls a transition", [_calls(r) for r in results]),
        *(
            (
                f"dead air, {latency * 1000:.0f} ms model",
                [f"{_median_ms(r.dead_air[latency]):.2f} ms" for r in results],
            )
            for latency in LATENCIES
        ),
        ("CPU a turn", [f"{_median_ms(r.cpu):.2f} ms" for r in results]),
        ("memory a session", [f"{r.memory / 1024:.0f} KiB" for r in results]),
    ]
    for label, cells in lines:
        print(f"{label:<26}" + "".join(f"{cell:>21}" for cell in cells).rstrip())
    print(textwrap.fill(LEGEND, width=114))
    fixed, say, by_hand, entry, llm, by_hand_entry = results
    for latency in LATENCIES:
        ours, ours_entry = (_median_ms(r.dead_air[latency]) for r in (fixed, entry))
        theirs_say, theirs_llm = (_median_ms(r.dead_air[latency]) for r in (say, llm))
        verdict = ours <= min(theirs_say, theirs_llm) and ours_entry <= theirs_llm
        _target(
            f"dead air with a {latency * 1000:.0f} ms model no worse than Pipecat Flows': "
            f"{'OK' if verdict else 'MISS'} (fixed greeting {ours:.2f} ms against tts_say "
            f"{theirs_say:.2f} ms and respond_immediately {theirs_llm:.2f} ms; model on entry "
            f"{ours_entry:.2f} ms against respond_immediately {theirs_llm:.2f} ms)"
        )
    ours_calls, theirs_calls = (sum(r.calls_after) / len(r.calls_after) for r in (fixed, llm))
    _target(
        "fewer model calls a transition where the state speaks a fixed greeting: "
        f"{'OK' if ours_calls < theirs_calls else 'MISS'} ({ours_calls:.2f} against "
        f"respond_immediately's {theirs_calls:.2f}; Pipecat's tts_say form makes "
        f"{sum(say.calls_after) / len(say.calls_after):.2f})"
    )
    ratios = [
        f"{form} {_ratio(ours, theirs, latency)}"
        for form, ours, theirs in (
            ("fixed words", fixed, by_hand),
            ("model on entry", entry, by_hand_entry),
        )
        for latency in LATENCIES
    ]
    print(
        textwrap.fill(
            "flowctl's dead air over LiveKit's by hand: " + "; ".join(ratios),
            width=114,
            subsequent_indent="  ",
        )
    )


def _ratio(ours: Result, theirs: Result, latency: float) -> str:
    a, b = (_median_ms(r.dead_air[latency]) for r in (ours, theirs))
    return (
        f"with a {latency * 1000:.0f} ms model {a / b:.2f}x ({a:.2f} ms against {b:.2f} ms, "
        f"{a - b:+.2f} ms)"
    )


def main() -> None:
    quick = "--quick" in sys.argv
    _print(asyncio.run(_measure(quick)), quick)


if __name__ == "__main__":
    main()
