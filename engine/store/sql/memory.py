"""Callers in the store: what a tenant remembers about each (``caller_memory``, written
when their calls end: ``flowctl.engine.memory``), how long it is kept, and the
data-protection request that deletes everything the tenant holds about one of them.

Memory is kept per tenant and caller id until its ``expires_at``: the end of the
caller's last call plus the flow's ``ttl_days``, capped by the tenant's
``memory_days`` (``flowctl.engine.memory.retention_days``). An expired memory is never read again
(every read asks ``expires_at > now``) and is deleted by the next write of any of the
tenant's callers, or by :meth:`Memory.purge_memory`.

:meth:`Memory.forget_caller` deletes, in one transaction: the caller's memory; every
session recorded with them as its caller, or in which a callback to them was promised,
with its events (the transcript, variables, tool calls and answers) and summary; the
callbacks to them and those promised in the deleted sessions; and the webhook
deliveries those sessions produced (their payloads hold transcripts). The audit log
notes the request under a digest of the caller id (:func:`caller_digest`), never the
id itself: what was deleted stays deleted, and whoever knows the id can still find the
entry.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import msgspec

from flowctl.engine.memory import check_caller, merged
from flowctl.engine.store.documents import check_actor
from flowctl.engine.store.errors import CallerInCall, StoreError
from flowctl.engine.store.records import CallerMemory, Forgotten, Remembered
from flowctl.engine.store.sql.db import Row, Tx, audit
from flowctl.engine.store.sql.part import TenantPart
from flowctl.engine.store.sql.rows import columns, record

__all__ = ["MAX_MEMORY_BYTES", "Memory", "caller_digest", "check_memory_days"]

# What one caller's variables may take, as JSON: a name, a date, a plan are a few
# bytes; 64 KiB is room for many, and keeps one caller from filling the store.
MAX_MEMORY_BYTES = 64 * 1024

_MEMORY = columns(CallerMemory)
_variables = msgspec.json.Decoder(dict[str, Any])
# Statements with more parameters than this are split (SQLite allows 32,766).
_CHUNK = 500


def check_memory_days(days: int | None) -> int | None:
    """A tenant's ``memory_days``: None (no cap of its own) or a whole number from 1."""
    if days is not None and (isinstance(days, bool) or not isinstance(days, int) or days < 1):
        raise StoreError(f"`memory_days` is a whole number of days from 1, not `{days}`")
    return days


def caller_digest(tenant_id: str, caller: str) -> str:
    """How the audit log names a caller: ``caller:`` and 16 hex digits of the SHA-256
    of the tenant and caller ids. The id cannot be read back from it; given the id,
    anyone can compute it and find the entry."""
    digest = hashlib.sha256(f"{tenant_id}\0{caller}".encode()).hexdigest()
    return f"caller:{digest[:16]}"


def _memory(row: Row) -> CallerMemory:
    return record(CallerMemory, row, variables=_variables.decode)


def _chunks(values: Sequence[str]) -> list[Sequence[str]]:
    return [values[i : i + _CHUNK] for i in range(0, len(values), _CHUNK)]


