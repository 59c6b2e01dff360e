"""Participant tokens that join a room and dispatch the flowctl agent to it: one
function for ``flowctl token`` and the admin API's ``POST /api/v1/tokens``.

Only ``livekit-api`` is needed, imported when a token is made.
"""

from __future__ import annotations

from datetime import timedelta

__all__ = ["participant_token"]


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
    return access.to_jwt()
