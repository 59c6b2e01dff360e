"""The PostgreSQL store's plumbing: a pool of asyncpg connections behind the store's
connection protocol (``flowctl.engine.store.sql.db``), ``?`` placeholders rewritten to
PostgreSQL's ``$1, $2...``, and the driver's errors turned into the store's, each
naming the server (never its password) and saying what to do.

Every write transaction first takes the store's advisory lock
(``pg_advisory_xact_lock``, released at commit or rollback): writers from every process
on every host queue there, as SQLite's ``BEGIN IMMEDIATE`` makes them queue on one
machine, so a check and the write it guards (a tenant's session limit, the published
pointer, the next version number) never interleave. Reads take no lock.
"""

from __future__ import annotations

import asyncio
import functools
import re
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from flowctl.engine.store.errors import (
    StoreError,
    StoreLocked,
    StoreReadOnly,
    StoreUnavailable,
)

if TYPE_CHECKING:
    import asyncpg
    import asyncpg.pool

    # A connection of its own or one lent by the pool: both run statements alike.
    Connection = asyncpg.Connection[Any] | asyncpg.pool.PoolConnectionProxy[Any]

__all__ = ["PgDb", "PgServer", "PgTx", "placeholders", "redact"]

# The advisory lock's first key: "flow" in ASCII, as the SQLite store's application id;
# the second is the schema's hash, so stores in two schemas of one database do not
# queue on each other.
_LOCK = 0x666C6F77
_BEGIN_WRITE = f"BEGIN; SELECT pg_advisory_xact_lock({_LOCK}, hashtext(current_schema()))"
_BEGIN_READ = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"


@functools.lru_cache(maxsize=1024)
def placeholders(sql: str) -> str:
    """``sql`` with each ``?`` numbered as PostgreSQL wants (``$1``, ``$2``...). The
    store's statements hold no ``?`` inside quotes, which this does not look for."""
    count = 0

    def number(_: re.Match[str]) -> str:
        nonlocal count
        count += 1
        return f"${count}"

    return re.sub(r"\?", number, sql)


def redact(url: str) -> str:
    """``url`` without its password, for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


class PgServer:
    """Where a store lives: what error messages need."""

    __slots__ = ("schema", "url")

    def __init__(self, url: str, schema: str) -> None:
        self.url = redact(url)
        self.schema = schema

    def where(self) -> str:
        return f"`{self.url}`" + ("" if self.schema == "public" else f" (schema `{self.schema}`)")

    def error(self, exc: BaseException) -> StoreError:
        """The store's error for what asyncpg (or the network under it) raised."""
        import asyncpg

        where = self.where()
        if isinstance(exc, asyncpg.InvalidCatalogNameError):
            return StoreUnavailable(
                f"Store {where}: the database does not exist ({exc}); create it "
                "(`createdb NAME`) or point --store at one that does"
            )
        if isinstance(exc, asyncpg.InvalidAuthorizationSpecificationError):
            return StoreUnavailable(f"Store {where}: the server refused the login ({exc})")
        if isinstance(exc, asyncpg.InsufficientPrivilegeError):
            return StoreReadOnly(f"Store {where}: not allowed ({exc}); check the role's grants")
        if isinstance(exc, asyncpg.ReadOnlySQLTransactionError):
            return StoreReadOnly(f"Store {where} is read-only ({exc}); use the primary server")
        if isinstance(exc, asyncpg.LockNotAvailableError | asyncpg.QueryCanceledError):
            return StoreLocked(f"Store {where} is busy: {exc}. Try again")
        if isinstance(exc, asyncpg.TooManyConnectionsError):
            return StoreUnavailable(
                f"Store {where}: the server has no connection slots left ({exc}); lower "
                "`pool_max` in the store URL or raise the server's `max_connections`"
            )
        if isinstance(exc, asyncpg.PostgresConnectionError | asyncpg.CannotConnectNowError):
            return StoreUnavailable(f"Store {where} is unavailable: {exc}")
        if isinstance(exc, asyncpg.InterfaceError | OSError | TimeoutError):
            reason = str(exc) or type(exc).__name__
            return StoreUnavailable(f"Cannot reach store {where}: {reason}")
        return StoreError(f"Store {where}: {exc}")


