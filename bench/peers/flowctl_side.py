"""The flowctl side of ``bench/peer_bench.py``: ``bench/peers/reservation.json`` run by
the ``FlowAgent`` adapter in a real text-only LiveKit ``AgentSession`` (no room, no
audio), the scripted model answering after a fixed latency.

Two forms of the flow: as written, every state speaks its fixed greeting
(``on_enter_prompt``) with no model call; ``model_speaks``, each state that can takes a
model turn on entering instead (``on_enter.task``; the scripted model says the same
words). A terminal state always says its fixed words and ends the call.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgspec
from livekit.agents import AgentSession, llm
from livekit.agents.voice import io
from script import ENTRY_TASKS, OPENING, TURNS, Marks

from flowctl.engine.compile import CompiledFlow, compile_flow
from flowctl.engine.runtime import Conversation
from flowctl.engine.spec import Flow
from flowctl.worker.agent import FlowAgent
from flowctl.worker.llm import ScriptedLLM, Step

FLOW = Path(__file__).with_name("reservation.json")


def load(*, model_speaks: bool) -> CompiledFlow:
    doc = json.loads(FLOW.read_text())
    if model_speaks:
        for state in doc["agents"]:
            if not state.get("end"):
                del state["on_enter_prompt"]
                state["on_enter"] = {"task": ENTRY_TASKS[state["name"]]}
    return compile_flow(msgspec.convert(doc, Flow))


class _Model(ScriptedLLM):
    """The scripted model, counting its chat requests; ``noted``: noting when its stream
    hands a function call to the agent (where Pipecat's side starts its clock too)."""

    def __init__(self, marks: Marks, *, latency: float, noted: bool) -> None:
        super().__init__(latency=latency)
        self.marks = marks
        self.noted = noted

    def chat(self, **kwargs: Any) -> Any:
        self.marks.model_called()
        stream = super().chat(**kwargs)
        return _Noted(stream, self.marks) if self.noted else stream


class _Noted:
    """A model's stream as the agent reads it, noting each function call it hands on."""

    def __init__(self, stream: llm.LLMStream, marks: Marks) -> None:
        self._stream = stream
        self._marks = marks

    async def __aenter__(self) -> _Noted:
        await self._stream.__aenter__()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self._stream.__aexit__(*exc)

    def __aiter__(self) -> _Noted:
        return self

    async def __anext__(self) -> llm.ChatChunk:
        chunk = await self._stream.__anext__()
        if chunk.delta and chunk.delta.tool_calls:
            self._marks.call_emitted()
        return chunk

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


class _Output(io.TextOutput):
    """The session's text output: where the agent's words arrive in a text session."""

    def __init__(self, marks: Marks) -> None:
        super().__init__(label="peer-bench", next_in_chain=None)
        self.marks = marks

    async def capture_text(self, text: str) -> None:
        self.marks.spoke(text)

    def flush(self) -> None:
        pass


def _steps(turn_index: int, *, model_speaks: bool) -> list[Step]:
    turn = TURNS[turn_index]
    steps = [Step.call(turn.call, turn.args)]
    if model_speaks and turn.state != "Goodbye":
        steps.append(Step.say(turn.words))
    return steps


async def _open(
    compiled: CompiledFlow, marks: Marks, *, latency: float, model_speaks: bool, timed: bool
) -> tuple[AgentSession[None], Conversation, _Model]:
    model = _Model(marks, latency=latency, noted=timed)
    conv = Conversation(compiled)
    session: AgentSession[None] = AgentSession(llm=model, max_tool_steps=compiled.max_tool_steps)
    session.output.transcription = _Output(marks)
    if model_speaks:
        model.plan([Step.say(OPENING)])
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
        for i, turn in enumerate(TURNS):
            marks.user_turn()
            model.plan(_steps(i, model_speaks=model_speaks))
            await session.run(user_input=turn.user)
        marks.over()
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
