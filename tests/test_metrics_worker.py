"""The worker's metrics, scraped over HTTP after calls through the real entrypoint
(``fake_job_context``, the voice pipeline of tests/test_worker_voice.py): calls started
and ended, turns, edges, tools, refusals, the first word, jobs refused, the store's
operations. Each test records into a registry of its own, so every count is exact."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest

pytest.importorskip("livekit.agents")

from conftest import FLOWS, ROOT
from livekit.agents import JobExecutorType, JobProcess, JobRequest
from livekit.agents.testing import fake_job_context
from livekit.protocol import agent
from metricskit import samples, scrape
from prometheus_client import CollectorRegistry
from storekit import EXAMPLE_POLICY
from workerkit import services, until

from flowctl.engine.library import FileLibrary
from flowctl.engine.store import open_store
from flowctl.engine.store.documents import push_document
from flowctl.metrics import Metrics, MetricsServer, worker_registry
from flowctl.worker.call import Call
from flowctl.worker.fakes import FakePlugins, FakeRoom, ScriptedSTT, read_wav, silence
from flowctl.worker.llm import Step
from flowctl.worker.server import SERVICES, FlowServer, WorkerConfig, prewarm, serve
from flowctl.worker.session import load_vads
from flowctl.worker.store_flows import StoreLibrary

SPEECH = ROOT / "tests" / "data"
DESK = {"tenant": "acme", "flow": "desk"}


@pytest.fixture(scope="module")
def vads(desk: FileLibrary) -> Any:
    return load_vads(s.compiled.flow.vad for s in desk.served())


@pytest.fixture
def metrics() -> Iterator[tuple[Metrics, str]]:
    """Metrics in a registry of the test's own, and the URL that serves them."""
    recorded = Metrics(CollectorRegistry())
    assert recorded.registry is not None
    with MetricsServer(recorded.registry, port=0) as server:
        yield recorded, server.url


async def test_a_call_is_counted_from_its_first_word_to_its_end(
    desk: FileLibrary, vads: Any, metrics: tuple[Metrics, str]
) -> None:
    recorded, url = metrics
    ears = ScriptedSTT(["Can I ask about my prescription?", "That's all, thank you."])
    plugins = FakePlugins(stt=ears)
    room = FakeRoom()
    svc = services(desk, vads, room, plugins, metrics=recorded)
    metadata = json.dumps({"tenant_id": "acme", "user_id": "caller-7"})
    with fake_job_context(job_id="job-metrics", job_metadata=metadata) as ctx:
        call = await serve(ctx, svc)
        assert isinstance(call, Call)
        session = call.session
        assert session is not None
        await until(session, lambda: session.agent_state == "listening" and plugins.spoken)
        during = scrape(url)

        # A function the state does not offer (refused), then the handoff.
        plugins.model.plan([Step.call("book_flight"), Step.call("to_pharmacist")])
        room.mic.push(read_wav(SPEECH / "speech_1.wav"))
        room.mic.push(silence(1.0))
        await until(
            session, lambda: len(plugins.spoken) == 2 and session.agent_state == "listening"
        )
        answer = {"system_response": "Goodbye!", "topic": "other", "voice_instructions": "warm"}
        plugins.model.plan([Step.call("hang_up"), Step.output(answer)])
        room.mic.push(read_wav(SPEECH / "speech_2.wav"))
        room.mic.push(silence(1.0))
        await asyncio.wait_for(call.finished.wait(), 10)

    assert samples(during, "flowctl_sessions_started_total", **DESK) == {(): 1.0}
    assert samples(during, "flowctl_sessions_running", **DESK) == {(): 1.0}
    assert samples(during, "flowctl_sessions_ended_total") == {}

    text = scrape(url)
    assert samples(text, "flowctl_sessions_started_total") == {("acme", "desk"): 1.0}
    assert samples(text, "flowctl_sessions_ended_total") == {("acme", "desk", "end_call"): 1.0}
    assert samples(text, "flowctl_sessions_running") == {("acme", "desk"): 0.0}
    assert samples(text, "flowctl_transitions_total", **DESK) == {
        ("to_pharmacist",): 1.0,
        ("hang_up",): 1.0,
    }
    assert samples(text, "flowctl_refusals_total", **DESK) == {("not_offered",): 1.0}
    assert samples(text, "flowctl_tool_duration_seconds_count", **DESK) == {("end_call",): 1.0}
    assert samples(text, "flowctl_tool_failures_total") == {("acme", "desk", "end_call"): 0.0}
    # the caller spoke twice; the agent greeted, the pharmacist greeted, and said goodbye
    assert samples(text, "flowctl_turns_total", **DESK) == {("user",): 2.0, ("agent",): 3.0}
    assert samples(text, "flowctl_first_word_seconds_count") == {("acme", "desk"): 1.0}
    (first_word,) = samples(text, "flowctl_first_word_seconds_sum", **DESK).values()
    assert 0 < first_word < 10
    assert samples(text, "flowctl_jobs_refused_total") == {}


