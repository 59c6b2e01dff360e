"""Cheap, dependency-free text measures for lint: normalising, similarity, tokens."""

from __future__ import annotations

import re
from collections.abc import Iterable

__all__ = ["estimate_tokens", "jaccard", "normalize", "similarity", "stems"]

_WORD = re.compile(r"[a-z0-9]+")


def normalize(text: str) -> str:
    """Lower-case words separated by single spaces: punctuation and case do not count."""
    return " ".join(_WORD.findall(text.lower()))


def stems(text: str) -> set[str]:
    """The words of ``text`` with a plural or third-person ``s`` dropped, so "invoice"
    and "invoices" count as one word."""
    return {w[:-1] if len(w) > 3 and w.endswith("s") else w for w in _WORD.findall(text.lower())}


def similarity(a: str, b: str) -> float:
    """Jaccard similarity of the two texts' word stems, 0..1: blind to word order,
    punctuation and plurals, blind to meaning. Enough to catch copy-pasted descriptions,
    and cheap enough to compare every pair of edges of a 5,000-state flow."""
    return jaccard(stems(a), stems(b))


def jaccard(a: set[str], b: set[str]) -> float:
    if not a or not b:
        return 0.0
    return len(a & b) / len(a | b)


def estimate_tokens(texts: Iterable[str]) -> int:
    """About four characters a token, the usual rule of thumb for English with BPE
    tokenizers; close enough for a budget, and it needs no tokenizer download."""
    return -(-sum(len(t) for t in texts) // 4)
