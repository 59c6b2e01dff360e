"""``flowctl store templates``: the templates flows in the store extend, versioned as
flows are. A tenant's own (``--tenant``), or the operator's shared ones (``--shared``),
which every tenant's flows may extend; which flow versions run on which template
version (``usage``)."""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from flowctl.cli.exits import EXIT_FINDINGS, Failure
from flowctl.cli.store_common import (
    actor_option,
    echo_json,
    format_option,
    lint_summary,
    listing,
    read_catalog,
    run,
    store_hints,
    store_option,
    tenant_command,
    tools_option,
    version_name,
    with_store,
)
from flowctl.cli.timeline import format_time

if TYPE_CHECKING:
    from flowctl.engine.boundary import ToolCatalog
    from flowctl.engine.store import (
        Store,
        TemplateInfo,
        TemplatePushResult,
        TemplateShelf,
        TemplateVersion,
        TemplateVersionInfo,
        TenantStore,
    )

__all__ = ["templates"]

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])


def _owner_options(command: F) -> F:
    """``--tenant`` (``tenant``) or ``--shared``: whose templates."""
    command = click.option(
        "--shared",
        is_flag=True,
        help="The operator's shared templates, which every tenant's flows may extend.",
    )(command)
    return click.option(
        "--tenant",
        "-t",
        envvar="FLOWCTL_TENANT",
        help="The tenant whose own templates (or FLOWCTL_TENANT); or --shared.",
    )(command)


class _Owner:
    """Whose templates a command works on: a tenant's own (its handle), or the
    operator's shared ones (their shelf)."""

    def __init__(self, store: Store, tenant: str | None, shared: bool) -> None:
        if not shared and tenant is None:
            raise Failure("Name whose templates: `--tenant TENANT`, or `--shared`")
        self.shared = shared
        self.tenant: TenantStore | None = None if shared else store.tenant(str(tenant))
        self.shelf: TemplateShelf = store.shared_templates()

    def name(self, template_id: str) -> str:
        return f"shared:{template_id}" if self.shared else template_id

    async def push(
        self, data: bytes, filename: str, actor: str, catalog: ToolCatalog | None
    ) -> TemplatePushResult:
        from flowctl.engine.boundary import OPERATOR
        from flowctl.engine.store.documents import push_shared_template, push_template_document

        if self.tenant is not None:
            return await push_template_document(self.tenant, data, actor=actor, filename=filename)
        boundary = OPERATOR.with_catalog(catalog)
        return await push_shared_template(
            self.shelf, data, actor=actor, filename=filename, boundary=boundary
        )

    async def publish(self, template_id: str, version: int, actor: str) -> TemplateInfo:
        if self.tenant is not None:
            return await self.tenant.publish_template(template_id, version, actor=actor)
        return await self.shelf.publish_template(template_id, version, actor=actor)

    async def templates(self) -> list[TemplateInfo]:
        if self.tenant is not None:
            return await self.tenant.templates()
        return await self.shelf.templates()

    async def info(self, template_id: str) -> TemplateInfo | None:
        own = [t for t in await self.templates() if t.shared == self.shared]
        return next((t for t in own if t.template_id == template_id), None)

    async def versions(self, template_id: str) -> list[TemplateVersionInfo]:
        if self.tenant is not None:
            return await self.tenant.template_versions(template_id)
        return await self.shelf.template_versions(template_id)

    async def version(self, template_id: str, version: int | None) -> TemplateVersion:
        if self.tenant is not None:
            return await self.tenant.template(template_id, version)
        return await self.shelf.template(template_id, version)


async def _with_owner(
    url: str,
    tenant: str | None,
    shared: bool,
    body: Callable[[_Owner], Awaitable[T]],
    *,
    catalog: ToolCatalog | None = None,
) -> T:
    async def opened(store: Store) -> T:
        return await body(_Owner(store, tenant, shared))

    return await with_store(url, opened, catalog=catalog)


