"""The webhook outbox: events put in it inside the transaction that records what they
tell of (:func:`enqueue`), and the deliverers' claims (:func:`claim`, :func:`finish`).
See ``flowctl.engine.store.sql.webhooks`` for the subscriptions, and
``flowctl.engine.webhooks`` for what is sent.

One row per event per subscription that wants it: committed with its cause or not at
all, so a crash loses no event and sends none that did not happen. A deliverer claims
rows for a lease; one that dies mid-POST leaves them to be claimed again when the
lease lapses (delivery is at least once, under the same event id).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from typing import Any

import msgspec

from flowctl.engine.store.records import Delivery, Outbound
from flowctl.engine.store.sql.db import Db, Tx
from flowctl.engine.store.sql.rows import json_value, policy_value, record
from flowctl.engine.webhooks import MAX_ATTEMPTS

__all__ = ["claim", "delivery_record", "enqueue", "finish", "subscribers", "wants"]

_json = msgspec.json.Encoder()


def delivery_record(row: Any) -> Delivery:
    return record(Delivery, row, payload=json_value)


async def subscribers(tx: Tx, tenant_ids: Iterable[str]) -> dict[str, list[tuple[str, list[str]]]]:
    """Each tenant's subscriptions: (webhook id, events), by tenant."""
    wanted = sorted(set(tenant_ids))
    marks = ", ".join("?" for _ in wanted)
    rows = await tx.all(
        f"SELECT tenant_id, webhook_id, events FROM webhooks WHERE tenant_id IN ({marks}) "
        "ORDER BY webhook_id",
        wanted,
    )
    found: dict[str, list[tuple[str, list[str]]]] = {}
    for r in rows:
        found.setdefault(r["tenant_id"], []).append((r["webhook_id"], json_value(r["events"])))
    return found


async def enqueue(
    tx: Tx,
    items: Sequence[tuple[str, str | None, str, Any]],
    now: float,
    hooks: dict[str, list[tuple[str, list[str]]]] | None = None,
) -> int:
    """Put events in the outbox, in ``tx``: each item is (tenant id, session id, event,
    payload), queued once for every subscription of its tenant that wants it
    (``hooks``: the tenants' subscriptions, if already read). The rows queued."""
    if not items:
        return 0
    if hooks is None:
        hooks = await subscribers(tx, (tenant for tenant, _, _, _ in items))
    rows = []
    for tenant_id, session_id, event, payload in items:
        body = _json.encode(payload).decode()
        for webhook_id, events in hooks.get(tenant_id, ()):
            if event in events:
                delivery_id = f"evt_{uuid.uuid4().hex}"
                rows.append((tenant_id, delivery_id, webhook_id, event, session_id, body, now, now))
    if rows:
        await tx.many(
            "INSERT INTO webhook_deliveries (tenant_id, delivery_id, webhook_id, event, "
            "session_id, payload, created_at, next_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
    return len(rows)


async def wants(tx: Tx, tenant_id: str, event: str) -> bool:
    """Whether any subscription of the tenant wants ``event`` (so a costly payload is
    built only then)."""
    hooks = await subscribers(tx, [tenant_id])
    return any(event in events for _, events in hooks.get(tenant_id, ()))


async def claim(db: Db, *, holder: str, now: float, limit: int, lease: float) -> list[Outbound]:
    """Up to ``limit`` deliveries that are due (pending and past ``next_at``, or claimed
    by a deliverer whose lease lapsed), claimed for ``holder`` until ``now + lease``."""
    async with db.transaction() as tx:
        rows = await tx.all(
            f"SELECT d.tenant_id AS owner, {_qualified('d', Delivery)}, w.url AS url, "
            "w.secret AS secret, t.policy AS policy FROM webhook_deliveries d "
            "JOIN webhooks w ON w.tenant_id = d.tenant_id AND w.webhook_id = d.webhook_id "
            "JOIN tenants t ON t.tenant_id = d.tenant_id "
            "WHERE (d.status = 'pending' AND d.next_at <= ?) "
            "OR (d.status = 'delivering' AND d.claimed_until < ?) "
            "ORDER BY d.next_at, d.delivery_id LIMIT ?",
            (now, now, limit),
        )
        if not rows:
            return []
        await tx.many(
            "UPDATE webhook_deliveries SET status = 'delivering', claimed_by = ?, "
            "claimed_until = ? WHERE tenant_id = ? AND delivery_id = ?",
            [(holder, now + lease, r["owner"], r["delivery_id"]) for r in rows],
        )
    return [
        Outbound(
            delivery=msgspec.structs.replace(delivery_record(r), status="delivering"),
            tenant_id=r["owner"],
            url=r["url"],
            secret=r["secret"],
            egress_hosts=tuple(policy_value(r["policy"]).egress_hosts),
        )
        for r in rows
    ]


def _qualified(alias: str, cls: type[msgspec.Struct]) -> str:
    return ", ".join(f"{alias}.{name} AS {name}" for name in cls.__struct_fields__)


async def finish(
    db: Db, results: Sequence[tuple[str, str, str | None, float | None]], *, holder: str, now: float
) -> None:
    """Record attempts: each (tenant id, delivery id, error or None, when to retry).
    Delivered, or pending again at the retry time, or ``dead`` after the last
    attempt. A row another deliverer claimed since (this one's lease lapsed) is left
    to it."""
    delivered = [(now, t, d, holder) for t, d, error, _ in results if error is None]
    failed = [
        (error[:500], MAX_ATTEMPTS, retry_at or now, t, d, holder)
        for t, d, error, retry_at in results
        if error is not None
    ]
    async with db.transaction() as tx:
        if delivered:
            await tx.many(
                "UPDATE webhook_deliveries SET status = 'delivered', delivered_at = ?, "
                "attempts = attempts + 1, last_error = NULL, claimed_by = NULL, "
                "claimed_until = NULL WHERE tenant_id = ? AND delivery_id = ? AND claimed_by = ?",
                delivered,
            )
        if failed:
            await tx.many(
                "UPDATE webhook_deliveries SET attempts = attempts + 1, last_error = ?, "
                "status = CASE WHEN attempts + 1 >= ? THEN 'dead' ELSE 'pending' END, "
                "next_at = ?, claimed_by = NULL, claimed_until = NULL "
                "WHERE tenant_id = ? AND delivery_id = ? AND claimed_by = ?",
                failed,
            )
