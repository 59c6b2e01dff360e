"""Cheap, dependency-free text measures for lint: normalising, similarity, tokens."""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["estimate_tokens", "jaccard", "normalize", "similarity", "stems"]

# Everything but ASCII letters and digits becomes a space (str.translate runs in C).
_SEPARATORS = str.maketrans({c: " " for c in map(chr, range(128)) if not c.isalnum()})


def _words(text: str) -> list[str]:
    return text.lower().translate(_SEPARATORS).split()


def normalize(text: str) -> str:
    """Lower-case words separated by single spaces: punctuation and case do not count."""
    return " ".join(_words(text))


def stems(text: str) -> set[str]:
    """The words of ``text`` with a plural or third-person ``s`` dropped, so "invoice"
    and "invoices" count as one word."""
    return {w[:-1] if w[-1] == "s" and len(w) > 3 else w for w in _words(text)}


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
