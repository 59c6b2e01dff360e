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
from collections.abc import AsyncIterable
from pathlib import Path
from typing import Any

import msgspec
from livekit.agents import AgentSession, FlushSentinel, ModelSettings, llm
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
    """The scripted model, counting its chat requests."""

    def __init__(self, marks: Marks, *, latency: float) -> None:
        super().__init__(latency=latency)
        self.marks = marks

    def chat(self, **kwargs: Any) -> llm.LLMStream:
        self.marks.model_called()
        return super().chat(**kwargs)


class _TimedAgent(FlowAgent):
    """The adapter as it is, noting when a function call arrives from the model (the
    agent's ``llm_node`` is where LiveKit hands the model's stream to the agent)."""

    marks: Marks

    async def llm_node(
        self, chat_ctx: llm.ChatContext, tools: list[llm.Tool], model_settings: ModelSettings
    ) -> AsyncIterable[llm.ChatChunk | str | FlushSentinel]:
        async for chunk in super().llm_node(chat_ctx, tools, model_settings):
            if isinstance(chunk, llm.ChatChunk) and chunk.delta and chunk.delta.tool_calls:
                self.marks.call_emitted()
            yield chunk


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
    model = _Model(marks, latency=latency)
    conv = Conversation(compiled)
    session: AgentSession[None] = AgentSession(llm=model, max_tool_steps=compiled.max_tool_steps)
    session.output.transcription = _Output(marks)
    if model_speaks:
        model.plan([Step.say(OPENING)])
    agent = await (_TimedAgent if timed else FlowAgent).open(conv)
    if isinstance(agent, _TimedAgent):
        agent.marks = marks
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
