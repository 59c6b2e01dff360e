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

A ``callback`` event books its callback in the same transaction
(``flowctl.engine.store.sql.callbacks.booked``): a promise recorded is a callback kept.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flowctl.engine.store.errors import NotFound, StoreError
from flowctl.engine.store.sql.callbacks import booked
from flowctl.engine.store.sql.db import Db, Tx
from flowctl.engine.store.sql.outbox import enqueue, subscribers

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
    hooks: list[tuple[str, Any]]  # the webhook events the rows give (type, data)
    done: asyncio.Future[int] = field(repr=False)


class EventWriter:
    """Appends events for every tenant handle sharing one writer connection."""

    def __init__(self, db: Db, clock: Callable[[], float]) -> None:
        self._db = db
        self._clock = clock
        self._queue: list[_Append] = []
        self._flushing: asyncio.Task[None] | None = None

    async def append(
        self,
        tenant_id: str,
        session_id: str,
        rows: list[EventRow],
        hooks: list[tuple[str, Any]] | None = None,
    ) -> int:
        """Write ``rows`` after the session's events, and put the webhook events they
        give (``hooks``) in the outbox, in the same transaction; its new event count."""
        done: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._queue.append(_Append(tenant_id, session_id, rows, hooks or [], done))
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
        outbox: list[tuple[str, str | None, str, Any]] = []
        async with self._db.transaction() as tx:
            state = await _sessions(tx, keys)
            inserts: list[tuple[str, str, int, str, float, bytes]] = []
            accepted: list[tuple[str, str, list[EventRow]]] = []
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
                outbox.extend((a.tenant_id, a.session_id, event, data) for event, data in a.hooks)
                accepted.append((a.tenant_id, a.session_id, a.rows))
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
                outbox += await booked(tx, accepted)
            if outbox:
                hooks = await subscribers(tx, (tenant for tenant, _, _, _ in outbox))
                if hooks:  # the clock is read only when something is queued
                    await enqueue(tx, outbox, self._clock(), hooks)
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