_ERRORS: tuple[type[BaseException], ...] = ()


def _errors() -> tuple[type[BaseException], ...]:
    """What asyncpg and the network raise (imported on first use)."""
    global _ERRORS
    if not _ERRORS:
        import asyncpg

        _ERRORS = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError)
    return _ERRORS


class PgTx:
    """Statements on one connection, inside one transaction (or a single read)."""

    __slots__ = ("_conn", "server")

    def __init__(self, conn: Connection, server: PgServer) -> None:
        self._conn = conn
        self.server = server

    async def all(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        try:
            return list(await self._conn.fetch(placeholders(sql), *params))
        except _errors() as exc:
            raise self.server.error(exc) from None

    async def one(self, sql: str, params: Sequence[Any] = ()) -> Any | None:
        rows = await self.all(sql, params)
        return rows[0] if rows else None

    async def run(self, sql: str, params: Sequence[Any] = ()) -> None:
        try:
            await self._conn.execute(placeholders(sql), *params)
        except _errors() as exc:
            raise self.server.error(exc) from None

    async def many(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        try:
            await self._conn.executemany(placeholders(sql), rows)
        except _errors() as exc:
            raise self.server.error(exc) from None


class PgDb:
    """A pool of connections: each transaction takes one for its whole length. Single
    reads go to a connection kept for them (``reader``) when it is free, which saves
    the pool's hand-over (half of a read's time on loopback), else to the pool."""

    __slots__ = ("_reading", "pool", "reader", "server")

    def __init__(self, pool: asyncpg.Pool[Any], server: PgServer) -> None:
        self.pool = pool
        self.server = server
        self.reader: asyncpg.pool.PoolConnectionProxy[Any] | None = None
        self._reading = asyncio.Lock()

    async def keep_reader(self) -> None:
        """Take the connection single reads prefer (when the pool has two or more)."""
        if self.pool.get_max_size() >= 2:
            try:
                self.reader = await self.pool.acquire()
            except _errors() as exc:
                raise self.server.error(exc) from None

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[asyncpg.pool.PoolConnectionProxy[Any]]:
        try:
            async with self.pool.acquire() as conn:
                yield conn
        except _errors() as exc:
            raise self.server.error(exc) from None

    async def all(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        reader = self.reader
        if reader is not None and not self._reading.locked() and not reader.is_closed():
            async with self._reading:
                return await PgTx(reader, self.server).all(sql, params)
        async with self._connection() as conn:
            return await PgTx(conn, self.server).all(sql, params)

    async def one(self, sql: str, params: Sequence[Any] = ()) -> Any | None:
        rows = await self.all(sql, params)
        return rows[0] if rows else None

    @asynccontextmanager
    async def transaction(self, *, write: bool = True) -> AsyncIterator[PgTx]:
        """A write transaction behind the store's advisory lock (begun and locked in one
        round trip), or with ``write=False`` a consistent read (``REPEATABLE READ``,
        read only). Committed on success, rolled back on any exception."""
        async with self._connection() as conn:
            handle = PgTx(conn, self.server)
            await handle.run(_BEGIN_WRITE if write else _BEGIN_READ)
            try:
                yield handle
            except BaseException:
                if not conn.is_closed():
                    try:
                        await asyncio.shield(conn.execute("ROLLBACK"))
                    except _errors():
                        pass  # the connection broke: the server rolls back on its own
                raise
            await handle.run("COMMIT")

    async def close(self) -> None:
        reader, self.reader = self.reader, None
        if reader is not None:
            await self.pool.release(reader)
        await self.pool.close()