@click.group()
def templates() -> None:
    """Templates in the store: push, publish, list, show; which flows use which
    version.

    A flow pushed with `extends` is resolved against the template's published version
    (the tenant's own of that id, else the operator's shared one) and pins it:
    publishing another template version changes no flow until the flow is pushed (and
    published) again."""


@templates.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--publish", is_flag=True, help="Also publish each pushed version.")
@_owner_options
@actor_option
@store_option
@tools_option
@run
async def push(
    files: tuple[Path, ...],
    publish: bool,
    tenant: str | None,
    shared: bool,
    actor: str,
    url: str,
    tools_path: Path | None,
) -> None:
    """Store each FILE (a template: it has a `template_id`) as its next version, unless
    its content (and the template version it extends) is one already. It is linted as
    a template: a tenant's held to its policy, a shared one as the operator's (its
    catalog tools against --tools). Exit 1 when one has errors: it cannot be
    published."""
    documents = []
    for path in files:
        try:
            documents.append((path, path.read_bytes()))
        except OSError as exc:
            raise Failure(f"Cannot read `{path}`: {exc.strerror or exc}") from exc
    catalog = read_catalog(tools_path)

    async def body(owner: _Owner) -> int:
        failed = 0
        for path, data in documents:
            result = await owner.push(data, str(path), actor, catalog)
            info = result.version
            name = owner.name(info.template_id)
            lint = lint_summary(info.errors, info.warnings)
            on = f", extends {info.template}" if info.template is not None else ""
            if result.created:
                click.echo(f"{name} v{info.version} pushed ({info.hash[:12]}, {lint}{on})")
            else:
                click.echo(f"{name} v{info.version} unchanged (same content)")
            if info.errors or info.warnings:
                stored = await owner.version(info.template_id, info.version)
                _findings(name, stored)
            if info.errors:
                failed += 1
                click.echo(
                    f"flowctl: error: {name} v{info.version} has lint errors; "
                    "it cannot be published",
                    err=True,
                )
            elif publish:
                before = await owner.info(info.template_id)
                was = before.published if before is not None else None
                if was != info.version:
                    await owner.publish(info.template_id, info.version, actor)
                    click.echo(f"{name} v{info.version} published (was {version_name(was)})")
        return failed

    failed = await _with_owner(url, tenant, shared, body, catalog=catalog)
    if failed:
        sys.exit(EXIT_FINDINGS)


@templates.command(name="publish")
@click.argument("template_id", metavar="TEMPLATE")
@click.argument("version", type=click.IntRange(min=1))
@_owner_options
@actor_option
@store_option
@run
async def publish_(
    template_id: str, version: int, tenant: str | None, shared: bool, actor: str, url: str
) -> None:
    """Make VERSION of TEMPLATE (lint-clean only) the one flows pushed from now on are
    resolved against. Flow versions pushed before keep the template version they
    pinned: push a flow again to move it to this one."""

    async def body(owner: _Owner) -> None:
        before = await owner.info(template_id)
        was = before.published if before is not None else None
        name = owner.name(template_id)
        if was == version:
            click.echo(f"{name} v{version} is already published")
            return
        await owner.publish(template_id, version, actor)
        click.echo(f"{name} v{version} published (was {version_name(was)})")

    await _with_owner(url, tenant, shared, body)


