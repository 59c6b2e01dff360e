"""Sessions in the store: their pinned version and routing decision, their
events (written in batches, see ``events``; the callbacks they promise are in
``callbacks``). Every row is keyed by tenant first, so a session id only means
something within its tenant.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Unpack

import msgspec

from flowctl.engine.memory import check_caller
from flowctl.engine.store.documents import check_id
from flowctl.engine.store.errors import AlreadyExists, NotFound, SessionLimitReached
from flowctl.engine.store.events import decode_event, encode_event
from flowctl.engine.store.records import SessionInfo, SessionStart, check_options
from flowctl.engine.store.sql.db import Db, Tx
from flowctl.engine.store.sql.leases import HELD
from flowctl.engine.store.sql.outbox import enqueue, wants
from flowctl.engine.store.sql.part import TenantPart
from flowctl.engine.store.sql.rows import columns, json_value, record
from flowctl.engine.webhooks import event_payloads, transcript_and_path

if TYPE_CHECKING:
    from flowctl.engine.runtime import Event

__all__ = ["Sessions"]

_SESSION = columns(SessionInfo)


def _session(row: Any) -> SessionInfo:
    return record(SessionInfo, row, routing=json_value, summary=json_value, evaluation=json_value)


class Sessions(TenantPart):
    """The sessions part of :class:`~flowctl.engine.store.sql.tenant.SQLTenantStore`."""

    async def _require_session(self, tx: Tx, session_id: str) -> None:
        if await self._row(tx, "1", "sessions", session_id=session_id) is None:
            raise self._unknown("session", session_id)

    async def start_session(
        self, flow_id: str, version: int | None = None, **options: Unpack[SessionStart]
    ) -> SessionInfo:
        check_options("start_session", options, SessionStart)
        session_id = check_id("session", options.get("session_id") or uuid.uuid4().hex)
        routing = options.get("routing")
        routing_text = None if routing is None else msgspec.json.encode(routing).decode()
        lease = options.get("lease")
        caller = options.get("caller")
        if caller is not None:
            check_caller(caller)
        key = (self._tenant_id, flow_id)
        async with self._w.transaction() as tx:
            # Read once the write lock is held: a start that queued behind others counts
            # leases, and starts its own, from now, not from when it began to wait.
            now = self._clock()
            row = await tx.one(
                "SELECT max_concurrent_sessions FROM tenants WHERE tenant_id = ?",
                (self._tenant_id,),
            )
            if row is None:
                await self._require_tenant(tx)
            assert row is not None
            limit = row["max_concurrent_sessions"]
            flow = await tx.one(
                "SELECT published FROM flows "
                "WHERE tenant_id = ? AND flow_id = ? AND deleted_at IS NULL",
                key,
            )
            if flow is None:
                raise self._unknown("flow", flow_id)
            if version is None:
                version = flow["published"]
                if version is None:
                    raise NotFound(
                        f"Flow `{flow_id}` of tenant `{self._tenant_id}` has no published "
                        "version to start a session on"
                    )
            elif not await tx.one(
                "SELECT 1 FROM flow_versions WHERE tenant_id = ? AND flow_id = ? AND version = ?",
                (*key, version),
            ):
                raise self._no_version(flow_id, version)
            if limit is not None:
                running = await self._running(tx, now)
                if running >= limit:
                    raise SessionLimitReached(
                        f"Tenant `{self._tenant_id}` already runs {running} sessions, its "
                        f"limit; end one, or raise the limit with `flowctl tenants set-limits "
                        f"{self._tenant_id} --max-sessions N`"
                    )
            if await self._row(tx, "1", "sessions", session_id=session_id) is not None:
                raise AlreadyExists(f"Session `{session_id}` already exists")
            holder, until = (None, None) if lease is None else (lease.holder, now + lease.seconds)
            await tx.run(
                "INSERT INTO sessions (tenant_id, session_id, flow_id, version, routing, "
                "started_at, holder, lease_until, caller) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    self._tenant_id,
                    session_id,
                    flow_id,
                    version,
                    routing_text,
                    now,
                    holder,
                    until,
                    caller,
                ),
            )
            started = {"flow_id": flow_id, "version": version, "routing": routing}
            await enqueue(tx, [(self._tenant_id, session_id, "call.started", started)], now)
        return SessionInfo(
            session_id=session_id,
            flow_id=flow_id,
            version=version,
            routing=json_value(routing_text),
            started_at=now,
        )

    async def append_events(self, session_id: str, events: Sequence[Event]) -> int:
        """Written with the batches of other sessions that arrive meanwhile, in one
        transaction (see ``flowctl.engine.store.sql.events``)."""
        rows = [encode_event(e) for e in events]
        hooks = event_payloads(events)
        return await self._events.append(self._tenant_id, session_id, rows, hooks)

    async def end_session(
        self, session_id: str, *, reason: str, summary: Any = None
    ) -> SessionInfo:
        """Mark the session ended, with what it came to (``summary``: JSON data, e.g.
        ``engine.summary.CallSummary``); its lease over; ending it again changes nothing
        (the first reason stays), so a worker that ends a session twice on shutdown does no harm."""
        now = self._clock()
        summary_text = None if summary is None else msgspec.json.encode(summary).decode()
        async with self._w.transaction() as tx:
            row = await self._row(
                tx, "ended_at, flow_id, version, started_at", "sessions", session_id=session_id
            )
            if row is None:
                raise self._unknown("session", session_id)
            if row["ended_at"] is None:
                await tx.run(
                    "UPDATE sessions SET ended_at = ?, end_reason = ?, summary = ?, "
                    "lease_until = NULL "
                    "WHERE tenant_id = ? AND session_id = ?",
                    (now, reason, summary_text, self._tenant_id, session_id),
                )
                if await wants(tx, self._tenant_id, "call.ended"):
                    ended = await self._ended_payload(tx, session_id, row, reason, now, summary)
                    await enqueue(tx, [(self._tenant_id, session_id, "call.ended", ended)], now)
        return await self.session(session_id)

    async def _ended_payload(
        self, tx: Tx, session_id: str, row: Any, reason: str, now: float, summary: Any
    ) -> dict[str, Any]:
        """``call.ended``'s data: the session, its transcript and path (from its events),
        its variables and summary."""
        rows = await tx.all(
            "SELECT body FROM session_events WHERE tenant_id = ? AND session_id = ? ORDER BY seq",
            (self._tenant_id, session_id),
        )
        transcript, path = transcript_and_path(decode_event(r["body"]) for r in rows)
        variables = summary.get("variables") if isinstance(summary, dict) else None
        return {
            "flow_id": row["flow_id"],
            "version": row["version"],
            "reason": reason,
            "started_at": row["started_at"],
            "ended_at": now,
            "transcript": transcript,
            "path": path,
            "variables": variables or {},
            "summary": summary,
        }

    async def record_evaluation(self, session_id: str, evaluation: Any) -> SessionInfo:
        """Keep how the session did (``evaluation``: JSON data, e.g.
        ``engine.evaluation.CallEvaluation``), replacing any earlier one, and queue
        ``call.evaluated`` with it, in one transaction."""
        now = self._clock()
        text = msgspec.json.encode(evaluation).decode()
        async with self._w.transaction() as tx:
            row = await self._row(tx, "flow_id, version", "sessions", session_id=session_id)
            if row is None:
                raise self._unknown("session", session_id)
            await tx.run(
                "UPDATE sessions SET evaluation = ? WHERE tenant_id = ? AND session_id = ?",
                (text, self._tenant_id, session_id),
            )
            evaluated = {
                "flow_id": row["flow_id"],
                "version": row["version"],
                "evaluated_at": now,
                "evaluation": evaluation,
            }
            await enqueue(tx, [(self._tenant_id, session_id, "call.evaluated", evaluated)], now)
        return await self.session(session_id)

    async def session(self, session_id: str) -> SessionInfo:
        row = await self._row(self._r, _SESSION, "sessions", session_id=session_id)
        if row is None:
            raise self._unknown("session", session_id)
        return _session(row)

    async def sessions(
        self, *, flow_id: str | None = None, running: bool | None = None, limit: int = 50
    ) -> list[SessionInfo]:
        """The newest sessions first; ``running``: only those not ended (True) or ended
        (False)."""
        await self._require_tenant(self._r)
        where = ["tenant_id = ?"]
        params: list[Any] = [self._tenant_id]
        if flow_id is not None:
            where.append("flow_id = ?")
            params.append(flow_id)
        if running is not None:
            where.append("ended_at IS NULL" if running else "ended_at IS NOT NULL")
        rows = await self._r.all(
            f"SELECT {_SESSION} FROM sessions WHERE {' AND '.join(where)} "
            "ORDER BY started_at DESC, session_id LIMIT ?",
            (*params, limit),
        )
        return [_session(r) for r in rows]

    async def active_sessions(self) -> int:
        await self._require_tenant(self._r)
        return await self._running(self._r, self._clock())

    async def _running(self, db: Db | Tx, now: float) -> int:
        """The sessions the tenant's limit counts: not ended, their lease (if any) held."""
        row = await db.one(
            f"SELECT count(*) AS running FROM sessions WHERE tenant_id = ? AND {HELD}",
            (self._tenant_id, now),
        )
        assert row is not None
        return int(row["running"])

    async def events(self, session_id: str) -> list[Event]:
        async with self._r.transaction(write=False) as tx:
            await self._require_session(tx, session_id)
            rows = await tx.all(
                "SELECT body FROM session_events WHERE tenant_id = ? AND session_id = ? "
                "ORDER BY seq",
                (self._tenant_id, session_id),
            )
        return [decode_event(r["body"]) for r in rows]
