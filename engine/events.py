"""What a session records: the typed events of its history, defined once.

The runtime (:class:`~flowctl.engine.runtime.Conversation`) appends them as it goes,
the worker adds the transcript's :class:`Turn` beside them, the store keeps the one
:data:`Event` union as it is (``flowctl.engine.store.events``) and the describer
(``flowctl.engine.describe``) words each kind. ``flowctl.engine.runtime`` re-exports
them all.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from flowctl.engine.builtins import Ending

__all__ = [
    "CallbackPromised",
    "Called",
    "EndReason",
    "Ended",
    "Entered",
    "Event",
    "Fired",
    "OutputInvalid",
    "OutputRecorded",
    "RefusedEvent",
    "ToolCalled",
    "ToolReturned",
    "Turn",
]


class _Event(msgspec.Struct, frozen=True, tag_field="kind", kw_only=True):
    at: float


class Entered(_Event, tag="entered", frozen=True):
    """The conversation entered ``state``: the start, or the target of an edge."""

    state: str
    via: str | None = None  # the edge that led here; None for the start
    variables: dict[str, Any] = {}  # at the start: the input and what memory gave, for replays


class Fired(_Event, tag="fired", frozen=True):
    """Edge ``edge`` fired: its checks held (and its tool, if any, ran)."""

    edge: str
    source: str
    target: str | None  # None: the conversation stayed
    args: dict[str, Any] = {}
    automatic: bool = False


class Called(_Event, tag="called", frozen=True):
    """The model called function ``name`` (what it asked for, before any check)."""

    name: str
    args: dict[str, Any] = {}


class RefusedEvent(_Event, tag="refused", frozen=True):
    """The call to ``name`` was refused and nothing changed; ``reason`` is what the
    model was told."""

    name: str
    reason: str
    args: dict[str, Any] = {}  # as the model gave them, for replays


class ToolCalled(_Event, tag="tool_called", frozen=True):
    """Tool ``tool`` is about to run with ``args`` (what it receives, after checks)."""

    tool: str
    args: dict[str, Any] = {}


class ToolReturned(_Event, tag="tool_result", frozen=True):
    """What tool ``tool`` answered; a failure (``error``) leaves the variables as they
    were."""

    tool: str
    ok: bool
    value: Any = None
    error: str | None = None


class OutputRecorded(_Event, tag="output", frozen=True):
    """The model's structured answer in ``state``, as its schema validated it."""

    state: str
    fields: dict[str, Any]


class OutputInvalid(_Event, tag="output_invalid", frozen=True):
    """The model's answer in a structured state did not fit the state's schema."""

    state: str
    error: str
    text: str  # the answer as it came, cut to 500 characters


class CallbackPromised(_Event, tag="callback", frozen=True):
    """Tool ``tool`` promised the caller a call back (``schedule_callback``; with
    ``busy``, ``handle_is_busy``, which then ends the call). ``when`` and ``reason`` are
    in the caller's words; ``caller`` is who to call, when the session knows (the
    number of a caller on a phone line, else the job's user id); ``details`` holds the
    tool's other arguments (a flow's own ``callback_number``, say). The store keeps each
    as a callback to work through (``flowctl callbacks``)."""

    tool: str
    when: str | None = None
    reason: str | None = None
    busy: bool = False
    caller: str | None = None
    details: dict[str, Any] = {}


# How a call ends: it reached an end state, or a builtin ended it (see engine.builtins).
EndReason = Literal["end_state", Ending]


class Ended(_Event, tag="ended", frozen=True):
    """The call ended in ``state``; ``detail``: where it was transferred to, or when
    to call back a busy caller."""

    reason: EndReason
    state: str
    detail: str | None = None


class Turn(_Event, tag="turn", frozen=True):
    """One transcript turn: what the caller said (``user``) or the agent said (``agent``).
    The worker records these beside the conversation's own events, so a session's record
    is one union of events."""

    role: Literal["user", "agent"]
    text: str


# Every kind of event a session records, defined once: the runtime's history, the
# store's timeline (``flowctl.engine.store``) and the describer (``engine/describe.py``)
# all read this union.
Event = (
    Entered
    | Called
    | Fired
    | RefusedEvent
    | ToolCalled
    | ToolReturned
    | CallbackPromised
    | OutputRecorded
    | OutputInvalid
    | Ended
    | Turn
)
