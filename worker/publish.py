"""What the frontend hears besides the voice: LiveKit text streams on three topics.

- ``flowctl.state``: every state change, from the start state on, and the end of the
  call;
- ``flowctl.output``: each structured answer's fields that are not ``hidden``;
- ``flowctl.summary``: once, as the call ends, what it came to (seed 003's
  conversation summary: ``summary`` is its text, ``flowctl.engine.summary`` the rest),
  structured answers again without their ``hidden`` fields.

Each message is one JSON object (``docs/worker.md`` documents them). They go out in
the order they happened, one at a time, through a :class:`Publisher`: the room's local
participant in a real call, a list in tests.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Mapping
from typing import Any, Protocol

import msgspec

from flowctl.engine.compile import CompiledFlow
from flowctl.engine.runtime import Ended, Entered, Event
from flowctl.engine.summary import CallSummary

__all__ = [
    "OUTPUT_TOPIC",
    "STATE_TOPIC",
    "SUMMARY_TOPIC",
    "MemoryPublisher",
    "MessageQueue",
    "Publisher",
    "RoomPublisher",
    "state_message",
    "summary_message",
]

logger = logging.getLogger(__name__)

STATE_TOPIC = "flowctl.state"
OUTPUT_TOPIC = "flowctl.output"
SUMMARY_TOPIC = "flowctl.summary"


class Publisher(Protocol):
    """Sends one text-stream message."""

    async def send_text(self, text: str, *, topic: str) -> None: ...


class RoomPublisher:
    """Sends to everyone in the room through the agent's participant (the room must be
    connected by then: its local participant exists only once it is)."""

    def __init__(self, room: Any) -> None:
        self._room = room  # an rtc.Room

    async def send_text(self, text: str, *, topic: str) -> None:
        await self._room.local_participant.send_text(text, topic=topic)


class MemoryPublisher:
    """Keeps every message: ``(topic, decoded body)`` in the order sent."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, dict[str, Any]]] = []

    async def send_text(self, text: str, *, topic: str) -> None:
        self.messages.append((topic, json.loads(text)))

    def on(self, topic: str) -> list[dict[str, Any]]:
        return [body for t, body in self.messages if t == topic]


def state_message(event: Event) -> dict[str, Any] | None:
    """The ``flowctl.state`` body of a history event (None: not a state event)."""
    if isinstance(event, Entered):
        return {"event": "entered", "state": event.state, "via": event.via}
    if isinstance(event, Ended):
        return {
            "event": "ended",
            "state": event.state,
            "reason": event.reason,
            "detail": event.detail,
        }
    return None


def summary_message(summary: CallSummary, compiled: CompiledFlow) -> dict[str, Any]:
    """The ``flowctl.summary`` body of a call's summary: its text as ``summary`` (what
    seed 003's frontend reads), then its fields; each state's last structured answer
    without the fields its schema hides from the frontend."""
    hidden = {s.name: s.output.hidden for s in compiled.states if s.output is not None}
    body = msgspec.to_builtins(summary)
    del body["flow_id"], body["text"]  # the header names the flow
    body["outputs"] = {
        state: {k: v for k, v in fields.items() if k not in hidden.get(state, ())}
        for state, fields in summary.outputs.items()
    }
    return {"summary": summary.text, **body}


class MessageQueue:
    """Messages of one session, sent in order by one task. Each body gets the
    session's ``header`` (session, tenant, flow, version) and a sequence number."""

    def __init__(self, publisher: Publisher, header: Mapping[str, Any]) -> None:
        self._publisher = publisher
        self._header = dict(header)
        self._queue: asyncio.Queue[tuple[str, str] | None] = asyncio.Queue()
        self._seq = 0
        self._task: asyncio.Task[None] | None = None

    def put(self, topic: str, body: Mapping[str, Any]) -> None:
        self._seq += 1
        message = {**self._header, "seq": self._seq, **body}
        self._queue.put_nowait((topic, json.dumps(message, ensure_ascii=False)))
        if self._task is None:
            self._task = asyncio.create_task(self._send(), name="flowctl.publish")

    async def _send(self) -> None:
        while (item := await self._queue.get()) is not None:
            topic, text = item
            try:
                await self._publisher.send_text(text, topic=topic)
            except Exception:  # a frontend that left must not end the call
                logger.warning("could not send a `%s` message", topic, exc_info=True)

    async def drain(self) -> None:
        """Send what is queued, then stop."""
        if self._task is None:
            return
        self._queue.put_nowait(None)
        await self._task
        self._task = None
