"""LiveKit access tokens that join a room and dispatch the flowctl agent to it.

The one place the API touches LiveKit, and only through ``livekit-api`` (imported when a
token is minted, so nothing else pays for it). The token's room configuration asks
LiveKit to dispatch the agent named ``agent_name`` with the routing request as its job
metadata: the worker routes the job as ``POST /api/v1/routing/dry-run`` did.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

__all__ = ["LiveKitCredentials", "mint_token"]


@dataclass(frozen=True, slots=True)
class LiveKitCredentials:
    api_key: str
    api_secret: str
    url: str | None = None


def mint_token(
    credentials: LiveKitCredentials,
    *,
    room: str,
    identity: str,
    name: str,
    agent_name: str,
    metadata: str,
    ttl_seconds: int,
) -> tuple[str, float]:
    """A participant token for ``room`` that dispatches ``agent_name`` with ``metadata``
    (JSON text), and when it expires (Unix seconds)."""
    from flowctl.worker.tokens import participant_token

    token = participant_token(
        credentials.api_key,
        credentials.api_secret,
        room=room,
        identity=identity,
        ttl_seconds=ttl_seconds,
        name=name or identity,
        agent_name=agent_name,
        metadata=metadata,
    )
    return token, time.time() + ttl_seconds
