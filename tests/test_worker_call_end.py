"""A call's own settings and its end, in the worker serving a store: the job's
``overrides`` reach the conversation, the voice and tracing (and a refused one refuses
the job, recorded as such); as the call ends, its summary goes to the frontend on
``flowctl.summary`` and to the store; then the flow's evaluation, its rubric graded by
the session's own model, is recorded and queued as ``call.evaluated``."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("livekit.agents")

from livekit.agents.testing import fake_job_context
from workerkit import Tracers, services, until

from flowctl.engine.boundary import TenantPolicy
from flowctl.engine.evaluation import RUBRIC_INSTRUCTIONS
from flowctl.engine.spec import VADConfig
from flowctl.engine.store import open_store
from flowctl.engine.store.documents import push_document
from flowctl.worker.call import Call
from flowctl.worker.fakes import FakePlugins, FakeRoom
from flowctl.worker.llm import Step
from flowctl.worker.publish import SUMMARY_TOPIC
from flowctl.worker.server import SERVICES, serve
from flowctl.worker.session import load_vads
from flowctl.worker.store_flows import StoreLibrary

RUBRIC = "The agent confirmed the day back to the caller."
DESK: dict[str, Any] = {
    "flow_id": "desk",
    "version": "1",
    "variables": {
        "caller_name": {"type": "str", "description": "Who is calling"},
        "day": {"type": "str", "description": "The day booked"},
    },
    "overridable": {"variables": ["caller_name"], "voices": ["nova"], "tracing": True},
    "evaluation": {
        "goals": [
            {"name": "booked", "state": "Booked"},
            {"name": "named", "variable": "caller_name"},
        ],
        "required": ["day"],
        "rubric": [RUBRIC],
    },
    "tts": {"provider": "openai", "voice": "alloy"},
    "agents": [
        {
            "name": "Main",
            "instructions": "Help the caller book a day.",
            "on_enter_prompt": "Hello.",
            "edges": [
                {
                    "name": "book",
                    "description": "The caller picked a day",
                    "target_agent": "Booked",
                    "parameters": {"day": {"type": "str", "description": "The day"}},
                }
            ],
        },
        {
            "name": "Booked",
            "instructions": "Confirm the day, then say goodbye.",
            "on_enter_prompt": "Booked for {{day}}.",
            "ends_on_hangup": True,
        },
    ],
}
GRADES = {"grades": [{"met": True, "reason": "It said Tuesday."}]}


async def _store(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'flowctl.db'}"
    async with await open_store(url, create=True) as store:
        policy = TenantPolicy(egress_hosts=["hooks.acme.example"])
        await store.create_tenant("acme", actor="t", policy=policy)
        acme = store.tenant("acme")
        await push_document(acme, json.dumps(DESK), actor="t")
        await acme.publish("desk", 1, actor="t")
        await acme.create_webhook("https://hooks.acme.example/calls", ["*"], actor="t")
    return url


async def _job(
    library: StoreLibrary,
    overrides: Any,
    plugins: FakePlugins,
    room: FakeRoom,
    tracer: Tracers | None = None,
) -> Call | None:
    vads = load_vads([VADConfig()])
    svc = services(library, vads, room, plugins, tracer)
    metadata = json.dumps({"tenant_id": "acme", "flow_id": "desk", "overrides": overrides})
    with fake_job_context(job_id="job-1", job_metadata=metadata) as ctx:
        ctx.job.room.name = "acme:job-1"
        ctx.proc.userdata[SERVICES] = svc
        return await serve(ctx, svc)


async def test_a_call_with_overrides_ends_summarized_and_evaluated(tmp_path: Path) -> None:
    library = await StoreLibrary(await _store(tmp_path)).preload()
    plugins, room, tracer = FakePlugins(), FakeRoom(), Tracers()
    overrides = {"voice": "nova", "variables": {"caller_name": "Ana"}, "tracing": {"enabled": True}}
    call = await _job(library, overrides, plugins, room, tracer)
    assert call is not None and call.session is not None
    session, conv = call.session, call.conversation
    assert conv.variables["caller_name"] == "Ana"
    assert [t["session_id"] for t in tracer.traced] == ["job-1"]  # the flow traces nothing
    await until(session, lambda: session.agent_state == "listening" and plugins.spoken)

    plugins.model.plan([Step.call("book", {"day": "Tuesday"})])
    session.generate_reply(user_input="Tuesday, please.")
    await until(
        session,
        lambda: (
            conv.state == "Booked"
            and len(plugins.spoken) == 2
            and session.agent_state == "listening"
        ),
    )
    # The caller hangs up; the session's model then grades the rubric.
    plugins.model.plan([Step.say(json.dumps(GRADES))])
    await session.aclose()
    await asyncio.wait_for(room.closed.wait(), 10)
    await call.aclose()

    assert [(s.text, s.voice) for s in plugins.spoken] == [
        ("Hello.", "nova"),
        ("Booked for Tuesday.", "nova"),
    ]
    transcript = [
        ("agent", "Hello."),
        ("user", "Tuesday, please."),
        ("agent", "Booked for Tuesday."),
    ]
    assert call.transcript == transcript
    [summary] = room.messages.on(SUMMARY_TOPIC)
    seconds = summary["seconds"]
    assert summary == {
        "session_id": "job-1",
        "tenant_id": "acme",
        "flow_id": "desk",
        "version": "1",
        "seq": 3,  # after the two states entered
        "summary": "Main -> Booked; ended in Booked (hangup); caller_name: Ana, day: Tuesday",
        "outcome": "hangup",
        "state": "Booked",
        "path": ["Main", "Booked"],
        "variables": {"caller_name": "Ana", "day": "Tuesday"},
        "outputs": {},
        "tools_ok": 0,
        "tools_failed": 0,
        "turns": 3,
        "seconds": seconds,
    }
    # The grading request: our instructions, then the criteria and transcript as data.
    system, user = plugins.model.contexts[-1].items
    assert (system.role, system.text_content) == ("system", RUBRIC_INSTRUCTIONS)
    assert json.loads(user.text_content or "") == {
        "criteria": [{"number": 1, "criterion": RUBRIC}],
        "transcript": [
            {"speaker": "agent", "text": "Hello."},
            {"speaker": "caller", "text": "Tuesday, please."},
            {"speaker": "agent", "text": "Booked for Tuesday."},
        ],
    }

    ts = library.store.tenant("acme")
    info = await ts.session("job-1")
    assert info.end_reason == "hangup"
    assert info.routing["overrides"] == overrides
    assert info.summary == {
        "flow_id": "desk",
        "outcome": "hangup",
        "state": "Booked",
        "path": ["Main", "Booked"],
        "variables": {"caller_name": "Ana", "day": "Tuesday"},
        "outputs": {},
        "tools_ok": 0,
        "tools_failed": 0,
        "turns": 3,
        "seconds": seconds,
        "text": "Main -> Booked; ended in Booked (hangup); caller_name: Ana, day: Tuesday",
    }
    evaluation = {
        "flow_id": "desk",
        "passed": True,
        "outcome": "hangup",
        "goals": [
            {"name": "booked", "met": True, "detail": "entered `Booked`"},
            {"name": "named", "met": True, "detail": "`caller_name` is set"},
        ],
        "collected": {"day": "Tuesday"},
        "missing": [],
        "visited": ["Main", "Booked"],
        "rubric": {
            "criteria": [{"criterion": RUBRIC, "met": True, "reason": "It said Tuesday."}],
            "error": None,
        },
        "text": "passed: goals 2/2, variables 1/1, rubric 1/1",
    }
    assert info.evaluation == evaluation
    deliveries = {d.event: d for d in await ts.deliveries()}
    assert deliveries["call.ended"].payload["summary"] == info.summary
    assert deliveries["call.evaluated"].payload["evaluation"] == evaluation
    await library.aclose()


async def test_a_model_that_cannot_grade_leaves_the_rubric_not_graded(tmp_path: Path) -> None:
    library = await StoreLibrary(await _store(tmp_path)).preload()
    plugins, room = FakePlugins(), FakeRoom()
    call = await _job(library, None, plugins, room)
    assert call is not None and call.session is not None
    session = call.session
    await until(session, lambda: session.agent_state == "listening" and plugins.spoken)
    plugins.model.plan([Step.say("I think the agent did fine.")])
    await session.aclose()
    await asyncio.wait_for(room.closed.wait(), 10)
    await call.aclose()
    assert call.evaluation is not None
    assert call.evaluation.text == (
        "failed: goals 0/2 (not met: booked, named), variables 0/1 (missing: day), rubric not "
        "graded: unreadable answer (JSON is malformed: invalid character (byte 0)): "
        "'I think the agent did fine.'"
    )
    info = await library.store.tenant("acme").session("job-1")
    assert info.evaluation["passed"] is False
    await library.aclose()


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        (
            {"voice": "alloy"},
            "Voice `alloy` may not be picked: the flow's `overridable.voices` allows `nova`",
        ),
        (
            {"variables": {"day": "Friday"}},
            "Variable `day` may not be overridden: the flow's `overridable.variables` does not "
            "list it",
        ),
    ],
    ids=["voice", "variable"],
)
async def test_an_override_the_flow_does_not_allow_refuses_the_job(
    tmp_path: Path, overrides: dict[str, Any], reason: str
) -> None:
    library = await StoreLibrary(await _store(tmp_path)).preload()
    plugins, room = FakePlugins(), FakeRoom()
    assert await _job(library, overrides, plugins, room) is None
    assert room.shutdowns == [f"flowctl: refused: {reason}"]
    assert plugins.spoken == [] and plugins.model.contexts == []
    info = await library.store.tenant("acme").session("job-1")
    assert (info.end_reason, info.routing["overrides"]) == (f"refused: {reason}", overrides)
    await library.aclose()
