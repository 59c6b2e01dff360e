"""The describer: every kind of event in words, for timelines and for transcripts."""

from __future__ import annotations

import pytest

from flowctl.engine.describe import Description, describe
from flowctl.engine.runtime import (
    Called,
    Ended,
    Entered,
    Event,
    Fired,
    OutputInvalid,
    OutputRecorded,
    RefusedEvent,
    ToolCalled,
    ToolReturned,
    Turn,
)

CASES: list[tuple[str, Event, Description]] = [
    ("said", Turn(at=0, role="user", text="hi"), Description("user", "hi", "user: hi")),
    (
        "start",
        Entered(at=0, state="Intake", variables={"name": "Ana"}),
        Description("entered", 'Intake {"name": "Ana"}', None),
    ),
    ("handoff", Entered(at=0, state="B", via="go"), Description("entered", "B via go", None)),
    ("called", Called(at=0, name="go"), Description("called", "go", None)),
    (
        "moved",
        Fired(at=0, edge="go", source="A", target="B", args={"n": 1}, automatic=True),
        Description("fired", 'go (automatic): A -> B {"n": 1}', "go: A -> B"),
    ),
    (
        "stayed",
        Fired(at=0, edge="save", source="A", target=None),
        Description("fired", "save: stayed in A", None),
    ),
    (
        "refused",
        RefusedEvent(at=0, name="go", reason="no"),
        Description("refused", "go: no", "refused go: no"),
    ),
    (
        "tool",
        ToolCalled(at=0, tool="t", args={"a": "é"}),
        Description("tool", 't {"a": "é"}', None),
    ),
    (
        "tool ok",
        ToolReturned(at=0, tool="t", ok=True, value=[1]),
        Description("result", "t ok [1]", "tool t -> ok"),
    ),
    (
        "tool failed",
        ToolReturned(at=0, tool="t", ok=False, error="down"),
        Description("result", "t failed: down", "tool t -> error: down"),
    ),
    (
        "output",
        OutputRecorded(at=0, state="A", fields={"say": "hi", "mood": "ok"}),
        Description("output", 'A {"say": "hi", "mood": "ok"}', 'output {"say":"hi","mood":"ok"}'),
    ),
    (
        "invalid",
        OutputInvalid(at=0, state="A", error="bad", text="{"),
        Description("invalid", "A: bad", "output invalid: bad"),
    ),
    (
        "ended",
        Ended(at=0, reason="transfer", state="A", detail="tel:+1"),
        Description("ended", "transfer in A (tel:+1)", "call ended (transfer)"),
    ),
]


@pytest.mark.parametrize(("event", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_describe_says_what_each_event_was(event: Event, expected: Description) -> None:
    assert describe(event) == expected


def test_describe_leaves_the_spoken_field_out_of_an_outputs_brief() -> None:
    event = OutputRecorded(at=0, state="A", fields={"say": "hi", "mood": "ok"})
    assert describe(event, spoken="say").brief == 'output {"mood":"ok"}'
