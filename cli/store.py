"""``flowctl store``: push, publish, roll back and inspect flow versions; disable and
enable flows. Templates have their own group (``flowctl store templates``,
``cli/store_templates.py``)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from types import EllipsisType
from typing import TYPE_CHECKING, TypeVar

import click

from flowctl.cli.exits import EXIT_FINDINGS, Failure
from flowctl.cli.store_common import (
    actor_option,
    echo_json,
    lint_summary,
    listing,
    read_catalog,
    run,
    store_hints,
    store_option,
    tenant_command,
    tenant_option,
    tools_option,
    version_name,
    with_store,
    with_tenant,
)
from flowctl.cli.timeline import format_time

if TYPE_CHECKING:
    from flowctl.engine.store import FlowInfo, Store, TenantStore, Version, VersionInfo

__all__ = ["store"]

F = TypeVar("F", bound=Callable[..., object])


def _expected(
    ctx: click.Context, param: click.Parameter, value: str | None
) -> int | EllipsisType | None:
    """``--expect N`` / ``--expect none``, or ``...`` (no check) when not given."""
    if value is None:
        return ...
    if value.lower() == "none":
        return None
    if not value.removeprefix("v").isdigit():
        raise Failure(f"`--expect {value}`: give a version number, or `none`")
    return int(value.removeprefix("v"))


def _expect_option(doing: str) -> Callable[[F], F]:
    """``--expect`` (``expect``): the version that must still be the published one, or
    ``...``; the store refuses the change when the pointer has moved since."""
    return click.option(
        "--expect",
        callback=_expected,
        help=f"{doing} only if this version (or `none`) is the published one.",
    )


def _findings(flow_id: str, version: Version) -> None:
    """The version's findings on stderr, each in its document: the version's own, or the
    template version (``f.file``) that wrote what it is about."""
    for f in version.findings:
        where = f.file or f"{flow_id}@v{version.version}"
        click.echo(f"{where}:{f.row}:{f.column}: {f.code} {store_hints(f.message)}", err=True)


@click.group()
def store() -> None:
    """Flow versions in the store: push, publish, roll back, inspect; disable a flow."""


@store.command()
@store_option
@run
async def init(url: str) -> None:
    """Create the store (or bring its schema up to date)."""

    async def body(s: Store) -> None:
        if s.migrated is None:
            click.echo(f"Store {s.url} is up to date (schema {s.schema_version})")
        elif s.migrated[0] == 0:
            click.echo(f"Created store {s.url} (schema {s.schema_version})")
        else:
            click.echo(f"Migrated store {s.url} from schema {s.migrated[0]} to {s.migrated[1]}")

    await with_store(url, body, create=True)


@store.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--flow", "flow_id", help="Flow id [default: the document's flow_id, else the file name]."
)
@click.option("--publish", is_flag=True, help="Also publish each pushed version.")
@tenant_option
@actor_option
@store_option
@tools_option
@run
async def push(
    files: tuple[Path, ...],
    flow_id: str | None,
    publish: bool,
    tenant: str,
    actor: str,
    url: str,
    tools_path: Path | None,
) -> None:
    """Store each FILE as its flow's next version, unless its content is already a
    version (the content hash ignores formatting and key order). Each is linted as the
    tenant's flow, held to its policy (`flowctl tenants policy`; its catalog tools
    against --tools). Lint findings are kept with the version; exit 1 when one has
    errors: it cannot be published."""
    if flow_id is not None and len(files) > 1:
        raise Failure("`--flow` names one flow: push one file with it")
    documents = []
    for path in files:
        try:
            documents.append((path, path.read_bytes()))
        except OSError as exc:
            raise Failure(f"Cannot read `{path}`: {exc.strerror or exc}") from exc

    async def body(t: TenantStore) -> int:
        from flowctl.engine.store.documents import push_document

        failed = 0
        for path, data in documents:
            result = await push_document(t, data, actor=actor, flow_id=flow_id, filename=str(path))
            info = result.version
            lint = lint_summary(info.errors, info.warnings)
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
                    click.echo(
                        f"{info.flow_id} v{info.version} published (was {version_name(before)})"
                    )
        return failed

    failed = await with_tenant(url, tenant, body, catalog=read_catalog(tools_path))
    if failed:
        sys.exit(EXIT_FINDINGS)


@store.command()
@click.argument("flow_id", metavar="FLOW")
@click.argument("version", type=click.IntRange(min=1))
@_expect_option("Publish")
@tenant_command(actor=True)
async def publish(
    t: TenantStore,
    flow_id: str,
    version: int,
    expect: int | EllipsisType | None,
    tenant: str,
    actor: str,
) -> None:
    """Make VERSION of FLOW the one new sessions get (lint-clean versions only). Running
    sessions keep the version they started on."""
    before = await t.published(flow_id)
    if before == version and expect in (..., before):
        click.echo(f"{flow_id} v{version} is already published")
        return
    pub = await t.publish(flow_id, version, actor=actor, expected_current=expect)
    click.echo(f"{flow_id} v{pub.version} published (was {version_name(pub.previous)})")


@store.command()
@click.argument("flow_id", metavar="FLOW")
@click.option("--to", "to", type=click.IntRange(min=1), help="Version to go back to.")
@_expect_option("Roll back")
@tenant_command(actor=True)
async def rollback(
    t: TenantStore,
    flow_id: str,
    to: int | None,
    expect: int | EllipsisType | None,
    tenant: str,
    actor: str,
) -> None:
    """Republish an earlier version of FLOW: --to VERSION, or by default the newest
    version below the published one that was published before."""
    pub = await t.rollback(flow_id, actor=actor, to=to, expected_current=expect)
    click.echo(f"{flow_id} rolled back to v{pub.version} (was {version_name(pub.previous)})")


@store.command(name="list")
@click.argument("flow_id", metavar="[FLOW]", required=False)
@tenant_command(fmt=True)
async def list_(t: TenantStore, flow_id: str | None, tenant: str, fmt: str) -> None:
    """The tenant's flows, or the versions of FLOW (`*` marks the published one). A
    flow's STATUS: `enabled`, `disabled` (`flowctl store disable`), or `disabled by vN`
    (its published version says `"enabled": false`): no job is routed to a disabled one."""

    def flow_row(f: FlowInfo) -> list[str]:
        published = format_time(f.published_at)
        return [f.flow_id, version_name(f.published), f"v{f.latest}", published, _status(f)]

    if flow_id is None:
        header = ["FLOW", "PUBLISHED", "LATEST", "PUBLISHED AT", "STATUS"]
        empty = f"No flows for tenant `{tenant}`; push one with `flowctl store push`"
        listing(await t.flows(), fmt, header, flow_row, empty=empty)
        return
    versions = await t.versions(flow_id)
    published = await t.published(flow_id)

    def version_row(v: VersionInfo) -> list[str]:
        mark = " *" if v.version == published else ""
        lint = lint_summary(v.errors, v.warnings)
        return [f"v{v.version}{mark}", v.hash[:12], v.author, format_time(v.created_at), lint]

    header = ["VERSION", "HASH", "AUTHOR", "CREATED", "LINT"]
    listing(versions, fmt, header, version_row, empty=f"No versions of `{flow_id}`")


@store.command()
@click.argument("flow_id", metavar="FLOW")
@click.argument("version", type=click.IntRange(min=1), required=False)
@click.option("--document", is_flag=True, help="Print only the document, as pushed.")
@click.option(
    "--resolved",
    is_flag=True,
    help="Print only the document, as resolved with the template version it pinned.",
)
@tenant_command(fmt=True)
async def show(
    t: TenantStore,
    flow_id: str,
    version: int | None,
    document: bool,
    resolved: bool,
    tenant: str,
    fmt: str,
) -> None:
    """One version of FLOW (default: the published one): its hash, author, template,
    lint result and the flow's publication history; --document prints the document
    alone, --resolved the flow it runs (resolved with its pinned template version)."""
    v = await t.version(flow_id, version)
    if document:
        click.echo(v.document, nl=not v.document.endswith("\n"))
        return
    if resolved:
        from flowctl.engine.store.templates import resolved_document

        value = await resolved_document(t, v)
        if value is None:
            raise Failure(f"{flow_id} v{v.version} does not resolve; its findings say why")
        echo_json(value)
        return
    published = await t.published(flow_id)
    history = await t.history(flow_id)
    if fmt == "json":
        echo_json({"version": v, "published": published, "history": history})
        return
    state = "published" if v.version == published else f"published: {version_name(published)}"
    click.echo(f"{flow_id} v{v.version} ({state})")
    click.echo(f"hash     sha256:{v.hash}")
    click.echo(f"author   {v.author}")
    click.echo(f"created  {format_time(v.created_at)}")
    if v.template is not None:
        click.echo(f"template {v.template}")
    click.echo(f"lint     {lint_summary(v.errors, v.warnings)}")
    for f in v.findings:
        where = f"{f.file}:" if f.file else ""
        click.echo(f"  {where}{f.row}:{f.column}: {f.code} {store_hints(f.message)}")
    click.echo("history" if history else "history  never published")
    for p in history:
        was = f" (was {version_name(p.previous)})" if p.previous is not None else ""
        to = "-" if p.version is None else f"v{p.version}"  # unpublish: no version
        click.echo(f"  #{p.seq}  {format_time(p.at)}  {p.action:<9} {to}{was} by {p.actor}")


@store.command()
@click.argument("flow_id", metavar="FLOW")
@click.argument("old", type=click.IntRange(min=1))
@click.argument("new", type=click.IntRange(min=1), required=False)
@tenant_command()
async def diff(t: TenantStore, flow_id: str, old: int, new: int | None, tenant: str) -> None:
    """A unified diff of two versions of FLOW (NEW: default the latest), as pretty JSON."""
    from flowctl.engine.store.documents import unified_diff

    newest = new if new is not None else (await t.versions(flow_id))[-1].version
    a, b = await t.version(flow_id, old), await t.version(flow_id, newest)
    text = unified_diff(
        a.document, b.document, f"{flow_id}@v{a.version}", f"{flow_id}@v{b.version}"
    )
    click.echo(text, nl=False)


@store.command()
@click.argument("flow_id", metavar="FLOW")
@_expect_option("Unpublish")
@tenant_command(actor=True)
async def unpublish(
    t: TenantStore, flow_id: str, expect: int | EllipsisType | None, tenant: str, actor: str
) -> None:
    """Take FLOW out of service: new sessions get no version of it; running ones keep
    theirs. Versions and history stay; publishing brings it back."""
    pub = await t.unpublish(flow_id, actor=actor, expected_current=expect)
    click.echo(f"{flow_id} unpublished (was {version_name(pub.previous)})")


def _status(flow: FlowInfo) -> str:
    """``enabled``, ``disabled`` (the flag), or ``disabled by v2`` (the document)."""
    if flow.enabled:
        return "enabled"
    return "disabled" if flow.disabled_at is not None else f"disabled by v{flow.published}"


async def _flow(t: TenantStore, flow_id: str) -> FlowInfo | None:
    return next((f for f in await t.flows() if f.flow_id == flow_id), None)


@store.command()
@click.argument("flow_id", metavar="FLOW")
@tenant_command(actor=True)
async def disable(t: TenantStore, flow_id: str, tenant: str, actor: str) -> None:
    """Route no job to FLOW, whatever is published, until `flowctl store enable`: a job
    naming it is refused as disabled, and routing passes over it otherwise (docs/routing.md).
    Running sessions go on."""
    before = await _flow(t, flow_id)
    if before is not None and before.disabled_at is not None:
        click.echo(f"{flow_id} is already disabled")
        return
    await t.disable(flow_id, actor=actor)
    click.echo(f"{flow_id} disabled: no job is routed to it")


@store.command()
@click.argument("flow_id", metavar="FLOW")
@tenant_command(actor=True)
async def enable(t: TenantStore, flow_id: str, tenant: str, actor: str) -> None:
    """Undo `flowctl store disable FLOW`. A flow whose published version itself says
    `"enabled": false` stays disabled until another version is published."""
    before = await _flow(t, flow_id)
    flow = await t.enable(flow_id, actor=actor)
    if not flow.enabled:
        click.echo(
            f'{flow_id} stays disabled: its published v{flow.published} says "enabled": '
            "false; publish a version that does not"
        )
    elif before is not None and before.disabled_at is None:
        click.echo(f"{flow_id} is not disabled")
    else:
        click.echo(f"{flow_id} enabled")


@store.command()
@click.argument("flow_id", metavar="FLOW")
@tenant_command(actor=True)
async def delete(t: TenantStore, flow_id: str, tenant: str, actor: str) -> None:
    """Delete FLOW (a flow pushed by mistake): it leaves every listing and no session can
    start on it. Refused while it is published (`flowctl store unpublish` first) or the
    tenant's routing names it. Sessions recorded on it stay readable; pushing its id
    again brings it back with its versions."""
    flow = await t.delete(flow_id, actor=actor)
    versions = f"{flow.latest} version{'' if flow.latest == 1 else 's'}"
    click.echo(f"{flow_id} deleted ({versions})")
