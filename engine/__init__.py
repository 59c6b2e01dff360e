"""The pure core of flowctl: the flow format, loading, lint, (later) compile and run.

Never imports ``livekit``, ``click``, ``worker`` or ``cli``.
"""

__version__ = "0.1.0"
