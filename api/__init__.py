"""The admin HTTP API of ``flowctl serve`` (docs/api.md): an ASGI app on the store."""

from flowctl.api.app import Settings, create_app, livekit_from_env

__all__ = ["Settings", "create_app", "livekit_from_env"]
