"""Participant tokens that join a room and dispatch the flowctl agent to it: one
function for ``flowctl token`` and the admin API's ``POST /api/v1/tokens``.

Only ``livekit-api`` is needed, imported when a token is made.
"""

from __future__ import annotations

import warnings
from datetime import timedelta

__all__ = ["SECRET_MIN_BYTES", "participant_token", "short_secret"]

# HS256 asks for a key of at least 32 bytes (RFC 7518, section 3.2). `livekit-server
# --dev` signs with the secret "secret" (6 bytes): PyJWT then warns with a raw
# InsecureKeyLengthWarning on every token, so we silence it and say it once, plainly
# (short_secret), where a person reads it.
SECRET_MIN_BYTES = 32


def short_secret(api_secret: str) -> str | None:
    """A one-line note when ``api_secret`` is shorter than HS256 asks for; None when not."""
    size = len(api_secret.encode())
    if size >= SECRET_MIN_BYTES:
        return None
    return (
        f"LIVEKIT_API_SECRET is {size} bytes, below the {SECRET_MIN_BYTES} HS256 asks for: "
        "fine with `livekit-server --dev`, not in production"
    )


def participant_token(
    api_key: str,
    api_secret: str,
    *,
    room: str,
    identity: str,
    ttl_seconds: int,
    name: str | None = None,
    agent_name: str | None = None,
    metadata: str | None = None,
) -> str:
    """A signed JWT for ``identity`` in ``room``. With ``agent_name``, the room's
    configuration dispatches that agent with ``metadata`` as its job metadata (explicit
    dispatch); without, ``metadata`` becomes the room's metadata (automatic dispatch
    routes by it)."""
    from livekit import api

    grants = api.VideoGrants(
        room_join=True, room=room, can_publish=True, can_subscribe=True, can_publish_data=True
    )
    access = (
        api.AccessToken(api_key, api_secret)
        .with_identity(identity)
        .with_grants(grants)
        .with_ttl(timedelta(seconds=ttl_seconds))
    )
    if name:
        access.with_name(name)
    if agent_name:
        dispatch = api.RoomAgentDispatch(agent_name=agent_name, metadata=metadata or "")
        access.with_room_config(api.RoomConfiguration(agents=[dispatch]))
    elif metadata:
        access.with_room_config(api.RoomConfiguration(metadata=metadata))
    with warnings.catch_warnings():  # said once by short_secret, not by PyJWT each time
        warnings.filterwarnings("ignore", message=r"The HMAC key is \d+ bytes long")
        return access.to_jwt()
