"""``flowctl store``, ``flowctl tenants`` and ``flowctl sessions``: the store from the
command line. Like ``lint``, these import neither LiveKit nor the worker.

Every command takes ``--store URL`` (default ``sqlite:///flowctl.db``, or
``FLOWCTL_STORE``); tenant-scoped ones take ``--tenant`` (or ``FLOWCTL_TENANT``), and
changes are recorded in the audit log under ``--actor`` (default ``FLOWCTL_USER``,
else your login name). Exit 0 on success, 1 when a version has lint errors or an
``--expect`` check fails, 2 for usage and store errors; never a traceback.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Awaitable, Callable, Coroutine
from functools import wraps
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click

if TYPE_CHECKING:
    from engine.store import Store, TenantStore, Version

__all__ = ["sessions", "store", "tenants"]

DEFAULT_URL = "sqlite:///flowctl.db"  # engine.store.DEFAULT_URL, without importing it
T = TypeVar("T")


def _fail(message: str, code: int = 2) -> NoReturn:
    click.echo(f"flowctl: error: {message}", err=True)
    sys.exit(code)


def _actor() -> str:
    import getpass

    try:
        return os.environ.get("FLOWCTL_USER") or getpass.getuser()
    except (KeyError, OSError):  # no login name (a container without /etc/passwd entry)
        return "unknown"


store_option = click.option(
    "--store",
    "url",
    envvar="FLOWCTL_STORE",
    default=DEFAULT_URL,
    show_default=True,
    help="Store URL (or FLOWCTL_STORE).",
)
tenant_option = click.option(
    "--tenant", "-t", envvar="FLOWCTL_TENANT", required=True, help="Tenant id (or FLOWCTL_TENANT)."
)
actor_option = click.option(
    "--actor",
    default=_actor,
    show_default="FLOWCTL_USER or your login",
    help="Who makes the change, for the audit log.",
)
format_option = click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)


def _run(work: Callable[..., Coroutine[Any, Any, T]]) -> Callable[..., T]:
    """Run an async command body; the engine's errors become a message and an exit code."""

    @wraps(work)
    def command(*args: Any, **kwargs: Any) -> T:
        import asyncio

        from engine.errors import FlowError

        try:
            return asyncio.run(work(*args, **kwargs))
        except FlowError as exc:
            _fail(str(exc), exc.exit_code)

    return command


async def _with_store(
    url: str, body: Callable[[Store], Awaitable[T]], *, create: bool = False
) -> T:
    from engine.store import open_store

    async with await open_store(url, create=create) as opened:
        return await body(opened)


async def _with_tenant(url: str, tenant: str, body: Callable[[TenantStore], Awaitable[T]]) -> T:
    return await _with_store(url, lambda s: body(s.tenant(tenant)))


def _echo_json(value: Any) -> None:
    import json

    import msgspec

    click.echo(json.dumps(msgspec.to_builtins(value), indent=2, ensure_ascii=False))


