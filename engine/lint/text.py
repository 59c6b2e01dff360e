"""Cheap, dependency-free text measures for lint: normalising, similarity, tokens."""

from __future__ import annotations

import re
from collections.abc import Iterable

__all__ = ["estimate_tokens", "normalize", "similarity", "trigrams"]

_WORD = re.compile(r"[a-z0-9]+")


def normalize(text: str) -> str:
    """Lower-case words separated by single spaces: punctuation and case do not count."""
    return " ".join(_WORD.findall(text.lower()))


def trigrams(text: str) -> set[str]:
    padded = f"  {normalize(text)} "
    return {padded[i : i + 3] for i in range(len(padded) - 2)}


def similarity(a: str, b: str) -> float:
    """Jaccard similarity of character trigrams, 0..1: robust to small edits ("question"
    vs "questions"), blind to meaning. Enough to catch copy-pasted descriptions."""
    ta, tb = trigrams(a), trigrams(b)
    if not ta or not tb:
        return 0.0
    return len(ta & tb) / len(ta | tb)


def estimate_tokens(texts: Iterable[str]) -> int:
    """About four characters a token, the usual rule of thumb for English with BPE
    tokenizers; close enough for a budget, and it needs no tokenizer download."""
    return -(-sum(len(t) for t in texts) // 4)
