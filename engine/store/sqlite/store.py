"""The SQLite store: one file in WAL mode, shared by every process on one machine.

Two connections per store: a writer whose transactions all start with ``BEGIN
IMMEDIATE`` (writers from any process queue on SQLite's busy timeout instead of failing
half-way), and a reader, so a batch of events being written never delays a flow
lookup (WAL lets readers run beside the writer). ``synchronous=NORMAL``: in WAL mode a
commit survives a crash of the process; only a power cut may lose the last ones.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiosqlite

from flowctl.engine.boundary import ToolCatalog
from flowctl.engine.store.errors import (
    StoreCorrupt,
    StoreReadOnly,
    StoreSchemaTooNew,
    StoreUnavailable,
)
from flowctl.engine.store.sql.events import EventWriter
from flowctl.engine.store.sql.part import Shared
from flowctl.engine.store.sql.store import SQLStore
from flowctl.engine.store.sqlite.db import SQLiteDb, SQLiteFile, SQLiteTx
from flowctl.engine.store.sqlite.schema import APPLICATION_ID, LATEST, MIGRATIONS
from flowctl.engine.store.sqlite.search import search

__all__ = ["SQLiteStore"]

logger = logging.getLogger(__name__)


class SQLiteStore(SQLStore):
    """The :class:`flowctl.engine.store.Store` on an SQLite file. Open it with
    ``await open_store("sqlite:///flowctl.db")``; close it (or ``async with``)."""

    @classmethod
    async def open(
        cls,
        url: str,
        file: SQLiteFile,
        *,
        create: bool,
        clock: Callable[[], float],
        validate_routing: Callable[[Any], None] | None,
        catalog: ToolCatalog | None,
    ) -> SQLiteStore:
        _check_file(file, create)
        writer = await _connect(file, create)
        try:
            # Look before touching anything: another program's database, or one from a
            # newer flowctl, is refused before its journal mode is changed.
            _check_header(file, *await _header(writer))
            await _prepare(writer)
            migrated = await _migrate(writer)
            reader = writer if file.memory else await _connect(file, False)
        except BaseException:
            await writer.close()
            raise
        events = EventWriter(writer, clock)
        shared = Shared(writer, reader, events, clock, validate_routing, search, catalog)
        store = cls(url, shared)
        store.migrated = migrated
        store.schema_version = LATEST
        return store


def _check_file(file: SQLiteFile, create: bool) -> None:
    """Refuse before SQLite does, with a message that says what to do."""
    if file.memory:
        return
    path = Path(file.path)
    if path.is_dir():
        raise StoreUnavailable(f"Store `{file.path}` is a folder; name a file inside it")
    if not path.exists():
        if not create:
            raise StoreUnavailable(
                f"No store at `{file.path}`; create one with "
                f"`flowctl store init --store sqlite:///{file.path}`"
            )
        if not path.parent.absolute().is_dir():
            raise StoreUnavailable(
                f"Cannot create store `{file.path}`: folder `{file.folder}` does not exist"
            )
        if file.read_only:
            raise StoreUnavailable(f"Cannot create store `{file.path}` with `mode=ro`")
    if file.read_only:
        return
    if path.exists() and not os.access(path, os.W_OK):
        raise file.read_only_error()
    if not os.access(path.absolute().parent, os.W_OK):
        raise file.folder_error()


async def _connect(file: SQLiteFile, create: bool) -> SQLiteDb:
    if file.memory:
        target = ":memory:"
    else:
        mode = "ro" if file.read_only else ("rwc" if create else "rw")
        target = f"{Path(file.path).absolute().as_uri()}?mode={mode}"
    try:
        conn = await aiosqlite.connect(
            target, uri=not file.memory, timeout=file.timeout, isolation_level=None
        )
    except sqlite3.Error as exc:
        raise file.error(exc) from None
    conn.row_factory = sqlite3.Row  # rows are read by column name (rows.py)
    return SQLiteDb(conn, file)


async def _prepare(db: SQLiteDb) -> None:
    """The writer's settings: WAL mode (kept in the file), and per connection
    ``synchronous=NORMAL`` and foreign keys."""
    mode = (await _one(db, "PRAGMA journal_mode"))["journal_mode"]
    if mode != "wal" and not db.file.read_only and not db.file.memory:
        mode = (await _one(db, "PRAGMA journal_mode = WAL"))["journal_mode"]
        if mode != "wal":  # some network file systems cannot share memory between hosts
            logger.warning("store %s: WAL mode unavailable, using %s", db.file.path, mode)
    await db.all("PRAGMA synchronous = NORMAL")
    await db.all("PRAGMA foreign_keys = ON")


async def _one(db: SQLiteDb, sql: str) -> sqlite3.Row:
    row = await db.one(sql)
    assert row is not None
    return row


async def _migrate(db: SQLiteDb) -> tuple[int, int] | None:
    """Bring the schema up to date; ``(from, to)`` when migrations ran."""
    app_id, version, tables = await _header(db)
    _check_header(db.file, app_id, version, tables)
    if version == LATEST:
        return None
    if db.file.read_only:
        raise StoreReadOnly(
            f"Store `{db.file.path}` has schema version {version} and needs migrating to "
            f"{LATEST}; open it once without `mode=ro` "
            f"(`flowctl store init --store sqlite:///{db.file.path}`)"
        )
    async with db.transaction() as tx:
        # Another process may have migrated it while this one waited for the lock.
        app_id, version, tables = await _header(tx)
        _check_header(db.file, app_id, version, tables)
        for statements in MIGRATIONS[version:]:
            for sql in statements:
                await tx.run(sql)
        await tx.run(f"PRAGMA application_id = {APPLICATION_ID}")
        await tx.run(f"PRAGMA user_version = {LATEST}")
    if version == LATEST:
        return None
    logger.info("store %s: schema migrated from %d to %d", db.file.path, version, LATEST)
    return version, LATEST


async def _header(db: SQLiteDb | SQLiteTx) -> tuple[int, int, int]:
    """``application_id``, ``user_version`` and the number of tables."""
    row = await db.one(
        "SELECT (SELECT application_id FROM pragma_application_id) AS app_id,"
        " (SELECT user_version FROM pragma_user_version) AS version,"
        " (SELECT count(*) FROM sqlite_master WHERE type = 'table') AS tables"
    )
    assert row is not None
    return int(row["app_id"]), int(row["version"]), int(row["tables"])


def _check_header(file: SQLiteFile, app_id: int, version: int, tables: int) -> None:
    if app_id != APPLICATION_ID and (tables or version):
        raise StoreCorrupt(
            f"`{file.path}` is an SQLite database but not a flowctl store; point --store "
            "at a flowctl store, or at a new file to create one"
        )
    if version > LATEST:
        raise StoreSchemaTooNew(
            f"Store `{file.path}` has schema version {version}, newer than this flowctl "
            f"knows ({LATEST}); upgrade flowctl (`pip install -U flowctl-voice`) to use it"
        )
