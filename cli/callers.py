"""``flowctl callers``: what a tenant's store holds about its callers. What its flows
remember about each (``list``, ``show``), memory past its retention deleted now
(``purge``), and a data-protection request carried out: everything about one caller
deleted (``forget``), audited under ``--actor``."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import click

from flowctl.cli.store_common import echo_json, listing, tenant_command
from flowctl.cli.timeline import format_time

if TYPE_CHECKING:
    from flowctl.engine.store import CallerMemory, TenantStore

__all__ = ["callers"]


def _row(m: CallerMemory) -> list[str]:
    return [
        m.caller,
        str(m.calls),
        format_time(m.updated_at),
        m.flow_id,
        m.outcome or "-",
        format_time(m.expires_at),
        ", ".join(m.variables) or "-",
    ]


def _count(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


@click.group()
def callers() -> None:
    """What the tenant's store holds about callers: what its flows remember, and
    forgetting a caller on request."""


@callers.command(name="list")
@click.option("--limit", type=click.IntRange(min=1), default=100, show_default=True)
@tenant_command(fmt=True)
async def list_callers(t: TenantStore, limit: int, tenant: str, fmt: str) -> None:
    """The callers remembered, the latest called first: how many calls, the last one's
    end, flow and OUTCOME, when the memory EXPIRES, and the variables it holds."""
    found = await t.memories(limit=limit)
    header = ["CALLER", "CALLS", "LAST CALL", "FLOW", "OUTCOME", "EXPIRES", "REMEMBERED"]
    listing(found, fmt, header, _row, empty=f"No callers remembered for tenant `{tenant}`")


@callers.command()
@click.argument("caller", metavar="CALLER")
@tenant_command(fmt=True)
async def show(t: TenantStore, caller: str, tenant: str, fmt: str) -> None:
    """What is remembered about CALLER (a phone number, or a user id): each value, the
    last summary, and how their last call went."""
    from flowctl.engine.store import NotFound

    found = await t.recall(caller)
    if found is None:
        raise NotFound(f"Nothing is remembered about caller `{caller}` for tenant `{tenant}`")
    if fmt == "json":
        echo_json(found)
        return
    click.echo(f"caller     {found.caller}")
    first, last = format_time(found.first_at), format_time(found.updated_at)
    click.echo(f"calls      {found.calls} (first {first}, last {last})")
    session = f" (session {found.session_id})" if found.session_id else ""
    click.echo(f"last call  {found.flow_id}{session}, {found.outcome or 'outcome unknown'}")
    click.echo(f"expires    {format_time(found.expires_at)}")
    if found.summary:
        click.echo(f"summary    {found.summary}")
    if found.variables:
        click.echo("remembered")
        width = max(len(name) for name in found.variables)
        for name, value in found.variables.items():
            click.echo(f"  {name.ljust(width)}  {json.dumps(value, ensure_ascii=False)}")


@callers.command()
@click.argument("caller", metavar="CALLER")
@tenant_command(actor=True)
async def forget(t: TenantStore, caller: str, tenant: str, actor: str) -> None:
    """Delete everything the tenant's store holds about CALLER (a data-protection
    request): what is remembered about them; every session they called in, with its
    transcript, variables, tool calls and summary; their callbacks; and the webhook
    deliveries of those sessions. Audited under a digest of the caller id. Exit 1 while
    one of their calls is running."""
    gone = await t.forget_caller(caller, actor=actor)
    parts = [
        *(["their memory"] if gone.memory else []),
        *([_count(gone.sessions, "session", "sessions")] if gone.sessions else []),
        *([_count(gone.callbacks, "callback", "callbacks")] if gone.callbacks else []),
        *(
            [_count(gone.deliveries, "webhook delivery", "webhook deliveries")]
            if gone.deliveries
            else []
        ),
    ]
    if not parts:
        click.echo(f"Nothing was held about caller {caller}; the request is noted in the audit log")
        return
    listed = ", ".join(parts[:-1]) + " and " + parts[-1] if len(parts) > 1 else parts[0]
    click.echo(f"Forgot caller {caller}: deleted {listed}")


@callers.command()
@tenant_command(actor=True)
async def purge(t: TenantStore, tenant: str, actor: str) -> None:
    """Delete every memory past its retention now (the next call would not read it, and
    the next memory written deletes it anyway)."""
    count = await t.purge_memory(actor=actor)
    click.echo(f"Purged {_count(count, 'expired memory', 'expired memories')} of tenant {tenant}")
