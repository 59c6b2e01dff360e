"""The scripted conversation both sides of ``bench/peer_bench.py`` play, and what a run
of it records. No framework is imported here: each side reads the same lines, makes
the same function calls and speaks the same words.

A caller books a table at La Maison: seven o'clock is full (the flow branches to the
state that offers other times), nine is free (on to the confirmation), and the caller
needs nothing else (on to the goodbye, which ends the call). Three transitions a call.
"""

from __future__ import annotations

import time
from typing import Any, NamedTuple

RESTAURANT = "La Maison"
ROLE = (
    f"You take table bookings by phone for {RESTAURANT}, a French restaurant. Everything "
    "you say is spoken: one or two short sentences, no lists or symbols."
)
# What each state says on entering it, as the flow's fixed greetings render it (the
# Pipecat side writes the same words into its nodes; a scripted model says them where a
# state speaks through the model).
OPENING = (
    f"Good evening, you've reached {RESTAURANT}. For how many people, and at what time? "
    "We seat from 5 to 10 in the evening."
)
FULL = "I'm sorry, {time} is fully booked. I can offer {alternatives}. Would one of those suit you?"
BOOKED = "Your table for {party_size} at {time} is booked. Is there anything else I can do for you?"
GOODBYE = f"Thank you for calling {RESTAURANT}. Enjoy your evening!"
# What each state asks of the model (its instructions after ROLE), the same on every
# side; flowctl's flow writes them as templates of its variables.
GREETING_TASK = (
    "Learn how many people the table is for and the time they would like, then "
    "call check_availability. We seat on the hour from 5 PM to 10 PM."
)
OTHER_TIME_TASK = (
    "{time} is taken. Offer the free times ({alternatives}) and, when the caller "
    "picks one, call check_availability with it."
)
CONFIRM_TASK = (
    "The table is booked for {party_size} at {time}. Answer a last question about "
    "it briefly; when the caller needs nothing else, call finish."
)
# Where a state speaks through the model instead (flowctl's `on_enter.task`, Pipecat's
# task message with `respond_immediately`), what the model is asked to say on entering.
ENTRY_TASKS = {
    "Greeting": "Greet the caller and ask for the party size and the time they would like.",
    "OtherTime": "Say that the time asked for is fully booked and offer the free times.",
    "Confirm": "Confirm the booking and ask whether the caller needs anything else.",
    "Goodbye": "Thank the caller and say goodbye.",
}


class Turn(NamedTuple):
    user: str  # the caller's words
    call: str  # the function the model calls
    args: dict[str, Any]
    state: str  # where the flow goes (flowctl's state names)
    words: str  # the new state's first words


TURNS = [
    Turn(
        "Hi, a table for four at seven tonight, please.",
        "check_availability",
        {"party_size": 4, "time": "7:00 PM"},
        "OtherTime",
        FULL.format(time="7:00 PM", alternatives="6:00 PM or 9:00 PM"),
    ),
    Turn(
        "Nine would be fine.",
        "check_availability",
        {"party_size": 4, "time": "9:00 PM"},
        "Confirm",
        BOOKED.format(party_size=4, time="9:00 PM"),
    ),
    Turn("No, that's all, thank you.", "finish", {}, "Goodbye", GOODBYE),
]


class Marks:
    """What one conversation did, timed with ``time.perf_counter``: each side's model
    calls :meth:`model_called` on every chat request and :meth:`call_emitted` when it
    hands a function call to its framework; the side's output calls :meth:`spoke` with
    the text that reaches it; the driver calls :meth:`user_turn` before each user line
    and :meth:`over` at the end.

    Dead air is the time from a function call reaching the framework to the next words
    reaching the output; model calls per transition, the chat requests after the call
    and before the caller speaks again (or the call ends)."""

    def __init__(self) -> None:
        self.calls = 0
        self.said: list[str] = []  # what was said before each user turn, and at the end
        self._words: list[str] = []
        self.dead_air: list[float] = []
        self.calls_after: list[int] = []
        self._called_at: float | None = None
        self._calls_then: int | None = None

    def model_called(self) -> None:
        self.calls += 1

    def call_emitted(self) -> None:
        self._called_at = time.perf_counter()
        self._calls_then = self.calls

    def spoke(self, text: str) -> None:
        if self._called_at is not None:
            self.dead_air.append(time.perf_counter() - self._called_at)
            self._called_at = None
        self._words.append(text)

    def user_turn(self) -> None:
        self.said.append("".join(self._words).strip())
        self._words = []
        if self._calls_then is not None:
            self.calls_after.append(self.calls - self._calls_then)
            self._calls_then = None

    def over(self) -> None:
        self.user_turn()

    def check(self) -> None:
        """The conversation went as scripted: every state said its words, in order, and
        every transition was timed."""
        expected = [OPENING, *(t.words for t in TURNS)]
        if self.said != expected:
            raise AssertionError(f"said {self.said!r}, expected {expected!r}")
        if len(self.dead_air) != len(TURNS) or len(self.calls_after) != len(TURNS):
            raise AssertionError(f"timed {self.dead_air!r}, calls after {self.calls_after!r}")
