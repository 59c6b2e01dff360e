"""``flowctl keys``: the API keys of ``flowctl serve`` (docs/api.md), per tenant."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from flowctl.cli.store_common import listing, tenant_command
from flowctl.cli.timeline import format_time

if TYPE_CHECKING:
    from flowctl.engine.store import ApiKey, TenantStore

__all__ = ["keys"]


@click.group()
def keys() -> None:
    """API keys for the admin HTTP API: create, list, revoke."""


@keys.command()
@click.option(
    "--role",
    type=click.Choice(["admin", "developer", "viewer"]),
    required=True,
    help="viewer: read; developer: also change flows and mint tokens; admin: also routing "
    "and keys.",
)
@click.option("--name", default="", help="What the key is for (shown in listings).")
@tenant_command(actor=True)
async def create(t: TenantStore, role: str, name: str, tenant: str, actor: str) -> None:
    """Create a key for the tenant and print it (once: the store keeps only its hash)."""
    record, key = await t.create_key(role, actor=actor, name=name)
    click.echo(key)
    label = f" ({name})" if name else ""
    click.echo(
        f"Created {role} key {record.key_id}{label} for tenant {tenant}. It is shown "
        "once: keep it now; the store keeps only its hash",
        err=True,
    )


@keys.command(name="list")
@tenant_command(fmt=True)
async def list_keys(t: TenantStore, tenant: str, fmt: str) -> None:
    """The tenant's keys (ids, roles, names; never the keys), oldest first."""

    def row(k: ApiKey) -> list[str]:
        revoked = "-" if k.revoked_at is None else f"{format_time(k.revoked_at)} by {k.revoked_by}"
        return [k.key_id, k.role, k.name or "-", format_time(k.created_at), k.created_by, revoked]

    header = ["KEY", "ROLE", "NAME", "CREATED", "BY", "REVOKED"]
    empty = f"No keys for tenant `{tenant}`; create one with `flowctl keys create`"
    listing(await t.keys(), fmt, header, row, empty=empty)


@keys.command()
@click.argument("key_id", metavar="KEY_ID")
@tenant_command(actor=True)
async def revoke(t: TenantStore, key_id: str, tenant: str, actor: str) -> None:
    """Revoke a key by its id (fk_...): every request made with it is refused from now on."""
    await t.revoke_key(key_id, actor=actor)
    click.echo(f"Revoked key {key_id}")
