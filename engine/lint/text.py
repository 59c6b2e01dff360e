"""Cheap, dependency-free text measures for lint: normalising, similarity, tokens."""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["estimate_tokens", "jaccard", "normalize", "tokens_in", "words"]

# Everything but ASCII letters and digits becomes a space (str.translate runs in C).
_SEPARATORS = str.maketrans({c: " " for c in map(chr, range(128)) if not c.isalnum()})


def _split(text: str) -> list[str]:
    return text.lower().translate(_SEPARATORS).split()


def normalize(text: str) -> str:
    """Lower-case words separated by single spaces: punctuation and case do not count."""
    return " ".join(_split(text))


def words(text: str) -> frozenset[str]:
    """The distinct lower-case words of ``text``."""
    return frozenset(_split(text))


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    """|a & b| / |a | b|: 1.0 for the same words, 0.0 for none in common. Blind to word
    order, punctuation and meaning, enough to catch copy-pasted descriptions, and set
    operations in C keep every pair of edges of a 5,000-state flow cheap to compare."""
    if not a or not b:
        return 0.0
    common = len(a & b)
    return common / (len(a) + len(b) - common)


def estimate_tokens(texts: Iterable[str]) -> int:
    """About four characters a token, the usual rule of thumb for English with BPE
    tokenizers; close enough for a budget, and it needs no tokenizer download."""
    return tokens_in(sum(len(t) for t in texts))


def tokens_in(chars: int) -> int:
    """:func:`estimate_tokens` of texts ``chars`` characters long in all."""
    return -(-chars // 4)
