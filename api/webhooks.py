"""``/api/v1/webhooks``: where the tenant's calls' events are posted (docs/webhooks.md).

Subscriptions are listed by viewers and made or deleted by admins (a subscription sends
call transcripts out of the platform); a new one's signing secret is in the answer once.
Deliveries (the outbox) are listed by viewers and replayed by developers."""

from __future__ import annotations

from typing import Annotated, Literal

from litestar import Controller, get, post
from litestar.params import Parameter

from flowctl.api.auth import Caller
from flowctl.api.errors import responses
from flowctl.api.models import NewWebhook, WebhookCreate
from flowctl.engine.store import Delivery, Webhook

__all__ = ["WebhooksController"]

READ = {"need": "viewer"}
ADMIN = {"need": "admin"}
Id = Annotated[str, Parameter(max_length=64)]


class WebhooksController(Controller):
    path = "/webhooks"
    tags = ("webhooks",)

    @get("/", opt=READ, responses=responses(401, 403))
    async def list_webhooks(self, caller: Caller) -> list[Webhook]:
        """The tenant's subscriptions (never their secrets)."""
        return await caller.tenant.webhooks()

    @post("/", opt=ADMIN, responses=responses(400, 401, 403, 413, 422))
    async def create_webhook(self, caller: Caller, data: WebhookCreate) -> NewWebhook:
        """Subscribe a URL (on the tenant's egress allowlist, https) to events."""
        hook, secret = await caller.tenant.create_webhook(data.url, data.events, actor=caller.actor)
        return NewWebhook(webhook=hook, secret=secret)

    @post(
        "/{webhook_id:str}/delete", opt=ADMIN, status_code=200, responses=responses(401, 403, 404)
    )
    async def delete_webhook(self, caller: Caller, webhook_id: Id) -> Webhook:
        """Unsubscribe; what still waited to be sent to it is left `dead`."""
        return await caller.tenant.delete_webhook(webhook_id, actor=caller.actor)

    @get("/deliveries", opt=READ, responses=responses(400, 401, 403))
    async def list_deliveries(
        self,
        caller: Caller,
        status: Annotated[
            Literal["pending", "delivering", "delivered", "dead", "all"],
            Parameter(description="Only deliveries with this status (default: all)."),
        ] = "all",
        limit: Annotated[int, Parameter(ge=1, le=500)] = 100,
    ) -> list[Delivery]:
        """The newest deliveries first: event, payload, attempts, the last error."""
        return await caller.tenant.deliveries(
            status=None if status == "all" else status, limit=limit
        )

    @post(
        "/deliveries/{delivery_id:str}/replay",
        opt={"need": "developer"},
        status_code=200,
        responses=responses(400, 401, 403, 404),
    )
    async def replay(self, caller: Caller, delivery_id: Id) -> Delivery:
        """Send a delivery again now (a dead one, or one the receiver lost), under the
        same event id, its attempts counted from zero."""
        return await caller.tenant.replay_delivery(delivery_id, actor=caller.actor)
