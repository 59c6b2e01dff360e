"""A session's recorded events, as the store keeps them: each is its ``kind``, its time
and its msgspec JSON body, so a session's timeline reads back as the same typed structs
it was written from.

What an event is is defined once, in :mod:`flowctl.engine.events`: :data:`Event` is the
one union (the conversation's history and the transcript turns the worker hears and
says); the store reads and writes it as it is.
"""

from __future__ import annotations

import msgspec

from flowctl.engine.events import Event, Turn

__all__ = ["SessionEvent", "Turn", "decode_event", "encode_event"]

# The store's name for the one union (its public surface and the API's models
# use it): the same type, not a second list of kinds.
SessionEvent = Event

_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(Event)


def encode_event(event: Event) -> tuple[str, float, bytes]:
    """``(kind, at, body)`` for one event."""
    return str(event.__struct_config__.tag), event.at, _encoder.encode(event)


def decode_event(body: bytes | str) -> Event:
    return _decoder.decode(body)
