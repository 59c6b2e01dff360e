"""Retrieval: what a ``knowledge`` tool asks for and gets back.

:class:`Retriever` is the one interface the engine knows: the passages of one base
that best answer a query. A retriever is bound to one tenant (the store's tenant
handle is one: ``TenantStore.search``), so a tenant's tool can only ever read that
tenant's bases; the engine never names a tenant. The embedded default ranks by
full-text search in the store's own database (SQLite FTS5's BM25, PostgreSQL's
``ts_rank_cd``); a semantic or hybrid one (sqlite-vec, pgvector, Pinecone, Qdrant)
implements the same method and is handed to the tool registry instead
(docs/knowledge.md, "Adding a retriever").

Both embedded backends read a query the same way (:func:`query_terms`): its words,
lower-cased, without the common English words that match everything; a passage
matches when it holds any of them (stemmed: "hours" finds "hour"), and ranks higher
the more of them it holds (BM25 also weighs rarer ones more). Each backend's rank is on
a scale of its own, so :func:`ranked` scores each passage relative to the best one of
the answer (1.0): a tool's ``min_score`` keeps the passages close to the best, on
either backend (the two weigh a weaker match somewhat differently).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any, Protocol

import msgspec

__all__ = [
    "MAX_QUERY_CHARS",
    "MAX_TERMS",
    "MAX_TOP_K",
    "STOP_WORDS",
    "Answer",
    "Passage",
    "Retriever",
    "answer_in",
    "indexed_words",
    "query_terms",
    "ranked",
]

# Passages one search returns at most: a prompt holds a few; twenty is already a lot.
MAX_TOP_K = 20
# A caller's question is a sentence or two; the rest of a longer query is not read.
MAX_QUERY_CHARS = 1000
# Terms a query is searched by, at most (the first ones): bounds the work of a search.
MAX_TERMS = 24

# Words nearly every passage holds: matching them finds everything and ranks nothing.
# PostgreSQL's `english` configuration drops its own list (Snowball's); this one holds
# all of that list and is applied before either backend sees the query, so both search
# for the same terms.
STOP_WORDS = frozenset(
    {
        "a", "about", "above", "after", "again", "against", "all", "am", "an", "and", "any", "are",
        "as", "at", "be", "because", "been", "before", "being", "below", "between", "both", "but",
        "by", "can", "could", "did", "do", "does", "doing", "down", "during", "each", "few", "for",
        "from", "further", "had", "has", "have", "having", "he", "her", "here", "hers", "herself",
        "him", "himself", "his", "how", "i", "if", "in", "into", "is", "it", "its", "itself",
        "just", "me", "more", "most", "my", "myself", "no", "nor", "not", "now", "of", "off", "on",
        "once", "only", "or", "other", "our", "ours", "ourselves", "out", "over", "own", "please",
        "same", "she", "should", "so", "some", "such", "than", "that", "the", "their", "theirs",
        "them", "themselves", "then", "there", "these", "they", "this", "those", "through", "to",
        "too", "under", "until", "up", "very", "was", "we", "were", "what", "when", "where",
        "which", "while", "who", "whom", "why", "will", "with", "would", "you", "your", "yours",
        "yourself", "yourselves", "tell", "know", "like", "want", "need", "get", "hi", "hello",
        "thanks", "thank", "don", "ll", "re", "ve", "ain", "aren", "couldn", "didn", "doesn",
        "hadn", "hasn", "haven", "isn", "ma", "mightn", "mustn", "needn", "shan", "shouldn",
        "wasn", "weren", "won", "wouldn",
    }
)  # fmt: skip
_WORD = re.compile(r"[^\W_]+")


class Passage(msgspec.Struct, frozen=True, kw_only=True):
    """A passage of a document: which document (``source``), under which headings
    (``section``, "Clinic › Opening hours"; None before the first heading), how well it
    matched (``score``: relative to the best passage of the answer, which scores 1.0)
    and its text."""

    source: str
    section: str | None = None
    score: float
    text: str


class Answer(msgspec.Struct, frozen=True, kw_only=True):
    """What a knowledge tool returns to the model: the passages of ``base`` found for
    ``query``, best first (none: nothing in the base matches)."""

    base: str
    query: str
    passages: list[Passage]


class Retriever(Protocol):
    """Where a knowledge tool's passages come from: the bases of one tenant."""

    async def search(self, base: str, query: str, *, top_k: int = 3) -> list[Passage]:
        """The at most ``top_k`` passages of ``base`` that best answer ``query``, best
        first, scored by :func:`ranked`. Raises a ``FlowError`` (the store's
        ``NotFound``) when the base has no documents."""
        ...


def _searched(word: str) -> bool:
    """Whether a (lower-cased) word can be a term of a query."""
    return word not in STOP_WORDS and (len(word) > 1 or word.isdigit())


def query_terms(query: str) -> list[str]:
    """The words a query is searched by: lower-cased, each once, in order, without
    :data:`STOP_WORDS` and one-letter words; at most :data:`MAX_TERMS`."""
    words = (w.lower() for w in _WORD.findall(query[:MAX_QUERY_CHARS]))
    return list(dict.fromkeys(w for w in words if _searched(w)))[:MAX_TERMS]


def indexed_words(text: str) -> set[str]:
    """The words of a chunk a query's terms can be: read as :func:`query_terms` reads a
    query (what the store counts per base, to know how common each term is)."""
    return {w for w in map(str.lower, _WORD.findall(text)) if _searched(w)}


def ranked(found: Iterable[tuple[str, str, str, float]]) -> list[Passage]:
    """Passages from a backend's rows, best first: ``(source, section, text, rank)``
    with ``rank`` the backend's own relevance (greater is better, above 0). Each score
    is its rank over the best one's, rounded to three places."""
    rows = list(found)
    if not rows:
        return []
    best = max(rank for *_, rank in rows) or 1.0
    return [
        Passage(source=source, section=section or None, score=round(rank / best, 3), text=text)
        for source, section, text, rank in rows
    ]


def answer_in(value: Any) -> Answer | None:
    """``value`` (a tool's result, as JSON data) as a knowledge answer, or None when it
    is not one: how a transcript knows to show passages."""
    if not isinstance(value, dict) or "passages" not in value:
        return None
    try:
        return msgspec.convert(value, Answer)
    except msgspec.ValidationError:
        return None