async def test_jobs_the_router_rejects_are_counted_without_their_tenant(
    desk: FileLibrary, vads: Any, metrics: tuple[Metrics, str]
) -> None:
    recorded, url = metrics
    for job_id, metadata in [
        ("job-1", '{"tenant_id": "nobody"}'),  # any name at all: not a label
        ("job-2", '{"tenant_id": "acme", "flow_id": "missing"}'),
    ]:
        room = FakeRoom()
        svc = services(desk, vads, room, metrics=recorded)
        with fake_job_context(job_id=job_id, job_metadata=metadata) as ctx:
            assert await serve(ctx, svc) is None
    text = scrape(url)
    assert samples(text, "flowctl_jobs_refused_total") == {("routing",): 2.0}
    assert samples(text, "flowctl_sessions_started_total") == {}


async def test_a_store_workers_operations_on_the_store_are_timed(
    tmp_path: Path, metrics: tuple[Metrics, str]
) -> None:
    recorded, url = metrics
    store_url = f"sqlite:///{tmp_path / 'flowctl.db'}"
    async with await open_store(store_url, create=True) as store:
        await store.create_tenant(
            "acme", actor="t", routing={"default": "clinic"}, policy=EXAMPLE_POLICY
        )
        clinic = (FLOWS / "clinic.json").read_text()
        await push_document(store.tenant("acme"), clinic, actor="t", flow_id="clinic")
        await store.tenant("acme").publish("clinic", 1, actor="t")
    library = await StoreLibrary(store_url, metrics=recorded).preload()
    room = FakeRoom()
    vads = load_vads(s.compiled.flow.vad for s in library.served())
    svc = services(library, vads, room, metrics=recorded)
    with fake_job_context(job_id="job-1", job_metadata='{"tenant_id": "acme"}') as ctx:
        ctx.job.room.name = "acme:job-1"
        call = await serve(ctx, svc)
    assert call is not None
    with fake_job_context(job_id="job-2", job_metadata='{"tenant_id": "acme"}') as ctx:
        ctx.job.room.name = "globex:job-2"  # not the tenant's room: refused, and recorded
        assert await serve(ctx, svc) is None
    await room.session.aclose()
    await asyncio.wait_for(room.closed.wait(), 10)
    await call.aclose()
    await library.aclose()

    text = scrape(url)
    counts = samples(text, "flowctl_store_operation_seconds_count")
    # the call and the refusal's record
    assert {op: counts[(op,)] for op in ("start_session", "end_session")} == {
        "start_session": 2.0,
        "end_session": 2.0,
    }
    assert ("wait_for_change",) not in counts  # it waits by design: not a latency
    assert samples(text, "flowctl_store_errors_total") == {}
    assert samples(text, "flowctl_sessions_ended_total") == {("acme", "clinic", "hangup"): 1.0}
    assert samples(text, "flowctl_jobs_refused_total") == {("not_served",): 1.0}