def _table(rows: list[list[str]]) -> None:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        click.echo("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


def _v(version: int | None) -> str:
    return "none" if version is None else f"v{version}"


def _expected(value: str | None) -> Any:
    """``--expect N`` / ``--expect none``, or ``...`` (no check) when not given."""
    if value is None:
        return ...
    if value.lower() == "none":
        return None
    if not value.removeprefix("v").isdigit():
        _fail(f"`--expect {value}`: give a version number, or `none`")
    return int(value.removeprefix("v"))


def _lint_summary(errors: int, warnings: int) -> str:
    if not errors and not warnings:
        return "clean"
    parts = [
        f"{n} {word}{'' if n == 1 else 's'}"
        for n, word in ((errors, "error"), (warnings, "warning"))
        if n
    ]
    return ", ".join(parts)


def _findings(flow_id: str, version: Version) -> None:
    for f in version.findings:
        click.echo(
            f"{flow_id}@v{version.version}:{f.row}:{f.column}: {f.code} {f.message}", err=True
        )


# --- flowctl store ----------------------------------------------------------------------


@click.group()
def store() -> None:
    """Flow versions in the store: push, publish, roll back, inspect."""


@store.command()
@store_option
@_run
async def init(url: str) -> None:
    """Create the store (or bring its schema up to date)."""

    async def body(s: Store) -> None:
        from engine.store.sqlite_schema import LATEST

        if s.migrated is None:
            click.echo(f"Store {url} is up to date (schema {LATEST})")
        elif s.migrated[0] == 0:
            click.echo(f"Created store {url} (schema {LATEST})")
        else:
            click.echo(f"Migrated store {url} from schema {s.migrated[0]} to {s.migrated[1]}")

    await _with_store(url, body, create=True)


@store.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--flow", "flow_id", help="Flow id [default: the document's flow_id, else the file name]."
)
@click.option("--publish", is_flag=True, help="Also publish each pushed version.")
@tenant_option
@actor_option
@store_option
@_run
async def push(
    files: tuple[Path, ...], flow_id: str | None, publish: bool, tenant: str, actor: str, url: str
) -> None:
    """Store each FILE as its flow's next version, unless its content is already a
    version (the content hash ignores formatting and key order). Lint findings are kept
    with the version; exit 1 when one has errors: it cannot be published."""
    if flow_id is not None and len(files) > 1:
        _fail("`--flow` names one flow: push one file with it")
    documents = []
    for path in files:
        try:
            documents.append((path, path.read_bytes()))
        except OSError as exc:
            _fail(f"Cannot read `{path}`: {exc.strerror or exc}")

    async def body(t: TenantStore) -> int:
        failed = 0
        for path, data in documents:
            result = await t.push(data, actor=actor, flow_id=flow_id, filename=str(path))
            info = result.version
            lint = _lint_summary(info.errors, info.warnings)
            if result.created:
                click.echo(f"{info.flow_id} v{info.version} pushed ({info.hash[:12]}, {lint})")
            else:
                click.echo(f"{info.flow_id} v{info.version} unchanged (same content)")
            if info.errors or info.warnings:
                _findings(info.flow_id, await t.version(info.flow_id, info.version))
            if info.errors:
                failed += 1
                click.echo(
                    f"flowctl: error: {info.flow_id} v{info.version} has lint errors; "
                    "it cannot be published",
                    err=True,
                )
            elif publish:
                before = await t.published(info.flow_id)
                if before != info.version:
                    await t.publish(info.flow_id, info.version, actor=actor)
                    click.echo(f"{info.flow_id} v{info.version} published (was {_v(before)})")
        return failed

    failed = await _with_tenant(url, tenant, body)
    if failed:
        sys.exit(1)


@store.command()
@click.argument("flow_id", metavar="FLOW")
@click.argument("version", type=click.IntRange(min=1))
@click.option("--expect", help="Publish only if this version (or `none`) is the published one.")
@tenant_option
@actor_option
@store_option
@_run
async def publish(
    flow_id: str, version: int, expect: str | None, tenant: str, actor: str, url: str
) -> None:
    """Make VERSION of FLOW the one new sessions get (lint-clean versions only). Running
    sessions keep the version they started on."""
    expected = _expected(expect)

    async def body(t: TenantStore) -> None:
        before = await t.published(flow_id)
        if before == version and expected in (..., before):
            click.echo(f"{flow_id} v{version} is already published")
            return
        pub = await t.publish(flow_id, version, actor=actor, expected_current=expected)
        click.echo(f"{flow_id} v{pub.version} published (was {_v(pub.previous)})")

    await _with_tenant(url, tenant, body)


@store.command()
@click.argument("flow_id", metavar="FLOW")
@click.option("--to", "to", type=click.IntRange(min=1), help="Version to go back to.")
@click.option("--expect", help="Roll back only if this version (or `none`) is the published one.")
@tenant_option
@actor_option
@store_option
@_run
async def rollback(
    flow_id: str, to: int | None, expect: str | None, tenant: str, actor: str, url: str
) -> None:
    """Republish an earlier version of FLOW: --to VERSION, or by default the newest
    version below the published one that was published before."""
    expected = _expected(expect)

    async def body(t: TenantStore) -> None:
        pub = await t.rollback(flow_id, actor=actor, to=to, expected_current=expected)
        click.echo(f"{flow_id} rolled back to v{pub.version} (was {_v(pub.previous)})")

    await _with_tenant(url, tenant, body)


@store.command(name="list")
@click.argument("flow_id", metavar="[FLOW]", required=False)
@tenant_option
@store_option
@format_option
@_run
async def list_(flow_id: str | None, tenant: str, url: str, fmt: str) -> None:
    """The tenant's flows, or the versions of FLOW (`*` marks the published one)."""
    from engine.store.timeline import format_time

    async def body(t: TenantStore) -> None:
        if flow_id is None:
            flows = await t.flows()
            if fmt == "json":
                _echo_json(flows)
                return
            if not flows:
                click.echo(
                    f"No flows for tenant `{tenant}`; push one with `flowctl store push`", err=True
                )
                return
            rows = [["FLOW", "PUBLISHED", "LATEST", "PUBLISHED AT"]]
            for f in flows:
                rows.append(
                    [f.flow_id, _v(f.published), f"v{f.latest}", format_time(f.published_at)]
                )
            _table(rows)
            return
        versions = await t.versions(flow_id)
        published = await t.published(flow_id)
        if fmt == "json":
            _echo_json(versions)
            return
        rows = [["VERSION", "HASH", "AUTHOR", "CREATED", "LINT"]]
        for v in versions:
            mark = " *" if v.version == published else ""
            rows.append(
                [
                    f"v{v.version}{mark}",
                    v.hash[:12],
                    v.author,
                    format_time(v.created_at),
                    _lint_summary(v.errors, v.warnings),
                ]
            )
        _table(rows)

    await _with_tenant(url, tenant, body)


@store.command()
@click.argument("flow_id", metavar="FLOW")
@click.argument("version", type=click.IntRange(min=1), required=False)
@click.option("--document", is_flag=True, help="Print only the document, as pushed.")
@tenant_option
@store_option
@format_option
@_run
async def show(
    flow_id: str, version: int | None, document: bool, tenant: str, url: str, fmt: str
) -> None:
    """One version of FLOW (default: the published one): its hash, author, lint result
    and the flow's publication history; --document prints the document alone."""
    from engine.store.timeline import format_time

    async def body(t: TenantStore) -> None:
        v = await t.version(flow_id, version)
        if document:
            click.echo(v.document, nl=not v.document.endswith("\n"))
            return
        published = await t.published(flow_id)
        history = await t.history(flow_id)
        if fmt == "json":
            _echo_json({"version": v, "published": published, "history": history})
            return
        state = "published" if v.version == published else f"published: {_v(published)}"
        click.echo(f"{flow_id} v{v.version} ({state})")
        click.echo(f"hash     sha256:{v.hash}")
        click.echo(f"author   {v.author}")
        click.echo(f"created  {format_time(v.created_at)}")
        click.echo(f"lint     {_lint_summary(v.errors, v.warnings)}")
        for f in v.findings:
            click.echo(f"  {f.row}:{f.column}: {f.code} {f.message}")
        click.echo("history" if history else "history  never published")
        for p in history:
            was = f" (was {_v(p.previous)})" if p.previous is not None else ""
            click.echo(
                f"  #{p.seq}  {format_time(p.at)}  {p.action:<8}  v{p.version}{was} by {p.actor}"
            )

    await _with_tenant(url, tenant, body)


@store.command()
@click.argument("flow_id", metavar="FLOW")
@click.argument("old", type=click.IntRange(min=1))
@click.argument("new", type=click.IntRange(min=1), required=False)
@tenant_option
@store_option
@_run
async def diff(flow_id: str, old: int, new: int | None, tenant: str, url: str) -> None:
    """A unified diff of two versions of FLOW (NEW: default the latest), as pretty JSON."""
    import difflib

    async def body(t: TenantStore) -> None:
        newest = new if new is not None else (await t.versions(flow_id))[-1].version
        a, b = await t.version(flow_id, old), await t.version(flow_id, newest)
        lines = difflib.unified_diff(
            _pretty(a.document),
            _pretty(b.document),
            fromfile=f"{flow_id}@v{a.version}",
            tofile=f"{flow_id}@v{b.version}",
        )
        click.echo("".join(lines), nl=False)

    await _with_tenant(url, tenant, body)


def _pretty(document: str) -> list[str]:
    """A document as 2-space-indented JSON in its own key order, one line per entry."""
    import json

    text = json.dumps(json.loads(document), indent=2, ensure_ascii=False)
    return [line + "\n" for line in text.splitlines()]


# --- flowctl tenants --------------------------------------------------------------------


@click.group()
def tenants() -> None:
    """Tenants: create them, set their routing and limits."""


def _read_routing(path: Path | None) -> bytes | None:
    if path is None:
        return None
    try:
        return sys.stdin.buffer.read() if str(path) == "-" else path.read_bytes()
    except OSError as exc:
        _fail(f"Cannot read `{path}`: {exc.strerror or exc}")


def _max_sessions(value: str | None) -> int | None:
    if value is None or value.lower() == "none":
        return None
    if not value.isdigit() or int(value) < 1:
        _fail(f"`--max-sessions {value}`: give a whole number from 1, or `none`")
    return int(value)


def _show_tenant(t: Any) -> None:
    import json

    from engine.store.timeline import format_time

    click.echo(f"tenant        {t.tenant_id}")
    if t.name:
        click.echo(f"name          {t.name}")
    click.echo(f"max sessions  {t.max_concurrent_sessions or 'no limit'}")
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
@_run
async def list_tenants(url: str, fmt: str) -> None:
    """Every tenant (the admin listing)."""

    async def body(s: Store) -> None:
        found = await s.list_tenants()
        if fmt == "json":
            _echo_json(found)
            return
        if not found:
            click.echo("No tenants; create one with `flowctl tenants create ID`", err=True)
            return
        rows = [["TENANT", "NAME", "MAX SESSIONS", "ROUTING"]]
        for t in found:
            limit = str(t.max_concurrent_sessions or "-")
            rows.append([t.tenant_id, t.name or "-", limit, "yes" if t.routing else "-"])
        _table(rows)

    await _with_store(url, body)


@tenants.command()
@click.argument("tenant_id", metavar="TENANT")
@click.option("--name", default="", help="A readable name.")
@click.option(
    "--routing", type=click.Path(path_type=Path), help="Routing document (JSON; - for stdin)."
)
@click.option("--max-sessions", help="Most sessions running at once (default: no limit).")
@actor_option
@store_option
@_run
async def create(
    tenant_id: str, name: str, routing: Path | None, max_sessions: str | None, actor: str, url: str
) -> None:
    """Create a tenant."""
    document = _read_routing(routing)
    limit = _max_sessions(max_sessions)

    async def body(s: Store) -> None:
        await s.create_tenant(
            tenant_id, actor=actor, name=name, routing=document, max_concurrent_sessions=limit
        )
        click.echo(f"Created tenant {tenant_id}")

    await _with_store(url, body)


@tenants.command(name="show")
@click.argument("tenant_id", metavar="TENANT")
@click.option("--audit", "audit", is_flag=True, help="Also the tenant's latest changes.")
@store_option
@format_option
@_run
async def show_tenant(tenant_id: str, audit: bool, url: str, fmt: str) -> None:
    """A tenant's settings (and with --audit, who changed what, newest first)."""
    import json

    from engine.store.timeline import format_time

    async def body(t: TenantStore) -> None:
        info = await t.info()
        entries = await t.audit(limit=50) if audit else []
        if fmt == "json":
            _echo_json({"tenant": info, "audit": entries} if audit else info)
            return
        _show_tenant(info)
        if audit:
            click.echo("audit")
            for e in entries:
                detail = json.dumps(e.detail, ensure_ascii=False) if e.detail else ""
                click.echo(
                    f"  {format_time(e.at)}  {e.actor}  {e.action} {e.subject} {detail}".rstrip()
                )

    await _with_tenant(url, tenant_id, body)


@tenants.command(name="set-routing")
@click.argument("tenant_id", metavar="TENANT")
@click.argument("routing", type=click.Path(path_type=Path), required=False)
@click.option("--clear", is_flag=True, help="Remove the tenant's routing.")
@actor_option
@store_option
@_run
async def set_routing(
    tenant_id: str, routing: Path | None, clear: bool, actor: str, url: str
) -> None:
    """Replace a tenant's routing with the JSON document ROUTING (- for stdin)."""
    if (routing is None) == (not clear):
        _fail("give a ROUTING file, or --clear")
    document = _read_routing(routing)

    async def body(t: TenantStore) -> None:
        await t.set_routing(document, actor=actor)
        click.echo(f"Routing of tenant {tenant_id} {'cleared' if clear else 'updated'}")

    await _with_tenant(url, tenant_id, body)


@tenants.command(name="set-limits")
@click.argument("tenant_id", metavar="TENANT")
@click.option("--max-sessions", required=True, help="Most sessions running at once, or `none`.")
@actor_option
@store_option
@_run
async def set_limits(tenant_id: str, max_sessions: str, actor: str, url: str) -> None:
    """Change a tenant's limits."""
    limit = _max_sessions(max_sessions)

    async def body(t: TenantStore) -> None:
        await t.set_limits(max_concurrent_sessions=limit, actor=actor)
        click.echo(f"Tenant {tenant_id}: max sessions {limit or 'no limit'}")

    await _with_tenant(url, tenant_id, body)


# --- flowctl sessions -------------------------------------------------------------------


@click.group()
def sessions() -> None:
    """Recorded sessions: list them, read one as a timeline."""


@sessions.command(name="list")
@click.option("--flow", "flow_id", help="Only sessions of this flow.")
@click.option("--running/--ended", default=None, help="Only running, or only ended sessions.")
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True)
@tenant_option
@store_option
@format_option
@_run
async def list_sessions(
    flow_id: str | None, running: bool | None, limit: int, tenant: str, url: str, fmt: str
) -> None:
    """The tenant's sessions, newest first."""
    from engine.store.timeline import format_time

    async def body(t: TenantStore) -> None:
        found = await t.sessions(flow_id=flow_id, running=running, limit=limit)
        if fmt == "json":
            _echo_json(found)
            return
        if not found:
            click.echo(f"No sessions for tenant `{tenant}`", err=True)
            return
        rows = [["SESSION", "FLOW", "VERSION", "STARTED", "ENDED", "REASON", "EVENTS"]]
        for s in found:
            rows.append(
                [
                    s.session_id,
                    s.flow_id,
                    f"v{s.version}",
                    format_time(s.started_at),
                    format_time(s.ended_at),
                    s.end_reason or ("running" if s.ended_at is None else "-"),
                    str(s.events),
                ]
            )
        _table(rows)

    await _with_tenant(url, tenant, body)


@sessions.command(name="show")
@click.argument("session_id", metavar="SESSION")
@tenant_option
@store_option
@format_option
@_run
async def show_session(session_id: str, tenant: str, url: str, fmt: str) -> None:
    """A recorded session as a timeline: states entered, edges fired, refusals, tool
    calls and results, what was said, structured outputs, the end."""
    from engine.store.timeline import timeline

    async def body(t: TenantStore) -> None:
        info = await t.session(session_id)
        events = await t.events(session_id)
        if fmt == "json":
            _echo_json({"session": info, "events": events})
            return
        for line in timeline(info, events):
            click.echo(line)

    await _with_tenant(url, tenant, body)
