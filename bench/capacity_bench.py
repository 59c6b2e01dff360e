"""How many concurrent voice calls one worker host carries before callers notice.

    .venv/bin/python bench/capacity_bench.py [--quick] [--steps 1,2,4,...] [--turns K]

Prints a table, never asserts. Each call runs as LiveKit runs a job: in a process of its
own, prewarmed as the worker's job processes are (the example flows loaded and compiled,
the Silero models loaded), through the worker's real entrypoint (``serve`` with
``fake_job_context``). The caller speaks real recorded speech (espeak-ng,
``tests/data/speech_2.wav``) into the session in real time, 10 ms frames as a room
delivers them, one utterance every 3 s; the real Silero VAD cuts it out, the scripted
STT hears it, the scripted model answers (a reply, a tool and its reply, a handoff,
...; ``TURNS``), and a silent TTS speaks. No fake waits: every delay measured is the
pipeline's.

For N concurrent calls, rising (N calls started a 3 s period apart / N, so their turns
are spread as independent callers' are):

- CPU per call: the call process's CPU time over the measured window, as a share of one
  core, and how much of it is the Silero model (the threads it runs in);
- memory per call: the call process's unique set size (a job process is one call);
- turn latency: from the end of the caller's speech (the frame holding its last sample,
  delivered) to the agent's first audio frame, p50 and p95; "added" is p95 over the
  one-call median, which is the turn detector's own waits (VAD silence, endpointing);
- loop lag: how late a 50 ms timer fires in each call's event loop, p95;
- the host's CPU use over the window (what LiveKit's default load function reads).

The knee is the first N where the added latency passes 100 ms at p95 or the loop lag
20 ms at p95; the worker's default calls per core (``engine/defaults.py``) come from it.

Then one call again under cProfile, its main thread's time attributed to our code
(flowctl, excluding the stand-ins), LiveKit, the stand-ins, and the rest: our share of
a core against design's target (under 5% at one turn every 3 s); cProfile slows the
Python it watches, so the figure is an upper bound.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import pstats
import statistics
import subprocess
import sys
import time
import wave
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from flowctl.engine.defaults import CALLS_PER_CORE, LOAD_THRESHOLD  # noqa: E402

SPEECH = ROOT / "tests" / "data" / "speech_2.wav"
JOB = '{"tenant_id": "healthcare_clinic", "purpose": "appointments"}'
WARMUP = 1  # turns before the measured ones: the first of a call builds what it needs
PERIOD = 3.0  # one caller turn every 3 s (design's per-call CPU target is at this rate)
FRAME = 0.010  # a room delivers 10 ms frames
LAG_TICK = 0.050  # the loop-lag probe's timer
ADDED_LIMIT = 0.100  # callers notice: added latency p95
LAG_LIMIT = 0.020  # callers notice: loop lag p95
# Concurrent calls per core tried, rising (1 call first: the floor).
STEPS = (0.5, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 14, 16, 20, 24)
QUICK_STEPS = (0.5, 2, 4, 6, 8, 10, 12, 16, 20, 24)

# What the scripted model does in each turn, in a cycle that comes back to the start
# state: plain replies, tools with a reply after their result, handoffs (whose edge
# speaks its `say`), as a clinic call does.
_BOOKING = {
    "patient_name": "Daniel Okafor",
    "date_of_birth": "1985-06-04",
    "request_type": "book",
    "visit_reason": "annual physical",
    "preferred_day": "Tuesday",
    "preferred_time": "morning",
}
TURNS: list[list[dict[str, Any]]] = [
    [{"say": "Of course. May I have the patient's full name and date of birth?"}],
    [
        {"call": "appointment_booking", "args": _BOOKING},
        {"say": "You're booked with Dr. Marsh on Tuesday, March 11 at 10:30 AM."},
    ],
    [
        {
            "call": "transfer_to_specialist",
            "args": {"caller_name": "Daniel Okafor", "specialist_question": "ibuprofen"},
        }
    ],
    [
        {"call": "medical_lookup", "args": {"topic": "ibuprofen with lisinopril"}},
        {"say": "Occasional ibuprofen is usually fine, but ask before taking it for days."},
    ],
    [{"say": "Acetaminophen is generally the safer choice with blood pressure medicine."}],
    [{"call": "return_to_intake"}],
]
# Modules whose time is ours, and ours that stand in at the provider edge.
OURS = tuple(str(ROOT / d) + os.sep for d in ("engine", "worker", "metrics"))
STAND_INS = tuple(str(ROOT / "worker" / f) for f in ("fakes.py", "llm.py"))
SILERO = f"{os.sep}livekit{os.sep}plugins{os.sep}silero{os.sep}"  # its Python side
CHILD = "--call-process"


# --- one call, in its own process ------------------------------------------------------------


def _speech_end(path: Path) -> int:
    """The index of the 10 ms frame holding the recording's last audible sample."""
    import numpy as np

    with wave.open(str(path)) as w:
        rate = w.getframerate()
        samples = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16)
    loud = np.nonzero(np.abs(samples) > 500)[0]
    return int(loud[-1]) // int(rate * FRAME)


