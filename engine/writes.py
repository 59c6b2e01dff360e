"""What taking an edge writes to the variables: its arguments, then its ``set``,
``unset`` and ``append``.

One function per step, read by the runtime (which applies them) and by ``--explore``
(which follows them), so the two cannot disagree. The order is fixed and documented in
``docs/flow-format.md``: arguments are stored when the edge's guard passes; ``set``,
``unset`` and ``append`` when the edge is taken (an action's tool succeeded), before the
next state is entered, so its instructions and greeting see them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flowctl.engine.spec import Edge

__all__ = ["argument_writes", "edge_writes", "writes_anything"]


def argument_writes(edge: Edge, args: Mapping[str, Any]) -> dict[str, Any]:
    """The variables an edge's arguments set: each parameter's value under its
    ``variable`` (default: its name); ``local`` parameters set nothing."""
    out: dict[str, Any] = {}
    for name, p in edge.parameters.items():
        target = p.target(name)
        if target is not None and name in args:
            out[target] = args[name]
    return out


def writes_anything(edge: Edge) -> bool:
    return bool(edge.set or edge.unset or edge.append)


def edge_writes(edge: Edge, values: Mapping[str, Any]) -> dict[str, Any]:
    """The new values of the variables the edge's ``set``, ``unset`` and ``append``
    write (None: unset), given ``values`` (the variables with the call's arguments over
    them, which ``append`` reads). ``append`` adds a list's items one by one and skips
    an unset source; each write sees the ones before it."""
    out: dict[str, Any] = dict(edge.set)
    for name in edge.unset:
        out[name] = None
    for name, source in edge.append.items():
        value = values.get(source)
        if value is None:
            continue
        current = out[name] if name in out else values.get(name)
        items = value if isinstance(value, list) else [value]
        out[name] = [*(current or []), *items]
    return out
