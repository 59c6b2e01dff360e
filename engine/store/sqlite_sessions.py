"""Sessions on the SQLite store: their pinned version and routing decision, their
events (written in batches, see ``sqlite_events``), their callbacks. Every row is keyed
by tenant first, so a session id only means something within its tenant.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import msgspec

from flowctl.engine.store.documents import check_actor, check_id
from flowctl.engine.store.errors import AlreadyExists, NotFound, SessionLimitReached, StoreError
from flowctl.engine.store.events import Turn, decode_event, encode_event
from flowctl.engine.store.records import Callback, SessionInfo
from flowctl.engine.store.sqlite_db import Row, TenantPart, audit
from flowctl.engine.store.sqlite_events import EventWriter

if TYPE_CHECKING:
    from flowctl.engine.runtime import Event

__all__ = ["CALLBACK_STATUSES", "SessionsMixin"]

CALLBACK_STATUSES = ("pending", "done", "cancelled")
_SESSION_COLUMNS = "session_id, flow_id, version, routing, started_at, ended_at, end_reason, events"
_CALLBACK_COLUMNS = "callback_id, session_id, due, reason, busy, requested_at, status"


def _session(row: Row) -> SessionInfo:
    return SessionInfo(
        session_id=row[0],
        flow_id=row[1],
        version=row[2],
        routing=None if row[3] is None else json.loads(row[3]),
        started_at=row[4],
        ended_at=row[5],
        end_reason=row[6],
        events=row[7],
    )


def _callback(row: Row) -> Callback:
    return Callback(
        callback_id=row[0],
        session_id=row[1],
        when=row[2],
        reason=row[3],
        busy=bool(row[4]),
        requested_at=row[5],
        status=row[6],
    )


class SessionsMixin(TenantPart):
    """The session half of :class:`SQLiteTenantStore`."""

    _events: EventWriter

    if TYPE_CHECKING:

        def _unknown_flow(self, flow_id: str) -> NotFound: ...

    def _unknown_session(self, session_id: str) -> NotFound:
        return NotFound(f"Unknown session `{session_id}` for tenant `{self._tenant_id}`")

    async def start_session(
        self,
        flow_id: str,
        version: int | None = None,
        *,
        session_id: str | None = None,
        routing: Any = None,
    ) -> SessionInfo:
        session_id = check_id("session", session_id or uuid.uuid4().hex)
        routing_text = None if routing is None else msgspec.json.encode(routing).decode()
        now = self._clock()
        key = (self._tenant_id, flow_id)
        async with self._w.transaction() as tx:
            row = await tx.one(
                "SELECT max_concurrent_sessions FROM tenants WHERE tenant_id = ?",
                (self._tenant_id,),
            )
            if row is None:
                await self._require_tenant(tx)
            assert row is not None
            limit = row[0]
            flow = await tx.one(
                "SELECT published FROM flows WHERE tenant_id = ? AND flow_id = ?", key
            )
            if flow is None:
                raise self._unknown_flow(flow_id)
            if version is None:
                version = flow[0]
                if version is None:
                    raise NotFound(
                        f"Flow `{flow_id}` of tenant `{self._tenant_id}` has no published "
                        "version to start a session on"
                    )
            elif not await tx.one(
                "SELECT 1 FROM flow_versions WHERE tenant_id = ? AND flow_id = ? AND version = ?",
                (*key, version),
            ):
                raise NotFound(
                    f"Flow `{flow_id}` of tenant `{self._tenant_id}` has no version {version}"
                )
            if limit is not None:
                running = await tx.one(
                    "SELECT count(*) FROM sessions WHERE tenant_id = ? AND ended_at IS NULL",
                    (self._tenant_id,),
                )
                assert running is not None
                if running[0] >= limit:
                    raise SessionLimitReached(
                        f"Tenant `{self._tenant_id}` already runs {running[0]} sessions, its "
                        f"limit; end one, or raise the limit with `flowctl tenants set-limits "
                        f"{self._tenant_id} --max-sessions N`"
                    )
            if await tx.one(
                "SELECT 1 FROM sessions WHERE tenant_id = ? AND session_id = ?",
                (self._tenant_id, session_id),
            ):
                raise AlreadyExists(f"Session `{session_id}` already exists")
            await tx.run(
                "INSERT INTO sessions (tenant_id, session_id, flow_id, version, routing, "
                "started_at) VALUES (?, ?, ?, ?, ?, ?)",
                (self._tenant_id, session_id, flow_id, version, routing_text, now),
            )
        return SessionInfo(
            session_id=session_id,
            flow_id=flow_id,
            version=version,
            routing=None if routing_text is None else json.loads(routing_text),
            started_at=now,
        )

    async def append_events(self, session_id: str, events: Sequence[Event | Turn]) -> int:
        """Written with the batches of other sessions that arrive meanwhile, in one
        transaction (see ``sqlite_events``)."""
        rows = [encode_event(e) for e in events]
        return await self._events.append(self._tenant_id, session_id, rows)

    async def end_session(self, session_id: str, *, reason: str) -> SessionInfo:
        """Mark the session ended; ending it again changes nothing (the first reason
        stays), so a worker that ends a session twice on shutdown does no harm."""
        now = self._clock()
        async with self._w.transaction() as tx:
            row = await tx.one(
                "SELECT ended_at FROM sessions WHERE tenant_id = ? AND session_id = ?",
                (self._tenant_id, session_id),
            )
            if row is None:
                raise self._unknown_session(session_id)
            if row[0] is None:
                await tx.run(
                    "UPDATE sessions SET ended_at = ?, end_reason = ? "
                    "WHERE tenant_id = ? AND session_id = ?",
                    (now, reason, self._tenant_id, session_id),
                )
        return await self.session(session_id)

    async def session(self, session_id: str) -> SessionInfo:
        row = await self._r.one(
            f"SELECT {_SESSION_COLUMNS} FROM sessions WHERE tenant_id = ? AND session_id = ?",
            (self._tenant_id, session_id),
        )
        if row is None:
            raise self._unknown_session(session_id)
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
            f"SELECT {_SESSION_COLUMNS} FROM sessions WHERE {' AND '.join(where)} "
            "ORDER BY started_at DESC, session_id LIMIT ?",
            (*params, limit),
        )
        return [_session(r) for r in rows]

    async def active_sessions(self) -> int:
        """How many sessions are running (started, not ended): what
        ``max_concurrent_sessions`` counts."""
        await self._require_tenant(self._r)
        row = await self._r.one(
            "SELECT count(*) FROM sessions WHERE tenant_id = ? AND ended_at IS NULL",
            (self._tenant_id,),
        )
        assert row is not None
        return int(row[0])

    async def events(self, session_id: str) -> list[Event | Turn]:
        async with self._r.transaction("BEGIN") as tx:
            if not await tx.one(
                "SELECT 1 FROM sessions WHERE tenant_id = ? AND session_id = ?",
                (self._tenant_id, session_id),
            ):
                raise self._unknown_session(session_id)
            rows = await tx.all(
                "SELECT body FROM session_events WHERE tenant_id = ? AND session_id = ? "
                "ORDER BY seq",
                (self._tenant_id, session_id),
            )
        return [decode_event(r[0]) for r in rows]

    # --- callbacks ----------------------------------------------------------------------

    async def schedule_callback(
        self, session_id: str, *, when: str | None, reason: str | None = None, busy: bool = False
    ) -> Callback:
        now = self._clock()
        async with self._w.transaction() as tx:
            if not await tx.one(
                "SELECT 1 FROM sessions WHERE tenant_id = ? AND session_id = ?",
                (self._tenant_id, session_id),
            ):
                raise self._unknown_session(session_id)
            callback_id = await tx.insert(
                "INSERT INTO callbacks (tenant_id, session_id, due, reason, busy, requested_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (self._tenant_id, session_id, when, reason, int(busy), now),
            )
        return Callback(
            callback_id=callback_id,
            session_id=session_id,
            when=when,
            reason=reason,
            busy=busy,
            requested_at=now,
        )

    async def callbacks(self, *, status: str | None = "pending") -> list[Callback]:
        await self._require_tenant(self._r)
        where, params = "tenant_id = ?", [self._tenant_id]
        if status is not None:
            where += " AND status = ?"
            params.append(status)
        rows = await self._r.all(
            f"SELECT {_CALLBACK_COLUMNS} FROM callbacks WHERE {where} "
            "ORDER BY requested_at, callback_id",
            params,
        )
        return [_callback(r) for r in rows]

    async def set_callback_status(self, callback_id: int, status: str, *, actor: str) -> Callback:
        if status not in CALLBACK_STATUSES:
            allowed = ", ".join(f"`{s}`" for s in CALLBACK_STATUSES)
            raise StoreError(f"Unknown callback status `{status}`; expected one of {allowed}")
        check_actor(actor)
        now = self._clock()
        async with self._w.transaction() as tx:
            row = await tx.one(
                f"SELECT {_CALLBACK_COLUMNS} FROM callbacks "
                "WHERE tenant_id = ? AND callback_id = ?",
                (self._tenant_id, callback_id),
            )
            if row is None:
                raise NotFound(f"Unknown callback {callback_id} for tenant `{self._tenant_id}`")
            await tx.run(
                "UPDATE callbacks SET status = ? WHERE tenant_id = ? AND callback_id = ?",
                (status, self._tenant_id, callback_id),
            )
            detail = {"status": status, "previous": row[6]}
            await audit(
                tx, self._tenant_id, actor, "callback.status", str(callback_id), detail, now
            )
        return msgspec.structs.replace(_callback(row), status=status)  # type: ignore[arg-type]
