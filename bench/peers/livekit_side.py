"""The hand-written LiveKit side of ``bench/peer_bench.py``: the same reservation flow
written for LiveKit Agents by hand, the way its docs and examples write a multi-agent
flow: an ``Agent`` subclass per state, the state's functions as ``@function_tool``
methods, a transition a tool returning the next agent (a handoff, the history carried
in ``chat_ctx``), the booking in the session's ``userdata``, and the branch on the
booking system's answer inside the tool. Each agent speaks on entering in its
``on_enter``.

It runs in the harness flowctl's side runs in (``livekit_text``): the same text-only
``AgentSession``, scripted model, output and clock; only the agents differ. Two forms:

- ``say``: each state says its fixed words with ``session.say`` (flowctl's greeting,
  Pipecat's ``tts_say``);
- ``generate_reply``: each state but the last asks the model for its words with
  ``session.generate_reply(instructions=<the state's task>)`` (flowctl's
  ``on_enter``, Pipecat's ``respond_immediately``). The last says its fixed words and
  ends the call in both forms, as flowctl's terminal state does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import reservations
from livekit.agents import Agent, AgentSession, RunContext, function_tool, llm
from livekit_text import Model, new_session, play
from script import (
    BOOKED,
    CONFIRM_TASK,
    ENTRY_TASKS,
    FULL,
    GOODBYE,
    GREETING_TASK,
    OPENING,
    OTHER_TIME_TASK,
    ROLE,
    Marks,
)

Form = Literal["say", "generate_reply"]


@dataclass
class Booking:
    """The session's ``userdata``: what the caller booked, and how the states speak."""

    form: Form
    party_size: int | None = None
    time: str | None = None


# --- the flow -------------------------------------------------------------------------


class _State(Agent):
    """A state: its instructions (the restaurant's role and the state's task), and on
    entering, its fixed ``words`` or a model turn on its ``entry`` task."""

    def __init__(
        self, task: str, *, words: str, entry: str, chat_ctx: llm.ChatContext | None = None
    ) -> None:
        super().__init__(instructions=f"{ROLE} {task}", chat_ctx=chat_ctx)
        self.words = words
        self.entry = entry

    async def on_enter(self) -> None:
        booking: Booking = self.session.userdata
        if booking.form == "say":
            self.session.say(self.words)
        else:
            self.session.generate_reply(instructions=self.entry)


class _Asking(_State):
    """A state that asks for a time: the booking system decides where the call goes."""

    @function_tool
    async def check_availability(
        self, context: RunContext[Booking], party_size: int, time: str
    ) -> Agent:
        """Check whether a table for the party is free at the requested time.

        Args:
            party_size: Number of people at the table, 1 to 12.
            time: Seating time on the hour, as '7:00 PM'.
        """
        result = await reservations.check_availability(party_size, time)
        context.userdata.party_size, context.userdata.time = party_size, time
        if result["available"]:
            return Confirm(party_size, time, chat_ctx=self.chat_ctx)
        return OtherTime(time, result["alternatives"], chat_ctx=self.chat_ctx)


class Greeting(_Asking):
    def __init__(self) -> None:
        super().__init__(
            GREETING_TASK,
            words=OPENING,
            entry=ENTRY_TASKS["Greeting"],
        )


class OtherTime(_Asking):
    def __init__(self, time: str, alternatives: str, *, chat_ctx: llm.ChatContext) -> None:
        super().__init__(
            OTHER_TIME_TASK.format(time=time, alternatives=alternatives),
            words=FULL.format(time=time, alternatives=alternatives),
            entry=ENTRY_TASKS["OtherTime"],
            chat_ctx=chat_ctx,
        )


class Confirm(_State):
    def __init__(self, party_size: int, time: str, *, chat_ctx: llm.ChatContext) -> None:
        super().__init__(
            CONFIRM_TASK.format(party_size=party_size, time=time),
            words=BOOKED.format(party_size=party_size, time=time),
            entry=ENTRY_TASKS["Confirm"],
            chat_ctx=chat_ctx,
        )

    @function_tool
    async def finish(self, context: RunContext[Booking]) -> Agent:
        """Call when the caller says they need nothing else, to say goodbye."""
        return Goodbye(chat_ctx=self.chat_ctx)


class Goodbye(Agent):
    """The end: fixed words, then the session closes once they are said."""

    def __init__(self, *, chat_ctx: llm.ChatContext) -> None:
        super().__init__(instructions=f"{ROLE} The call is ending.", chat_ctx=chat_ctx)

    async def on_enter(self) -> None:
        self.session.say(GOODBYE)
        self.session.shutdown(drain=True)


# --- the driver -----------------------------------------------------------------------


async def _open(
    form: Form, marks: Marks, *, latency: float, timed: bool
) -> tuple[AgentSession[Booking], Model]:
    session, model = new_session(
        marks,
        latency=latency,
        model_speaks=form == "generate_reply",
        timed=timed,
        userdata=Booking(form),
    )
    await session.start(Greeting(), capture_run=True)
    return session, model


async def converse(form: Form, *, latency: float, timed: bool = True) -> Marks:
    """One whole scripted call; ``timed``: note when function calls arrive (for dead
    air), else the agents' ``llm_node`` goes to LiveKit unwrapped (for CPU time)."""
    marks = Marks()
    session, model = await _open(form, marks, latency=latency, timed=timed)
    try:
        await play(session, model, marks, model_speaks=form == "generate_reply")
        if not isinstance(session.current_agent, Goodbye):
            raise AssertionError(f"the call ended in {type(session.current_agent).__name__}")
    finally:
        await session.aclose()
    return marks


async def open_idle(form: Form) -> AgentSession[Booking]:
    """A session started and greeted, waiting for the caller (memory per session)."""
    session, _ = await _open(form, Marks(), latency=0.0, timed=False)
    return session


async def close_idle(session: AgentSession[Booking]) -> None:
    await session.aclose()
