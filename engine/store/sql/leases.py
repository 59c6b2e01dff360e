"""Sessions' leases. A session started with a ``Lease`` (``records.Lease``) is held by
the worker process running it until ``lease_until``, and that process renews every
lease it holds in one statement (:func:`renew`). A session whose lease lapsed is not
counted against its tenant's limit (:data:`HELD`, which ``start_session`` reads in the
transaction that inserts), and :func:`reap` closes it as ``abandoned``, with an audit
entry. Sessions with no lease (dry runs, rows from before leases) are never reaped.

Lapsed means ``lease_until < now``, the same comparison in all three places: a session
the limit no longer counts is one the reaper closes and a renewal no longer revives
(its slot may have been taken already).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flowctl.engine.store.documents import check_actor
from flowctl.engine.store.records import ABANDONED, AbandonedSession, Lease
from flowctl.engine.store.sql.db import Db, audit
from flowctl.engine.store.sql.part import TenantPart

__all__ = ["HELD", "TenantLeases", "reap", "renew"]

# Running sessions a tenant's limit counts (one parameter: now). No lease: held until
# ended.
HELD = "ended_at IS NULL AND (lease_until IS NULL OR lease_until >= ?)"
_LAPSED = "ended_at IS NULL AND lease_until < ?"
_REAPED = ("tenant_id", "session_id", "flow_id", "version", "holder", "started_at", "lease_until")


async def renew(writer: Db, lease: Lease, clock: Callable[[], float]) -> int:
    """Extend every running session ``lease.holder`` holds to ``lease.seconds`` from
    now, in one statement; how many. A lapsed lease is not renewed."""
    async with writer.transaction() as tx:
        now = clock()  # once the write lock is held, however long that took
        rows = await tx.all(
            "UPDATE sessions SET lease_until = ? "
            "WHERE holder = ? AND ended_at IS NULL AND lease_until >= ? RETURNING session_id",
            (now + lease.seconds, lease.holder, now),
        )
    return len(rows)


async def reap(
    writer: Db, reader: Db, now: float, *, actor: str, tenant_id: str | None = None
) -> list[AbandonedSession]:
    """Close every running session whose lease lapsed before ``now`` (only
    ``tenant_id``'s, if given) as ``abandoned``, each with an audit entry
    (``session.abandoned``, by ``actor``); what was closed, the earliest lapsed first.
    A ``now`` read before waiting for the write lock is safe: what had lapsed then has
    lapsed still, and is never renewed."""
    check_actor(actor)
    where = _LAPSED
    params: list[Any] = [now]
    if tenant_id is not None:
        where += " AND tenant_id = ?"
        params.append(tenant_id)
    # Every worker asks every few seconds, and the answer is nearly always no: a read,
    # beside the writers, rather than a write transaction each time.
    if await reader.one(f"SELECT 1 AS lapsed FROM sessions WHERE {where} LIMIT 1", params) is None:
        return []
    async with writer.transaction() as tx:
        rows = await tx.all(
            f"SELECT {', '.join(_REAPED)} FROM sessions WHERE {where} "
            "ORDER BY lease_until, tenant_id, session_id",
            params,
        )
        # The same condition again, so a session another reaper closed in between
        # (were writers not one at a time) is neither closed twice nor audited twice.
        closed = await tx.all(
            "UPDATE sessions SET ended_at = ?, end_reason = ?, lease_until = NULL "
            f"WHERE {where} RETURNING tenant_id, session_id",
            [now, ABANDONED, *params],
        )
        keys = {(row["tenant_id"], row["session_id"]) for row in closed}
        reaped = [
            _abandoned(row, now) for row in rows if (row["tenant_id"], row["session_id"]) in keys
        ]
        for s in reaped:
            detail = {
                "flow_id": s.flow_id,
                "version": s.version,
                "holder": s.holder,
                "lease_until": s.lease_until,
            }
            await audit(tx, s.tenant_id, actor, "session.abandoned", s.session_id, detail, now)
    return reaped


def _abandoned(row: Any, now: float) -> AbandonedSession:
    return AbandonedSession(**{name: row[name] for name in _REAPED}, ended_at=now)


class TenantLeases(TenantPart):
    """The leases part of :class:`~flowctl.engine.store.sql.tenant.SQLTenantStore`."""

    async def reap(self, *, actor: str) -> list[AbandonedSession]:
        await self._require_tenant(self._r)
        return await reap(self._w, self._r, self._clock(), actor=actor, tenant_id=self._tenant_id)
