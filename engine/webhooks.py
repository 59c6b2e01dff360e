"""Webhooks: what a tenant's systems hear of its calls, and how they know it was us.

A tenant subscribes a URL to some of :data:`EVENTS`. Every event is written to the
store's outbox in the same transaction as what caused it (a session started, events
appended, a session ended, a callback promised, an evaluation recorded), so a crash
loses nothing; a deliverer posts the outbox's rows (``flowctl.worker.webhooks``),
retrying with backoff and jitter (:func:`backoff`) until :data:`MAX_ATTEMPTS`, then
leaves the row ``dead`` for a replay by id.

Each POST carries the event as JSON and three headers:

- ``Flowctl-Event``: the event type (``call.ended``);
- ``Flowctl-Event-Id``: the event's id, the same on every attempt: a receiver that
  drops ids it has seen gets each event exactly once (delivery is at least once);
- ``Flowctl-Signature``: ``t=<unix seconds>,v1=<hex HMAC-SHA256>`` of
  ``"<t>.<body>"`` under the subscription's secret (:func:`sign`). A receiver checks it
  with :func:`verify` (or the recipe in docs/webhooks.md) and refuses stale
  timestamps, so a captured request cannot be replayed later.

Pure: no network and no database here.
"""

from __future__ import annotations

import hashlib
import hmac
import random
import re
import secrets
from collections.abc import Iterable, Sequence
from typing import Any

from flowctl.engine.events import Entered, OutputRecorded, ToolReturned, Turn
from flowctl.engine.findings import did_you_mean

__all__ = [
    "EVENTS",
    "MAX_ATTEMPTS",
    "SIGNATURE_HEADER",
    "TOLERANCE",
    "backoff",
    "check_events",
    "event_payloads",
    "new_secret",
    "sign",
    "transcript_and_path",
    "verify",
]

EVENTS = (
    "call.started",
    "state.changed",
    "tool.failed",
    "output.recorded",
    "call.ended",
    "callback.requested",
    "call.evaluated",
)
SIGNATURE_HEADER = "Flowctl-Signature"
# A delivery is tried this many times, then left `dead` (about 4.5 hours of retries
# with the default backoff).
MAX_ATTEMPTS = 12
# How old a signed timestamp :func:`verify` accepts, in seconds.
TOLERANCE = 300
_SIGNATURE = re.compile(r"^t=(\d{1,12}),v1=([0-9a-f]{64})$")


def new_secret() -> str:
    """A fresh signing secret: ``whsec_`` and 256 random bits."""
    return f"whsec_{secrets.token_urlsafe(32)}"


def check_events(events: Sequence[str]) -> list[str]:
    """The subscribed event types, checked (``*``: every one); raises ValueError
    naming an unknown one."""
    if not events:
        raise ValueError(f"Subscribe to at least one event: {', '.join(EVENTS)}, or `*`")
    if list(events) == ["*"]:
        return list(EVENTS)
    for event in events:
        if event not in EVENTS:
            hint = did_you_mean(event, EVENTS) or f"; known: {', '.join(EVENTS)}"
            raise ValueError(f"Unknown webhook event `{event}`{hint}")
    return sorted(set(events), key=EVENTS.index)


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The ``Flowctl-Signature`` header value for ``body`` sent at ``timestamp``."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify(
    secret: str, header: str, body: bytes, *, now: float, tolerance: int = TOLERANCE
) -> bool:
    """Whether ``header`` signs ``body`` under ``secret`` within ``tolerance`` seconds of
    ``now``: the receiver's check."""
    match = _SIGNATURE.match(header.strip())
    if match is None:
        return False
    timestamp = int(match.group(1))
    if abs(now - timestamp) > tolerance:
        return False
    expected = sign(secret, timestamp, body).rpartition("v1=")[2]
    return hmac.compare_digest(expected, match.group(2))


def backoff(attempt: int, rng: random.Random | None = None) -> float:
    """Seconds to wait after failed attempt number ``attempt`` (1, 2, ...): doubling
    from 5 s up to an hour, with full jitter over the upper half so receivers that
    failed together are not all retried at once."""
    ceiling = min(3600.0, 5.0 * 2.0 ** (attempt - 1))
    jitter: float = (rng or random).random()
    return ceiling / 2 + jitter * ceiling / 2


def event_payloads(events: Iterable[Any]) -> list[tuple[str, dict[str, Any]]]:
    """The webhook events a batch of session events gives: ``state.changed`` for each
    state entered through an edge, ``tool.failed`` for each failed tool, and
    ``output.recorded`` for each structured answer (type, data)."""
    out: list[tuple[str, dict[str, Any]]] = []
    for event in events:
        if isinstance(event, Entered) and event.via is not None:
            out.append(("state.changed", {"state": event.state, "via": event.via, "at": event.at}))
        elif isinstance(event, ToolReturned) and not event.ok:
            out.append(("tool.failed", {"tool": event.tool, "error": event.error, "at": event.at}))
        elif isinstance(event, OutputRecorded):
            out.append(
                ("output.recorded", {"state": event.state, "fields": event.fields, "at": event.at})
            )
    return out


def transcript_and_path(events: Iterable[Any]) -> tuple[list[dict[str, Any]], list[str]]:
    """What ``call.ended`` carries from a session's events: the transcript (role, text,
    at) and the states passed through, in order."""
    transcript: list[dict[str, Any]] = []
    path: list[str] = []
    for event in events:
        if isinstance(event, Turn):
            transcript.append({"role": event.role, "text": event.text, "at": event.at})
        elif isinstance(event, Entered):
            path.append(event.state)
    return transcript, path
