"""The commands that read flow files and need only the engine: ``flowctl lint``,
``rules``, ``graph`` and ``schema``; and :func:`compiled`, how every command that runs
an operator's flow file (``graph``, ``simulate``) reads it.

They import the engine inside the command, and never LiveKit, so ``flowctl lint``
starts in milliseconds; they hold nothing once their output is written, so they skip
interpreter finalization.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import click

from flowctl.cli.exits import EXIT_FINDINGS, Failure, skip_finalization
from flowctl.cli.store_common import (
    formats,
    read_catalog,
    store_option,
    templates_option,
    tools_option,
)

if TYPE_CHECKING:
    from flowctl.engine.boundary import Boundary, ToolCatalog
    from flowctl.engine.compile import CompiledFlow
    from flowctl.engine.store import TenantStore

__all__ = ["compiled", "graph", "lint", "rules", "schema"]


def _codes(values: tuple[str, ...]) -> list[str]:
    """``--select FL1,FL2 --select FL3`` as ``[FL1, FL2, FL3]``."""
    return [v for value in values for v in value.split(",") if v.strip()]


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@formats("text", "json", "github", help="Output format.")
@click.option("--select", multiple=True, help="Only these rule codes or prefixes (FL1, FL102).")
@click.option("--ignore", multiple=True, help="Skip these rule codes or prefixes.")
@click.option("--exit-zero", is_flag=True, help="Exit 0 even when there are error findings.")
@click.option(
    "--jobs",
    type=click.IntRange(min=1),
    default=None,
    help="Processes to lint with [default: one per core from 64 files].",
)
@tools_option
@click.option(
    "--tenant",
    "tenant_id",
    help="Lint as this tenant's flows, held to its policy in the store (--store).",
)
@store_option
@templates_option
@click.option(
    "--resolved",
    is_flag=True,
    help="Print the flow as resolved with the templates it extends (one FILE); "
    "findings go to stderr.",
)
def lint(
    paths: tuple[Path, ...],
    fmt: str,
    select: tuple[str, ...],
    ignore: tuple[str, ...],
    exit_zero: bool,
    jobs: int | None,
    tools_path: Path | None,
    tenant_id: str | None,
    url: str,
    templates_dirs: tuple[Path, ...],
    resolved: bool,
) -> None:
    """Check flow files and folders (folders: every *.json inside, except
    *.scenarios.json and *.schema.json).

    A file given that is not a flow by its content is skipped with a note: a JSON
    Schema, or a scenario file (checked as one: its problems exit 2). A template (a
    file with a `template_id`) is checked as a template: what it defines, with its
    abstract parts standing in.

    A flow that extends a template is checked as resolved with it, each finding
    reported in the file that causes it: the flow's own, or the template's (found in
    the templates/ folder beside the flow, or in --templates).

    Files are the operator's own flows unless --tenant names whose they are: then they
    are held to what the operator granted that tenant (docs/security.md), as a push to
    the store would be.

    Exit 0 when no finding is at error level, 1 when one is, 2 for usage or I/O errors.
    """
    from flowctl.engine.lint import (
        Selection,
        format_github,
        format_json,
        format_text,
        lint_paths,
        summary,
    )

    skip_finalization()
    try:
        selection = Selection.parse(_codes(select), _codes(ignore))
    except ValueError as exc:
        raise Failure(str(exc)) from exc
    catalog = read_catalog(tools_path)
    boundary = _boundary(tenant_id, url, catalog)
    if resolved and (len(paths) != 1 or paths[0].is_dir()):
        raise Failure("`--resolved` prints one flow: give one file")
    templates = templates_dirs or None
    result = lint_paths(paths, selection, jobs=jobs, boundary=boundary, templates=templates)
    formatter = {"text": format_text, "json": format_json, "github": format_github}[fmt]
    if resolved:
        printed = _resolved(paths[0], templates) if not result.errors else None
        if printed is not None:
            click.echo(printed)
        click.echo(formatter(result), nl=False, err=True)
    else:
        click.echo(formatter(result), nl=False)
    for note in result.skipped:
        click.echo(note, err=True)
    for error in result.errors:
        click.echo(f"flowctl: error: {error}", err=True)
    click.echo(summary(result), err=True)
    code = result.exit_code
    sys.exit(0 if exit_zero and code == EXIT_FINDINGS else code)


def _resolved(path: Path, templates: tuple[Path, ...] | None) -> str | None:
    """The flow (or template) in ``path`` as resolved with the templates it extends, as
    2-space JSON; None when it cannot be resolved (its findings say why)."""
    import json

    from flowctl.engine.load import load_path
    from flowctl.engine.template_files import TemplateFolders, template_folders

    loaded = load_path(path, templates=TemplateFolders(template_folders(path, templates)))
    document = loaded.resolved
    if document is None and not loaded.templates and loaded.flow is not None:
        document = json.loads(loaded.source.text)  # it extends nothing: itself
    if document is None:
        return None
    return json.dumps(document, indent=2, ensure_ascii=False)


def _boundary(tenant_id: str | None, url: str, catalog: ToolCatalog | None) -> Boundary:
    """The operator's boundary (with ``catalog``), or ``tenant_id``'s from the store."""
    from flowctl.engine.boundary import OPERATOR

    if tenant_id is None:
        return OPERATOR if catalog is None else OPERATOR.with_catalog(catalog)
    import asyncio

    from flowctl.cli.store_common import with_tenant

    async def read(t: TenantStore) -> Boundary:
        return await t.boundary()

    return asyncio.run(with_tenant(url, tenant_id, read, catalog=catalog))


@click.command()
@click.argument("code", required=False)
@formats("text", "json", "markdown", help="markdown: the whole catalogue as docs/rules.md.")
def rules(code: str | None, fmt: str) -> None:
    """The rule catalogue, or one rule's documentation (by code or name)."""
    import json

    from flowctl.engine.lint import RULES

    skip_finalization()
    if fmt == "markdown":
        from flowctl.engine.lint.docs import rules_markdown

        click.echo(rules_markdown(), nl=False)
        return
    if code is None:
        if fmt == "json":
            items = [
                {"code": r.code, "name": r.name, "severity": r.severity.value, "summary": r.summary}
                for r in RULES.values()
            ]
            click.echo(json.dumps(items, indent=2))
            return
        for r in RULES.values():
            click.echo(f"{r.code}  {r.name:<28} {r.severity.value:<8} {r.summary}")
        return
    wanted = code.strip()
    found = RULES.get(wanted.upper()) or next(
        (r for r in RULES.values() if r.name == wanted.lower()), None
    )
    if found is None:
        raise Failure(f"Unknown rule `{code}`; `flowctl rules` lists them")
    if fmt == "json":
        item = {
            "code": found.code,
            "name": found.name,
            "severity": found.severity.value,
            "summary": found.summary,
            "doc": found.doc,
        }
        click.echo(json.dumps(item, indent=2))
        return
    click.echo(f"# {found.code} {found.name} ({found.severity.value})\n\n{found.summary}.\n")
    click.echo(found.doc)


