"""The offline model's choice: which offered edge the user's words ask for, and with
which arguments.

Each edge may list ``examples`` (user phrases that should take it). The edge whose best
example shares the largest part of its words with what the user said wins, if that part
is at least :data:`MATCH`. It is fired with that example's ``args`` (an example written
as ``{"text": ..., "args": {...}}``): the offline model cannot make arguments up, so a
required one the example does not give is reported as missing, for the caller to ask
for. Lint uses the same measure to flag edges whose examples overlap.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flowctl.engine.compile import CompiledEdge
from flowctl.engine.lint.text import jaccard, words
from flowctl.engine.runtime import Conversation

__all__ = ["MATCH", "Match", "best_edge"]

# The least share of words an example must have in common with what the user said.
MATCH = 0.3


@dataclass(frozen=True)
class Match:
    """The edge the user's words ask for, the arguments its best example gives, and the
    required parameters that example leaves out (the edge cannot fire without them)."""

    edge: CompiledEdge
    args: dict[str, Any]
    missing: tuple[str, ...]


def best_edge(conv: Conversation, text: str) -> Match | None:
    """The offered edge whose examples best match ``text``, if one matches well enough."""
    said = words(text)
    best: tuple[float, CompiledEdge, dict[str, Any]] | None = None
    for ce in conv.current.edges:
        if ce.automatic:
            continue
        for example in ce.edge.phrases():
            score = jaccard(said, words(example.text))
            if score >= MATCH and (best is None or score > best[0]):
                best = (score, ce, example.args)
    if best is None:
        return None
    _, ce, args = best
    required = ce.function.schema["parameters"]["required"] if ce.function else []
    return Match(ce, dict(args), tuple(name for name in required if name not in args))
