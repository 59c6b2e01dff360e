"""``flowctl webhooks``: where a tenant's calls' events are posted (docs/webhooks.md).

Subscribe a URL (its signing secret is printed once), list and delete subscriptions,
list deliveries and replay one; ``deliver`` runs the deliverer on its own (``flowctl
serve`` runs one unless ``--no-webhooks``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from flowctl.cli.store_common import listing, run, store_option, tenant_command, with_store
from flowctl.cli.timeline import format_time

if TYPE_CHECKING:
    from flowctl.engine.store import Delivery, Store, TenantStore, Webhook

__all__ = ["webhooks"]

_STATUSES = ["pending", "delivering", "delivered", "dead", "all"]


def _hook_row(h: Webhook) -> list[str]:
    return [h.webhook_id, h.url, ",".join(h.events), h.created_by, format_time(h.created_at)]


def _delivery_row(d: Delivery) -> list[str]:
    return [
        d.delivery_id,
        d.event,
        d.status,
        str(d.attempts),
        d.session_id or "-",
        format_time(d.created_at),
        d.last_error or "-",
    ]


@click.group()
def webhooks() -> None:
    """Webhooks: the tenant's calls' events posted to its own URLs, signed."""


@webhooks.command()
@click.argument("hook_url", metavar="URL")
@click.option(
    "--event",
    "events",
    multiple=True,
    metavar="EVENT",
    help="An event to send (repeat it); default: every one. See docs/webhooks.md.",
)
@tenant_command(actor=True)
async def create(
    t: TenantStore, hook_url: str, events: tuple[str, ...], tenant: str, actor: str
) -> None:
    """Subscribe URL (https, on the tenant's egress allowlist) to the tenant's events.
    Prints the signing secret: shown this once, keep it where the receiver reads it."""
    hook, secret = await t.create_webhook(hook_url, list(events) or ["*"], actor=actor)
    click.echo(f"Created webhook {hook.webhook_id} for {hook.url}: {', '.join(hook.events)}")
    click.echo(f"Signing secret (shown once): {secret}")


@webhooks.command(name="list")
@tenant_command(fmt=True)
async def list_webhooks(t: TenantStore, tenant: str, fmt: str) -> None:
    """The tenant's subscriptions (never their secrets)."""
    header = ["ID", "URL", "EVENTS", "BY", "CREATED"]
    listing(await t.webhooks(), fmt, header, _hook_row, empty=f"No webhooks for tenant `{tenant}`")


@webhooks.command()
@click.argument("webhook_id", metavar="ID")
@tenant_command(actor=True)
async def delete(t: TenantStore, webhook_id: str, tenant: str, actor: str) -> None:
    """Unsubscribe webhook ID; what still waited to be sent to it is left dead."""
    hook = await t.delete_webhook(webhook_id, actor=actor)
    click.echo(f"Deleted webhook {hook.webhook_id} ({hook.url})")


@webhooks.command()
@click.option("--status", type=click.Choice(_STATUSES), default="all", show_default=True)
@click.option("--limit", type=click.IntRange(min=1), default=100, show_default=True)
@tenant_command(fmt=True)
async def deliveries(t: TenantStore, status: str, limit: int, tenant: str, fmt: str) -> None:
    """The tenant's deliveries, newest first: event, status, attempts, the last error."""
    found = await t.deliveries(status=None if status == "all" else status, limit=limit)
    header = ["ID", "EVENT", "STATUS", "ATTEMPTS", "SESSION", "CREATED", "LAST ERROR"]
    which = "" if status == "all" else f"{status} "
    listing(found, fmt, header, _delivery_row, empty=f"No {which}deliveries for tenant `{tenant}`")


@webhooks.command()
@click.argument("delivery_id", metavar="ID")
@tenant_command(actor=True)
async def replay(t: TenantStore, delivery_id: str, tenant: str, actor: str) -> None:
    """Send delivery ID again now (a dead one, or one the receiver lost), under the same
    event id, its attempts counted from zero."""
    d = await t.replay_delivery(delivery_id, actor=actor)
    click.echo(f"Delivery {d.delivery_id} ({d.event}) will be sent again")


@webhooks.command()
@click.option("--once", is_flag=True, help="Deliver what is due now, then exit.")
@store_option
@run
async def deliver(once: bool, url: str) -> None:
    """Deliver every tenant's webhooks from the store until stopped (Ctrl-C): what is
    due at once, then every second. Several may run against one store."""
    import asyncio
    import contextlib

    from flowctl.worker.webhooks import Deliverer

    async def body(store: Store) -> None:
        deliverer = Deliverer(store)
        try:
            if once:
                total = 0
                while attempted := await deliverer.run_once():
                    total += attempted
                click.echo(f"{total} deliveries attempted", err=True)
                return
            stop = asyncio.Event()
            with contextlib.suppress(asyncio.CancelledError):
                await deliverer.run(stop)
        finally:
            await deliverer.aclose()

    await with_store(url, body)
