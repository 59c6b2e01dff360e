"""A conversation's tools are closed when it ends: the HTTP session (no "Unclosed client
session") and the threads, in the engine, the simulator and a worker's call."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import msgspec
import pytest
from conftest import FLOWS
from flowkit import compile_doc
from listener import Listener, json_answer
from livekit.agents.testing import fake_job_context
from workerkit import NO_WAIT

from flowctl.engine.egress import EgressPolicy
from flowctl.engine.library import FileLibrary
from flowctl.engine.routing import Routed, route
from flowctl.engine.runtime import Action, Conversation
from flowctl.engine.spec import Tool
from flowctl.engine.tools import ToolRegistry, ToolResult
from flowctl.worker.call import Call
from flowctl.worker.fakes import FakePlugins, FakeRoom
from flowctl.worker.session import SessionFactory, load_vads


@pytest.fixture
async def listener() -> AsyncIterator[Listener]:
    async with Listener({"/slots": json_answer({"slot": "Tue 10:00"})}) as server:
        yield server


def _flow(url: str) -> Any:
    return compile_doc(
        {
            "flow_id": "desk",
            "tools": [{"kind": "http", "name": "slots", "description": "Free slots", "url": url}],
            "agents": [
                {
                    "name": "Desk",
                    "instructions": "Help the caller.",
                    "edges": [
                        {
                            "name": "check",
                            "action": "action",
                            "tool": "slots",
                            "description": "The caller asks which slots are free",
                        },
                        {
                            "name": "done",
                            "description": "The caller has what they need",
                            "target_agent": "Bye",
                        },
                    ],
                },
                {"name": "Bye", "instructions": "Say goodbye.", "end": True},
            ],
        }
    )


async def test_aclose_closes_the_session_the_tools_opened(listener: Listener) -> None:
    made: list[aiohttp.ClientSession] = []

    def session() -> aiohttp.ClientSession:
        made.append(aiohttp.ClientSession())
        return made[-1]

    compiled = _flow(listener.url("/slots"))
    conv = Conversation(compiled, tools=ToolRegistry(compiled.tools, http_session_factory=session))
    outcome = await conv.fire("check")
    assert isinstance(outcome, Action)
    assert outcome.result == ToolResult(ok=True, value={"slot": "Tue 10:00"})
    assert len(made) == 1 and not made[0].closed
    await conv.aclose()
    assert made[0].closed
    assert conv not in compiled.machine.models
    await conv.aclose()  # twice is harmless


async def test_the_conversations_own_registry_is_closed_too(listener: Listener) -> None:
    compiled = _flow(listener.url("/slots"))
    conv = Conversation(compiled)
    assert (await conv.fire("check")).result.ok  # type: ignore[union-attr]
    session = conv.tools.http_session
    assert session is not None and not session.closed
    await conv.aclose()
    assert session.closed


async def test_a_workers_call_closes_its_tools_when_it_ends(listener: Listener) -> None:
    library = FileLibrary.load(FLOWS)
    routed = route(library, json.dumps({"tenant_id": "healthcare_clinic"}))
    assert isinstance(routed, Routed)
    vads = load_vads(s.compiled.flow.vad for s in library.served())  # type: ignore[misc]
    policy = EgressPolicy(
        hosts=(f"127.0.0.1:{listener.port}",), https_only=False, allow_private=True
    )
    room = FakeRoom()
    with fake_job_context(job_id="job-tools") as ctx:
        call = await Call.open(
            routed,
            library=library,
            factory=SessionFactory(FakePlugins(), vads, options=NO_WAIT),
            room=room,
            session_id=ctx.job.id,
            egress=policy,
        )
        tools = call.conversation.tools
        assert tools.egress == policy
        await call.start()
        tool = msgspec.convert(
            {"kind": "http", "name": "t", "url": listener.url("/slots"), "method": "GET"},
            Tool,
        )
        assert await tools.call(tool, {}, {}) == ToolResult(ok=True, value={"slot": "Tue 10:00"})
        session = tools.http_session
        assert session is not None and not session.closed
        await call.aclose()
    assert session.closed
    assert call.outcome == "closed (user_initiated)"
