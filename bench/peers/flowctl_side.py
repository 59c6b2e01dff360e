"""The flowctl side of ``bench/peer_bench.py``: ``bench/peers/reservation.json`` run by
the ``FlowAgent`` adapter in a real text-only LiveKit ``AgentSession`` (no room, no
audio), the scripted model answering after a fixed latency: the harness it shares with
the flow written by hand for LiveKit (``livekit_text``), so the two differ only in their
agents.

Two forms of the flow: as written, every state speaks its fixed greeting
(``on_enter_prompt``) with no model call; ``model_speaks``, each state that can takes a
model turn on entering instead (``on_enter.task``; the scripted model says the same
words). A terminal state always says its fixed words and ends the call.
"""

from __future__ import annotations

import json
from pathlib import Path

import msgspec
from livekit.agents import AgentSession
from livekit_text import Model, new_session, play
from script import ENTRY_TASKS, Marks

from flowctl.engine.compile import CompiledFlow, compile_flow
from flowctl.engine.runtime import Conversation
from flowctl.engine.spec import Flow
from flowctl.worker.agent import FlowAgent

FLOW = Path(__file__).with_name("reservation.json")


def load(*, model_speaks: bool) -> CompiledFlow:
    doc = json.loads(FLOW.read_text())
    if model_speaks:
        for state in doc["agents"]:
            if not state.get("end"):
                del state["on_enter_prompt"]
                state["on_enter"] = {"task": ENTRY_TASKS[state["name"]]}
    return compile_flow(msgspec.convert(doc, Flow))


async def _open(
    compiled: CompiledFlow, marks: Marks, *, latency: float, model_speaks: bool, timed: bool
) -> tuple[AgentSession[None], Conversation, Model]:
    session, model = new_session(
        marks,
        latency=latency,
        model_speaks=model_speaks,
        timed=timed,
        max_tool_steps=compiled.max_tool_steps,
    )
    conv = Conversation(compiled)
    agent = await FlowAgent.open(conv)
    await session.start(agent, capture_run=True)
    return session, conv, model


async def converse(
    compiled: CompiledFlow, *, latency: float, model_speaks: bool, timed: bool = True
) -> Marks:
    """One whole scripted call; ``timed``: note when function calls arrive (for dead
    air), else run the adapter bare (for CPU time)."""
    marks = Marks()
    session, conv, model = await _open(
        compiled, marks, latency=latency, model_speaks=model_speaks, timed=timed
    )
    try:
        await play(session, model, marks, model_speaks=model_speaks)
        if conv.state != "Goodbye" or conv.ended is None:
            raise AssertionError(f"the call ended in {conv.state}, {conv.ended}")
    finally:
        await session.aclose()
        await conv.aclose()
    return marks


async def open_idle(
    compiled: CompiledFlow, *, model_speaks: bool
) -> tuple[AgentSession[None], Conversation]:
    """A session started and greeted, waiting for the caller (memory per session)."""
    session, conv, _ = await _open(
        compiled, Marks(), latency=0.0, model_speaks=model_speaks, timed=False
    )
    return session, conv


async def close_idle(idle: tuple[AgentSession[None], Conversation]) -> None:
    session, conv = idle
    await session.aclose()
    await conv.aclose()
