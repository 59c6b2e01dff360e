"""``flowctl tenants`` (create tenants, set their routing and limits) and ``flowctl
sessions`` (recorded sessions, one as a readable timeline, and reaping the abandoned)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from flowctl.cli.exits import Failure
from flowctl.cli.store_common import (
    actor_option,
    echo_json,
    format_option,
    listing,
    run,
    store_option,
    tenant_command,
    with_store,
    with_tenant,
)
from flowctl.cli.timeline import format_time, timeline

if TYPE_CHECKING:
    from flowctl.engine.store import AbandonedSession, SessionInfo, Store, Tenant, TenantStore

__all__ = ["sessions", "tenants"]


@click.group()
def tenants() -> None:
    """Tenants: create them, set their routing and limits."""


def _read_routing(path: Path | None) -> bytes | None:
    if path is None:
        return None
    try:
        return sys.stdin.buffer.read() if str(path) == "-" else path.read_bytes()
    except OSError as exc:
        raise Failure(f"Cannot read `{path}`: {exc.strerror or exc}") from exc


def _max_sessions(ctx: click.Context, param: click.Parameter, value: str | None) -> int | None:
    """``--max-sessions``: a whole number from 1, or ``none`` (no limit)."""
    if value is None or value.lower() == "none":
        return None
    if not value.isdigit() or int(value) < 1:
        raise Failure(f"`--max-sessions {value}`: give a whole number from 1, or `none`")
    return int(value)


def _show_tenant(t: Any) -> None:
    import json

    click.echo(f"tenant        {t.tenant_id}")
    if t.name:
        click.echo(f"name          {t.name}")
    click.echo(f"max sessions  {t.max_concurrent_sessions or 'no limit'}")
    if t.memory_days is not None:
        click.echo(f"memory days   {t.memory_days}")
    click.echo(f"created       {format_time(t.created_at)}")
    click.echo(f"updated       {format_time(t.updated_at)}")
    if t.routing is None:
        click.echo("routing       none")
    else:
        click.echo("routing")
        for line in json.dumps(t.routing, indent=2, ensure_ascii=False).splitlines():
            click.echo(f"  {line}")


@tenants.command(name="list")
@store_option
@format_option
@run
async def list_tenants(url: str, fmt: str) -> None:
    """Every tenant (the admin listing)."""

    def row(t: Tenant) -> list[str]:
        limit = str(t.max_concurrent_sessions or "-")
        return [t.tenant_id, t.name or "-", limit, "yes" if t.routing else "-"]

    async def body(s: Store) -> None:
        header = ["TENANT", "NAME", "MAX SESSIONS", "ROUTING"]
        empty = "No tenants; create one with `flowctl tenants create ID`"
        listing(await s.list_tenants(), fmt, header, row, empty=empty)

    await with_store(url, body)


@tenants.command()
@click.argument("tenant_id", metavar="TENANT")
@click.option("--name", default="", help="A readable name.")
@click.option(
    "--routing", type=click.Path(path_type=Path), help="Routing document (JSON; - for stdin)."
)
@click.option(
    "--max-sessions",
    callback=_max_sessions,
    help="Most sessions running at once (default: no limit).",
)
@actor_option
@store_option
@run
async def create(
    tenant_id: str, name: str, routing: Path | None, max_sessions: int | None, actor: str, url: str
) -> None:
    """Create a tenant."""
    document = _read_routing(routing)

    async def body(s: Store) -> None:
        await s.create_tenant(
            tenant_id,
            actor=actor,
            name=name,
            routing=document,
            max_concurrent_sessions=max_sessions,
        )
        click.echo(f"Created tenant {tenant_id}")

    await with_store(url, body)


@tenants.command(name="show")
@click.option("--audit", "audit", is_flag=True, help="Also the tenant's latest changes.")
@tenant_command(fmt=True, argument=True)
async def show_tenant(t: TenantStore, audit: bool, tenant: str, fmt: str) -> None:
    """A tenant's settings (and with --audit, who changed what, newest first)."""
    import json

    info = await t.info()
    entries = await t.audit(limit=50) if audit else []
    if fmt == "json":
        echo_json({"tenant": info, "audit": entries} if audit else info)
        return
    _show_tenant(info)
    if audit:
        click.echo("audit")
        for e in entries:
            detail = json.dumps(e.detail, ensure_ascii=False) if e.detail else ""
            click.echo(
                f"  {format_time(e.at)}  {e.actor}  {e.action} {e.subject} {detail}".rstrip()
            )


@tenants.command(name="set-routing")
@click.argument("tenant_id", metavar="TENANT")
@click.argument("routing", type=click.Path(path_type=Path), required=False)
@click.option("--clear", is_flag=True, help="Remove the tenant's routing.")
@actor_option
@store_option
@run
async def set_routing(
    tenant_id: str, routing: Path | None, clear: bool, actor: str, url: str
) -> None:
    """Replace a tenant's routing with the JSON document ROUTING (- for stdin)."""
    if (routing is None) == (not clear):
        raise Failure("give a ROUTING file, or --clear")
    document = _read_routing(routing)

    async def body(t: TenantStore) -> None:
        await t.set_routing(document, actor=actor)
        click.echo(f"Routing of tenant {tenant_id} {'cleared' if clear else 'updated'}")

    await with_tenant(url, tenant_id, body)


