"""Knowledge search on SQLite: FTS5's BM25 over the chunks' index (``knowledge_fts``, kept
in step with ``knowledge_chunks`` by the triggers of the schema's ``_V8_KNOWLEDGE``).

The query holds the terms (``flowctl.engine.knowledge.retrieval.query_terms``: words,
so never FTS5 syntax) each quoted, joined by ``OR``; a chunk's section weighs twice its
text, as a heading says what its text is about. FTS5's ``bm25()`` is negative, lower
for a better match: the rank returned is its negation.
"""

from __future__ import annotations

from collections.abc import Sequence

from flowctl.engine.store.sql.db import Db
from flowctl.engine.store.sql.knowledge import Ranked

__all__ = ["search"]

_QUERY = (
    "SELECT c.document AS source, c.section AS section, c.text AS text, "
    "bm25(knowledge_fts, 2.0, 1.0) AS score FROM knowledge_fts "
    "JOIN knowledge_chunks c ON c.chunk_id = knowledge_fts.rowid "
    "WHERE knowledge_fts MATCH ? AND c.tenant_id = ? AND c.base = ? "
    "ORDER BY score, c.chunk_id LIMIT ?"
)


async def search(
    db: Db, tenant_id: str, base: str, terms: Sequence[str], limit: int
) -> list[Ranked]:
    match = " OR ".join(f'"{term}"' for term in terms)
    rows = await db.all(_QUERY, (match, tenant_id, base, limit))
    return [(r["source"], r["section"], r["text"], -float(r["score"])) for r in rows]
