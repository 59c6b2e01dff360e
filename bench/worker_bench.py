"""Session start in the voice worker, warm, against design.md's target.

    .venv/bin/python bench/worker_bench.py [--quick]

Prints medians and p99s, never asserts. A job process as LiveKit prewarms it (the
example flows loaded, linted and compiled, the Silero model loaded), then, for jobs
spread over the five example flows, the steps from a job's start to its first state's
agent being ready (no room: connecting is LiveKit's and the network's):

1. route: the job's metadata to a tenant's flow (``flowctl.engine.routing.route``);
2. lookup + conversation: the compiled flow from the library, the input variables,
   a new ``Conversation`` (target: p99 under 2 ms);
3. session factory: the plugin objects for the start state (Deepgram STT, OpenAI LLM
   and TTS, with dummy keys: building them touches no network), the ``AgentSession``
   and the first ``FlowAgent`` (its tools, instructions, voice);
4. all of it, one job after another.

Before those, the first job of a process, twice: in this process, which has not
prewarmed (the plugins' lazy imports land on that job), and in a fresh process that ran
the worker's prewarm first (``worker/warm.py``), as LiveKit's job processes do; the
prewarmed one against its targets (under 20 ms, and within 10x a warm start).
"""

from __future__ import annotations

import asyncio
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from flowctl.engine.library import FileLibrary, session_variables  # noqa: E402
from flowctl.engine.routing import Rejected, Routed, route  # noqa: E402
from flowctl.engine.runtime import Conversation  # noqa: E402
from flowctl.engine.spec import VADConfig  # noqa: E402
from flowctl.worker.agent import FlowAgent  # noqa: E402
from flowctl.worker.call import CallSession  # noqa: E402
from flowctl.worker.session import Plugins, SessionFactory, load_vads  # noqa: E402
from flowctl.worker.warm import warm  # noqa: E402

JOBS = [
    '{"tenant_id": "dynamic-co", "purpose": "sales", "user_id": "u-1", '
    '"user_details": {"lead_first_name": "Ana", "lead_company": "Brightloop"}}',
    '{"tenant_id": "dynamic-co", "purpose": "support", "user_id": "u-2"}',
    '{"tenant_id": "dynamic-co", "user_details": {"is_new_user": true}}',
    '{"tenant_id": "dynamic-co", "agent_id": "interview"}',
    '{"tenant_id": "healthcare_clinic", "purpose": "appointments"}',
]
KEYS = {"OPENAI_API_KEY": "sk-bench", "DEEPGRAM_API_KEY": "dg-bench"}
# The first job of a prewarmed process (design.md, issue 15): absolute, and against a
# warm start of the same process.
FIRST_JOB_TARGET = 0.020
FIRST_JOB_RATIO = 10
PREWARMED = "--prewarmed-first-job"  # run as the fresh process that measures it


def _ms(value: float) -> str:
    return f"{value * 1000:.3f} ms"


def _p99(samples: list[float]) -> float:
    return sorted(samples)[int(len(samples) * 0.99)]


def _report(name: str, samples: list[float], target: str = "") -> None:
    line = f"{name:<34} median {_ms(statistics.median(samples)):>11}   p99 {_ms(_p99(samples)):>11}"
    print(line + (f"   (target: {target})" if target else ""))


async def _job(
    library: FileLibrary, factory: SessionFactory, metadata: str, n: int, times: dict
) -> None:  # type: ignore[type-arg]
    t0 = time.perf_counter()
    decision = route(library, metadata)
    assert isinstance(decision, Routed), decision
    t1 = time.perf_counter()
    served = await library.compiled(decision.tenant_id, decision.flow_id, decision.version)
    variables, _ = session_variables(served.compiled, decision.user_details)
    conv = Conversation(served.compiled, variables=variables, session_id=f"job-{n}")
    t2 = time.perf_counter()
    models = factory.models(conv)
    session = CallSession(before_shutdown=lambda: None, **models.session_options())
    agent = await FlowAgent.open(conv, voice=models.voice)
    t3 = time.perf_counter()
    times["route"].append(t1 - t0)
    times["lookup"].append(t2 - t1)
    times["factory"].append(t3 - t2)
    times["total"].append(t3 - t0)
    del agent, session
    conv.close()
    await models.aclose()


