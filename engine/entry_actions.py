"""Actions on entry: the tools a state runs as the conversation enters it.

The runtime runs them (``Conversation`` calls :func:`arguments` and :func:`failed`), the
compiler adds a transition per ``on_error`` to the table, and explore replays them: the
facts they share (the arguments an action gets, the name of its failure transition)
live here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flowctl.engine.spec import EntryAction

__all__ = ["arguments", "failed"]


def arguments(action: EntryAction, variables: Mapping[str, Any]) -> dict[str, Any]:
    """What the tool receives: the literal ``args``, with ``args_from`` read from the
    variables over them (an unset variable passes null)."""
    return {**action.args, **{p: variables.get(v) for p, v in action.args_from.items()}}


def failed(action: EntryAction) -> str:
    """The trigger of the transition to ``on_error`` when ``action``'s tool fails: named
    after the tool, with a colon no edge name may contain, so it never shadows an edge
    (``lookup_order:failed``)."""
    return f"{action.tool}:failed"
