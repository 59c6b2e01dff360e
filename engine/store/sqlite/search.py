"""Knowledge search on SQLite: FTS5's BM25 over the chunks' index (``knowledge_fts``, kept
in step with ``knowledge_chunks`` by the triggers of the schema's ``_V11_KNOWLEDGE``).

The query asks for the chunks holding the base's scope token (so only the base's own
chunks are ranked, whatever other tenants keep) and the terms
(``flowctl.engine.knowledge.retrieval.query_terms``: words, so never FTS5 syntax), each
quoted, joined by ``OR`` (those asked for together joined by ``AND``). A chunk's section weighs
twice its text, as a heading says what its text is about. FTS5's ``bm25()`` is
negative, lower for a better match: the rank returned is its negation.
"""

from __future__ import annotations

from collections.abc import Sequence

from flowctl.engine.store.sql.db import Db
from flowctl.engine.store.sql.knowledge import Ranked, scope_of

__all__ = ["search"]

# The scope column weighs nothing: it only says whose chunk it is. Ranked in a subquery,
# so only the top chunks are read from knowledge_chunks, whose tenant and base guard
# the scope token (a hash) as well.
_QUERY = (
    "SELECT c.document AS source, c.section AS section, c.text AS text, top.score AS score "
    "FROM (SELECT rowid AS chunk_id, bm25(knowledge_fts, 0.0, 2.0, 1.0) AS score "
    "FROM knowledge_fts WHERE knowledge_fts MATCH ? ORDER BY score, rowid LIMIT ?) AS top "
    "JOIN knowledge_chunks c ON c.chunk_id = top.chunk_id "
    "WHERE c.tenant_id = ? AND c.base = ? ORDER BY top.score, top.chunk_id"
)


async def search(
    db: Db,
    tenant_id: str,
    base: str,
    terms: Sequence[str],
    limit: int,
    *,
    together: Sequence[str] = (),
) -> list[Ranked]:
    anyone = [f'"{term}"' for term in terms]
    if together:
        anyone.append("(" + " AND ".join(f'"{term}"' for term in together) + ")")
    match = f'scope : "{scope_of(tenant_id, base)}" AND ({" OR ".join(anyone)})'
    rows = await db.all(_QUERY, (match, limit, tenant_id, base))
    return [(r["source"], r["section"], r["text"], -float(r["score"])) for r in rows]
