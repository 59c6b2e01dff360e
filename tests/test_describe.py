"""The describer: every kind of event in words, for timelines and for transcripts."""

from __future__ import annotations

import pytest

from flowctl.engine import runtime as rt
from flowctl.engine.describe import Description, describe

CASES: list[tuple[str, rt.Event, Description]] = [
    ("said", rt.Turn(at=0, role="user", text="hi"), Description("user", "hi", "user: hi")),
    (
        "start",
        rt.Entered(at=0, state="Intake", variables={"name": "Ana"}),
        Description("entered", 'Intake {"name": "Ana"}', None),
    ),
    ("handoff", rt.Entered(at=0, state="B", via="go"), Description("entered", "B via go", None)),
    ("called", rt.Called(at=0, name="go"), Description("called", "go", None)),
    (
        "moved",
        rt.Fired(at=0, edge="go", source="A", target="B", args={"n": 1}, automatic=True),
        Description("fired", 'go (automatic): A -> B {"n": 1}', "go: A -> B"),
    ),
    (
        "stayed",
        rt.Fired(at=0, edge="save", source="A", target=None),
        Description("fired", "save: stayed in A", None),
    ),
    (
        "refused",
        rt.RefusedEvent(at=0, name="go", reason="no"),
        Description("refused", "go: no", "refused go: no"),
    ),
    (
        "tool",
        rt.ToolCalled(at=0, tool="t", args={"a": "é"}),
        Description("tool", 't {"a": "é"}', None),
    ),
    (
        "tool ok",
        rt.ToolReturned(at=0, tool="t", ok=True, value=[1]),
        Description("result", "t ok [1]", "tool t -> ok"),
    ),
    (
        "tool failed",
        rt.ToolReturned(at=0, tool="t", ok=False, error="down"),
        Description("result", "t failed: down", "tool t -> error: down"),
    ),
    (
        "callback",
        rt.CallbackPromised(at=0, tool="ring_back", when="after 5", caller="+1555", busy=True),
        Description("callback", 'ring_back {"when": "after 5", "caller": "+1555"}', None),
    ),
    (
        "callback with the flow's own arguments",
        rt.CallbackPromised(at=0, tool="cb", reason="refund", details={"callback_number": "5"}),
        Description("callback", 'cb {"reason": "refund", "callback_number": "5"}', None),
    ),
    (
        "output",
        rt.OutputRecorded(at=0, state="A", fields={"say": "hi", "mood": "ok"}),
        Description("output", 'A {"say": "hi", "mood": "ok"}', 'output {"say":"hi","mood":"ok"}'),
    ),
    (
        "invalid",
        rt.OutputInvalid(at=0, state="A", error="bad", text="{"),
        Description("invalid", "A: bad", "output invalid: bad"),
    ),
    (
        "ended",
        rt.Ended(at=0, reason="transfer", state="A", detail="tel:+1"),
        Description("ended", "transfer in A (tel:+1)", "call ended (transfer)"),
    ),
]


@pytest.mark.parametrize(("event", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_describe_says_what_each_event_was(event: rt.Event, expected: Description) -> None:
    assert describe(event) == expected


def test_describe_leaves_the_spoken_field_out_of_an_outputs_brief() -> None:
    event = rt.OutputRecorded(at=0, state="A", fields={"say": "hi", "mood": "ok"})
    assert describe(event, spoken="say").brief == 'output {"mood":"ok"}'
