"""A tenant's knowledge bases in the store: documents added, replaced, listed and
deleted by name, each change audited; every revision of a document kept until it is
deleted; the chunks of each document's current revision indexed for full-text search
in the database itself (``flowctl.engine.knowledge``).

The tables (``knowledge_documents``, ``knowledge_revisions``, ``knowledge_chunks``) and
every statement here are shared by both backends; only the index and the query that
ranks it are each backend's own (:class:`TextSearch`: SQLite FTS5's BM25 in
``flowctl.engine.store.sqlite.search``, PostgreSQL's ``ts_rank_cd`` over a GIN index in
``flowctl.engine.store.postgres.search``), kept in step with the chunks by triggers.

Beside the index, the store counts in how many chunks of a base each word is
(``knowledge_terms``, kept in step with every change of a document), and a search
leaves out the *common* terms of its query when it has rarer ones the base holds:
those held by more than half of the base's chunks (BM25 gives them no weight at all:
their inverse document frequency is at most zero) or by more than ``COMMON_CHUNKS`` of
them (they weigh little, and ranking every chunk that holds them is most of a search's
work in a large base: bench/knowledge_bench.py). Without a rarer one, the common terms
are asked for together (a chunk must hold all of them). Words the base does not hold as
written are always asked for: a stem of theirs may be there ("hours" finds "hour").

Replacing a document adds a revision (the old content stays readable: ``document(base,
name, revision=N)``) and re-indexes it; deleting one removes it, every revision of it
and its chunks for good, and the audit log keeps its name, last revision and hash: a
document deleted because it should never have been added (personal data, say) is gone.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Protocol, get_args

from flowctl.engine.knowledge.chunks import Chunk, chunk_document
from flowctl.engine.knowledge.documents import FORMATS, DocumentFormat, format_for
from flowctl.engine.knowledge.retrieval import (
    MAX_TOP_K,
    Passage,
    indexed_words,
    query_terms,
    ranked,
)
from flowctl.engine.store.documents import check_actor, check_id
from flowctl.engine.store.errors import NotFound, QuotaExceeded, StoreError
from flowctl.engine.store.records import (
    Document,
    DocumentInfo,
    DocumentPut,
    DocumentRevision,
    KnowledgeBase,
)
from flowctl.engine.store.sql.db import Db, Tx, audit
from flowctl.engine.store.sql.part import TenantPart
from flowctl.engine.store.sql.rows import columns, record

__all__ = [
    "COMMON_CHUNKS",
    "MAX_DOCUMENT_BYTES",
    "MAX_KNOWLEDGE_BYTES",
    "Knowledge",
    "Ranked",
    "TextSearch",
    "scope_of",
]

# A document is a page or a handbook chapter, not a book: a megabyte of text is some
# 400 pages (and the API's body limit).
MAX_DOCUMENT_BYTES = 1024 * 1024
# What one tenant's documents may take, every revision counted: a tenant cannot fill
# the operator's disk.
MAX_KNOWLEDGE_BYTES = 64 * 1024 * 1024

# A term held by more chunks of a base than this (or by more than half of them) is left
# out of a search that has rarer ones: ranking the chunks it matches would cost more
# than it tells (a twentieth of a 10,000-chunk base; bench/knowledge_bench.py).
COMMON_CHUNKS = 500

# A ranked chunk as a backend's search returns it: (source, section, text, rank), rank
# above 0 and greater for a better match.
Ranked = tuple[str, str, str, float]


class TextSearch(Protocol):
    """A backend's full-text query: the chunks of ``tenant_id``'s ``base`` (whose index
    token is ``scope_of(tenant_id, base)``) holding any of ``terms``, or every one of
    ``together`` (when given), best first, at most ``limit``."""

    async def __call__(
        self,
        db: Db,
        tenant_id: str,
        base: str,
        terms: Sequence[str],
        limit: int,
        *,
        together: Sequence[str] = (),
    ) -> list[Ranked]: ...


_INFO = columns(DocumentInfo)
_REVISION = columns(DocumentRevision)
_DOCUMENT = columns(Document)
_INSERT_CHUNK = (
    "INSERT INTO knowledge_chunks (tenant_id, base, document, seq, scope, section, text) "
    "VALUES (?, ?, ?, ?, ?, ?, ?)"
)


def scope_of(tenant_id: str, base: str) -> str:
    """The one token a base's chunks carry in the index (letters and digits: no
    tokenizer splits it), so a search matches its own base's chunks and no other's."""
    return "k" + hashlib.sha256(f"{tenant_id}\0{base}".encode()).hexdigest()[:24]


def _term_counts(chunks: Iterable[tuple[str, str]]) -> Counter[str]:
    """In how many of ``chunks`` (section, text) each word is."""
    counts: Counter[str] = Counter()
    for section, text in chunks:
        counts.update(indexed_words(f"{section}\n{text}"))
    return counts


def _prepared(content: str, fmt: DocumentFormat) -> tuple[list[Chunk], Counter[str]]:
    chunks = chunk_document(content, fmt)
    return chunks, _term_counts((c.section, c.text) for c in chunks)


def _format(name: str, given: str | None) -> DocumentFormat:
    """The format given, or else the one the name's extension says."""
    if given is None:
        found = format_for(name)
        if found is None:
            extensions = ", ".join(e for es in FORMATS.values() for e in es)
            raise StoreError(
                f"Cannot tell the format of document `{name}` from its name ({extensions}); "
                "name one: text, markdown or html"
            )
        return found
    if given not in get_args(DocumentFormat):
        raise StoreError(
            f"Unknown document format `{given}`; expected one of `text`, `markdown`, `html`"
        )
    return given  # type: ignore[return-value]  # one of DocumentFormat's, checked above