@click.command()
@click.argument("flow", type=click.Path(path_type=Path))
@formats(
    "mermaid",
    "json",
    help="mermaid: a state diagram (GitHub renders it); json: states and transitions.",
)
@templates_option
def graph(flow: Path, fmt: str, templates_dirs: tuple[Path, ...]) -> None:
    """The compiled state machine of FLOW: a Mermaid state diagram, or (--format json)
    its states and transitions as JSON.

    A flow that extends a template is drawn as resolved with it.

    Exit 1 (with the findings) when the flow has lint errors, 2 when it cannot be read.
    """
    import json

    from flowctl.engine.graph import to_json, to_mermaid

    skip_finalization()
    machine = compiled(flow, "draw its graph", templates=templates_dirs)
    if fmt == "json":
        click.echo(json.dumps(to_json(machine), indent=2))
    else:
        click.echo(to_mermaid(machine), nl=False)


@click.command()
def schema() -> None:
    """Print the JSON Schema of the flow format, for editors: save it beside your flows
    and point your editor's JSON settings at it (a `"$schema"` key in a flow is an
    unknown field)."""
    import json

    from flowctl.engine.schema import flow_json_schema

    skip_finalization()
    click.echo(json.dumps(flow_json_schema(), indent=2, ensure_ascii=False))


def compiled(
    flow: Path,
    purpose: str,
    catalog: ToolCatalog | None = None,
    *,
    templates: Sequence[Path] = (),
) -> CompiledFlow:
    """``flow`` (the operator's, with its tool ``catalog``, and the templates it extends
    from ``templates``, by default the folder beside it) linted and compiled; its
    findings and exit 1 when it has errors, exit 2 when it cannot be read or is a
    template."""
    from flowctl.engine.boundary import OPERATOR
    from flowctl.engine.compile import compile_flow
    from flowctl.engine.lint import Selection, format_text, lint_paths
    from flowctl.engine.load import load_path
    from flowctl.engine.template_files import TemplateFolders, template_folders

    boundary = OPERATOR.with_catalog(catalog)
    folders = tuple(templates) or None
    result = lint_paths([flow], Selection.parse(), jobs=1, boundary=boundary, templates=folders)
    if result.errors:
        raise Failure(result.errors[0])
    # a flow that does not decode has lint errors
    loaded = load_path(flow, templates=TemplateFolders(template_folders(flow, folders)))
    if loaded.template:
        raise Failure(
            f"`{flow}` is a template: it runs as part of the flows that extend it; "
            f"give one of them to {purpose}"
        )
    if result.exit_code or loaded.flow is None:
        click.echo(format_text(result), nl=False, err=True)
        raise Failure(f"`{flow}` has errors; fix them to {purpose}", EXIT_FINDINGS)
    return compile_flow(loaded.flow, check=False, boundary=boundary)
