"""A simulated conversation as people read it: what was said flush left, what the engine
did indented under it, each line with its event's kind (what the command line colours
by). Scenario runs (``worker/simulate.py``) and the interactive session
(``worker/repl.py``) both write their transcripts here, in the engine's words
(``flowctl.engine.describe``)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Literal, NamedTuple

from flowctl.engine.describe import describe
from flowctl.engine.events import Fired, ToolReturned
from flowctl.engine.knowledge.retrieval import answer_in
from flowctl.engine.runtime import Ended, Event, Turn

__all__ = ["SILENCE", "Line", "said", "said_in", "transcript"]

# What the agent "says" when a handoff lands in a state that has nothing to say (no edge
# `say`, no greeting) and the call goes on: on a call that is dead air, the caller waiting
# for a voice; a transcript shows it rather than leaving the gap unseen.
SILENCE = "(silence)"


class Line(NamedTuple):
    """One transcript line; ``kind`` is its event's (``flowctl.engine.describe.Kind``),
    or ``note`` for what the simulator itself says."""

    kind: str
    text: str


def said_in(run: Any) -> list[str]:
    """What the agent said in a run (``RunResult``), line by line."""
    return [
        text
        for event in (run.events if run is not None else [])
        if type(event).__name__ == "ChatMessageEvent"
        for text in getattr(event.item, "content", [])
        if isinstance(text, str) and text
    ]


def said(role: Literal["user", "agent"], text: str) -> Line:
    """The line for words the user or the agent said (a turn: flush left, never left out)."""
    kind, _, brief = describe(Turn(at=0.0, role=role, text=text))
    return Line(kind, brief or text)


def transcript(
    events: Sequence[Event], agent: Sequence[str], spoken: str | None, *, values: bool = False
) -> list[Line]:
    """A turn after the user spoke (or ``/go`` fired an edge): what the engine did
    (``events``, the turn's part of the history), what the ``agent`` said, and the end of
    the call last when it came. ``spoken``: the output field the agent's words show;
    ``values``: show what each tool returned after its ``-> ok`` (``/go`` asks for it; in
    the model's turns the agent's next words are the answer). A handoff after which the
    agent says nothing and the call goes on shows as the agent's ``(silence)``."""
    ended = [e for e in events if isinstance(e, Ended)]
    moved = any(isinstance(e, Fired) and e.target is not None for e in events)
    words = agent or ([SILENCE] if moved and not ended else [])
    return [
        *_done([e for e in events if not isinstance(e, Ended)], spoken, values),
        *(said("agent", text) for text in words),
        *_done(ended, spoken, values),
    ]


def _done(events: Sequence[Event], spoken: str | None, values: bool) -> list[Line]:
    """The engine's events a transcript shows, indented under what was said (a brief of
    several lines, a knowledge tool's passages, line by line)."""
    lines: list[Line] = []
    for event in events:
        kind, _, brief = describe(event, spoken=spoken)
        if brief is None:
            continue
        if (
            values
            and isinstance(event, ToolReturned)
            and event.ok
            and event.value is not None
            and answer_in(event.value) is None  # passages show themselves
        ):
            brief += " " + json.dumps(event.value, ensure_ascii=False, separators=(", ", ": "))
        lines.extend(Line(kind, f"  {part}") for part in brief.split("\n"))
    return lines
