"""What the two LiveKit sides of ``bench/peer_bench.py`` share (flowctl's adapter,
``flowctl_side``, and the flow written by hand for LiveKit, ``livekit_side``), so both
run in the same harness: a real text-only ``AgentSession`` (no room, no audio) whose
model is the scripted one, counting its chat requests; the session's text output,
where the agent's words arrive; the clock's start, where a function call reaches the
agent's ``llm_node``; and the scripted call driven through ``session.run``.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator
from typing import Any

from livekit.agents import Agent, AgentSession, FlushSentinel, ModelSettings, llm
from livekit.agents.voice import io
from script import OPENING, TURNS, Marks

from flowctl.worker.llm import ScriptedLLM, Step


class Model(ScriptedLLM):
    """The scripted model, counting its chat requests; ``timed``: :class:`Timed` agents
    note when its function calls reach them."""

    def __init__(self, marks: Marks, *, latency: float, timed: bool) -> None:
        super().__init__(latency=latency)
        self.marks = marks
        self.timed = timed

    def chat(self, **kwargs: Any) -> llm.LLMStream:
        self.marks.model_called()
        return super().chat(**kwargs)


class Timed(Agent):
    """Mixed into an agent before its own class: notes when a function call arrives from
    the model (the agent's ``llm_node`` is where LiveKit hands the model's stream to the
    agent). Untimed (the model says so), the agent's own ``llm_node`` goes to LiveKit
    as it is, not wrapped."""

    def llm_node(
        self, chat_ctx: llm.ChatContext, tools: list[llm.Tool], model_settings: ModelSettings
    ) -> Any:
        node = super().llm_node(chat_ctx, tools, model_settings)
        model = self.session.llm
        if isinstance(model, Model) and model.timed:
            assert isinstance(node, AsyncIterable), "an llm_node that streams"
            return _noting(node, model.marks)
        return node


async def _noting(
    node: AsyncIterable[llm.ChatChunk | str | FlushSentinel], marks: Marks
) -> AsyncIterator[llm.ChatChunk | str | FlushSentinel]:
    async for chunk in node:
        if isinstance(chunk, llm.ChatChunk) and chunk.delta and chunk.delta.tool_calls:
            marks.call_emitted()
        yield chunk


class Output(io.TextOutput):
    """The session's text output: where the agent's words arrive in a text session."""

    def __init__(self, marks: Marks) -> None:
        super().__init__(label="peer-bench", next_in_chain=None)
        self.marks = marks

    async def capture_text(self, text: str) -> None:
        self.marks.spoke(text)

    def flush(self) -> None:
        pass


def new_session(
    marks: Marks, *, latency: float, model_speaks: bool, timed: bool, **options: Any
) -> tuple[AgentSession[Any], Model]:
    """A text session on the scripted model (``options``: ``AgentSession``'s own), its
    words going to ``marks``; ``model_speaks``: the model is to say the opening."""
    model = Model(marks, latency=latency, timed=timed)
    session: AgentSession[Any] = AgentSession(llm=model, **options)
    session.output.transcription = Output(marks)
    if model_speaks:
        model.plan([Step.say(OPENING)])
    return session, model


def steps(turn_index: int, *, model_speaks: bool) -> list[Step]:
    """What the model does on a turn of the script: the transition's function call,
    then, where the new state speaks through the model, its words (a terminal state
    says fixed words either way)."""
    turn = TURNS[turn_index]
    planned = [Step.call(turn.call, turn.args)]
    if model_speaks and turn.state != "Goodbye":
        planned.append(Step.say(turn.words))
    return planned


async def play(
    session: AgentSession[Any], model: Model, marks: Marks, *, model_speaks: bool
) -> None:
    """The caller's lines, each run to the end of the agent's turn (or of the call)."""
    for i, turn in enumerate(TURNS):
        marks.user_turn()
        model.plan(steps(i, model_speaks=model_speaks))
        await session.run(user_input=turn.user)
    marks.over()
