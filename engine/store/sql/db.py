"""What the store's SQL runs on, whichever database holds it: a connection (:class:`Db`)
that reads and opens transactions (:class:`Tx`), rows read by column name
(:class:`Row`), and the two writes every change makes (:func:`audit`,
:func:`bump_changes`).

Statements are written once, with ``?`` placeholders and SQL both backends speak;
each backend's connection (``flowctl.engine.store.sqlite.db``,
``flowctl.engine.store.postgres.db``) runs them, turns its driver's errors into the
store's, and keeps a write transaction whole: one writer at a time, so a check and
the write it guards (a tenant's session limit, the published pointer) cannot
interleave with another process's.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol

import msgspec

__all__ = ["Db", "Row", "Tx", "audit", "bump_changes"]


class Row(Protocol):
    """One result row, read by column name."""

    def __getitem__(self, key: str, /) -> Any: ...
    def keys(self) -> Iterable[str]: ...


class Tx(Protocol):
    """Statements inside one transaction."""

    async def all(self, sql: str, params: Sequence[Any] = ()) -> Sequence[Row]: ...
    async def one(self, sql: str, params: Sequence[Any] = ()) -> Row | None: ...
    async def run(self, sql: str, params: Sequence[Any] = ()) -> None: ...
    async def many(self, sql: str, rows: Iterable[Sequence[Any]]) -> None: ...


class Db(Protocol):
    """A connection: single reads, and transactions."""

    async def all(self, sql: str, params: Sequence[Any] = ()) -> Sequence[Row]: ...
    async def one(self, sql: str, params: Sequence[Any] = ()) -> Row | None: ...

    def transaction(self, *, write: bool = True) -> AbstractAsyncContextManager[Tx, bool | None]:
        """A write transaction (the store's write lock taken up front, so writers queue
        instead of failing mid-way), or with ``write=False`` a consistent read.
        Committed on success, rolled back on any exception, cancellation included."""
        ...

    async def close(self) -> None: ...


async def audit(
    tx: Tx,
    tenant_id: str,
    actor: str,
    action: str,
    subject: str,
    detail: Any,
    at: float,
) -> None:
    """Note one change in the audit log, in the transaction that makes it."""
    await tx.run(
        "INSERT INTO audit (tenant_id, actor, action, subject, detail, at) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (tenant_id, actor, action, subject, msgspec.json.encode(detail).decode(), at),
    )


async def bump_changes(tx: Tx) -> None:
    """Count one more change of pointers or routing (``Store.changes``)."""
    await tx.run("UPDATE changes SET counter = counter + 1 WHERE id = 1")