class Memory(TenantPart):
    """The callers part of :class:`~flowctl.engine.store.sql.tenant.SQLTenantStore`."""

    async def recall(self, caller: str) -> CallerMemory | None:
        check_caller(caller)
        row = await self._r.one(
            f"SELECT {_MEMORY} FROM caller_memory "
            "WHERE tenant_id = ? AND caller = ? AND expires_at > ?",
            (self._tenant_id, caller, self._clock()),
        )
        if row is None:
            await self._require_tenant(self._r)  # an unknown tenant is named as such
            return None
        return _memory(row)

    async def memories(self, *, limit: int = 100) -> list[CallerMemory]:
        await self._require_tenant(self._r)
        rows = await self._r.all(
            f"SELECT {_MEMORY} FROM caller_memory WHERE tenant_id = ? AND expires_at > ? "
            "ORDER BY updated_at DESC, caller LIMIT ?",
            (self._tenant_id, self._clock(), limit),
        )
        return [_memory(r) for r in rows]

    async def remember(self, caller: str, memory: Remembered) -> CallerMemory:
        check_caller(caller)
        async with self._w.transaction() as tx:
            now = self._clock()
            tenant = await tx.one(
                "SELECT memory_days FROM tenants WHERE tenant_id = ?", (self._tenant_id,)
            )
            if tenant is None:
                await self._require_tenant(tx)
            assert tenant is not None
            # Whatever of the tenant's memory has expired goes first (this caller's too:
            # an expired memory is not carried on).
            await tx.run(
                "DELETE FROM caller_memory WHERE tenant_id = ? AND expires_at <= ?",
                (self._tenant_id, now),
            )
            row = await self._row(tx, _MEMORY, "caller_memory", caller=caller)
            old = None if row is None else _memory(row)
            written = merged(old, caller, memory, now=now, tenant_days=tenant["memory_days"])
            text = msgspec.json.encode(written.variables).decode()
            if len(text.encode()) > MAX_MEMORY_BYTES:
                raise StoreError(
                    f"The memory of caller `{caller}` would take {len(text.encode()):,} bytes; "
                    f"a caller's remembered variables are limited to {MAX_MEMORY_BYTES // 1024} KiB"
                )
            await tx.run(
                "INSERT INTO caller_memory (tenant_id, caller, variables, summary, outcome, "
                "flow_id, session_id, calls, first_at, updated_at, expires_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (tenant_id, caller) "
                "DO UPDATE SET variables = excluded.variables, summary = excluded.summary, "
                "outcome = excluded.outcome, flow_id = excluded.flow_id, "
                "session_id = excluded.session_id, calls = excluded.calls, "
                "updated_at = excluded.updated_at, expires_at = excluded.expires_at",
                (
                    self._tenant_id,
                    caller,
                    text,
                    written.summary,
                    written.outcome,
                    written.flow_id,
                    written.session_id,
                    written.calls,
                    written.first_at,
                    written.updated_at,
                    written.expires_at,
                ),
            )
        return written

    async def purge_memory(self, *, actor: str) -> int:
        check_actor(actor)
        async with self._w.transaction() as tx:
            await self._require_tenant(tx)
            now = self._clock()
            rows = await tx.all(
                "DELETE FROM caller_memory WHERE tenant_id = ? AND expires_at <= ? "
                "RETURNING caller",
                (self._tenant_id, now),
            )
            if rows:
                detail = {"memories": len(rows)}
                await audit(
                    tx, self._tenant_id, actor, "memory.purge", self._tenant_id, detail, now
                )
        return len(rows)

    async def forget_caller(self, caller: str, *, actor: str) -> Forgotten:
        check_caller(caller)
        check_actor(actor)
        tid = self._tenant_id
        async with self._w.transaction() as tx:
            await self._require_tenant(tx)
            now = self._clock()
            sessions = await tx.all(
                "SELECT session_id, ended_at, lease_until FROM sessions "
                "WHERE tenant_id = ? AND caller = ? "
                "UNION SELECT s.session_id, s.ended_at, s.lease_until FROM callbacks c "
                "JOIN sessions s ON s.tenant_id = c.tenant_id AND s.session_id = c.session_id "
                "WHERE c.tenant_id = ? AND c.caller = ?",
                (tid, caller, tid, caller),
            )
            running = sorted(
                r["session_id"]
                for r in sessions
                if r["ended_at"] is None
                and r["lease_until"] is not None
                and r["lease_until"] >= now
            )
            if running:
                raise CallerInCall(
                    f"Caller `{caller}` of tenant `{tid}` is on a call now (session "
                    f"`{running[0]}`); forget them once it has ended"
                )
            ids = sorted({r["session_id"] for r in sessions})
            deliveries = callbacks = 0
            for chunk in _chunks(ids):
                deliveries += await self._delete(tx, "webhook_deliveries", "session_id", chunk)
                callbacks += await self._delete(tx, "callbacks", "session_id", chunk)
            gone = await tx.all(
                "DELETE FROM callbacks WHERE tenant_id = ? AND caller = ? RETURNING callback_id",
                (tid, caller),
            )
            callbacks += len(gone)
            for chunk in _chunks(ids):
                await self._delete(tx, "session_events", "session_id", chunk)
                await self._delete(tx, "sessions", "session_id", chunk)
            memory = await tx.all(
                "DELETE FROM caller_memory WHERE tenant_id = ? AND caller = ? RETURNING caller",
                (tid, caller),
            )
            forgotten = Forgotten(
                caller=caller,
                memory=bool(memory),
                sessions=len(ids),
                callbacks=callbacks,
                deliveries=deliveries,
            )
            detail = msgspec.to_builtins(forgotten)
            detail.pop("caller")  # the one thing the log must not keep
            subject = caller_digest(tid, caller)
            await audit(tx, tid, actor, "caller.forget", subject, detail, now)
        return forgotten

    async def _delete(self, tx: Tx, table: str, column: str, values: Sequence[str]) -> int:
        """Delete the tenant's rows of ``table`` whose ``column`` is one of ``values``;
        how many."""
        marks = ", ".join("?" for _ in values)
        rows = await tx.all(
            f"DELETE FROM {table} WHERE tenant_id = ? AND {column} IN ({marks}) RETURNING 1 AS x",
            (self._tenant_id, *values),
        )
        return len(rows)