async def main(quick: bool) -> None:
    start = time.perf_counter()
    library = FileLibrary.load(ROOT / "flows")
    vads = load_vads(s.compiled.flow.vad or VADConfig() for s in library.served())
    flows, took = len(library.served()), time.perf_counter() - start
    print(f"prewarm (load, lint, compile {flows} flows; load Silero): {_ms(took)}")
    factory = SessionFactory(Plugins(env=KEYS), vads)
    rejected = route(library, '{"tenant_id": "dynamic-co", "flow_id": "clinic"}')
    assert isinstance(rejected, Rejected)

    # Warm-up: the first session of a process imports the plugins' lazy modules.
    lazy: dict[str, list[float]] = {k: [] for k in ("route", "lookup", "factory", "total")}
    await _job(library, factory, JOBS[0], 0, lazy)
    print(f"first job of a process (lazy imports): {_ms(lazy['total'][0])}")
    for i in range(50):
        await _job(
            library,
            factory,
            JOBS[i % len(JOBS)],
            i,
            {k: [] for k in ("route", "lookup", "factory", "total")},
        )

    n = 200 if quick else 2000
    times: dict[str, list[float]] = {k: [] for k in ("route", "lookup", "factory", "total")}
    for i in range(n):
        await _job(library, factory, JOBS[i % len(JOBS)], i, times)
    print(f"{n} job starts over the 5 example flows:")
    _report("1. route", times["route"])
    _report("2. lookup + conversation", times["lookup"], "p99 < 2 ms")
    _report("3. session factory + first agent", times["factory"])
    _report("4. job start to agent ready", times["total"], "median < 5 ms")
    _first_job_prewarmed(statistics.median(times["total"]), 3 if quick else 7)
    await _idle_memory(library, 100)


def _first_job_prewarmed(warm_start: float, processes: int) -> None:
    """The first job of fresh processes that prewarmed as the worker's do (one sample
    each: a process has one first job), beside a warm start of this one."""
    samples = []
    for _ in range(processes):
        done = subprocess.run(
            [sys.executable, __file__, PREWARMED], capture_output=True, text=True, check=True
        )
        samples.append(float(done.stdout.split()[-1]))
    first = statistics.median(samples)
    print(
        f"first job of a prewarmed process (start to agent ready, {processes} processes): "
        f"median {_ms(first)}, max {_ms(max(samples))}"
    )
    print(
        f"  = {first / warm_start:.1f}x a warm start's {_ms(warm_start)}   "
        f"(target: < {FIRST_JOB_TARGET * 1000:g} ms, within {FIRST_JOB_RATIO}x)"
    )


def _measure_prewarmed_first_job() -> None:
    """In a fresh process: the worker's prewarm (flows, VAD models, ``warm``), then one
    job, timed as the warm starts are (step 4); prints its seconds for the parent."""
    library = FileLibrary.load(ROOT / "flows")
    vads = load_vads(s.compiled.flow.vad or VADConfig() for s in library.served())
    factory = SessionFactory(Plugins(env=KEYS), vads)
    warm(factory, library.served())

    times: dict[str, list[float]] = {k: [] for k in ("route", "lookup", "factory", "total")}
    asyncio.run(_job(library, factory, JOBS[0], 0, times))
    print(times["total"][0])


async def _idle_memory(library: FileLibrary, count: int) -> None:
    """Memory held by ``count`` idle text sessions running at once in one process: a
    started session each (scripted model, the flow's start agent greeting done)."""
    import gc
    import tracemalloc

    from livekit.agents import AgentSession

    from flowctl.worker.llm import ScriptedLLM

    served = library.served()
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    sessions = []
    for i in range(count):
        compiled = served[i % len(served)].compiled
        conv = Conversation(compiled, session_id=f"idle-{i}")
        session = AgentSession(llm=ScriptedLLM(), max_tool_steps=compiled.max_tool_steps)
        await session.start(await FlowAgent.open(conv), capture_run=True)
        sessions.append((session, conv))
    gc.collect()
    held = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    print(
        f"5. {count} idle text sessions at once: {held / 2**20:.1f} MiB "
        f"({held / count / 1024:.0f} KiB a session, Python heap)"
    )
    for session, conv in sessions:
        await session.aclose()
        conv.close()


if __name__ == "__main__":
    if PREWARMED in sys.argv:
        _measure_prewarmed_first_job()
    else:
        asyncio.run(main("--quick" in sys.argv))
