"""Knowledge search on PostgreSQL: ``ts_rank_cd`` (cover density) over each chunk's
terms (``knowledge_search``, a GIN-indexed ``tsvector`` per chunk, written by the
trigger of the schema's ``_V5_KNOWLEDGE``).

The query asks for the chunks holding the base's scope token (so the GIN index yields
the base's own chunks only, whatever other tenants keep) and the terms
(``flowctl.engine.knowledge.retrieval.query_terms``: words, so never ``tsquery``
syntax) joined by ``|`` (those asked for together joined by ``&``), stemmed by the ``english``
configuration as the chunks were. A chunk's section (weight A) counts twice its text
(weight D), as on SQLite.
"""

from __future__ import annotations

from collections.abc import Sequence

from flowctl.engine.store.sql.db import Db
from flowctl.engine.store.sql.knowledge import Ranked, scope_of

__all__ = ["search"]

# Matched by the scope and the terms, ranked by the terms alone (the scope lexeme has no
# position, which cover density needs), in a subquery: only the top chunks are joined to
# their text. ts_rank_cd's weights, for D, C, B and A: text 0.5, section 1.0.
_QUERY = (
    "SELECT c.document AS source, c.section AS section, c.text AS text, top.score AS score "
    "FROM (SELECT s.chunk_id, ts_rank_cd('{0.5, 0.5, 0.5, 1.0}', s.terms, asked.terms) "
    "AS score FROM (SELECT to_tsquery('english', ?) AS terms) AS asked "
    "CROSS JOIN knowledge_search s WHERE s.terms @@ (CAST(? AS tsquery) && asked.terms) "
    "AND s.tenant_id = ? AND s.base = ? ORDER BY score DESC, s.chunk_id LIMIT ?) AS top "
    "JOIN knowledge_chunks c ON c.chunk_id = top.chunk_id "
    "ORDER BY top.score DESC, top.chunk_id"
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
    anyone = list(terms)
    if together:
        anyone.append("(" + " & ".join(together) + ")")
    query = " | ".join(anyone)
    scope = f"'{scope_of(tenant_id, base)}'"  # a lexeme as it is: never stemmed
    rows = await db.all(_QUERY, (query, scope, tenant_id, base, limit))
    return [(r["source"], r["section"], r["text"], float(r["score"])) for r in rows]
