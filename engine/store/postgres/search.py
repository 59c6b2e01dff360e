"""Knowledge search on PostgreSQL: ``ts_rank_cd`` (cover density) over each chunk's
terms (``knowledge_search``, a GIN-indexed ``tsvector`` per chunk, written by the
trigger of the schema's ``_V2_KNOWLEDGE``).

The query is the terms (``flowctl.engine.knowledge.retrieval.query_terms``: words, so
never ``tsquery`` syntax) joined by ``|``, stemmed by the ``english`` configuration as
the chunks were. A chunk's section (weight A) counts twice its text (weight D), as on
SQLite.
"""

from __future__ import annotations

from collections.abc import Sequence

from flowctl.engine.store.sql.db import Db
from flowctl.engine.store.sql.knowledge import Ranked

__all__ = ["search"]

# ts_rank_cd's weights, for D, C, B and A: text 0.5, section 1.0.
_QUERY = (
    "SELECT c.document AS source, c.section AS section, c.text AS text, "
    "ts_rank_cd('{0.5, 0.5, 0.5, 1.0}', s.terms, q) AS score "
    "FROM knowledge_search s JOIN knowledge_chunks c ON c.chunk_id = s.chunk_id, "
    "to_tsquery('english', ?) q "
    "WHERE s.terms @@ q AND s.tenant_id = ? AND s.base = ? "
    "ORDER BY score DESC, c.chunk_id LIMIT ?"
)


async def search(
    db: Db, tenant_id: str, base: str, terms: Sequence[str], limit: int
) -> list[Ranked]:
    rows = await db.all(_QUERY, (" | ".join(terms), tenant_id, base, limit))
    return [(r["source"], r["section"], r["text"], float(r["score"])) for r in rows]
