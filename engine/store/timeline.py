"""A recorded session as a readable timeline (``flowctl sessions show``)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

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
)
from flowctl.engine.store.events import Turn
from flowctl.engine.store.records import SessionInfo

__all__ = ["format_time", "timeline"]


def format_time(at: float | None) -> str:
    """``2025-01-31T09:30:00Z`` (UTC), or ``-``."""
    if at is None:
        return "-"
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))


def _describe(event: Event | Turn) -> tuple[str, str]:
    """What to call an event, and what to say about it."""
    match event:
        case Turn(role=role, text=text):
            return role, text
        case Entered(state=state, via=None, variables=variables):
            return "entered", state + (f" {_json(variables)}" if variables else "")
        case Entered(state=state, via=via):
            return "entered", f"{state} via {via}"
        case Called(name=name, args=args):
            return "called", name + (f" {_json(args)}" if args else "")
        case Fired(edge=edge, source=source, target=target, args=args, automatic=automatic):
            where = f"{source} -> {target}" if target is not None else f"stayed in {source}"
            auto = " (automatic)" if automatic else ""
            return "fired", f"{edge}{auto}: {where}" + (f" {_json(args)}" if args else "")
        case RefusedEvent(name=name, reason=reason):
            return "refused", f"{name}: {reason}"
        case ToolCalled(tool=tool, args=args):
            return "tool", tool + (f" {_json(args)}" if args else "")
        case ToolReturned(tool=tool, ok=True, value=value):
            return "result", f"{tool} ok" + ("" if value is None else f" {_json(value)}")
        case ToolReturned(tool=tool, error=error):
            return "result", f"{tool} failed: {error}"
        case OutputRecorded(state=state, fields=fields):
            return "output", f"{state} {_json(fields)}"
        case OutputInvalid(state=state, error=error):
            return "invalid", f"{state}: {error}"
        case Ended(reason=reason, state=state, detail=detail):
            return "ended", f"{reason} in {state}" + (f" ({detail})" if detail else "")
    return type(event).__name__, ""  # pragma: no cover - every kind is matched above


def timeline(session: SessionInfo, events: list[Event | Turn]) -> list[str]:
    """The session's header, then one line per event: seconds since the start, kind,
    and what happened."""
    ended = (
        f"{format_time(session.ended_at)} ({session.end_reason})"
        if session.ended_at is not None
        else "- (running)"
    )
    lines = [
        f"session  {session.session_id}",
        f"flow     {session.flow_id} v{session.version}",
        f"started  {format_time(session.started_at)}",
        f"ended    {ended}",
    ]
    if session.routing is not None:
        lines.append(f"routing  {_json(session.routing)}")
    lines.append(f"events   {len(events)}")
    if events:
        lines.append("")
    for event in events:
        kind, text = _describe(event)
        lines.append(f"{event.at - session.started_at:+9.2f}s  {kind:<8} {text}")
    return lines