class _Probe:
    """What one call measured: when each utterance's speech ended, when each agent
    audio segment began, how late the loop's timers fired, and the CPU clocks at the
    measured window's edges."""

    def __init__(self, profiler: cProfile.Profile | None) -> None:
        self.speech_ends: list[float] = []
        self.audio_starts: list[float] = []
        self.lags: list[float] = []
        self.measuring = False
        self.profiler = profiler
        self.clocks: list[tuple[float, float, float]] = []  # (wall, process, main thread)
        self.done = asyncio.Event()

    def edge(self) -> None:
        """The measured window begins, or ends."""
        self.clocks.append((time.monotonic(), time.process_time(), time.thread_time()))
        self.measuring = not self.measuring
        if self.profiler is not None:
            (self.profiler.enable if self.measuring else self.profiler.disable)()
        if not self.measuring:
            self.done.set()

    async def watch_loop(self) -> None:
        while True:
            due = time.monotonic() + LAG_TICK
            await asyncio.sleep(LAG_TICK)
            if self.measuring:
                self.lags.append(max(0.0, time.monotonic() - due))

    def latencies(self) -> list[float]:
        """For each utterance, the wait until the agent's next audio began."""
        out = []
        for end in self.speech_ends:
            later = [t for t in self.audio_starts if t > end]
            if later and later[0] - end < PERIOD:
                out.append(later[0] - end)
        return out


def _room(probe: _Probe, marks: dict[int, Any]) -> Any:
    """The fake room with a microphone that delivers its frames in real time, running
    ``marks[i]()`` as frame ``i`` is delivered, and a speaker that notes when each
    audio segment begins."""
    from livekit import rtc

    from flowctl.worker.fakes import CapturingAudioOutput, FakeRoom, QueuedAudioInput

    class PacedInput(QueuedAudioInput):
        def __init__(self) -> None:
            super().__init__()
            self.due = 0.0
            self.count = 0

        async def __anext__(self) -> rtc.AudioFrame:
            frame = await super().__anext__()
            now = time.monotonic()
            self.due = max(self.due + FRAME, now - 0.2) if self.due else now
            await asyncio.sleep(max(0.0, self.due - now))
            mark = marks.get(self.count)
            self.count += 1
            if mark is not None:
                mark()
            return frame

    class NotingOutput(CapturingAudioOutput):
        async def capture_frame(self, frame: rtc.AudioFrame) -> None:
            if not self._started:
                probe.audio_starts.append(time.monotonic())
            await super().capture_frame(frame)

    room = FakeRoom()
    room.mic = PacedInput()
    room.speaker = NotingOutput()
    return room


