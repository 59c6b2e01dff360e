"""``flowctl store copy``: a whole store into an empty one (``flowctl.engine.store.sql.copy``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from flowctl.cli.store_common import run, with_store

if TYPE_CHECKING:
    from flowctl.engine.store import Store

__all__ = ["copy"]


@click.command()
@click.option("--from", "source", required=True, metavar="URL", help="The store to copy.")
@click.option(
    "--to", "target", required=True, metavar="URL", help="An empty store (created if new)."
)
@run
async def copy(source: str, target: str) -> None:
    """Copy a whole store into an empty one (SQLite to PostgreSQL as a team outgrows one
    host): tenants, flows with every version and publish, sessions with their events,
    callbacks, the audit log, API keys and secrets. Then verify it: every table is read
    back from both and compared. Stop the workers and `flowctl serve` writing to the
    source first; what they write meanwhile is not copied."""
    from flowctl.engine.store.sql.copy import copy_store
    from flowctl.engine.store.sql.store import SQLStore

    async def into(src: Store) -> None:
        async def body(dst: Store) -> None:
            assert isinstance(src, SQLStore) and isinstance(dst, SQLStore)

            def progress(table: str, rows: int) -> None:
                click.echo(f"  {table}: {rows:,} row{'' if rows == 1 else 's'}", err=True)

            report = await copy_store(src, dst, progress=progress)
            total = sum(report.rows.values())
            click.echo(f"Copied {total:,} rows from {src.url} to {dst.url}; verified")

        await with_store(target, body, create=True)

    await with_store(source, into)