# --- in the worker's own process -------------------------------------------------------


async def test_offers_rejected_and_declined_in_the_workers_process_are_counted(
    desk: FileLibrary, metrics: tuple[Metrics, str]
) -> None:
    recorded, url = metrics
    running: list[str] = []
    config = WorkerConfig(flows_dir="unused")
    server = FlowServer(config, desk, running=lambda: running, metrics=recorded)
    answers: list[tuple[str, bool]] = []

    async def reject(terminate: bool) -> None:
        answers.append(("reject", terminate))

    async def accept(_: Any) -> None:
        answers.append(("accept", False))

    for job_id, metadata in [
        ("a1", '{"tenant_id": "acme"}'),
        ("a2", '{"tenant_id": "acme"}'),  # tests/fixtures/voice/tenants: a limit of 1
        ("a3", '{"tenant_id": "globex"}'),
    ]:
        job = agent.Job(id=job_id, metadata=metadata)
        await server.on_request(JobRequest(job=job, on_reject=reject, on_accept=accept))
        running.append(job_id)
    assert answers == [("accept", False), ("reject", False), ("reject", True)]
    text = scrape(url)
    assert samples(text, "flowctl_jobs_refused_total") == {("declined",): 1.0, ("routing",): 1.0}


def test_with_a_metrics_directory_job_processes_record_and_livekit_cleans_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = WorkerConfig(flows_dir=str(ROOT / "tests" / "fixtures" / "voice"))
    proc = JobProcess(executor_type=JobExecutorType.THREAD, user_arguments=None, http_proxy=None)
    prewarm(config, proc)
    assert proc.userdata[SERVICES].metrics is None  # no directory: nothing recorded
    metered = msgspec.structs.replace(config, metrics_dir=str(tmp_path))
    prewarm(metered, proc)
    assert proc.userdata[SERVICES].metrics is Metrics.shared()
    server = FlowServer(metered, FileLibrary.load(Path(config.flows_dir))).build()
    # LiveKit keeps it to itself: it empties the directory at start, and writes
    # its own lk_agents_* metrics there
    assert server._prometheus_multiproc_dir == str(tmp_path)


# --- many processes --------------------------------------------------------------------


def test_the_worker_serves_its_job_processes_metrics_summed(tmp_path: Path) -> None:
    """Job processes record into the multiprocess directory; the worker's endpoint sums
    them. A process that exited stays counted; one that was killed mid-call takes its
    running call with it."""
    directory = tmp_path / "metrics"
    directory.mkdir()
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(directory)}
    script = str(ROOT / "tests" / "metricsproc.py")
    run = [sys.executable, script]
    holding = subprocess.Popen([*run, "job-held", "hold"], env=env, stdout=subprocess.PIPE)
    try:
        finished = subprocess.run([*run, "job-done", "finish"], env=env, timeout=60)
        assert finished.returncode == 0
        assert holding.stdout is not None and holding.stdout.readline() == b"holding\n"
        with MetricsServer(worker_registry(str(directory)), port=0) as server:
            text = scrape(server.url)
            assert samples(text, "flowctl_sessions_started_total") == {("acme", "desk"): 2.0}
            assert samples(text, "flowctl_sessions_ended_total") == {
                ("acme", "desk", "hangup"): 1.0
            }
            assert samples(text, "flowctl_sessions_running") == {("acme", "desk"): 1.0}
            assert samples(text, "flowctl_first_word_seconds_count") == {("acme", "desk"): 2.0}

            holding.kill()
            holding.wait()
            text = scrape(server.url)
            assert samples(text, "flowctl_sessions_started_total") == {("acme", "desk"): 2.0}
            assert samples(text, "flowctl_sessions_running") == {}
    finally:
        holding.kill()
        holding.wait()
        if holding.stdout is not None:
            holding.stdout.close()