def _call(offset: float, turns: int, profile: bool) -> dict[str, Any]:
    """One call through the worker's entrypoint, prewarmed as a job process is; its
    figures as a dict. Waits for the parent's start time on stdin."""
    from flowctl.engine.library import FileLibrary
    from flowctl.engine.spec import VADConfig
    from flowctl.worker.fakes import FakePlugins, ScriptedSTT, read_wav, silence
    from flowctl.worker.llm import Step
    from flowctl.worker.server import Services
    from flowctl.worker.session import SessionFactory, load_vads
    from flowctl.worker.warm import warm

    # The worker's prewarm, with stand-ins at the provider edge.
    library = FileLibrary.load(ROOT / "flows")
    vads = load_vads(s.compiled.flow.vad or VADConfig() for s in library.served())
    plugins = FakePlugins(stt=ScriptedSTT(["Yes, please."] * (WARMUP + turns)))
    factory = SessionFactory(plugins, vads, options={"session_close_transcript_timeout": 0.0})
    warm(factory, library.served())

    # The caller's audio, start to end: silence until each turn is due, then the
    # utterance. Marks: the model's script for a turn as its speech begins, the end of
    # its speech noted, the measured window's edges.
    # Profiled by the thread's CPU clock, so time the loop waits in epoll counts nothing.
    probe = _Probe(cProfile.Profile(time.thread_time) if profile else None)
    marks: dict[int, Any] = {}
    frames: list[Any] = []
    speech, speech_end = read_wav(SPEECH), _speech_end(SPEECH)
    steps = [[Step(**_step(s)) for s in turn] for turn in TURNS]
    for k in range(WARMUP + turns):
        at = round((k + 1) * PERIOD / FRAME)
        if k == WARMUP:
            marks[at] = probe.edge
        frames += silence((at - len(frames)) * FRAME)
        turn = steps[k % len(steps)]
        marks[at + 1] = lambda turn=turn: plugins.model.plan(turn)
        marks[at + speech_end] = lambda: probe.speech_ends.append(time.monotonic())
        frames += speech
    last = round((WARMUP + turns + 1) * PERIOD / FRAME)
    frames += silence((last + 1 - len(frames)) * FRAME)
    marks[last] = probe.edge
    room = _room(probe, marks)
    room.mic.push(frames)
    services = Services(library, factory, room=lambda ctx: room, tracer=lambda a: None)

    print("ready", flush=True)
    start_at = float(sys.stdin.readline()) + offset
    return asyncio.run(_converse(services, probe, start_at, plugins))


async def _converse(services: Any, probe: _Probe, start_at: float, plugins: Any) -> dict[str, Any]:
    from livekit.agents.testing import fake_job_context

    from flowctl.worker.server import serve

    lagging = asyncio.create_task(probe.watch_loop())
    await asyncio.sleep(max(0.0, start_at - time.monotonic()))
    with fake_job_context(job_id=f"job-{os.getpid()}", job_metadata=JOB) as ctx:
        call = await serve(ctx, services)
        assert call is not None and call.served.flow_id == "clinic"
        await probe.done.wait()
        state = call.conversation.state
    lagging.cancel()
    import psutil

    (wall0, cpu0, main0), (wall1, cpu1, main1) = probe.clocks
    wall = wall1 - wall0
    memory = psutil.Process().memory_full_info()
    result = {
        "cpu": (cpu1 - cpu0) / wall,
        "main_cpu": (main1 - main0) / wall,
        "uss": memory.uss,
        "latencies": probe.latencies(),
        "utterances": len(probe.speech_ends),
        "lags": probe.lags,
        "heard": len(plugins.ears.heard),
        "state": state,
    }
    if probe.profiler is not None:
        result["profile"] = _attribute(probe.profiler, wall)
    return result


def _step(spec: dict[str, Any]) -> dict[str, Any]:
    if "say" in spec:
        return {"kind": "say", "value": spec["say"]}
    return {"kind": "call", "value": spec["call"], "args": spec.get("args", {})}


