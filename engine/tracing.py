"""Whether a session is traced: the flow's ``tracing`` block, sampled per session.

``sample_rate`` is the share of sessions traced. The choice is a stable hash of the
session id, not a coin toss, so every process that looks at one session (the worker,
a replay, an analytics job) agrees on whether it was traced. Pure: the worker turns
the answer into OpenTelemetry spans on or off.
"""

from __future__ import annotations

import hashlib

from flowctl.engine.spec import TracingConfig

__all__ = ["traced"]

_SCALE = 2**64


def traced(config: TracingConfig | None, session_id: str) -> bool:
    """True when the session's spans should be exported."""
    if config is None or not config.enabled or config.sample_rate <= 0:
        return False
    if config.sample_rate >= 1:
        return True
    digest = hashlib.sha256(f"flowctl-trace\x1f{session_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") < config.sample_rate * _SCALE
