"""``flowctl route``: which tenant, flow and version a job would get, decided as the
worker decides it, from a folder's tenant files or a store; no LiveKit.

:func:`catalog_options` and :func:`routing_catalog` are where ``route`` and ``token``
read the router's catalog from, so a token is refused exactly where a job would be."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from flowctl.cli.exits import EXIT_FINDINGS, Failure, skip_finalization
from flowctl.cli.store_common import flows_option, format_option, remember_store

if TYPE_CHECKING:
    from flowctl.engine.routing import Catalog, Routed
    from flowctl.engine.spec import Flow

__all__ = ["catalog_options", "check_overrides", "route", "routing_catalog"]


def catalog_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """``--flows`` (``flows_dir``) and ``--store`` (``store_url``): the catalog to route by."""
    command = click.option(
        "--store",
        "store_url",
        metavar="URL",
        callback=remember_store,
        help="Route from the store's tenants and published versions instead of --flows.",
    )(command)
    return flows_option("Folder of flows; its tenants/ folder holds the tenant files.")(command)


def routing_catalog(flows_dir: Path, store_url: str | None) -> Catalog:
    """The catalog of ``--flows`` or ``--store``; tenant files or a store that cannot be
    used are a :class:`Failure` (one problem a line). The router's own log line is
    silenced: the command prints the decision itself."""
    import logging

    from flowctl.engine.errors import FlowError
    from flowctl.engine.tenants import load_catalog

    try:
        catalog = load_catalog(flows_dir) if store_url is None else _store_catalog(store_url)
    except FlowError as exc:  # one problem a line, each a line of its own
        raise Failure(str(exc).replace("\n", "\nflowctl: error: "), exc.exit_code) from exc
    logging.getLogger("flowctl.engine.routing").addHandler(logging.NullHandler())
    return catalog


@click.command()
@click.option("--metadata", "job_metadata", metavar="JSON", help="The job's metadata.")
@click.option(
    "--room-metadata", metavar="JSON", help="The room's metadata (used without job metadata)."
)
@click.option(
    "--attributes",
    metavar="JSON",
    help="The first participant's attributes, a JSON object of strings (used without either).",
)
@catalog_options
@format_option
def route(
    job_metadata: str | None,
    room_metadata: str | None,
    attributes: str | None,
    flows_dir: Path,
    store_url: str | None,
    fmt: str,
) -> None:
    """Which tenant, flow and version a job with this metadata would get, and the rule
    that decided (docs/routing.md).

    Exit 0 when the job is routed, 1 when it is rejected (the reason is printed), 2 for
    usage errors or tenant files that cannot be used (each problem at file:row:col).
    """
    import json

    from flowctl.engine.routing import Rejected
    from flowctl.engine.routing import route as decide_route

    skip_finalization()
    if job_metadata is None and room_metadata is None and attributes is None:
        raise Failure("give --metadata, --room-metadata or --attributes")
    attrs = None
    if attributes is not None:
        try:
            attrs = json.loads(attributes)
        except ValueError as exc:
            raise Failure(f"--attributes is not JSON: {exc}") from exc
        if not isinstance(attrs, dict):
            raise Failure("--attributes must be a JSON object")
    catalog = routing_catalog(flows_dir, store_url)
    result = decide_route(catalog, job_metadata, room_metadata, attrs)
    if fmt == "json":
        import msgspec

        click.echo(json.dumps(msgspec.to_builtins(result), indent=2))
    elif isinstance(result, Rejected):
        click.echo(f"rejected  {result.reason}")
        click.echo(f"origin    {result.origin or '-'}")
    else:
        click.echo(f"tenant    {result.tenant_id}")
        click.echo(f"flow      {result.flow_id}")
        click.echo(f"version   {result.version or '-'}")
        click.echo(f"rule      {result.rule}")
        click.echo(f"reason    {result.reason}")
        click.echo(f"origin    {result.origin}")
    sys.exit(EXIT_FINDINGS if isinstance(result, Rejected) else 0)


def check_overrides(decision: Routed, catalog: Catalog, store_url: str | None) -> None:
    """Refuse, as the worker would refuse the job, ``overrides`` the routed flow does not
    allow (``flowctl.engine.overrides``): a :class:`Failure` with its reasons."""
    from flowctl.engine.overrides import OverrideRefused, session_settings

    if not decision.overrides:
        return
    try:
        session_settings(_routed_flow(decision, catalog, store_url), decision.overrides)
    except OverrideRefused as exc:
        raise Failure(f"--metadata would be refused: {exc}") from exc


def _routed_flow(decision: Routed, catalog: Catalog, store_url: str | None) -> Flow:
    """The flow a decision routes to: its file in the folder, or its stored version."""
    from flowctl.engine.load import load_bytes, load_path

    if store_url is None:
        entry = catalog.flow(decision.flow_id, decision.tenant_id)
        assert entry is not None and entry.location is not None  # routing found it
        loaded = load_path(Path(entry.location))
    else:
        import asyncio

        from flowctl.engine.store import open_store

        async def document() -> str:
            async with await open_store(store_url) as store:
                tenant = store.tenant(decision.tenant_id)
                version = await tenant.version(decision.flow_id, int(decision.version or 0))
                return version.document

        name = f"{decision.tenant_id}/{decision.flow_id}@v{decision.version}"
        loaded = load_bytes(asyncio.run(document()).encode(), name, stem=decision.flow_id)
    if loaded.flow is None:  # published or served, so it decoded once
        raise Failure(f"flow `{decision.flow_id}` does not decode: see `flowctl lint`")
    return loaded.flow


def _store_catalog(url: str) -> Catalog:
    """The routing catalog of a store's tenants and published versions."""
    import asyncio

    from flowctl.engine.store import open_store
    from flowctl.engine.store.catalog import load_store_catalog

    async def snapshot() -> Catalog:
        async with await open_store(url) as store:
            return await load_store_catalog(store)

    return asyncio.run(snapshot())
