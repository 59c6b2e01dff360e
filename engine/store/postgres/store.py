"""The PostgreSQL store: one database (or one schema of it) shared by every worker on
every host, for teams that outgrow one machine.

``postgresql://USER[:PASSWORD]@HOST[:PORT]/DATABASE`` with libpq's query options
(``sslmode``...) and three of flowctl's own: ``schema`` (default ``public``; a store
per schema lets several share one database), ``pool_max`` (connections per process,
default 10) and ``timeout`` (seconds to connect and for each statement, default 5).

Every process holds a small pool; reads run beside each other, writes queue on the
store's advisory lock (``flowctl.engine.store.postgres.db``). A publish (any bump of
the change counter) is announced with ``NOTIFY``: :meth:`PostgresStore.wait_for_change`
listens on a connection of its own, so a worker learns of it in milliseconds instead
of at its next poll, and falls back to polling while that connection is down.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from flowctl.engine.boundary import ToolCatalog
from flowctl.engine.store.errors import (
    StoreCorrupt,
    StoreError,
    StoreSchemaTooNew,
    StoreUnavailable,
)
from flowctl.engine.store.postgres.db import PgDb, PgServer, PgTx, redact
from flowctl.engine.store.postgres.schema import CHANNEL, LATEST, MIGRATIONS
from flowctl.engine.store.postgres.search import search
from flowctl.engine.store.sql.events import EventWriter
from flowctl.engine.store.sql.part import Shared
from flowctl.engine.store.sql.store import SQLStore

if TYPE_CHECKING:
    import asyncpg

__all__ = ["PostgresStore", "parse_url"]

logger = logging.getLogger(__name__)

_OPTIONS = ("pool_max", "schema", "timeout")
_SCHEMA = re.compile(r"[a-z_][a-z0-9_]{0,62}")


def parse_url(url: str, timeout: float | None) -> tuple[str, str, int, float]:
    """``url`` as asyncpg takes it (flowctl's options removed), the schema, the pool's
    size and the timeout. Raises :class:`StoreError` naming what is wrong."""
    parts = urlsplit(url)
    shown = redact(url)
    if not parts.path.strip("/"):
        raise StoreError(f"Store URL `{shown}` names no database: add `/DATABASE`")
    query = parse_qsl(parts.query, keep_blank_values=True)
    ours = {k: v for k, v in query if k in _OPTIONS}
    theirs = [(k, v) for k, v in query if k not in _OPTIONS]
    schema = ours.get("schema", "public")
    if not _SCHEMA.fullmatch(schema):
        raise StoreError(
            f"Store URL `{shown}`: `schema` is a lower-case SQL name (letters, digits, "
            f"`_`), not `{schema}`"
        )
    try:
        pool_max = int(ours.get("pool_max", "10"))
        if pool_max < 1:
            raise ValueError
    except ValueError:
        raise StoreError(
            f"Store URL `{shown}`: `pool_max` is a whole number of connections, 1 or more"
        ) from None
    if timeout is None:
        try:
            timeout = float(ours.get("timeout", "5"))
        except ValueError:
            raise StoreError(f"Store URL `{shown}`: `timeout` is a number of seconds") from None
    scheme = "postgresql"  # asyncpg knows postgresql:// and postgres://
    dsn = urlunsplit(parts._replace(scheme=scheme, query=urlencode(theirs)))
    return dsn, schema, pool_max, timeout


class PostgresStore(SQLStore):
    """The :class:`flowctl.engine.store.Store` on PostgreSQL. Open it with
    ``await open_store("postgresql://USER@HOST/DATABASE")``; close it (or ``async with``)."""

    _listener: asyncpg.Connection[Any] | None = None
    _changed: asyncio.Event | None = None
    _dsn = ""
    _server: PgServer | None = None
    _timeout = 5.0

    @classmethod
    async def open(
        cls,
        url: str,
        *,
        create: bool,
        timeout: float | None,
        clock: Callable[[], float],
        validate_routing: Callable[[Any], None] | None,
        catalog: ToolCatalog | None,
    ) -> PostgresStore:
        try:
            import asyncpg
        except ImportError:
            raise StoreError(
                "PostgreSQL stores need asyncpg: `pip install 'flowctl-voice[postgres]'`"
            ) from None
        dsn, schema, pool_max, timeout = parse_url(url, timeout)
        server = PgServer(url, schema)
        if create:
            await _create_schema(dsn, server, timeout)
        try:
            pool = await asyncpg.create_pool(
                dsn,
                min_size=1,
                max_size=pool_max,
                timeout=timeout,
                command_timeout=timeout,
                server_settings={"search_path": schema, "application_name": "flowctl"},
            )
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError) as exc:
            raise server.error(exc) from None
        db = PgDb(pool, server)
        try:
            migrated = await _migrate(db, create)
            await db.keep_reader()
        except BaseException:
            await pool.close()
            raise
        shared = Shared(db, db, EventWriter(db, clock), clock, validate_routing, search, catalog)
        store = cls(url, shared)
        store.url = redact(url)
        store.migrated = migrated
        store.schema_version = LATEST
        store._dsn = dsn
        store._server = server
        store._timeout = timeout
        return store

    async def _after_copy(self) -> None:
        async with self.db.transaction() as tx:
            for table, column in (
                ("callbacks", "callback_id"),
                ("audit", "entry_id"),
                ("knowledge_chunks", "chunk_id"),
            ):
                await tx.run(
                    f"SELECT setval(pg_get_serial_sequence('{table}', '{column}'), "
                    f"coalesce(max({column}), 0) + 1, false) FROM {table}"
                )

    # --- publishes, as they happen --------------------------------------------------------

    async def wait_for_change(self, seen: int, timeout: float) -> int:
        """The change counter once it differs from ``seen``, or after ``timeout``: woken
        by ``NOTIFY`` when the listening connection is up, else by polling."""
        changed = await self._listen()
        current = await self.changes()
        if current != seen or changed is None:
            if changed is None:  # no notifications: poll
                await asyncio.sleep(timeout)
                return await self.changes()
            return current
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(changed.wait(), timeout)
        return await self.changes()

    async def _listen(self) -> asyncio.Event | None:
        """The event the next notification sets (None: cannot listen now)."""
        if self._listener is not None and not self._listener.is_closed():
            assert self._changed is not None
            return self._changed
        import asyncpg

        assert self._server is not None
        try:
            conn = await asyncpg.connect(
                self._dsn,
                timeout=self._timeout,
                server_settings={"application_name": "flowctl-listen"},
            )
            await conn.add_listener(CHANNEL, self._notified)
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError) as exc:
            logger.warning("store %s: cannot listen for changes (%s); polling", self.url, exc)
            return None
        conn.add_termination_listener(self._lost)
        self._listener = conn
        self._changed = asyncio.Event()
        return self._changed

    def _notified(self, conn: Any, pid: int, channel: str, payload: object) -> None:
        assert self._server is not None
        schema, _, _ = str(payload).rpartition(":")
        if schema != self._server.schema or self._changed is None:
            return
        # Wake every waiter, and give later ones a fresh event.
        self._changed.set()
        self._changed = asyncio.Event()

    def _lost(self, conn: Any) -> None:
        logger.warning("store %s: the listening connection closed; polling", self.url)
        if self._changed is not None:
            self._changed.set()  # waiters re-read the counter and listen again
        self._listener = None

    async def close(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None and not listener.is_closed():
            with contextlib.suppress(Exception):
                await listener.close(timeout=self._timeout)
        await super().close()


async def _create_schema(dsn: str, server: PgServer, timeout: float) -> None:
    """``CREATE SCHEMA IF NOT EXISTS`` (``store init``, or a first open with ``create``)."""
    import asyncpg

    try:
        conn = await asyncpg.connect(dsn, timeout=timeout)
    except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError) as exc:
        raise server.error(exc) from None
    try:
        await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{server.schema}"')
    except asyncpg.PostgresError as exc:
        raise server.error(exc) from None
    finally:
        await conn.close()


async def _migrate(db: PgDb, create: bool) -> tuple[int, int] | None:
    """Bring the schema up to date; ``(from, to)`` when migrations ran."""
    version = await _version(db)
    if version == LATEST:
        return None
    if version == 0 and not create:
        raise StoreUnavailable(
            f"No store at {db.server.where()}; create one with "
            f"`flowctl store init --store {db.server.url}`"
        )
    async with db.transaction() as tx:  # the write lock: one process migrates
        version = await _version(tx)
        for statements in MIGRATIONS[version:]:
            for sql in statements:
                await tx.run(sql)
        await tx.run("UPDATE flowctl_meta SET version = ?", (LATEST,))
    if version == LATEST:
        return None
    logger.info("store %s: schema migrated from %d to %d", db.server.url, version, LATEST)
    return version, LATEST


async def _version(db: PgDb | PgTx) -> int:
    """How many migrations the schema has had (0: none, an empty schema). Refuses a
    schema that holds something else, or one from a newer flowctl."""
    server = db.server
    row = await db.one(
        "SELECT to_regclass('flowctl_meta') IS NOT NULL AS ours, "
        "(SELECT count(*) FROM pg_tables WHERE schemaname = current_schema()) AS tables"
    )
    assert row is not None
    if not row["ours"]:
        if row["tables"]:
            raise StoreCorrupt(
                f"{server.where()} holds tables but is not a flowctl store; point --store "
                "at a flowctl store, or at an empty database or schema to create one"
            )
        return 0
    meta = await db.one("SELECT application, version FROM flowctl_meta WHERE id = 1")
    if meta is None or meta["application"] != "flowctl":
        raise StoreCorrupt(f"{server.where()} is not a flowctl store")
    version = int(meta["version"])
    if version > LATEST:
        raise StoreSchemaTooNew(
            f"Store {server.where()} has schema version {version}, newer than this flowctl "
            f"knows ({LATEST}); upgrade flowctl (`pip install -U flowctl-voice`) to use it"
        )
    return version
