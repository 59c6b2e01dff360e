"""The pure core of flowctl: the flow format, loading and lint; compiling a flow into a
shared state machine and running conversations on it; tools, routing, tenants and the
store.

The names most programs need are importable from here (``from flowctl.engine import
load_path, compile_flow, Conversation``); each is loaded on first use, so importing the
package costs nothing and ``flowctl lint`` never pays for the runtime. Everything else
lives in its module (``flowctl.engine.lint``, ``flowctl.engine.store``, ...).

Never imports ``livekit``, ``click``, ``flowctl.worker`` or ``flowctl.cli``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from flowctl.engine.exports import lazy

if TYPE_CHECKING:  # what the names below resolve to, for type checkers
    from flowctl.engine.compile import CompiledFlow, compile_flow
    from flowctl.engine.errors import FlowError, FlowInvalidError, FlowReadError
    from flowctl.engine.events import Event
    from flowctl.engine.lint import check, lint_paths
    from flowctl.engine.load import load_bytes, load_path
    from flowctl.engine.routing import Rejected, Routed, route
    from flowctl.engine.runtime import Action, Conversation, Handoff, Outcome, Refused
    from flowctl.engine.spec import Flow
    from flowctl.engine.store import open_store

__version__ = "0.1.0"

# Each public name and the module that defines it (the list above says the same for type
# checkers; a test keeps the two equal).
_HOMES = {
    "Action": "runtime",
    "CompiledFlow": "compile",
    "Conversation": "runtime",
    "Event": "events",
    "Flow": "spec",
    "FlowError": "errors",
    "FlowInvalidError": "errors",
    "FlowReadError": "errors",
    "Handoff": "runtime",
    "Outcome": "runtime",
    "Refused": "runtime",
    "Rejected": "routing",
    "Routed": "routing",
    "check": "lint",
    "compile_flow": "compile",
    "lint_paths": "lint",
    "load_bytes": "load",
    "load_path": "load",
    "open_store": "store",
    "route": "routing",
}

__all__ = [
    "Action",
    "CompiledFlow",
    "Conversation",
    "Event",
    "Flow",
    "FlowError",
    "FlowInvalidError",
    "FlowReadError",
    "Handoff",
    "Outcome",
    "Refused",
    "Rejected",
    "Routed",
    "check",
    "compile_flow",
    "lint_paths",
    "load_bytes",
    "load_path",
    "open_store",
    "route",
]


__getattr__, __dir__ = lazy(__name__, _HOMES, globals())
