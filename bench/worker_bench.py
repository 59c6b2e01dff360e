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
"""

from __future__ import annotations

import asyncio
import statistics
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

JOBS = [
    '{"tenant_id": "dynamic-co", "purpose": "sales", "user_id": "u-1", '
    '"user_details": {"lead_first_name": "Ana", "lead_company": "Brightloop"}}',
    '{"tenant_id": "dynamic-co", "purpose": "support", "user_id": "u-2"}',
    '{"tenant_id": "dynamic-co", "user_details": {"is_new_user": true}}',
    '{"tenant_id": "dynamic-co", "agent_id": "interview"}',
    '{"tenant_id": "healthcare_clinic", "purpose": "appointments"}',
]
KEYS = {"OPENAI_API_KEY": "sk-bench", "DEEPGRAM_API_KEY": "dg-bench"}


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
    print(f"prewarm (load, lint, compile 5 flows; load Silero): {_ms(time.perf_counter() - start)}")
    factory = SessionFactory(Plugins(env=KEYS), vads)
    rejected = route(library, '{"tenant_id": "dynamic-co", "flow_id": "clinic"}')
    assert isinstance(rejected, Rejected)

    # Warm-up: the first session of a process imports the plugins' lazy modules.
    first = time.perf_counter()
    await _job(
        library, factory, JOBS[0], 0, {"route": [], "lookup": [], "factory": [], "total": []}
    )
    print(f"first job of a process (lazy imports): {_ms(time.perf_counter() - first)}")
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
    await _idle_memory(library, 100)


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
    asyncio.run(main("--quick" in sys.argv))
