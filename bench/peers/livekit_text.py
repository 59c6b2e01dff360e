"""What the two LiveKit sides of ``bench/peer_bench.py`` share (flowctl's adapter,
``flowctl_side``, and the flow written by hand for LiveKit, ``livekit_side``), so both
run in the same harness: a real text-only ``AgentSession`` (no room, no audio) whose
model is the scripted one, counting its chat requests; the session's text output,
where the agent's words arrive; the clock's start, where the model's stream hands a function call
on; and the scripted call driven through ``session.run``.
"""

from __future__ import annotations

from typing import Any

from livekit.agents import AgentSession, llm
from livekit.agents.voice import io
from script import OPENING, TURNS, Marks

from flowctl.worker.llm import ScriptedLLM, Step


class Model(ScriptedLLM):
    """The scripted model, counting its chat requests; ``timed``: noting when its stream
    hands a function call to the agent (where Pipecat's side starts its clock too: its
    OpenAI service reading the call from the stream)."""

    def __init__(self, marks: Marks, *, latency: float, timed: bool) -> None:
        super().__init__(latency=latency)
        self.marks = marks
        self.timed = timed

    def chat(self, **kwargs: Any) -> Any:
        self.marks.model_called()
        stream = super().chat(**kwargs)
        return _Noted(stream, self.marks) if self.timed else stream


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
