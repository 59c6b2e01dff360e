"""A session's recorded events: the engine's history (``flowctl.engine.runtime`` events) plus
the transcript turns the worker hears and says, all tagged msgspec structs.

The store keeps each event as its ``kind``, its time and its msgspec JSON body, so a
session's timeline reads back as the same typed structs it was written from.
"""

from __future__ import annotations

from typing import Literal

import msgspec

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

__all__ = ["SessionEvent", "Turn", "decode_event", "encode_event"]


class Turn(msgspec.Struct, frozen=True, tag_field="kind", kw_only=True, tag="turn"):
    """One transcript turn: what the caller said (``user``) or the agent said (``agent``)."""

    at: float
    role: Literal["user", "agent"]
    text: str


SessionEvent = (
    Entered
    | Called
    | Fired
    | RefusedEvent
    | ToolCalled
    | ToolReturned
    | OutputRecorded
    | OutputInvalid
    | Ended
    | Turn
)

_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(SessionEvent)


def encode_event(event: Event | Turn) -> tuple[str, float, bytes]:
    """``(kind, at, body)`` for one event."""
    return event.__struct_config__.tag, event.at, _encoder.encode(event)  # type: ignore[return-value]


def decode_event(body: bytes | str) -> Event | Turn:
    return _decoder.decode(body)
