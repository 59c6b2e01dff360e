"""``flowctl tenants policy`` (what the operator grants a tenant's flows) and ``flowctl
secrets`` (a tenant's secrets: set, rotated, listed by name, deleted; never shown).
See docs/security.md."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import click

from flowctl.cli.exits import Failure
from flowctl.cli.store_common import (
    actor_option,
    echo_json,
    listing,
    run,
    store_option,
    tenant_command,
    tenant_option,
    with_tenant,
)
from flowctl.cli.timeline import format_time

if TYPE_CHECKING:
    from flowctl.engine.store import SecretInfo, TenantStore

__all__ = ["policy", "secrets"]


def _edit(current: list[str], add: tuple[str, ...], remove: tuple[str, ...]) -> list[str]:
    kept = [v for v in current if v not in remove]
    return kept + [v for v in dict.fromkeys(add) if v not in kept]


def _show_policy(p: Any) -> None:
    def listed(values: list[str]) -> str:
        return ", ".join(values) if values else "none"

    click.echo(f"tools             {listed(p.tools)}")
    click.echo(f"egress hosts      {listed(p.egress_hosts)}")
    click.echo(f"transfer to       {listed(p.transfer_to)}")
    click.echo(f"max versions      {p.max_versions:,}")
    click.echo(f"max stored bytes  {p.max_stored_bytes:,}")


@click.command()
@click.option("--grant-tool", multiple=True, metavar="NAME", help="Grant a catalog tool.")
@click.option("--revoke-tool", multiple=True, metavar="NAME", help="Take a catalog tool back.")
@click.option("--allow-host", multiple=True, metavar="HOST", help="Let http tools call HOST.")
@click.option("--deny-host", multiple=True, metavar="HOST", help="Take HOST off the allowlist.")
@click.option(
    "--allow-transfer", multiple=True, metavar="DEST", help="Let calls go to a number or SIP URI."
)
@click.option("--deny-transfer", multiple=True, metavar="DEST", help="Take a destination back.")
@click.option("--max-versions", type=click.IntRange(min=1), help="Most versions it may keep.")
@click.option("--max-stored-bytes", type=click.IntRange(min=1), help="Most bytes of flows.")
@click.option("--reset", is_flag=True, help="Start from the default policy (nothing granted).")
@tenant_command(actor=True, fmt=True, argument=True)
async def policy(
    t: TenantStore,
    grant_tool: tuple[str, ...],
    revoke_tool: tuple[str, ...],
    allow_host: tuple[str, ...],
    deny_host: tuple[str, ...],
    allow_transfer: tuple[str, ...],
    deny_transfer: tuple[str, ...],
    max_versions: int | None,
    max_stored_bytes: int | None,
    reset: bool,
    tenant: str,
    actor: str,
    fmt: str,
) -> None:
    """Show or change what TENANT's flows may use: catalog tools (the operator's python
    functions, by name), hosts their http tools may call, numbers and SIP URIs calls
    may be transferred to, and how much they may keep in the store. With no option,
    show it."""
    import msgspec

    from flowctl.engine.boundary import TenantPolicy

    changes = (grant_tool, revoke_tool, allow_host, deny_host, allow_transfer, deny_transfer)
    changing = reset or any(changes) or max_versions is not None or max_stored_bytes is not None

    current = (await t.info()).policy
    if changing:
        base = TenantPolicy() if reset else current
        wanted = {
            "tools": _edit(base.tools, grant_tool, revoke_tool),
            "egress_hosts": _edit(base.egress_hosts, allow_host, deny_host),
            "transfer_to": _edit(base.transfer_to, allow_transfer, deny_transfer),
            "max_versions": max_versions or base.max_versions,
            "max_stored_bytes": max_stored_bytes or base.max_stored_bytes,
        }
        try:
            new = msgspec.convert(wanted, TenantPolicy)
        except msgspec.ValidationError as exc:
            raise Failure(f"Invalid policy for tenant `{tenant}`: {exc}") from exc
        current = (await t.set_policy(new, actor=actor)).policy
    if fmt == "json":
        echo_json(current)
    else:
        _show_policy(current)


@click.group()
def secrets() -> None:
    """A tenant's secrets: what `${NAME}` and `api_key_env` mean in its flows. Values
    are write-only: set and rotated here, never shown."""


@secrets.command(name="list")
@tenant_command(fmt=True)
async def list_secrets(t: TenantStore, tenant: str, fmt: str) -> None:
    """The tenant's secrets by name, and when each changed."""

    def row(s: SecretInfo) -> list[str]:
        return [s.name, format_time(s.updated_at), s.updated_by]

    empty = f"Tenant {tenant} has no secrets"
    listing(await t.secrets(), fmt, ["NAME", "UPDATED", "BY"], row, empty=empty)


def _read_value(name: str) -> str:
    """The secret's value: typed at a hidden prompt on a terminal, else standard input
    (one value; a trailing newline is dropped)."""
    if sys.stdin.isatty():
        return str(click.prompt(f"Value of {name}", hide_input=True, confirmation_prompt=True))
    value = sys.stdin.read()
    return value[:-1] if value.endswith("\n") else value


@secrets.command(name="set")
@click.argument("name")
@tenant_option
@actor_option
@store_option
@run
async def set_secret(name: str, tenant: str, actor: str, url: str) -> None:
    """Set or rotate secret NAME; the value is read from a hidden prompt, or from
    standard input (`printf %s "$TOKEN" | flowctl secrets set -t acme CRM_TOKEN`), never
    from the command line, where other users and shell history would see it."""
    value = _read_value(name)

    async def body(t: TenantStore) -> None:
        info = await t.set_secret(name, value, actor=actor)
        verb = "set" if info.created_at == info.updated_at else "rotated"
        click.echo(f"Secret {name} of tenant {tenant} {verb}")

    await with_tenant(url, tenant, body)


@secrets.command(name="delete")
@click.argument("name")
@tenant_command(actor=True)
async def delete_secret(t: TenantStore, name: str, tenant: str, actor: str) -> None:
    """Delete secret NAME."""
    await t.delete_secret(name, actor=actor)
    click.echo(f"Secret {name} of tenant {tenant} deleted")