def _attribute(profiler: cProfile.Profile, wall: float) -> dict[str, Any]:
    """The profiled thread's time by owner, as shares of one core, and our costliest
    functions."""
    stats = pstats.Stats(profiler)
    owners = dict.fromkeys(("ours", "stand-ins", "caller", "livekit", "silero", "other"), 0.0)
    ours: list[tuple[float, str]] = []
    table: dict[tuple[str, int, str], tuple[Any, ...]] = stats.stats  # type: ignore[attr-defined]
    for (filename, line, name), (_, _, tottime, _, _) in table.items():
        if filename.startswith(STAND_INS):
            owner = "stand-ins"
        elif Path(filename).name == Path(__file__).name:  # the room: frames, the probe
            owner = "caller"
        elif filename.startswith(OURS):
            owner = "ours"
            ours.append((tottime, f"{Path(filename).relative_to(ROOT)}:{line} {name}"))
        elif SILERO in filename:
            owner = "silero"
        elif f"{os.sep}livekit{os.sep}" in filename:
            owner = "livekit"
        else:
            owner = "other"
        owners[owner] += tottime
    top = [f"{t / wall * 100:6.3f}%  {where}" for t, where in sorted(ours, reverse=True)[:10]]
    return {"shares": {k: v / wall for k, v in owners.items()}, "top": top}


# --- the parent: N calls at once, N rising ----------------------------------------------------


def _pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))] if ordered else float("nan")


