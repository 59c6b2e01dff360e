"""What a call came to, in one record: the frontend's ``flowctl.summary`` message at
the end of a call, the session's ``summary`` in the store, and the heart of the
``call.ended`` webhook.

Built from the conversation alone, deterministically and at once (no model call): the
states it passed through, how it ended, the variables it established (other than the
flow's defaults), the last structured answer of each state, what the tools did, and
a one-line text for people.
"""

from __future__ import annotations

from typing import Any

import msgspec

from flowctl.engine.events import Entered, OutputRecorded, ToolReturned, Turn
from flowctl.engine.runtime import Conversation

__all__ = ["CallSummary", "summarize"]


class CallSummary(msgspec.Struct, frozen=True, kw_only=True):
    flow_id: str
    outcome: str  # the end reason: end_state, transfer, callback, busy, ...; hangup
    state: str  # where it ended
    path: list[str]  # the states entered, in order
    variables: dict[str, Any]  # set during the call, other than to the flow's defaults
    outputs: dict[str, dict[str, Any]]  # each state's last structured answer
    tools_ok: int
    tools_failed: int
    turns: int  # transcript lines the conversation saw (caller and agent)
    seconds: float  # from the start to the last event
    text: str  # one line for people


def summarize(conversation: Conversation, *, outcome: str, turns: int | None = None) -> CallSummary:
    """The summary of ``conversation``, ended for ``outcome`` (``end_reason``'s).
    ``turns``: transcript lines kept outside the conversation (the worker's), else
    those in its history."""
    history = conversation.history
    path = [e.state for e in history if isinstance(e, Entered)]
    outputs = {e.state: e.fields for e in history if isinstance(e, OutputRecorded)}
    results = [e for e in history if isinstance(e, ToolReturned)]
    failed = sum(not r.ok for r in results)
    known = conversation.known()
    seconds = history[-1].at - history[0].at if history else 0.0
    text = f"{' -> '.join(path)}; ended in {conversation.state} ({outcome})"
    if known:
        text += "; " + ", ".join(f"{k}: {_short(v)}" for k, v in sorted(known.items()))
    return CallSummary(
        flow_id=conversation.compiled.flow_id,
        outcome=outcome,
        state=conversation.state,
        path=path,
        variables=known,
        outputs=outputs,
        tools_ok=len(results) - failed,
        tools_failed=failed,
        turns=turns if turns is not None else sum(isinstance(e, Turn) for e in history),
        seconds=round(seconds, 3),
        text=text,
    )


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else msgspec.json.encode(value).decode()
    return text if len(text) <= 60 else text[:57] + "..."
