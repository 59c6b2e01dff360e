"""Callbacks in the store: what conversations promised callers, worked through.

A callback is written in the transaction that records the ``callback`` event promising
it (:func:`booked`, called by the event writer, ``sql/events.py``), so a session's
record and its callbacks never disagree, whoever recorded it: the worker, or
``flowctl simulate --record``. From then on people work through them, each move
audited::

    pending ──claim──▶ claimed ──complete──▶ done
       │                  │
       ├───complete───────┼──────────────▶ done
       └───cancel─────────┴──cancel──────▶ cancelled

Whoever claims a callback has it: no one else may claim or complete it (cancelling
stays open to anyone allowed to change the tenant's callbacks, to clear a claim left
behind). Claiming one's own claim again changes nothing; a done or cancelled callback
moves no more.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from flowctl.engine.events import CallbackPromised
from flowctl.engine.store.documents import check_actor
from flowctl.engine.store.errors import CallbackRefused, NotFound, StoreError
from flowctl.engine.store.records import Callback, CallbackStatus
from flowctl.engine.store.sql.db import Row, Tx, audit
from flowctl.engine.store.sql.outbox import enqueue
from flowctl.engine.store.sql.part import TenantPart
from flowctl.engine.store.sql.rows import columns, record

__all__ = ["CALLBACK_KIND", "CALLBACK_STATUSES", "Callbacks", "booked"]

CALLBACK_STATUSES: tuple[CallbackStatus, ...] = ("pending", "claimed", "done", "cancelled")
# The kind of event that books a callback, as the store records events.
CALLBACK_KIND = str(CallbackPromised.__struct_config__.tag)

Verb = Literal["claim", "complete", "cancel"]
# Each verb: the status it moves a callback to, and the statuses it moves one from.
_MOVES: dict[Verb, tuple[CallbackStatus, tuple[CallbackStatus, ...]]] = {
    "claim": ("claimed", ("pending",)),
    "complete": ("done", ("pending", "claimed")),
    "cancel": ("cancelled", ("pending", "claimed")),
}

_CALLBACK = columns(Callback, when="due")
_INSERT = (
    "INSERT INTO callbacks (tenant_id, session_id, caller, due, reason, details, busy, "
    "requested_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)
_promised = msgspec.json.Decoder(CallbackPromised)
_details = msgspec.json.Decoder(dict[str, Any])


def _callback(row: Row) -> Callback:
    return record(Callback, row, busy=bool, details=_details_value)


def _details_value(text: str | None) -> dict[str, Any]:
    return {} if text is None else _details.decode(text)


def _row(tenant_id: str, session_id: str, promised: CallbackPromised) -> tuple[Any, ...]:
    details = msgspec.json.encode(promised.details).decode() if promised.details else None
    return (
        tenant_id,
        session_id,
        promised.caller,
        promised.when,
        promised.reason,
        details,
        int(promised.busy),
        promised.at,
    )


async def booked(
    tx: Tx, events: list[tuple[str, str, list[tuple[str, float, bytes]]]]
) -> list[tuple[str, str | None, str, Any]]:
    """Book the callbacks that ``events`` (each ``(tenant_id, session_id, rows)``, the
    rows as the store keeps events) promise, in ``tx``: the transaction writing them.
    The ``callback.requested`` webhook event of each, for the outbox."""
    requested: list[tuple[str, str | None, str, Any]] = []
    for tenant_id, session_id, batch in events:
        for kind, _, body in batch:
            if kind != CALLBACK_KIND:
                continue
            promised = _promised.decode(body)
            row = await tx.one(
                _INSERT + " RETURNING callback_id", _row(tenant_id, session_id, promised)
            )
            assert row is not None
            requested.append(_requested(tenant_id, session_id, promised, row["callback_id"]))
    return requested


def _requested(
    tenant_id: str, session_id: str, promised: CallbackPromised, callback_id: int
) -> tuple[str, str | None, str, Any]:
    """The ``callback.requested`` webhook event of a booked callback, for the outbox."""
    data = {
        "callback_id": int(callback_id),
        "caller": promised.caller,
        "when": promised.when,
        "reason": promised.reason,
        "busy": promised.busy,
        "details": promised.details,
        "at": promised.at,
    }
    return tenant_id, session_id, "callback.requested", data


class Callbacks(TenantPart):
    """The callbacks part of :class:`~flowctl.engine.store.sql.tenant.SQLTenantStore`."""

    async def schedule_callback(
        self,
        session_id: str,
        *,
        when: str | None,
        reason: str | None = None,
        busy: bool = False,
        caller: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> Callback:
        promised = CallbackPromised(
            at=self._clock(),
            tool="handle_is_busy" if busy else "schedule_callback",
            when=when,
            reason=reason,
            busy=busy,
            caller=caller,
            details=details or {},
        )
        async with self._w.transaction() as tx:
            if await self._row(tx, "1", "sessions", session_id=session_id) is None:
                raise self._unknown("session", session_id)
            row = await tx.one(
                f"{_INSERT} RETURNING callback_id", _row(self._tenant_id, session_id, promised)
            )
            assert row is not None
            requested = _requested(self._tenant_id, session_id, promised, row["callback_id"])
            await enqueue(tx, [requested], promised.at)
            written = await self._row(tx, _CALLBACK, "callbacks", callback_id=row["callback_id"])
        assert written is not None
        return _callback(written)

    async def callbacks(
        self, *, status: CallbackStatus | None = "pending", limit: int = 100
    ) -> list[Callback]:
        if status is not None and status not in CALLBACK_STATUSES:
            allowed = ", ".join(f"`{s}`" for s in CALLBACK_STATUSES)
            raise StoreError(f"Unknown callback status `{status}`; expected one of {allowed}")
        await self._require_tenant(self._r)
        where, params = "tenant_id = ?", [self._tenant_id]
        if status is not None:
            where += " AND status = ?"
            params.append(status)
        rows = await self._r.all(
            f"SELECT {_CALLBACK} FROM callbacks WHERE {where} "
            "ORDER BY requested_at, callback_id LIMIT ?",
            (*params, limit),
        )
        return [_callback(r) for r in rows]

    async def callback(self, callback_id: int) -> Callback:
        row = await self._row(self._r, _CALLBACK, "callbacks", callback_id=callback_id)
        if row is None:
            raise self._no_callback(callback_id)
        return _callback(row)

    async def claim_callback(self, callback_id: int, *, actor: str) -> Callback:
        return await self._move_callback(callback_id, "claim", actor)

    async def complete_callback(self, callback_id: int, *, actor: str) -> Callback:
        return await self._move_callback(callback_id, "complete", actor)

    async def cancel_callback(self, callback_id: int, *, actor: str) -> Callback:
        return await self._move_callback(callback_id, "cancel", actor)

    def _no_callback(self, callback_id: int) -> NotFound:
        return NotFound(f"Unknown callback {callback_id} for tenant `{self._tenant_id}`")

    async def _move_callback(self, callback_id: int, verb: Verb, actor: str) -> Callback:
        """Move the callback as ``verb`` says (see the module's docstring), under the
        write lock, so two people claiming at once cannot both have it."""
        check_actor(actor)
        status, sources = _MOVES[verb]
        async with self._w.transaction() as tx:
            row = await self._row(tx, _CALLBACK, "callbacks", callback_id=callback_id)
            if row is None:
                raise self._no_callback(callback_id)
            found = _callback(row)
            if found.status == "claimed" and verb != "cancel":
                who = found.claimed_by
                if who == actor and verb == "claim":
                    return found  # theirs already: nothing changes
                if who != actor:
                    raise CallbackRefused(
                        f"Callback {callback_id} is already claimed by `{who}`"
                        if verb == "claim"
                        else f"Callback {callback_id} is claimed by `{who}`; only they can "
                        f"{verb} it"
                    )
            if found.status not in sources:
                raise CallbackRefused(f"Callback {callback_id} is already {found.status}")
            now = self._clock()
            if verb == "claim":
                moved = msgspec.structs.replace(
                    found, status=status, claimed_by=actor, claimed_at=now
                )
            else:
                moved = msgspec.structs.replace(
                    found, status=status, closed_by=actor, closed_at=now
                )
            await tx.run(
                "UPDATE callbacks SET status = ?, claimed_by = ?, claimed_at = ?, "
                "closed_by = ?, closed_at = ? WHERE tenant_id = ? AND callback_id = ?",
                (
                    moved.status,
                    moved.claimed_by,
                    moved.claimed_at,
                    moved.closed_by,
                    moved.closed_at,
                    self._tenant_id,
                    callback_id,
                ),
            )
            detail = {"status": status, "previous": found.status}
            await audit(
                tx, self._tenant_id, actor, f"callback.{verb}", str(callback_id), detail, now
            )
        return moved