def _run(n: int, turns: int, *, profile: bool = False) -> list[dict[str, Any]]:
    """N call processes, prewarmed, then started together, their turns spread over the
    period; each one's figures, with the host's CPU use over the calls."""
    import psutil

    procs = [
        subprocess.Popen(
            [
                sys.executable,
                __file__,
                CHILD,
                f"--offset={i * PERIOD / n}",
                f"--turns={turns}",
                *(["--profile"] if profile else []),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for i in range(n)
    ]
    try:
        for p in procs:
            assert p.stdout is not None
            line = p.stdout.readline()
            if line.strip() != "ready":
                raise SystemExit(f"a call process did not start (exit {p.wait()})")
        start = time.monotonic() + 1.0
        for p in procs:
            assert p.stdin is not None
            p.stdin.write(f"{start}\n")
            p.stdin.flush()
        time.sleep(max(0.0, start + (WARMUP + 1) * PERIOD - time.monotonic()))
        psutil.cpu_percent()
        time.sleep(turns * PERIOD * 0.9)
        host = psutil.cpu_percent() / 100
        results = []
        for p in procs:
            out, _ = p.communicate(timeout=PERIOD * (turns + WARMUP + 4) + 60)
            if p.returncode != 0:
                raise SystemExit(f"a call process failed (exit {p.returncode})")
            results.append({**json.loads(out.strip().splitlines()[-1]), "host": host})
        return results
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()


def _row(n: int, results: list[dict[str, Any]], floor: float) -> dict[str, float]:
    latencies = [x for r in results for x in r["latencies"]]
    lags = [x for r in results for x in r["lags"]]
    missed = sum(r["utterances"] - len(r["latencies"]) for r in results)
    return {
        "n": n,
        "cpu": statistics.median(r["cpu"] for r in results),
        "silero": statistics.median(r["cpu"] - r["main_cpu"] for r in results),
        "uss": statistics.median(r["uss"] for r in results),
        "p50": _pct(latencies, 0.50),
        "p95": _pct(latencies, 0.95),
        "added": _pct(latencies, 0.95) - floor if latencies else float("inf"),
        "lag": _pct(lags, 0.95),
        "host": results[0]["host"],
        "missed": missed,
    }


HEADER = (
    f"{'calls':>5} {'CPU/call':>9} {'(Silero)':>9} {'mem/call':>9} "
    f"{'turn p50':>9} {'turn p95':>9} {'added p95':>10} {'lag p95':>8} "
    f"{'host CPU':>9} {'missed':>6}"
)


def _print(row: dict[str, float]) -> None:
    print(
        f"{row['n']:>5} {row['cpu'] * 100:>8.1f}% {row['silero'] * 100:>8.1f}% "
        f"{row['uss'] / 2**20:>6.0f} MiB {row['p50'] * 1000:>6.0f} ms {row['p95'] * 1000:>6.0f} ms "
        f"{row['added'] * 1000:>7.0f} ms {row['lag'] * 1000:>5.1f} ms {row['host'] * 100:>8.0f}% "
        f"{row['missed']:>6}",
        flush=True,
    )


def _steps(per_core: tuple[float, ...], cores: int) -> list[int]:
    return sorted({1, *(max(1, round(p * cores)) for p in per_core)})


def main(per_core: tuple[float, ...] | None, steps: list[int] | None, turns: int) -> None:
    import psutil

    cores = psutil.cpu_count() or 1
    chosen = steps or _steps(per_core or STEPS, cores)
    print(
        f"{cores} cores; one call per process, a turn every {PERIOD:g} s, {turns} turns "
        f"measured after {WARMUP} (the clinic flow; speech {SPEECH.name})"
    )
    print(HEADER)
    floor = 0.0
    held: dict[str, float] | None = None
    knee: dict[str, float] | None = None
    for n in chosen:
        row = _row(n, _run(n, turns), floor)
        if n == chosen[0]:
            floor = row["p50"]
            row["added"] = row["p95"] - floor
        _print(row)
        if _noticed(row):  # once more, so one blip of the machine is not the knee
            row = _row(n, _run(n, turns), floor)
            _print(row)
            if _noticed(row):
                knee = row
                break
        held = row
    print(
        f"with one call a turn waits {floor * 1000:.0f} ms (median), the turn detector's "
        f"own waits; callers notice past {ADDED_LIMIT * 1000:.0f} ms added at p95, or "
        f"{LAG_LIMIT * 1000:.0f} ms loop lag at p95"
    )
    if knee is None:
        print(f"knee: not reached by {chosen[-1]} calls ({chosen[-1] / cores:g} per core)")
    else:
        print(f"knee: {int(knee['n'])} calls, {knee['n'] / cores:g} per core")
    if held is not None:
        print(
            f"held: {int(held['n'])} calls, {held['n'] / cores:g} per core, at "
            f"{held['host'] * 100:.0f}% host CPU (the worker's default: {CALLS_PER_CORE:g} "
            f"calls per core is a load of 1, full at {LOAD_THRESHOLD:g})"
        )
    _profile(turns)


def _noticed(row: dict[str, float]) -> bool:
    return row["added"] > ADDED_LIMIT or row["lag"] > LAG_LIMIT or row["missed"] > 0


def _profile(turns: int) -> None:
    [result] = _run(1, turns, profile=True)
    shares = result["profile"]["shares"]
    print(
        "one call under cProfile, its event loop's thread by owner (share of one core; "
        "cProfile's own cost inflates each):"
    )
    print(
        "  " + ", ".join(f"{k} {v * 100:.2f}%" for k, v in shares.items()) + "   "
        f"(Silero's threads {(result['cpu'] - result['main_cpu']) * 100:.2f}%)"
    )
    print(f"  ours: {shares['ours'] * 100:.2f}% of a core   (target: < 5% at a turn every 3 s)")
    print("  our costliest functions (own time, share of a core):")
    for line in result["profile"]["top"]:
        print("   ", line)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="coarser steps, fewer turns")
    parser.add_argument("--steps", help="the numbers of concurrent calls, comma-separated")
    parser.add_argument("--turns", type=int, help="turns measured per call")
    parser.add_argument(CHILD, action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--offset", type=float, default=0.0, help=argparse.SUPPRESS)
    parser.add_argument("--profile", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    turns = args.turns or (3 if args.quick else 6)
    if args.call_process:
        print(json.dumps(_call(args.offset, turns, args.profile)), flush=True)
    else:
        steps = [int(n) for n in args.steps.split(",")] if args.steps else None
        main(QUICK_STEPS if args.quick else STEPS, steps, turns)
