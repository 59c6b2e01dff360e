"""The SQLite store's plumbing: one aiosqlite connection with the lock that keeps its
transactions whole, and SQLite's errors turned into the store's, each naming the file
and saying what to do. Rows are :class:`sqlite3.Row`: read by column name
(``flowctl.engine.store.sql.rows``), never by position.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiosqlite

from flowctl.engine.store.errors import (
    StoreCorrupt,
    StoreError,
    StoreLocked,
    StoreReadOnly,
    StoreUnavailable,
)

__all__ = ["SQLiteDb", "SQLiteFile", "SQLiteTx"]


class SQLiteFile:
    """Where a store lives and how it was opened: what error messages need."""

    __slots__ = ("memory", "path", "read_only", "timeout")

    def __init__(self, path: str, *, read_only: bool, timeout: float) -> None:
        self.path = path
        self.memory = path == ":memory:"
        self.read_only = read_only
        self.timeout = timeout

    @property
    def folder(self) -> str:
        return str(Path(self.path).absolute().parent)

    def read_only_error(self) -> StoreReadOnly:
        if self.read_only:
            return StoreReadOnly(
                f"Store `{self.path}` is open read-only (`mode=ro` in its URL); "
                "drop `mode=ro` to change it"
            )
        return StoreReadOnly(
            f"Cannot write to store `{self.path}`: the file is read-only. Make it writable "
            f"(`chmod u+w {self.path}`), or add `?mode=ro` to the store URL to only read it"
        )

    def folder_error(self) -> StoreReadOnly:
        name = Path(self.path).name
        return StoreReadOnly(
            f"Cannot write to store `{self.path}`: its folder `{self.folder}` is not "
            f"writable, and SQLite keeps `{name}-wal` and `{name}-shm` beside the store. "
            "Make the folder writable, or add `?mode=ro` to the store URL to only read it"
        )

    def error(self, exc: sqlite3.Error) -> StoreError:
        """The store's error for what SQLite raised."""
        name = getattr(exc, "sqlite_errorname", "") or ""
        if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")):
            return StoreLocked(
                f"Store `{self.path}` is locked: another connection held it for more than "
                f"{self.timeout:g} s. Try again; if it stays locked, find the process "
                f"holding it (`fuser {self.path}`)"
            )
        if name == "SQLITE_READONLY_DIRECTORY":
            return self.folder_error()
        if name.startswith("SQLITE_READONLY"):
            return self.read_only_error()
        if name == "SQLITE_NOTADB":
            return StoreCorrupt(
                f"`{self.path}` is not a flowctl store: it is not an SQLite database. "
                "Point --store at the right file, or restore it from a backup"
            )
        if name.startswith("SQLITE_CORRUPT"):
            return StoreCorrupt(
                f"Store `{self.path}` is damaged ({exc}). Restore it from a backup; "
                f"`sqlite3 {self.path} .recover` may salvage what is left"
            )
        if name.startswith("SQLITE_CANTOPEN"):
            return StoreUnavailable(f"Cannot open store `{self.path}` ({exc})")
        if name.startswith("SQLITE_FULL"):
            return StoreUnavailable(f"Cannot write to store `{self.path}`: the disk is full")
        if name.startswith("SQLITE_IOERR"):
            return StoreUnavailable(f"Cannot use store `{self.path}`: I/O error ({exc})")
        return StoreError(f"Store `{self.path}`: {exc}")


class SQLiteTx:
    """Statements inside one transaction (the connection's lock is held)."""

    __slots__ = ("_conn", "_file")

    def __init__(self, conn: aiosqlite.Connection, file: SQLiteFile) -> None:
        self._conn = conn
        self._file = file

    async def all(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        try:
            return list(await self._conn.execute_fetchall(sql, params))
        except sqlite3.Error as exc:
            raise self._file.error(exc) from None

    async def one(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Row | None:
        rows = await self.all(sql, params)
        return rows[0] if rows else None

    async def run(self, sql: str, params: Sequence[Any] = ()) -> None:
        await self.all(sql, params)

    async def many(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        try:
            await self._conn.executemany(sql, rows)
        except sqlite3.Error as exc:
            raise self._file.error(exc) from None


class SQLiteDb:
    """One connection. Its lock is held for each read and for each whole transaction,
    so coroutines sharing the connection never see each other's half-done work."""

    __slots__ = ("_tx", "conn", "file", "lock")

    def __init__(self, conn: aiosqlite.Connection, file: SQLiteFile) -> None:
        self.conn = conn
        self.file = file
        self.lock = asyncio.Lock()
        self._tx = SQLiteTx(conn, file)

    async def all(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        async with self.lock:
            return await self._tx.all(sql, params)

    async def one(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Row | None:
        async with self.lock:
            return await self._tx.one(sql, params)

    @asynccontextmanager
    async def transaction(self, *, write: bool = True) -> AsyncIterator[SQLiteTx]:
        """A write transaction (``BEGIN IMMEDIATE``: the write lock is taken up front,
        so two writers queue on the busy timeout instead of failing mid-way), or a
        consistent read (``write=False``: ``BEGIN``). Committed on success, rolled back
        on any exception, cancellation included."""
        async with self.lock:
            if write and self.file.read_only:
                raise self.file.read_only_error()
            await self._tx.run("BEGIN IMMEDIATE" if write else "BEGIN")
            try:
                yield self._tx
            except BaseException:
                await asyncio.shield(self._rollback())
                raise
            try:
                await self._tx.run("COMMIT")
            except BaseException:
                await asyncio.shield(self._rollback())
                raise

    async def _rollback(self) -> None:
        # SQLite may have ended the transaction itself (after some errors): nothing to undo.
        with contextlib.suppress(sqlite3.Error):
            await self.conn.execute_fetchall("ROLLBACK")

    async def close(self) -> None:
        await self.conn.close()