@templates.command(name="list")
@click.argument("template_id", metavar="[TEMPLATE]", required=False)
@_owner_options
@store_option
@format_option
@run
async def list_(
    template_id: str | None, tenant: str | None, shared: bool, url: str, fmt: str
) -> None:
    """The templates a tenant's flows may extend (its own, then the shared ones), or
    with --shared the shared ones; or the versions of TEMPLATE (`*` marks the
    published one)."""

    async def body(owner: _Owner) -> None:
        if template_id is None:

            def row(t: TemplateInfo) -> list[str]:
                whose = "shared" if t.shared else str(tenant)
                at = format_time(t.published_at)
                return [t.template_id, whose, version_name(t.published), f"v{t.latest}", at]

            header = ["TEMPLATE", "OWNER", "PUBLISHED", "LATEST", "PUBLISHED AT"]
            found = await owner.templates()
            empty = "No templates; push one with `flowctl store templates push`"
            listing(found, fmt, header, row, empty=empty)
            return
        versions = await owner.versions(template_id)
        info = await owner.info(template_id)
        published = info.published if info is not None else None

        def version_row(v: TemplateVersionInfo) -> list[str]:
            mark = " *" if v.version == published else ""
            lint = lint_summary(v.errors, v.warnings)
            extends = str(v.template) if v.template is not None else "-"
            created = format_time(v.created_at)
            return [f"v{v.version}{mark}", v.hash[:12], v.author, created, lint, extends]

        header = ["VERSION", "HASH", "AUTHOR", "CREATED", "LINT", "EXTENDS"]
        listing(versions, fmt, header, version_row, empty=f"No versions of `{template_id}`")

    await _with_owner(url, tenant, shared, body)


@templates.command()
@click.argument("template_id", metavar="TEMPLATE")
@click.argument("version", type=click.IntRange(min=1), required=False)
@click.option("--document", is_flag=True, help="Print only the document, as pushed.")
@_owner_options
@store_option
@format_option
@run
async def show(
    template_id: str,
    version: int | None,
    document: bool,
    tenant: str | None,
    shared: bool,
    url: str,
    fmt: str,
) -> None:
    """One version of TEMPLATE (default: the published one): its hash, author, lint
    result and what it extends; --document prints the document alone."""

    async def body(owner: _Owner) -> None:
        v = await owner.version(template_id, version)
        if document:
            click.echo(v.document, nl=not v.document.endswith("\n"))
            return
        info = await owner.info(template_id)
        published = info.published if info is not None else None
        if fmt == "json":
            echo_json({"version": v, "published": published})
            return
        name = owner.name(template_id)
        state = "published" if v.version == published else f"published: {version_name(published)}"
        click.echo(f"{name} v{v.version} ({state})")
        click.echo(f"hash     sha256:{v.hash}")
        click.echo(f"author   {v.author}")
        click.echo(f"created  {format_time(v.created_at)}")
        click.echo(f"extends  {v.template if v.template is not None else '-'}")
        click.echo(f"lint     {lint_summary(v.errors, v.warnings)}")
        for f in v.findings:
            where = f"{f.file}:" if f.file else ""
            click.echo(f"  {where}{f.row}:{f.column}: {f.code} {store_hints(f.message)}")

    await _with_owner(url, tenant, shared, body)


@templates.command()
@tenant_command(fmt=True)
async def usage(t: TenantStore, tenant: str, fmt: str) -> None:
    """Which versions of the tenant's flows run on which template version (`*` marks a
    flow's published version), beside the version each template publishes now: a
    flow on an older one moves to it when it is pushed again."""
    uses = await t.template_usage()
    now = {(i.template_id, i.shared): i.published for i in await t.templates()}
    if fmt == "json":
        echo_json(uses)
        return

    def row(u: Any) -> list[str]:
        current = now.get((u.template.template_id, u.template.shared))
        mark = " *" if u.published else ""
        return [u.flow_id, f"v{u.version}{mark}", str(u.template), version_name(current)]

    header = ["FLOW", "VERSION", "TEMPLATE", "PUBLISHED NOW"]
    empty = f"No flow of tenant `{tenant}` extends a template"
    listing(uses, fmt, header, row, empty=empty)


def _findings(name: str, version: TemplateVersion) -> None:
    for f in version.findings:
        where = f.file or f"{name}@v{version.version}"
        click.echo(f"{where}:{f.row}:{f.column}: {f.code} {store_hints(f.message)}", err=True)