class Knowledge(TenantPart):
    """The knowledge part of :class:`~flowctl.engine.store.sql.tenant.SQLTenantStore`."""

    async def knowledge_bases(self) -> list[KnowledgeBase]:
        await self._require_tenant(self._r)
        rows = await self._r.all(
            "SELECT base, count(*) AS documents, sum(chunks) AS chunks, sum(bytes) AS bytes, "
            "max(updated_at) AS updated_at FROM knowledge_documents WHERE tenant_id = ? "
            "GROUP BY base ORDER BY base",
            (self._tenant_id,),
        )
        return [record(KnowledgeBase, r) for r in rows]

    async def documents(self, base: str) -> list[DocumentInfo]:
        check_id("knowledge base", base)
        await self._require_tenant(self._r)
        rows = await self._r.all(
            f"SELECT {_INFO} FROM knowledge_documents WHERE tenant_id = ? AND base = ? "
            "ORDER BY name",
            (self._tenant_id, base),
        )
        if not rows:
            raise self._unknown("knowledge base", base)
        return [record(DocumentInfo, r) for r in rows]

    async def document(self, base: str, name: str, revision: int | None = None) -> Document:
        check_id("knowledge base", base)
        check_id("document", name)
        await self._require_tenant(self._r)
        current = await self._row(self._r, "revision", "knowledge_documents", base=base, name=name)
        if current is None:
            raise self._unknown("document", f"{base}/{name}")
        wanted = current["revision"] if revision is None else revision
        row = await self._row(
            self._r, _DOCUMENT, "knowledge_revisions", base=base, name=name, revision=wanted
        )
        if row is None:
            raise NotFound(
                f"Document `{base}/{name}` of tenant `{self._tenant_id}` has no revision {wanted}"
            )
        return record(Document, row)

    async def revisions(self, base: str, name: str) -> list[DocumentRevision]:
        check_id("knowledge base", base)
        check_id("document", name)
        await self._require_tenant(self._r)
        rows = await self._r.all(
            f"SELECT {_REVISION} FROM knowledge_revisions "
            "WHERE tenant_id = ? AND base = ? AND name = ? ORDER BY revision",
            (self._tenant_id, base, name),
        )
        if not rows:
            raise self._unknown("document", f"{base}/{name}")
        return [record(DocumentRevision, r) for r in rows]

    async def put_document(
        self,
        base: str,
        name: str,
        content: str,
        *,
        format: str | None = None,
        actor: str,
    ) -> DocumentPut:
        check_id("knowledge base", base)
        check_id("document", name)
        check_actor(actor)
        fmt = _format(name, format)
        if not isinstance(content, str):
            raise StoreError(f"Document `{base}/{name}` must be text")
        size = len(content.encode())
        if size > MAX_DOCUMENT_BYTES:
            raise StoreError(
                f"Document `{base}/{name}` is {size:,} bytes; documents are limited to "
                f"{MAX_DOCUMENT_BYTES:,} bytes (1 MiB): split it"
            )
        # Reading and cutting a document up to a megabyte: off the event loop.
        chunks, counts = await asyncio.to_thread(_prepared, content, fmt)
        if not chunks:
            raise StoreError(f"Document `{base}/{name}` has no text to index")
        digest = hashlib.sha256(content.encode()).hexdigest()
        now = self._clock()
        async with self._w.transaction() as tx:
            await self._require_tenant(tx)
            row = await self._row(tx, _INFO, "knowledge_documents", base=base, name=name)
            if row is not None and row["hash"] == digest and row["format"] == fmt:
                return DocumentPut(document=record(DocumentInfo, row), changed=False)
            await self._check_knowledge_quota(tx, size)
            revision = 1 if row is None else row["revision"] + 1
            created = now if row is None else row["created_at"]
            info = DocumentInfo(
                base=base,
                name=name,
                revision=revision,
                format=fmt,
                hash=digest,
                bytes=size,
                chunks=len(chunks),
                created_at=created,
                updated_at=now,
                updated_by=actor,
            )
            before = await self._chunk_terms(tx, base, name) if row is not None else Counter()
            await self._write_document(tx, info, content, chunks, replacing=row is not None)
            await self._count_terms(tx, base, before, counts)
            detail = {"base": base, "name": name, "revision": revision, "hash": digest}
            action = "knowledge.add" if row is None else "knowledge.replace"
            await audit(tx, self._tenant_id, actor, action, f"{base}/{name}", detail, now)
        return DocumentPut(document=info, changed=True)

    async def delete_document(self, base: str, name: str, *, actor: str) -> DocumentInfo:
        check_id("knowledge base", base)
        check_id("document", name)
        check_actor(actor)
        now = self._clock()
        async with self._w.transaction() as tx:
            await self._require_tenant(tx)
            row = await self._row(tx, _INFO, "knowledge_documents", base=base, name=name)
            if row is None:
                raise self._unknown("document", f"{base}/{name}")
            key = (self._tenant_id, base, name)
            await self._count_terms(tx, base, await self._chunk_terms(tx, base, name), Counter())
            await tx.run(
                "DELETE FROM knowledge_chunks WHERE tenant_id = ? AND base = ? AND document = ?",
                key,
            )
            for table in ("knowledge_revisions", "knowledge_documents"):
                await tx.run(
                    f"DELETE FROM {table} WHERE tenant_id = ? AND base = ? AND name = ?", key
                )
            found = record(DocumentInfo, row)
            detail = {"base": base, "name": name, "revision": found.revision, "hash": found.hash}
            await audit(
                tx, self._tenant_id, actor, "knowledge.delete", f"{base}/{name}", detail, now
            )
        return found

    async def search(self, base: str, query: str, *, top_k: int = 3) -> list[Passage]:
        check_id("knowledge base", base)
        if isinstance(top_k, bool) or not isinstance(top_k, int) or not 1 <= top_k <= MAX_TOP_K:
            raise StoreError(f"`top_k` is a whole number from 1 to {MAX_TOP_K}, not `{top_k}`")
        terms = query_terms(query) if isinstance(query, str) else []
        # One read: how many chunks the base holds (the row of term ''), and how many of
        # them hold each term.
        marks = ", ".join("?" for _ in terms)
        counted = f" AND term IN ({marks})" if terms else " AND 1 = 0"
        stats = await self._r.all(
            "SELECT '' AS term, coalesce(sum(chunks), 0) AS chunks FROM knowledge_documents "
            "WHERE tenant_id = ? AND base = ? UNION ALL SELECT term, chunks FROM "
            f"knowledge_terms WHERE tenant_id = ? AND base = ?{counted}",
            (self._tenant_id, base, self._tenant_id, base, *terms),
        )
        held = {r["term"]: int(r["chunks"]) for r in stats}
        total = held.pop("", 0)
        if not total:  # no document: say so of a base that is not there at all
            await self._require_tenant(self._r)
            raise self._unknown("knowledge base", base)
        if not terms:
            return []
        limit = min(COMMON_CHUNKS, total // 2)
        common = [t for t in terms if held.get(t, 0) > limit]
        rare = [t for t in terms if 0 < held.get(t, 0) <= limit]
        unheld = [t for t in terms if not held.get(t)]  # its stem may be held
        if rare:
            rows = await self._search(self._r, self._tenant_id, base, rare + unheld, top_k)
        else:
            rows = await self._search(
                self._r, self._tenant_id, base, unheld, top_k, together=common
            )
        return ranked(rows)

    # --- internals ---------------------------------------------------------------------------

    async def _check_knowledge_quota(self, tx: Tx, size: int) -> None:
        row = await tx.one(
            "SELECT coalesce(sum(bytes), 0) AS kept FROM knowledge_revisions WHERE tenant_id = ?",
            (self._tenant_id,),
        )
        kept = int(row["kept"]) if row is not None else 0
        if kept + size > MAX_KNOWLEDGE_BYTES:
            raise QuotaExceeded(
                f"Tenant `{self._tenant_id}` keeps {kept:,} bytes of documents; this "
                f"{size:,}-byte one would pass the limit of {MAX_KNOWLEDGE_BYTES:,} bytes "
                "(64 MiB, every revision counted); delete documents first"
            )

    async def _chunk_terms(self, tx: Tx, base: str, name: str) -> Counter[str]:
        """The word counts of a document's chunks as stored."""
        rows = await tx.all(
            "SELECT section, text FROM knowledge_chunks "
            "WHERE tenant_id = ? AND base = ? AND document = ?",
            (self._tenant_id, base, name),
        )
        return await asyncio.to_thread(_term_counts, ((r["section"], r["text"]) for r in rows))

    async def _count_terms(
        self, tx: Tx, base: str, before: Counter[str], after: Counter[str]
    ) -> None:
        """Move the base's word counts from a document's ``before`` to its ``after``."""
        change = Counter(after)
        change.subtract(before)
        moved = [(self._tenant_id, base, t, n) for t, n in sorted(change.items()) if n]
        if not moved:
            return
        await tx.many(
            "INSERT INTO knowledge_terms (tenant_id, base, term, chunks) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (tenant_id, base, term) "
            "DO UPDATE SET chunks = knowledge_terms.chunks + excluded.chunks",
            moved,
        )
        gone = [(self._tenant_id, base, t) for t, n in sorted(change.items()) if n < 0]
        if gone:
            await tx.many(
                "DELETE FROM knowledge_terms "
                "WHERE tenant_id = ? AND base = ? AND term = ? AND chunks <= 0",
                gone,
            )

    async def _write_document(
        self, tx: Tx, info: DocumentInfo, content: str, chunks: list[Chunk], *, replacing: bool
    ) -> None:
        """The document's row as ``info`` says, its new revision, and its chunks in place
        of the old ones (the triggers index them)."""
        key = (self._tenant_id, info.base, info.name)
        if replacing:
            await tx.run(
                "UPDATE knowledge_documents SET revision = ?, format = ?, hash = ?, bytes = ?, "
                "chunks = ?, updated_at = ?, updated_by = ? "
                "WHERE tenant_id = ? AND base = ? AND name = ?",
                (
                    info.revision,
                    info.format,
                    info.hash,
                    info.bytes,
                    info.chunks,
                    info.updated_at,
                    info.updated_by,
                    *key,
                ),
            )
            await tx.run(
                "DELETE FROM knowledge_chunks WHERE tenant_id = ? AND base = ? AND document = ?",
                key,
            )
        else:
            await tx.run(
                "INSERT INTO knowledge_documents (tenant_id, base, name, revision, format, hash, "
                "bytes, chunks, created_at, updated_at, updated_by) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    *key,
                    info.revision,
                    info.format,
                    info.hash,
                    info.bytes,
                    info.chunks,
                    info.created_at,
                    info.updated_at,
                    info.updated_by,
                ),
            )
        await tx.run(
            "INSERT INTO knowledge_revisions (tenant_id, base, name, revision, format, hash, "
            "bytes, content, author, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                *key,
                info.revision,
                info.format,
                info.hash,
                info.bytes,
                content,
                info.updated_by,
                info.updated_at,
            ),
        )
        scope = scope_of(self._tenant_id, info.base)
        rows = [(*key, c.seq, scope, c.section, c.text) for c in chunks]
        await tx.many(_INSERT_CHUNK, rows)
