"""The pure core of flowctl: the flow format, loading and lint; compiling a flow into a
shared state machine and running conversations on it; tools, routing, tenants and the
store.

Never imports ``livekit``, ``click``, ``worker`` or ``cli``.
"""

__version__ = "0.1.0"
