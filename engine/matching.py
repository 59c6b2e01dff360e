"""The offline model's choice: which offered edge the user's words ask for.

Each edge may list ``examples`` (user phrases that should take it). The edge whose best
example shares the largest part of its words with what the user said wins, if that part
is at least :data:`MATCH` and the edge needs no arguments (the offline model cannot make
them up). Lint uses the same measure to flag edges whose examples overlap.
"""

from __future__ import annotations

from flowctl.engine.compile import CompiledEdge
from flowctl.engine.lint.text import jaccard, words
from flowctl.engine.runtime import Conversation

__all__ = ["MATCH", "best_edge"]

# The least share of words an example must have in common with what the user said.
MATCH = 0.3


def best_edge(conv: Conversation, text: str) -> CompiledEdge | None:
    """The offered edge whose examples best match ``text``, if one matches well enough
    and needs no arguments."""
    said = words(text)
    best: tuple[float, CompiledEdge] | None = None
    for ce in conv.current.edges:
        if ce.automatic or not ce.edge.examples:
            continue
        score = max(jaccard(said, words(example)) for example in ce.edge.examples)
        if score >= MATCH and (best is None or score > best[0]):
            best = (score, ce)
    if best is None:
        return None
    ce = best[1]
    required = ce.function.schema["parameters"]["required"] if ce.function else []
    return None if required else ce