@tenants.command(name="set-limits")
@click.option(
    "--max-sessions",
    required=True,
    callback=_max_sessions,
    help="Most sessions running at once, or `none`.",
)
@tenant_command(actor=True, argument=True)
async def set_limits(t: TenantStore, max_sessions: int | None, tenant: str, actor: str) -> None:
    """Change a tenant's limits."""
    await t.set_limits(max_concurrent_sessions=max_sessions, actor=actor)
    click.echo(f"Tenant {tenant}: max sessions {max_sessions or 'no limit'}")


def _memory_days(ctx: click.Context, param: click.Parameter, value: str) -> int | None:
    """``--memory-days``: a whole number from 1, or ``none`` (no cap of the tenant's)."""
    if value.lower() == "none":
        return None
    if not value.isdigit() or int(value) < 1:
        raise Failure(f"`--memory-days {value}`: give a whole number from 1, or `none`")
    return int(value)


@tenants.command(name="set-retention")
@click.option(
    "--memory-days",
    required=True,
    callback=_memory_days,
    help="Most days a caller's memory is kept after their last call, or `none`.",
)
@tenant_command(actor=True, argument=True)
async def set_retention(t: TenantStore, memory_days: int | None, tenant: str, actor: str) -> None:
    """Cap how long the tenant keeps what its flows remember about callers. A flow's
    `memory.ttl_days` applies when shorter; memory kept now is held to a shorter cap at
    once."""
    await t.set_retention(memory_days=memory_days, actor=actor)
    kept = f"{memory_days} days at most" if memory_days else "as long as its flows say"
    click.echo(f"Tenant {tenant}: callers' memory kept {kept}")


# --- flowctl sessions -------------------------------------------------------------------


@click.group()
def sessions() -> None:
    """Recorded sessions: list them, read one as a timeline, close the abandoned."""


@sessions.command(name="list")
@click.option("--flow", "flow_id", help="Only sessions of this flow.")
@click.option("--running/--ended", default=None, help="Only running, or only ended sessions.")
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True)
@tenant_command(fmt=True)
async def list_sessions(
    t: TenantStore, flow_id: str | None, running: bool | None, limit: int, tenant: str, fmt: str
) -> None:
    """The tenant's sessions, newest first."""

    def row(s: SessionInfo) -> list[str]:
        reason = s.end_reason or ("running" if s.ended_at is None else "-")
        started, ended = format_time(s.started_at), format_time(s.ended_at)
        return [s.session_id, s.flow_id, f"v{s.version}", started, ended, reason, str(s.events)]

    found = await t.sessions(flow_id=flow_id, running=running, limit=limit)
    header = ["SESSION", "FLOW", "VERSION", "STARTED", "ENDED", "REASON", "EVENTS"]
    listing(found, fmt, header, row, empty=f"No sessions for tenant `{tenant}`")


@sessions.command(name="show")
@click.argument("session_id", metavar="SESSION")
@tenant_command(fmt=True)
async def show_session(t: TenantStore, session_id: str, tenant: str, fmt: str) -> None:
    """A recorded session as a timeline: states entered, edges fired, refusals, tool
    calls and results, what was said, structured outputs, the end."""
    info = await t.session(session_id)
    events = await t.events(session_id)
    if fmt == "json":
        echo_json({"session": info, "events": events})
        return
    for line in timeline(info, events):
        click.echo(line)


@sessions.command(name="reap")
@click.option(
    "--tenant", "-t", default=None, help="Only this tenant's sessions (default: every tenant's)."
)
@actor_option
@store_option
@format_option
@run
async def reap(tenant: str | None, actor: str, url: str, fmt: str) -> None:
    """Close every running session whose lease lapsed (its worker was killed, or lost
    the store) as `abandoned`, freeing its tenant's slot, and list them. Every worker
    does this on its own every third of its lease; sessions recorded without a lease
    (`simulate --record`, or before leases) are never reaped."""

    def row(s: AbandonedSession) -> list[str]:
        lapsed = format_time(s.lease_until)
        return [s.tenant_id, s.session_id, s.flow_id, f"v{s.version}", s.holder, lapsed]

    async def body(store: Store) -> None:
        if tenant is None:
            reaped = await store.reap(actor=actor)
        else:
            reaped = await store.tenant(tenant).reap(actor=actor)
        where = "" if tenant is None else f" in tenant `{tenant}`"
        header = ["TENANT", "SESSION", "FLOW", "VERSION", "HOLDER", "LEASE LAPSED"]
        listing(reaped, fmt, header, row, empty=f"No lapsed leases{where}: nothing to reap")
        if reaped and fmt == "text":
            count = f"{len(reaped)} session{'' if len(reaped) == 1 else 's'}"
            click.echo(f"{count} closed as abandoned", err=True)

    await with_store(url, body)
