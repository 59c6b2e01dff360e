"""``flowctl graph``: the compiled machine as a Mermaid state diagram or JSON."""

from __future__ import annotations

import re
from typing import Any

from flowctl.engine.compile import CompiledFlow

__all__ = ["to_json", "to_mermaid"]

_SAFE_ID = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _label(text: str) -> str:
    # Mermaid ends a transition label at a newline and treats `:` as a separator.
    return " ".join(text.replace(":", " -").split())


def to_mermaid(compiled: CompiledFlow) -> str:
    """A ``stateDiagram-v2`` (GitHub renders it): handoffs as arrows labelled with the
    edge and its guard, actions that stay as self-loops marked ``(action)``, terminal
    states and call-ending tools as arrows to ``[*]``, global edges in a note."""
    ids: dict[str, str] = {}
    lines = ["stateDiagram-v2"]
    taken = {s.name for s in compiled.states}
    for i, state in enumerate(compiled.states):
        ident = state.name
        if not _SAFE_ID.match(ident):
            ident = f"state_{i}"
            while ident in taken:  # never another state's name
                ident += "_"
            taken.add(ident)
        ids[state.name] = ident
        if ident != state.name:
            lines.append(f'    state "{_label(state.name)}" as {ident}')
    start = compiled.states[compiled.start].name
    lines.append(f"    [*] --> {ids[start]}")
    global_names = {e.name for e in compiled.flow.global_edges}
    for row in compiled.table:
        if row.trigger in global_names:
            continue
        guard = f" [{' and '.join(row.conditions)}]" if row.conditions else ""
        kind = " (action)" if row.kind == "action" else " (auto)" if row.kind == "auto" else ""
        dest = ids[row.dest] if row.dest is not None else ids[row.source]
        lines.append(f"    {ids[row.source]} --> {dest}: {_label(row.trigger + kind + guard)}")
    for state in compiled.states:
        if state.end:
            lines.append(f"    {ids[state.name]} --> [*]")
    if compiled.flow.global_edges:
        names = ", ".join(e.name for e in compiled.flow.global_edges)
        lines.append(f"    note right of {ids[start]}: in every state - {_label(names)}")
    return "\n".join(lines) + "\n"


def to_json(compiled: CompiledFlow) -> dict[str, Any]:
    """States (with the functions each offers) and the transition table."""
    return {
        "flow_id": compiled.flow_id,
        "version": compiled.version,
        "start": compiled.states[compiled.start].name,
        "states": [
            {
                "name": s.name,
                "end": s.end,
                "functions": [f.name for f in s.functions],
                "automatic": [e.name for e in s.automatic],
            }
            for s in compiled.states
        ],
        "transitions": [
            {
                "trigger": r.trigger,
                "source": r.source,
                "dest": r.dest,
                "kind": r.kind,
                "conditions": list(r.conditions),
            }
            for r in compiled.table
        ],
    }
