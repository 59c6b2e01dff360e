"""The worker's job handling, offline: the entrypoint under livekit-agents'
``fake_job_context`` routes each job to its tenant's flow or refuses it; job offers are
accepted, declined at a tenant's session limit, or rejected; the call's log lines and
the frontend's messages say which tenant, flow, version and session they belong to;
the end of a call hangs up, transfers a phone caller, or says it cannot."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from typing import Any

import pytest

pytest.importorskip("livekit.agents")

from conftest import FIXTURES, FLOWS
from livekit.agents import JobExecutorType, JobProcess, JobRequest
from livekit.agents.testing import fake_job_context
from livekit.api import TransferSIPParticipantRequest
from livekit.protocol import agent, models
from workerkit import Tracers, record_sessions, services, until

from flowctl.engine.library import FileLibrary
from flowctl.worker.call import NOT_TRANSFERRED, Call
from flowctl.worker.fakes import FakePlugins, FakeRoom
from flowctl.worker.llm import Step
from flowctl.worker.publish import STATE_TOPIC, RoomPublisher
from flowctl.worker.room import LiveKitRoom, transfer_request
from flowctl.worker.server import (
    SERVICES,
    FlowServer,
    Services,
    WorkerConfig,
    entrypoint,
    preflight,
    prewarm,
    serve,
)
from flowctl.worker.session import load_vads
from flowctl.worker.tracing import EXPORTER_HINT, SessionTracing, exporter_problem


@pytest.fixture(scope="module")
def vads(examples: FileLibrary) -> Any:
    return load_vads(s.compiled.flow.vad for s in examples.served())  # type: ignore[misc]


async def _job(
    services: Services, metadata: str = "", *, job_id: str = "job-1"
) -> tuple[Call | None, Any]:
    with fake_job_context(job_id=job_id, job_metadata=metadata) as ctx:
        ctx.proc.userdata[SERVICES] = services
        call = await serve(ctx, services)
        return call, ctx


# --- routing in the entrypoint -------------------------------------------------------------


@pytest.mark.parametrize(
    ("metadata", "flow", "state"),
    [
        ({"tenant_id": "dynamic-co", "purpose": "sales"}, "sales", "Discovery"),
        ({"tenant_id": "dynamic-co", "agent_id": "interview"}, "interview", "DocumentCheck"),
        (
            {"tenant_id": "dynamic-co", "user_details": {"is_new_user": True}},
            "onboarding",
            "Welcome",
        ),
        ({"tenant_id": "healthcare_clinic"}, "clinic", "IntakeAgent"),
    ],
    ids=["purpose", "explicit", "rule", "default"],
)
async def test_entrypoint_routes_the_job_to_its_tenants_flow(
    examples: FileLibrary, vads: Any, metadata: dict[str, Any], flow: str, state: str
) -> None:
    room = FakeRoom()
    svc = services(examples, vads, room)
    with fake_job_context(job_id="job-route", job_metadata=json.dumps(metadata)) as ctx:
        ctx.proc.userdata[SERVICES] = svc
        await entrypoint(ctx)
        agent_ = room.agent
        assert agent_.conversation.compiled.flow_id == flow
        assert agent_.conversation.state == state
        assert agent_.conversation.session_id == "job-route"
        assert ctx.log_context_fields == {
            "tenant_id": metadata["tenant_id"],
            "flow_id": flow,
            "flow_version": "1.0.0",
            "session_id": "job-route",
        }
        await room.session.aclose()
        await asyncio.wait_for(room.closed.wait(), 10)
    assert room.messages.on(STATE_TOPIC)[0] == {
        "session_id": "job-route",
        "tenant_id": metadata["tenant_id"],
        "flow_id": flow,
        "version": "1.0.0",
        "seq": 1,
        "event": "entered",
        "state": state,
        "via": None,
    }
    assert room.shutdowns == ["flowctl: closed (user_initiated)"]


@pytest.mark.parametrize(
    ("metadata", "reason"),
    [
        (
            '{"tenant_id": "dynamic-co", "flow_id": "clinic"}',
            "Flow `clinic` belongs to another tenant; not serving it to tenant `dynamic-co`",
        ),
        (
            '{"tenant_id": "healthcare_clinic", "purpose": "sales", "agent_id": "sales"}',
            "Flow `sales` belongs to another tenant; not serving it to tenant `healthcare_clinic`",
        ),
        ('{"tenant_id": "acme"}', "Unknown tenant `acme`"),
        (
            '{"tenant_id": "dynamic-co",}',
            "Job metadata is not valid JSON: trailing comma in object (byte 27)",
        ),
        (
            '{"tenant_id": 7}',
            "Job metadata is malformed: Expected `str`, got `int` - at `$.tenant_id`",
        ),
    ],
    ids=["cross-tenant", "cross-tenant-agent-id", "unknown-tenant", "not-json", "malformed"],
)
async def test_entrypoint_refuses_what_it_must_not_serve(
    examples: FileLibrary,
    vads: Any,
    metadata: str,
    reason: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    room = FakeRoom()
    with caplog.at_level(logging.WARNING, logger="flowctl.worker.server"):
        call, _ = await _job(services(examples, vads, room), metadata, job_id="job-bad")
    assert call is None
    assert room.session is None  # no session was started
    assert room.shutdowns == [f"flowctl: refused: {reason}"]
    assert [r.getMessage() for r in caplog.records if r.name == "flowctl.worker.server"] == [
        f"job job-bad refused: {reason}"
    ]


async def test_entrypoint_routes_by_the_participants_attributes_without_metadata(
    examples: FileLibrary, vads: Any
) -> None:
    room = FakeRoom(attributes={"tenant_id": "dynamic-co", "purpose": "support"})
    call, _ = await _job(services(examples, vads, room))
    assert call is not None
    assert call.routed.origin == "participant attributes"
    assert call.conversation.compiled.flow_id == "support"
    await call.aclose()


async def test_entrypoint_refuses_a_job_nobody_says_anything_about(
    examples: FileLibrary, vads: Any
) -> None:
    room = FakeRoom(attributes={})
    call, _ = await _job(services(examples, vads, room))
    assert call is None
    assert room.shutdowns == [
        "flowctl: refused: No routing request: the job, the room and the participant carry none"
    ]


async def test_input_variables_come_from_user_details(
    examples: FileLibrary, vads: Any, caplog: pytest.LogCaptureFixture
) -> None:
    room = FakeRoom()
    metadata = {
        "tenant_id": "dynamic-co",
        "purpose": "sales",
        "user_details": {"lead_first_name": "Priya", "lead_company": 7, "tier": "gold"},
    }
    with caplog.at_level(logging.WARNING, logger="flowctl.worker.call"):
        call, _ = await _job(services(examples, vads, room), json.dumps(metadata))
    assert call is not None
    # `tier` is the frontend's own data; a number where text is declared is left out
    variables = call.conversation.variables
    assert (variables.get("lead_first_name"), "lead_company" in variables) == ("Priya", False)
    assert "tier" not in variables
    assert [r.getMessage() for r in caplog.records if r.name == "flowctl.worker.call"] == [
        "input variable left unset: `user_details.lead_company` does not fit variable "
        "`lead_company`: Expected `str`, got `int`"
    ]
    await call.aclose()


async def test_the_calls_log_lines_carry_tenant_flow_version_and_session(
    examples: FileLibrary, vads: Any, caplog: pytest.LogCaptureFixture
) -> None:
    room = FakeRoom()
    with caplog.at_level(logging.INFO, logger="flowctl.worker.call"):
        call, _ = await _job(
            services(examples, vads, room), '{"tenant_id": "healthcare_clinic"}', job_id="job-log"
        )
        assert call is not None
        await call.aclose()
    records = [r for r in caplog.records if r.name == "flowctl.worker.call"]
    assert [r.getMessage() for r in records] == [
        "call starts: tenant healthcare_clinic, flow clinic 1.0.0 "
        "(default: nothing else matched: the tenant's default)",
        "state IntakeAgent (via start)",
        "call over: closed (user_initiated)",
    ]
    for record in records:
        assert (record.tenant_id, record.flow_id, record.flow_version, record.session_id) == (  # type: ignore[attr-defined]
            "healthcare_clinic",
            "clinic",
            "1.0.0",
            "job-log",
        )


# --- the end of a call ---------------------------------------------------------------------


async def _transfer(
    desk: FileLibrary, vads: Any, *, sip: bool
) -> tuple[Call, FakeRoom, FakePlugins]:
    room = FakeRoom(sip=sip)
    plugins = FakePlugins()
    call, _ = await _job(services(desk, vads, room, plugins), '{"tenant_id": "acme"}')
    assert call is not None and call.session is not None
    session = call.session
    await until(session, lambda: session.agent_state == "listening" and plugins.spoken)
    plugins.model.plan([Step.call("to_staff")])
    session.generate_reply(user_input="Can I talk to a person?")
    await asyncio.wait_for(call.finished.wait(), 10)
    return call, room, plugins


async def test_transfer_call_transfers_a_phone_caller(desk: FileLibrary, vads: Any) -> None:
    call, room, plugins = await _transfer(desk, vads, sip=True)
    assert room.transfers == ["+15550100"]
    assert not room.hung_up
    assert call.outcome == "transferred to +15550100"
    assert [s.text for s in plugins.spoken][1:] == ["Connecting you now."]
    ended = room.messages.on(STATE_TOPIC)[-1]
    assert {k: ended[k] for k in ("event", "reason", "detail", "transferred")} == {
        "event": "ended",
        "reason": "transfer",
        "detail": "+15550100",
        "transferred": True,
    }


async def test_transfer_call_says_it_cannot_transfer_a_caller_not_on_a_phone_line(
    desk: FileLibrary, vads: Any
) -> None:
    call, room, plugins = await _transfer(desk, vads, sip=False)
    assert room.transfers == []
    assert not room.hung_up
    assert call.outcome == "not transferred"
    assert [s.text for s in plugins.spoken][1:] == ["Connecting you now.", NOT_TRANSFERRED]
    assert room.messages.on(STATE_TOPIC)[-1]["transferred"] is False
    assert room.shutdowns == ["flowctl: not transferred"]


# --- job offers ----------------------------------------------------------------------------


class _Offer:
    """A job offer and what the worker answered."""

    def __init__(self, job_id: str, metadata: str = "", room_metadata: str = "") -> None:
        self.answer: tuple[str, bool] | None = None
        job = agent.Job(id=job_id, metadata=metadata, room=models.Room(metadata=room_metadata))

        async def reject(terminate: bool) -> None:
            self.answer = ("reject", terminate)

        async def accept(_: Any) -> None:
            self.answer = ("accept", False)

        self.request = JobRequest(job=job, on_reject=reject, on_accept=accept)


async def _offer(server: FlowServer, job_id: str, metadata: str = "", room: str = "") -> Any:
    offer = _Offer(job_id, metadata, room)
    await server.on_request(offer.request)
    return offer.answer


async def test_offers_are_accepted_or_rejected_by_routing(examples: FileLibrary) -> None:
    running = ("j1", "j2", "j5")  # accepted jobs run until the test ends
    server = FlowServer(WorkerConfig(flows_dir=str(FLOWS)), examples, running=lambda: running)
    assert await _offer(server, "j1", '{"tenant_id": "dynamic-co"}') == ("accept", False)
    assert await _offer(server, "j2", room='{"tenant_id": "healthcare_clinic"}') == (
        "accept",
        False,
    )
    # rejected for every worker: none may serve another tenant's flow
    assert await _offer(server, "j3", '{"tenant_id": "dynamic-co", "flow_id": "clinic"}') == (
        "reject",
        True,
    )
    assert await _offer(server, "j4", "not json") == ("reject", True)
    # nothing to route by yet: the job routes by its participant's attributes
    assert await _offer(server, "j5") == ("accept", False)
    assert (server.slots.count("dynamic-co"), server.slots.count("healthcare_clinic")) == (1, 1)


async def test_offers_past_a_tenants_session_limit_are_declined_here(
    desk: FileLibrary, caplog: pytest.LogCaptureFixture
) -> None:
    running: list[str] = []
    server = FlowServer(WorkerConfig(flows_dir="unused"), desk, running=lambda: running)
    acme = '{"tenant_id": "acme"}'  # tests/fixtures/voice/tenants/acme.json: a limit of 1
    assert await _offer(server, "a1", acme) == ("accept", False)
    running.append("a1")
    with caplog.at_level(logging.WARNING, logger="flowctl.worker.server"):
        # declined, not rejected: another worker may have room
        assert await _offer(server, "a2", acme) == ("reject", False)
    assert [r.getMessage() for r in caplog.records] == [
        "job a2 declined: Tenant `acme` already runs 1 session in this worker process, "
        "its limit (`limits.max_concurrent_sessions`)"
    ]
    running.clear()  # the first call ended
    assert await _offer(server, "a3", acme) == ("accept", False)
    assert server.slots.count("acme") == 1


async def test_a_failed_accept_gives_the_slot_back(desk: FileLibrary) -> None:
    server = FlowServer(WorkerConfig(flows_dir="unused"), desk, running=lambda: ())
    job = agent.Job(id="a1", metadata='{"tenant_id": "acme"}')

    async def accept(_: Any) -> None:
        raise TimeoutError("no assignment")

    async def reject(_: bool) -> None:
        raise AssertionError("not rejected")

    with pytest.raises(TimeoutError):
        await server.on_request(JobRequest(job=job, on_reject=reject, on_accept=accept))
    assert server.slots.count("acme") == 0


def test_the_server_registers_one_entrypoint_with_the_agent_name(
    examples: FileLibrary, monkeypatch: pytest.MonkeyPatch
) -> None:
    registered = record_sessions(monkeypatch)
    config = WorkerConfig(flows_dir=str(FLOWS), agent_name="support-agent")
    server = FlowServer(config, examples).build()
    [session] = registered
    assert session["server"] is server
    assert session["agent_name"] == "support-agent"
    assert session["entrypoint"] is entrypoint


# --- tracing -------------------------------------------------------------------------------


async def test_a_flow_that_enables_tracing_traces_its_sessions(
    examples: FileLibrary, vads: Any
) -> None:
    tracer = Tracers()
    for job_id, metadata in (
        ("job-sales", '{"tenant_id": "dynamic-co", "purpose": "sales"}'),  # sample_rate 1.0
        ("job-clinic", '{"tenant_id": "healthcare_clinic"}'),  # no tracing block
    ):
        call, _ = await _job(
            services(examples, vads, FakeRoom(), tracer=tracer), metadata, job_id=job_id
        )
        assert call is not None
        await call.aclose()
    assert tracer.traced == [
        {
            "tenant_id": "dynamic-co",
            "flow_id": "sales",
            "flow_version": "1.0.0",
            "session_id": "job-sales",
        }
    ]


def test_without_the_exporter_tracing_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_PROTOCOL", raising=False)
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", raising=False)
    monkeypatch.setitem(sys.modules, "opentelemetry.exporter.otlp.proto.http.trace_exporter", None)
    assert exporter_problem() == EXPORTER_HINT
    with caplog.at_level(logging.WARNING):
        assert SessionTracing.start({"session_id": "s"}) is None
        preflight(
            WorkerConfig(flows_dir=str(FLOWS)), {"OPENAI_API_KEY": "k", "DEEPGRAM_API_KEY": "k"}
        )
    assert [r.getMessage() for r in caplog.records] == [
        f"the session is not traced: {EXPORTER_HINT}",
        f"{FLOWS}/interview.json, {FLOWS}/sales.json, {FLOWS}/support.json enable tracing, "
        f"but {EXPORTER_HINT}",
    ]


def test_a_job_process_is_prewarmed_with_the_flows_and_their_vads() -> None:
    proc = JobProcess(executor_type=JobExecutorType.THREAD, user_arguments=None, http_proxy=None)
    prewarm(WorkerConfig(flows_dir=str(FIXTURES / "voice")), proc)
    svc = proc.userdata[SERVICES]
    assert [s.flow_id for s in svc.library.served()] == ["desk"]
    assert list(svc.factory.vads) == [(None, None, 0.3)]
    assert svc.room is LiveKitRoom


def test_a_sip_transfer_request_names_room_caller_and_destination() -> None:
    assert transfer_request("room-1", "sip_caller", "+15550100") == TransferSIPParticipantRequest(
        room_name="room-1",
        participant_identity="sip_caller",
        transfer_to="tel:+15550100",
        play_dialtone=False,
    )
    assert transfer_request("r", "c", "sip:desk@pbx.example.com").transfer_to == (
        "sip:desk@pbx.example.com"
    )


def test_public_surfaces_of_the_worker_modules() -> None:
    import flowctl.worker.call
    import flowctl.worker.fakes
    import flowctl.worker.grading
    import flowctl.worker.makers
    import flowctl.worker.publish
    import flowctl.worker.room
    import flowctl.worker.server
    import flowctl.worker.session
    import flowctl.worker.tracing

    surfaces = {
        flowctl.worker.call: ["NOT_TRANSFERRED", "NO_KNOWLEDGE", "Call", "CallSession", "Tracer"],
        flowctl.worker.fakes: [
            "CapturingAudioOutput",
            "FakePlugins",
            "FakeRoom",
            "QueuedAudioInput",
            "ScriptedSTT",
            "SilentTTS",
            "Synthesis",
            "read_wav",
            "silence",
        ],
        flowctl.worker.publish: [
            "OUTPUT_TOPIC",
            "STATE_TOPIC",
            "SUMMARY_TOPIC",
            "MemoryPublisher",
            "MessageQueue",
            "Publisher",
            "RoomPublisher",
            "state_message",
            "summary_message",
        ],
        flowctl.worker.room: ["CallRoom", "LiveKitRoom", "transfer_request"],
        flowctl.worker.server: [
            "LIVEKIT_ENV",
            "SERVICES",
            "FlowServer",
            "Services",
            "WorkerConfig",
            "WorkerSetupError",
            "entrypoint",
            "missing_livekit_env",
            "preflight",
            "prewarm",
            "route_job",
            "run",
            "serve",
        ],
        flowctl.worker.session: [
            "DEFAULT_KEYS",
            "PROVIDERS",
            "Keys",
            "Plugins",
            "SessionFactory",
            "SessionModels",
            "check_providers",
            "load_vads",
            "provider_blocks",
            "provider_problems",
            "steers_voice",
            "vad_key",
        ],
        flowctl.worker.makers: ["CLIENTS", "GROQ_URL", "MAKERS", "given"],
        flowctl.worker.grading: ["GRADE_TIMEOUT", "grade"],
        flowctl.worker.tracing: ["EXPORTER_HINT", "SessionTracing", "exporter_problem"],
    }
    for module, names in surfaces.items():
        assert module.__all__ == names, module.__name__
        for name in names:
            assert hasattr(module, name), (module.__name__, name)


async def test_the_room_publisher_sends_through_the_connected_rooms_participant() -> None:
    sent: list[tuple[str, str]] = []

    class Participant:
        async def send_text(self, text: str, *, topic: str) -> None:
            sent.append((topic, text))

    class Room:  # an rtc.Room has a local participant once connected
        local_participant = Participant()

    await RoomPublisher(Room()).send_text('{"seq": 1}', topic=STATE_TOPIC)
    assert sent == [("flowctl.state", '{"seq": 1}')]
