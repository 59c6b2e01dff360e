"""Knowledge bases: a tenant's documents, cut into passages, for the model to answer from.

A document (plain text, Markdown or HTML: :mod:`~flowctl.engine.knowledge.documents`) is
read into sections by its headings and cut into chunks of at most ``MAX_CHARS``
characters, each overlapping the one before it (:mod:`~flowctl.engine.knowledge.chunks`).
The store keeps the chunks of every document of a base and indexes them in the
database itself (SQLite FTS5, PostgreSQL full-text search); a ``knowledge`` tool asks
a :class:`~flowctl.engine.knowledge.retrieval.Retriever` for the passages that best
answer the caller's question (:mod:`~flowctl.engine.knowledge.retrieval`), and
``flowctl simulate`` builds the same index in memory from files
(:mod:`~flowctl.engine.knowledge.files`).

The names are loaded on first use (``flowctl.engine.exports``): the flow format imports
the name rules from here, and ``flowctl lint`` never pays for the rest.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from flowctl.engine.exports import lazy

if TYPE_CHECKING:  # what the names below resolve to, for type checkers
    from flowctl.engine.knowledge.chunks import MAX_CHARS, OVERLAP, Chunk, chunk
    from flowctl.engine.knowledge.documents import (
        FORMATS,
        DocumentFormat,
        Section,
        format_for,
        sections,
    )
    from flowctl.engine.knowledge.files import FileKnowledge
    from flowctl.engine.knowledge.names import NAME_PATTERN
    from flowctl.engine.knowledge.retrieval import (
        MAX_TOP_K,
        Answer,
        Passage,
        Retriever,
        answer_in,
        query_terms,
        ranked,
    )

_HOMES = {
    "FORMATS": "documents",
    "MAX_CHARS": "chunks",
    "MAX_TOP_K": "retrieval",
    "NAME_PATTERN": "names",
    "OVERLAP": "chunks",
    "Answer": "retrieval",
    "Chunk": "chunks",
    "DocumentFormat": "documents",
    "FileKnowledge": "files",
    "Passage": "retrieval",
    "Retriever": "retrieval",
    "Section": "documents",
    "answer_in": "retrieval",
    "chunk": "chunks",
    "format_for": "documents",
    "query_terms": "retrieval",
    "ranked": "retrieval",
    "sections": "documents",
}

__all__ = [
    "FORMATS",
    "MAX_CHARS",
    "MAX_TOP_K",
    "NAME_PATTERN",
    "OVERLAP",
    "Answer",
    "Chunk",
    "DocumentFormat",
    "FileKnowledge",
    "Passage",
    "Retriever",
    "Section",
    "answer_in",
    "chunk",
    "format_for",
    "query_terms",
    "ranked",
    "sections",
]

__getattr__, __dir__ = lazy(__name__, _HOMES, globals())
