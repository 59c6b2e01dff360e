"""Cheap, dependency-free text measures for lint: normalising, similarity, tokens."""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["KeywordSearch", "estimate_tokens", "jaccard", "normalize", "tokens_in", "words"]

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


class KeywordSearch:
    """Where the first of many keywords is in a text, in one pass over the text whatever
    the keywords (Aho-Corasick). A regex alternation of them tries every keyword at
    every position, and a keyword sharing a long prefix with the text is compared that
    far each time: text x keywords x length.
    """

    def __init__(self, keywords: Iterable[str]) -> None:
        # A trie of the keywords: node 0 is the root, _goto[node] its children by
        # character, _length[node] the length of the longest keyword ending there.
        self._goto: list[dict[str, int]] = [{}]
        self._length = [0]
        for word in keywords:
            node = 0
            for ch in word:
                child = self._goto[node].get(ch)
                if child is None:
                    child = self._goto[node][ch] = len(self._goto)
                    self._goto.append({})
                    self._length.append(0)
                node = child
            self._length[node] = len(word)
        self._longest = max(self._length)
        # _fail[node]: the node of the longest proper suffix of node's text that is in
        # the trie; found breadth first, so a node's is known before its children's.
        self._fail = [0] * len(self._goto)
        queue = list(self._goto[0].values())
        for node in queue:  # grows as it goes
            for ch, child in self._goto[node].items():
                fail = self._fail[node]
                while fail and ch not in self._goto[fail]:
                    fail = self._fail[fail]
                if node:  # the root's children fall back to the root
                    self._fail[child] = self._goto[fail].get(ch, 0)
                # the longest keyword ending here, itself or through the fallback
                self._length[child] = self._length[child] or self._length[self._fail[child]]
                queue.append(child)

    def first(self, text: str) -> tuple[int, int] | None:
        """``(start, end)`` of the keyword that starts first in ``text`` (the longest of
        those starting there), as a regex alternation of them, longest first, finds it."""
        goto, fail, length = self._goto, self._fail, self._length
        node, start, end = 0, -1, -1
        for i, ch in enumerate(text):
            if start >= 0 and i - self._longest >= start:
                break  # no keyword that starts by `start` ends this far on
            while node and ch not in goto[node]:
                node = fail[node]
            node = goto[node].get(ch, 0)
            if length[node]:
                begins = i + 1 - length[node]  # the longest ending here starts first
                if start < 0 or begins < start:
                    start, end = begins, i + 1
                elif begins == start:
                    end = i + 1
        return (start, end) if start >= 0 else None
