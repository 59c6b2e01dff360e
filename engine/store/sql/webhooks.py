"""Webhooks in the store: a tenant's subscriptions (created, listed, deleted, each
audited) and its deliveries (listed, replayed). What is sent and how it is signed:
``flowctl.engine.webhooks``; the outbox the deliveries wait in, and the deliverers'
claims: ``flowctl.engine.store.sql.outbox``.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from typing import Any

import msgspec

from flowctl.engine.egress import EgressPolicy, EgressRefused, check_url
from flowctl.engine.store.documents import check_actor
from flowctl.engine.store.errors import NotFound, StoreError
from flowctl.engine.store.records import Delivery, Webhook
from flowctl.engine.store.sql.db import audit
from flowctl.engine.store.sql.outbox import delivery_record
from flowctl.engine.store.sql.part import TenantPart
from flowctl.engine.store.sql.rows import columns, json_value, policy_value, record
from flowctl.engine.webhooks import check_events, new_secret

__all__ = ["MAX_WEBHOOKS", "Webhooks"]

# Per tenant: a CRM, a data warehouse, an alerting hook... not hundreds.
MAX_WEBHOOKS = 20
MAX_URL = 2048
_WEBHOOK = columns(Webhook)
_DELIVERY = columns(Delivery)
_json = msgspec.json.Encoder()


def _webhook(row: Any) -> Webhook:
    return record(Webhook, row, events=json_value)


class Webhooks(TenantPart):
    """The webhooks part of :class:`~flowctl.engine.store.sql.tenant.SQLTenantStore`."""

    async def create_webhook(
        self, url: str, events: Sequence[str], *, actor: str
    ) -> tuple[Webhook, str]:
        """Subscribe ``url`` to ``events`` (``["*"]``: all): its record and its signing
        secret, which is shown this once. The URL must be one the tenant's http tools
        could reach (its policy's hosts, https)."""
        check_actor(actor)
        try:
            wanted = check_events(events)
        except ValueError as exc:
            raise StoreError(str(exc)) from None
        if not isinstance(url, str) or len(url) > MAX_URL:
            raise StoreError(f"A webhook URL is text of at most {MAX_URL} characters")
        now = self._clock()
        webhook_id = f"wh_{secrets.token_hex(6)}"
        secret = new_secret()
        async with self._w.transaction() as tx:
            await self._require_tenant(tx)
            row = await tx.one("SELECT policy FROM tenants WHERE tenant_id = ?", (self._tenant_id,))
            assert row is not None
            hosts = tuple(policy_value(row["policy"]).egress_hosts)
            try:
                check_url(EgressPolicy(hosts=hosts), url)
            except EgressRefused as exc:
                raise StoreError(
                    f"Webhook URL `{url}` cannot be reached: {exc.reason}. The operator "
                    f"grants hosts with `flowctl tenants policy {self._tenant_id} "
                    "--allow-host HOST`"
                ) from None
            count = await tx.one(
                "SELECT count(*) AS n FROM webhooks WHERE tenant_id = ?", (self._tenant_id,)
            )
            assert count is not None
            if int(count["n"]) >= MAX_WEBHOOKS:
                raise StoreError(
                    f"Tenant `{self._tenant_id}` has {MAX_WEBHOOKS} webhooks, the most it "
                    "may have; delete one first"
                )
            await tx.run(
                "INSERT INTO webhooks (tenant_id, webhook_id, url, events, secret, "
                "created_at, created_by) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    self._tenant_id,
                    webhook_id,
                    url,
                    _json.encode(wanted).decode(),
                    secret,
                    now,
                    actor,
                ),
            )
            detail = {"url": url, "events": wanted}
            await audit(tx, self._tenant_id, actor, "webhook.create", webhook_id, detail, now)
        hook = Webhook(
            webhook_id=webhook_id, url=url, events=wanted, created_at=now, created_by=actor
        )
        return hook, secret

    async def webhooks(self) -> list[Webhook]:
        await self._require_tenant(self._r)
        rows = await self._r.all(
            f"SELECT {_WEBHOOK} FROM webhooks WHERE tenant_id = ? ORDER BY created_at, webhook_id",
            (self._tenant_id,),
        )
        return [_webhook(r) for r in rows]

    async def delete_webhook(self, webhook_id: str, *, actor: str) -> Webhook:
        """Unsubscribe: nothing more is queued for it, and what still waited to be sent
        is left ``dead``, with the reason."""
        check_actor(actor)
        now = self._clock()
        async with self._w.transaction() as tx:
            row = await self._row(tx, _WEBHOOK, "webhooks", webhook_id=webhook_id)
            if row is None:
                raise self._unknown("webhook", webhook_id)
            await tx.run(
                "DELETE FROM webhooks WHERE tenant_id = ? AND webhook_id = ?",
                (self._tenant_id, webhook_id),
            )
            await tx.run(
                "UPDATE webhook_deliveries SET status = 'dead', last_error = ? "
                "WHERE tenant_id = ? AND webhook_id = ? AND status IN ('pending', 'delivering')",
                ("the webhook was deleted", self._tenant_id, webhook_id),
            )
            await audit(tx, self._tenant_id, actor, "webhook.delete", webhook_id, None, now)
        return _webhook(row)

    async def deliveries(self, *, status: str | None = None, limit: int = 100) -> list[Delivery]:
        """The newest deliveries first; ``status``: only those in it."""
        await self._require_tenant(self._r)
        where, params = "tenant_id = ?", [self._tenant_id]
        if status is not None:
            _check_status(status)
            where += " AND status = ?"
            params.append(status)
        rows = await self._r.all(
            f"SELECT {_DELIVERY} FROM webhook_deliveries WHERE {where} "
            "ORDER BY created_at DESC, delivery_id LIMIT ?",
            (*params, limit),
        )
        return [delivery_record(r) for r in rows]

    async def replay_delivery(self, delivery_id: str, *, actor: str) -> Delivery:
        """Send a delivery again (a dead one, or a delivered one the receiver lost), now,
        with its attempts counted from zero and the same event id."""
        check_actor(actor)
        now = self._clock()
        async with self._w.transaction() as tx:
            row = await self._row(tx, _DELIVERY, "webhook_deliveries", delivery_id=delivery_id)
            if row is None:
                raise NotFound(
                    f"Unknown webhook delivery `{delivery_id}` for tenant `{self._tenant_id}`"
                )
            found = delivery_record(row)
            if await self._row(tx, "1", "webhooks", webhook_id=found.webhook_id) is None:
                raise StoreError(
                    f"Delivery `{delivery_id}` was for webhook `{found.webhook_id}`, which "
                    "was deleted; there is nowhere to send it"
                )
            await tx.run(
                "UPDATE webhook_deliveries SET status = 'pending', attempts = 0, next_at = ?, "
                "last_error = NULL, claimed_by = NULL, claimed_until = NULL "
                "WHERE tenant_id = ? AND delivery_id = ?",
                (now, self._tenant_id, delivery_id),
            )
            detail = {"status": found.status}
            await audit(tx, self._tenant_id, actor, "webhook.replay", delivery_id, detail, now)
        return msgspec.structs.replace(
            found, status="pending", attempts=0, next_at=now, last_error=None
        )


def _check_status(status: str) -> None:
    statuses = ("pending", "delivering", "delivered", "dead")
    if status not in statuses:
        raise StoreError(
            f"Unknown delivery status `{status}`; expected one of "
            + ", ".join(f"`{s}`" for s in statuses)
        )
