"""``flowctl knowledge``: a tenant's knowledge bases in the store (docs/knowledge.md):
documents added from files and folders (each a new revision when it changed), listed,
shown by revision, deleted, and searched as the tenant's knowledge tools search them."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from flowctl.cli.store_common import (
    actor_option,
    echo_json,
    listing,
    run,
    store_hints,
    store_option,
    tenant_command,
    tenant_option,
    with_tenant,
)
from flowctl.cli.timeline import format_time

if TYPE_CHECKING:
    from flowctl.engine.knowledge.retrieval import Passage
    from flowctl.engine.store import DocumentInfo, DocumentRevision, KnowledgeBase, TenantStore

__all__ = ["knowledge"]


@click.group()
def knowledge() -> None:
    """Knowledge bases: the documents a flow's knowledge tools answer from."""


@knowledge.command()
@click.argument("base")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "markdown", "html"]),
    help="How to read the documents [default: by their extension: .txt, .md, .html...].",
)
@tenant_option
@actor_option
@store_option
@run
async def add(
    base: str, paths: tuple[Path, ...], fmt: str | None, tenant: str, actor: str, url: str
) -> None:
    """Add documents to BASE, or replace them (a new revision of each that changed):
    files, or folders of them (every .txt, .md and .html under it). Each document is
    named by its file; it is cut into passages and indexed at once."""
    from flowctl.engine.knowledge.files import read_documents

    documents = read_documents({base: list(paths)})  # every file read before any is added

    async def body(t: TenantStore) -> None:
        for doc in documents:
            put = await t.put_document(
                base, doc.name, doc.content, format=fmt or doc.format, actor=actor
            )
            d = put.document
            if put.changed:
                chunks = f"{d.chunks} passage{'s' if d.chunks != 1 else ''}"
                click.echo(f"{base}/{d.name}: revision {d.revision}, {chunks}")
            else:
                click.echo(f"{base}/{d.name}: unchanged (revision {d.revision})")

    await with_tenant(url, tenant, body)


@knowledge.command(name="list")
@click.argument("base", required=False)
@tenant_command(fmt=True)
async def list_knowledge(t: TenantStore, base: str | None, tenant: str, fmt: str) -> None:
    """The tenant's knowledge bases, or the documents of BASE."""
    if base is None:

        def base_row(b: KnowledgeBase) -> list[str]:
            size = f"{b.bytes:,}"
            return [b.base, str(b.documents), str(b.chunks), size, format_time(b.updated_at)]

        empty = (
            f"No knowledge bases for tenant `{tenant}`; add documents with "
            f"`flowctl knowledge add -t {tenant} BASE FILE...`"
        )
        header = ["BASE", "DOCUMENTS", "PASSAGES", "BYTES", "UPDATED"]
        listing(await t.knowledge_bases(), fmt, header, base_row, empty=empty)
        return

    def document_row(d: DocumentInfo) -> list[str]:
        return [
            d.name,
            f"r{d.revision}",
            d.format,
            str(d.chunks),
            f"{d.bytes:,}",
            format_time(d.updated_at),
            d.updated_by,
        ]

    header = ["DOCUMENT", "REVISION", "FORMAT", "PASSAGES", "BYTES", "UPDATED", "BY"]
    listing(await t.documents(base), fmt, header, document_row, empty="")


@knowledge.command()
@click.argument("base")
@click.argument("name")
@click.option(
    "--revision", type=click.IntRange(min=1), help="A revision [default: the current one]."
)
@tenant_command(fmt=True)
async def show(
    t: TenantStore, base: str, name: str, revision: int | None, tenant: str, fmt: str
) -> None:
    """A document's content, as it was added (its current revision, or --revision)."""
    document = await t.document(base, name, revision)
    if fmt == "json":
        echo_json(document)
    else:
        click.echo(document.content, nl=not document.content.endswith("\n"))


@knowledge.command()
@click.argument("base")
@click.argument("name")
@tenant_command(fmt=True)
async def history(t: TenantStore, base: str, name: str, tenant: str, fmt: str) -> None:
    """Every revision of a document, oldest first."""

    def row(r: DocumentRevision) -> list[str]:
        size = f"{r.bytes:,}"
        return [f"r{r.revision}", r.hash[:12], r.format, size, format_time(r.created_at), r.author]

    header = ["REVISION", "HASH", "FORMAT", "BYTES", "ADDED", "BY"]
    listing(await t.revisions(base, name), fmt, header, row, empty="")


@knowledge.command()
@click.argument("base")
@click.argument("name")
@tenant_command(actor=True)
async def delete(t: TenantStore, base: str, name: str, tenant: str, actor: str) -> None:
    """Delete a document, every revision of it and its passages, for good (the audit
    log keeps its name and hash)."""
    gone = await t.delete_document(base, name, actor=actor)
    revisions = f"{gone.revision} revision{'s' if gone.revision != 1 else ''}"
    click.echo(f"Deleted {base}/{name} ({revisions})")


@knowledge.command()
@click.argument("base")
@click.argument("query", nargs=-1, required=True)
@click.option(
    "--top-k",
    type=click.IntRange(1, 20),
    default=3,
    show_default=True,
    help="Passages to show at most.",
)
@tenant_command(fmt=True)
async def search(
    t: TenantStore, base: str, query: tuple[str, ...], top_k: int, tenant: str, fmt: str
) -> None:
    """The passages of BASE that best answer QUERY, best first, as the tenant's
    knowledge tools get them: score (relative to the best, 1.00), source and section,
    then the text."""
    from flowctl.engine.knowledge.retrieval import Answer

    asked = " ".join(query)
    found = await t.search(base, asked, top_k=top_k)
    if fmt == "json":
        echo_json(Answer(base=base, query=asked, passages=found))
        return
    if not found:
        click.echo(store_hints(f"No passage of `{base}` matches {asked!r}"), err=True)
    for passage in found:
        click.echo(_heading(passage))
        for line in passage.text.splitlines():
            click.echo(f"    {line}" if line.strip() else "")


def _heading(p: Passage) -> str:
    section = f" ({p.section})" if p.section else ""
    return f"{p.score:.2f}  {p.source}{section}"
