"""Events in words: the one describer every reader of a session's history uses.

A recorded session's timeline (``flowctl sessions show``), the simulator's transcripts
(``flowctl simulate``: scenario runs and the interactive session) and the interactive
``/history`` all say what an event was through :func:`describe`, so a new kind of
:data:`~flowctl.engine.events.Event` is described here once, and the match below is
where a type checker sees a kind nobody describes.

Each event gets a kind (a short word, also what the command line colours by), the whole
of what happened (``text``), and the line a transcript of the conversation shows for it
(``brief``; None for the steps a transcript leaves out, such as a function call before
its result). A knowledge tool's result is the one brief of several lines: the passages
it found, one a line.
"""

from __future__ import annotations

import json
from typing import Any, Literal, NamedTuple

import msgspec

from flowctl.engine import events
from flowctl.engine.knowledge.retrieval import Answer, answer_in

__all__ = ["Description", "Kind", "describe"]

Kind = Literal[
    "entered",
    "called",
    "fired",
    "refused",
    "tool",
    "result",
    "callback",
    "output",
    "invalid",
    "ended",
    "user",
    "agent",
]


class Description(NamedTuple):
    kind: Kind
    text: str  # the whole event, for timelines
    brief: str | None  # its line in a transcript; None: a transcript leaves it out


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))


def _with_args(head: str, args: dict[str, Any]) -> str:
    """``head``, then the arguments (or variables) as JSON when there are any."""
    return head + (f" {_json(args)}" if args else "")


# What a transcript shows of a passage's text, at most: enough to see which it is.
SNIPPET = 80


def _passages(tool: str, answer: Answer) -> str:
    """A knowledge tool's answer: a line saying what was searched, then each passage
    found on a line of its own (score, source and section, the start of its text)."""
    asked = f"`{answer.base}` for {_json(answer.query)}"
    if not answer.passages:
        return f"tool {tool} -> no passage of {asked}"
    count = len(answer.passages)
    lines = [f"tool {tool} -> {count} passage{'s' if count != 1 else ''} of {asked}:"]
    for p in answer.passages:
        where = p.source + (f" ({p.section})" if p.section else "")
        text = " ".join(p.text.split())
        text = text if len(text) <= SNIPPET else text[: SNIPPET - 1].rstrip() + "…"
        lines.append(f"  {p.score:.2f} {where}: {text}")
    return "\n".join(lines)


def describe(event: events.Event, *, spoken: str | None = None) -> Description:
    """What ``event`` was. ``spoken``: the structured-output field a transcript already
    shows as the agent's words, left out of the output's brief."""
    match event:
        case events.Turn(role=role, text=text):
            return Description(role, text, f"{role}: {text}")
        case events.Entered(state=state, via=None, variables=variables):
            return Description(
                "entered", state + (f" {_json(variables)}" if variables else ""), None
            )
        case events.Entered(state=state, via=via):
            return Description("entered", f"{state} via {via}", None)
        case events.Called(name=name, args=args):
            return Description("called", _with_args(name, args), None)
        case events.Fired(edge=edge, source=source, target=target, args=args, automatic=automatic):
            where = f"{source} -> {target}" if target is not None else f"stayed in {source}"
            auto = " (automatic)" if automatic else ""
            moved = f"{edge}: {source} -> {target}" if target is not None else None
            return Description("fired", _with_args(f"{edge}{auto}: {where}", args), moved)
        case events.RefusedEvent(name=name, reason=reason):
            return Description("refused", f"{name}: {reason}", f"refused {name}: {reason}")
        case events.ToolCalled(tool=tool, args=args):
            return Description("tool", _with_args(tool, args), None)
        case events.ToolReturned(tool=tool, ok=True, value=value):
            said = f"{tool} ok" + ("" if value is None else f" {_json(value)}")
            answer = answer_in(value)
            if answer is not None:  # a knowledge tool's: the passages it found, one a line
                return Description("result", said, _passages(tool, answer))
            return Description("result", said, f"tool {tool} -> ok")
        case events.ToolReturned(tool=tool, error=error):
            return Description(
                "result", f"{tool} failed: {error}", f"tool {tool} -> error: {error}"
            )
        case events.CallbackPromised(
            tool=tool, when=when, reason=reason, caller=caller, details=details
        ):
            named = {"when": when, "reason": reason, "caller": caller}
            promised = {k: v for k, v in named.items() if v is not None} | details
            return Description("callback", _with_args(tool, promised), None)
        case events.OutputRecorded(state=state, fields=fields):
            shown = {k: v for k, v in fields.items() if k != spoken}
            brief = f"output {msgspec.json.encode(shown).decode()}"
            return Description("output", f"{state} {_json(fields)}", brief)
        case events.OutputInvalid(state=state, error=error):
            return Description("invalid", f"{state}: {error}", f"output invalid: {error}")
        case events.Ended(reason=reason, state=state, detail=detail):
            text = f"{reason} in {state}" + (f" ({detail})" if detail else "")
            return Description("ended", text, f"call ended ({reason})")
    raise TypeError(f"not an event: {event!r}")  # pragma: no cover - every kind is above
