"""Times and recorded sessions as people read them: ``format_time`` for every listing,
and ``flowctl sessions show``'s timeline, each event in the engine's own words
(``flowctl.engine.describe``), after the session's summary and evaluation."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flowctl.engine.runtime import Event
    from flowctl.engine.store.records import SessionInfo

__all__ = ["format_time", "timeline"]


def format_time(at: float | None) -> str:
    """``2025-01-31T09:30:00Z`` (UTC), or ``-``."""
    if at is None:
        return "-"
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def timeline(session: SessionInfo, events: list[Event]) -> list[str]:
    """The session's header (with what it came to, and how it did against its flow's
    evaluation, once it has ended), then one line per event: seconds since the start,
    kind, and what happened."""
    from flowctl.engine.describe import describe

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
    # What the call came to and how it did, each in its one line of text (JSON data as
    # stored: a record missing its text shows none).
    summary = _text(session.summary)
    if summary is not None:
        lines.append(f"summary  {summary}")
    evaluation = _text(session.evaluation)
    if evaluation is not None:
        lines.append(f"evaluation {evaluation}")
    if session.routing is not None:
        routing = json.dumps(session.routing, ensure_ascii=False, separators=(", ", ": "))
        lines.append(f"routing  {routing}")
    lines.append(f"events   {len(events)}")
    if events:
        lines.append("")
    for event in events:
        kind, text, _ = describe(event)
        lines.append(f"{event.at - session.started_at:+9.2f}s  {kind:<8} {text}")
    return lines


def _text(record: object) -> str | None:
    """The one-line ``text`` of a stored summary or evaluation (None: none)."""
    text = record.get("text") if isinstance(record, dict) else None
    return text if isinstance(text, str) else None
