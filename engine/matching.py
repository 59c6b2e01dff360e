"""The offline model's choice: which offered function (an edge or a tool) the user's
words ask for, and with which arguments.

Each edge and each tool may list ``examples`` (user phrases that should call it). The
function whose best example shares the largest part of its words with what the user
said wins, if that part is at least :data:`MATCH`. It is called with that example's
``args`` (an example written as ``{"text": ..., "args": {...}}``): the offline model
cannot make arguments up, so a required one the example does not give is reported as
missing, for the caller to ask for. Lint uses the same measure to flag functions whose
examples overlap.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flowctl.engine.compile import CompiledEdge, FunctionSpec
from flowctl.engine.lint.text import jaccard, words
from flowctl.engine.runtime import Conversation
from flowctl.engine.spec import Example, Tool

__all__ = ["MATCH", "Match", "best_function"]

# The least share of words an example must have in common with what the user said.
MATCH = 0.3


@dataclass(frozen=True)
class Match:
    """The function the user's words ask for, the arguments its best example gives, and
    the required parameters that example leaves out (it cannot be called without them)."""

    function: FunctionSpec
    args: dict[str, Any]
    missing: tuple[str, ...]

    @property
    def name(self) -> str:
        return self.function.name


def best_function(conv: Conversation, text: str) -> Match | None:
    """The offered function whose examples best match ``text``, if one matches well
    enough (the first offered wins a tie: edges before tools)."""
    said = words(text)
    best: tuple[float, FunctionSpec, dict[str, Any]] | None = None
    for fn in conv.functions():
        for example in _phrases(conv.current.by_function[fn.name]):
            score = jaccard(said, words(example.text))
            if score >= MATCH and (best is None or score > best[0]):
                best = (score, fn, example.args)
    if best is None:
        return None
    _, fn, args = best
    required = fn.schema["parameters"]["required"]
    return Match(fn, dict(args), tuple(name for name in required if name not in args))


def _phrases(target: CompiledEdge | Tool) -> list[Example]:
    """The examples of what a function calls: an edge's, or a tool's."""
    return target.edge.phrases() if isinstance(target, CompiledEdge) else target.phrases()
