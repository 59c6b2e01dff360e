"""Moving a whole store to another (``flowctl store copy``): SQLite to PostgreSQL as a
team outgrows one host, or back, or between two servers.

Both backends keep the same tables with the same columns (``sql`` runs on either), so
a copy is table by table, row by row, in the order foreign keys need, each table read
in pages by its primary key (keyset paging, so a store of millions of events is never
held in memory) and written in one transaction per page. The target must be empty:
nothing is merged. Then the copy is verified: each table's rows are read back from
both stores in key order and compared, a SHA-256 over each side's rows, and the
counts printed. The change counter is carried over and bumped, so workers watching
the target reload.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from flowctl.engine.store.errors import StoreError
from flowctl.engine.store.sql.db import Db, Row
from flowctl.engine.store.sql.store import SQLStore

__all__ = ["TABLES", "CopyReport", "copy_store"]

# Every table, parents before children, with its primary key.
TABLES: dict[str, tuple[str, ...]] = {
    "tenants": ("tenant_id",),
    "flows": ("tenant_id", "flow_id"),
    "flow_versions": ("tenant_id", "flow_id", "version"),
    "publications": ("tenant_id", "flow_id", "seq"),
    "sessions": ("tenant_id", "session_id"),
    "session_events": ("tenant_id", "session_id", "seq"),
    "callbacks": ("callback_id",),
    "audit": ("entry_id",),
    "api_keys": ("key_id",),
    "secrets": ("tenant_id", "name"),
    "webhooks": ("tenant_id", "webhook_id"),
    "webhook_deliveries": ("tenant_id", "delivery_id"),
    "caller_memory": ("tenant_id", "caller"),
    "templates": ("owner", "template_id"),
    "template_versions": ("owner", "template_id", "version"),
    # Knowledge bases: the full-text index is not copied; the target's triggers build
    # it from the chunks as they are inserted.
    "knowledge_documents": ("tenant_id", "base", "name"),
    "knowledge_revisions": ("tenant_id", "base", "name", "revision"),
    "knowledge_chunks": ("chunk_id",),
    "knowledge_terms": ("tenant_id", "base", "term"),
}
PAGE = 2000


@dataclass(frozen=True, slots=True)
class CopyReport:
    """Rows copied per table, and each table's digest (the same on both sides)."""

    rows: dict[str, int]
    digests: dict[str, str]
    changes: int


async def _page(db: Db, table: str, key: Sequence[str], after: Row | None) -> list[Row]:
    order = ", ".join(key)
    if after is None:
        return list(await db.all(f"SELECT * FROM {table} ORDER BY {order} LIMIT {PAGE}"))
    marks = ", ".join("?" for _ in key)
    return list(
        await db.all(
            f"SELECT * FROM {table} WHERE ({order}) > ({marks}) ORDER BY {order} LIMIT {PAGE}",
            [after[k] for k in key],
        )
    )


def _columns(row: Row) -> list[str]:
    return list(row.keys())


def _value(value: Any) -> bytes:
    """One value as the digest reads it: the same whichever driver returned it."""
    if value is None:
        return b"\x00"
    if isinstance(value, bool):
        value = int(value)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return b"b" + bytes(value)
    return f"{type(value).__name__[0]}{value}".encode()


async def _rows(db: Db, table: str, key: Sequence[str]) -> Any:
    after = None
    while page := await _page(db, table, key, after):
        for row in page:
            yield row
        after = page[-1]


async def _digest(db: Db, table: str, key: Sequence[str], columns: list[str]) -> tuple[int, str]:
    digest = hashlib.sha256()
    count = 0
    async for row in _rows(db, table, key):
        count += 1
        for column in columns:
            digest.update(_value(row[column]))
            digest.update(b"\x1f")
        digest.update(b"\x1e")
    return count, digest.hexdigest()


async def copy_store(
    source_store: SQLStore,
    target_store: SQLStore,
    *,
    progress: Callable[[str, int], None] | None = None,
) -> CopyReport:
    """Copy every row of ``source_store`` into the empty ``target_store``, then verify
    the copy. Raises :class:`StoreError` when the target holds anything, or the copy
    differs."""
    source, target = source_store.db, target_store.db
    held = await target.one("SELECT count(*) AS n FROM tenants")
    if held is not None and int(held["n"]):
        raise StoreError(
            "The target store is not empty (it has tenants); copy into a new store, "
            "created with `flowctl store init`"
        )
    rows: dict[str, int] = {}
    columns: dict[str, list[str]] = {}
    for table, key in TABLES.items():
        count = 0
        after = None
        while page := await _page(source, table, key, after):
            names = columns.setdefault(table, _columns(page[0]))
            insert = (
                f"INSERT INTO {table} ({', '.join(names)}) VALUES ({', '.join('?' for _ in names)})"
            )
            async with target.transaction() as tx:
                await tx.many(insert, [[r[n] for n in names] for r in page])
            count += len(page)
            after = page[-1]
        rows[table] = count
        if progress is not None:
            progress(table, count)
    counter = await source.one("SELECT counter FROM changes WHERE id = 1")
    assert counter is not None
    changes = int(counter["counter"]) + 1
    async with target.transaction() as tx:
        await tx.run("UPDATE changes SET counter = ? WHERE id = 1", (changes,))
    await target_store._after_copy()  # the backend's own step, not the protocol's
    digests: dict[str, str] = {}
    for table, key in TABLES.items():
        if table not in columns:
            digests[table] = hashlib.sha256().hexdigest()
            continue
        mine = await _digest(source, table, key, columns[table])
        theirs = await _digest(target, table, key, columns[table])
        if mine != theirs:
            raise StoreError(
                f"The copy of `{table}` differs from the source ({mine[0]:,} rows there, "
                f"{theirs[0]:,} here); the target is incomplete: drop it and copy again"
            )
        digests[table] = mine[1]
    return CopyReport(rows=rows, digests=digests, changes=changes)
