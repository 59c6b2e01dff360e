"""Group commit for session events in the store.

Every session of a worker appends a batch of events each turn. One transaction per
batch would cost each batch a handful of round trips to the connection's thread, and
the batches would queue one behind the other on the write lock. Instead, batches that
arrive while a transaction is being written wait, and all go together in the next one:
one transaction, one statement for the sessions' state, one ``executemany`` for the
rows, whatever the number of sessions. A batch is never split, a session's batches
keep their order, and each caller hears about its own batch only: its new event count,
or why that batch (and only it) was refused. Nothing waits on a timer, so a lone
batch is written at once.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from flowctl.engine.store.errors import NotFound, StoreError
from flowctl.engine.store.sql.db import Db, Tx

__all__ = ["EventWriter"]

EventRow = tuple[str, float, bytes]  # kind, at, body

# SQLite allows 32,766 bound parameters per statement (999 before 3.32), PostgreSQL
# 65,535: the state of at most this many sessions is read in one statement.
_MAX_GROUP = 400


@dataclass(slots=True)
class _Append:
    tenant_id: str
    session_id: str
    rows: list[EventRow]
    done: asyncio.Future[int] = field(repr=False)


class EventWriter:
    """Appends events for every tenant handle sharing one writer connection."""

    def __init__(self, db: Db) -> None:
        self._db = db
        self._queue: list[_Append] = []
        self._flushing: asyncio.Task[None] | None = None

    async def append(self, tenant_id: str, session_id: str, rows: list[EventRow]) -> int:
        """Write ``rows`` after the session's events; its new event count."""
        done: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._queue.append(_Append(tenant_id, session_id, rows, done))
        if self._flushing is None:
            self._flushing = asyncio.ensure_future(self._flush())
        return await done

    async def drain(self) -> None:
        """Wait until every queued batch is written (before closing the store)."""
        while self._flushing is not None:
            await asyncio.shield(self._flushing)

    async def _flush(self) -> None:
        try:
            while self._queue:
                group, self._queue = self._queue[:_MAX_GROUP], self._queue[_MAX_GROUP:]
                try:
                    await self._write(group)
                except BaseException as exc:  # the transaction failed: every batch in it did
                    for append in group:
                        if not append.done.done():
                            append.done.set_exception(exc)
                    if not isinstance(exc, Exception):
                        raise
        finally:
            self._flushing = None

    async def _write(self, group: list[_Append]) -> None:
        keys = list(dict.fromkeys((a.tenant_id, a.session_id) for a in group))
        outcomes: list[int | StoreError] = []
        async with self._db.transaction() as tx:
            state = await _sessions(tx, keys)
            inserts: list[tuple[str, str, int, str, float, bytes]] = []
            for a in group:
                key = (a.tenant_id, a.session_id)
                found = state.get(key)
                if found is None:
                    outcomes.append(
                        NotFound(f"Unknown session `{a.session_id}` for tenant `{a.tenant_id}`")
                    )
                    continue
                count, ended = found
                if ended:
                    outcomes.append(
                        StoreError(f"Session `{a.session_id}` has ended; it takes no more events")
                    )
                    continue
                inserts.extend(
                    (a.tenant_id, a.session_id, count + i, kind, at, body)
                    for i, (kind, at, body) in enumerate(a.rows, 1)
                )
                count += len(a.rows)
                state[key] = (count, False)
                outcomes.append(count)
            if inserts:
                await tx.many(
                    "INSERT INTO session_events (tenant_id, session_id, seq, kind, at, body) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    inserts,
                )
                await tx.many(
                    "UPDATE sessions SET events = ? WHERE tenant_id = ? AND session_id = ?",
                    [(count, *key) for key, (count, _) in state.items()],
                )
        for append, outcome in zip(group, outcomes, strict=True):  # only once committed
            if append.done.done():  # its caller was cancelled; the rows are written anyway
                continue
            if isinstance(outcome, StoreError):
                append.done.set_exception(outcome)
            else:
                append.done.set_result(outcome)


async def _sessions(tx: Tx, keys: list[tuple[str, str]]) -> dict[tuple[str, str], tuple[int, bool]]:
    """Each existing session's event count and whether it has ended."""
    values = ", ".join("(?, ?)" for _ in keys)
    rows = await tx.all(
        "SELECT tenant_id, session_id, events, ended_at IS NOT NULL AS ended FROM sessions "
        f"WHERE (tenant_id, session_id) IN (VALUES {values})",
        [part for key in keys for part in key],
    )
    return {(r["tenant_id"], r["session_id"]): (int(r["events"]), bool(r["ended"])) for r in rows}
