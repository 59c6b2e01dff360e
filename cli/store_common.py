"""What the commands share (most of them the store's: ``flowctl store``, ``tenants``,
``sessions``, ``callbacks``, ``keys``): the ``--store``, ``--tenant``, ``--actor``, ``--format``,
``--flows``, ``--templates`` and ``--tools`` options, running an async command body, and
small printers.

Every command takes ``--store URL`` (default ``sqlite:///flowctl.db``, or
``FLOWCTL_STORE``); tenant-scoped ones take ``--tenant`` (or ``FLOWCTL_TENANT``), and
changes are recorded in the audit log under ``--actor`` (default ``FLOWCTL_USER``,
else your login name). Exit 0 on success, 1 when a version has lint errors or an
``--expect`` check fails, 2 for usage and store errors; never a traceback. Nothing here
imports the engine, asyncio or LiveKit until a command runs, so ``flowctl lint``
starts as fast as before.

A hint that names a command to run (``create it with `flowctl tenants create acme```)
keeps the ``--store`` the user gave (:func:`store_hints`): pasted, it acts on the same
store, not on the default one.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from functools import wraps
from pathlib import Path
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

import click

from flowctl.cli.exits import Failure
from flowctl.engine.defaults import STORE_URL
from flowctl.engine.hints import on_store

if TYPE_CHECKING:
    from flowctl.engine.boundary import ToolCatalog
    from flowctl.engine.store import Store, TenantStore

__all__ = [
    "DEFAULT_URL",
    "actor_option",
    "echo_json",
    "flows_option",
    "format_option",
    "formats",
    "lint_summary",
    "listing",
    "read_catalog",
    "remember_store",
    "run",
    "store_hints",
    "store_option",
    "table",
    "templates_option",
    "tenant_command",
    "tenant_option",
    "tools_option",
    "version_name",
    "with_store",
    "with_tenant",
]

DEFAULT_URL = STORE_URL  # flowctl.engine.store.DEFAULT_URL, without importing the store
T = TypeVar("T")
P = ParamSpec("P")
# What click's option decorators take and give back: a command function (or command).
F = TypeVar("F", bound=Callable[..., Any])


def _actor() -> str:
    import getpass

    try:
        return os.environ.get("FLOWCTL_USER") or getpass.getuser()
    except (KeyError, OSError):  # no login name (a container without /etc/passwd entry)
        return "unknown"


_STORE_KEY = "flowctl.store"


def remember_store(ctx: click.Context, param: click.Parameter, url: str | None) -> str | None:
    """A ``--store`` option's callback: the URL the hints of this run name, when it was
    given on the command line (from ``FLOWCTL_STORE`` a pasted hint reads it again)."""
    from click.core import ParameterSource

    if param.name and ctx.get_parameter_source(param.name) is ParameterSource.COMMANDLINE:
        ctx.meta[_STORE_KEY] = url
    return url


def store_hints(text: str) -> str:
    """``text`` with ``--store URL`` added to every backticked store command it names,
    when this run's ``--store`` was given on the command line and is not the default
    (so a pasted hint acts on the same store; ``flowctl.engine.hints``)."""
    ctx = click.get_current_context(silent=True)
    return on_store(text, ctx.meta.get(_STORE_KEY) if ctx is not None else None)


store_option = click.option(
    "--store",
    "url",
    envvar="FLOWCTL_STORE",
    default=DEFAULT_URL,
    show_default=True,
    callback=remember_store,
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


def formats(*names: str, help: str | None = None) -> Callable[[F], F]:
    """``--format`` (``fmt``) choosing one of ``names``, the first by default."""
    return click.option(
        "--format",
        "fmt",
        type=click.Choice(names),
        default=names[0],
        show_default=True,
        help=help,
    )


def flows_option(help: str) -> Callable[[F], F]:
    """``--flows`` (``flows_dir``): the folder of the operator's flows and tenant files."""
    return click.option(
        "--flows",
        "flows_dir",
        type=click.Path(path_type=Path),
        default=Path("flows"),
        show_default=True,
        help=help,
    )


format_option = formats("text", "json")
templates_option = click.option(
    "--templates",
    "templates_dirs",
    multiple=True,
    type=click.Path(path_type=Path, file_okay=False),
    help="Folder of the templates flows extend (repeat to search several, in order) "
    "[default: the templates/ folder beside each flow].",
)
tools_option = click.option(
    "--tools",
    "tools_path",
    envvar="FLOWCTL_TOOLS",
    type=click.Path(path_type=Path, dir_okay=False),
    help="The operator's tool catalog (JSON; or FLOWCTL_TOOLS): the python tools tenants' "
    "flows may name as `catalog` tools.",
)


def read_catalog(path: Path | None, *, check_functions: bool = False) -> ToolCatalog | None:
    """The catalog at ``path`` (None: no catalog); a catalog that cannot be used is a
    usage error naming every problem."""
    if path is None:
        return None
    from flowctl.engine.boundary import CatalogError, ToolCatalog

    try:
        return ToolCatalog.load(path, check_functions=check_functions)
    except CatalogError as exc:
        raise Failure(f"Cannot use tool catalog `{path}`:\n" + "\n".join(exc.problems)) from exc


def run(work: Callable[P, Coroutine[Any, Any, T]]) -> Callable[P, T]:
    """Run an async command body (the command group turns the engine's errors into
    messages and exit codes)."""

    @wraps(work)
    def command(*args: P.args, **kwargs: P.kwargs) -> T:
        import asyncio

        return asyncio.run(work(*args, **kwargs))

    return command


def tenant_command(
    *, actor: bool = False, fmt: bool = False, argument: bool = False
) -> Callable[[Callable[..., Awaitable[None]]], Callable[..., None]]:
    """A command on one tenant's part of the store, which most store commands are: it
    takes the tenant (``--tenant``, or with ``argument`` a ``TENANT`` argument), ``--actor``
    when it changes something, ``--store``, and ``--format`` when it prints data; it is
    async and its first parameter is the tenant's store, opened for the command and
    closed after. Its other parameters are click's, ``tenant`` among them.

    A command that must read or check its input before the store is opened (a file,
    standard input) runs itself instead, with :func:`run` and :func:`with_tenant`."""
    tenant = click.argument("tenant", metavar="TENANT") if argument else tenant_option
    options = [tenant, *([actor_option] if actor else []), store_option]
    options += [format_option] if fmt else []

    def decorate(work: Callable[..., Awaitable[None]]) -> Callable[..., None]:
        @wraps(work)
        async def opened(url: str, **params: Any) -> None:
            await with_tenant(url, params["tenant"], lambda t: work(t, **params))

        command = run(opened)
        for option in reversed(options):
            command = option(command)
        return command

    return decorate


async def with_store(
    url: str,
    body: Callable[[Store], Awaitable[T]],
    *,
    create: bool = False,
    catalog: ToolCatalog | None = None,
) -> T:
    from flowctl.engine.store import open_store
    from flowctl.engine.store.routing import validate_routing

    async with await open_store(
        url, create=create, validate_routing=validate_routing, catalog=catalog
    ) as opened:
        return await body(opened)


async def with_tenant(
    url: str,
    tenant: str,
    body: Callable[[TenantStore], Awaitable[T]],
    *,
    catalog: ToolCatalog | None = None,
) -> T:
    return await with_store(url, lambda s: body(s.tenant(tenant)), catalog=catalog)


def echo_json(value: Any) -> None:
    import json

    import msgspec

    click.echo(json.dumps(msgspec.to_builtins(value), indent=2, ensure_ascii=False))


def listing(
    found: Sequence[T],
    fmt: str,
    header: list[str],
    row: Callable[[T], list[str]],
    *,
    empty: str,
) -> None:
    """``found`` as JSON, or as a table under ``header`` with one ``row`` each, or when
    there is nothing, ``empty`` on stderr (it is not data)."""
    if fmt == "json":
        echo_json(found)
    elif not found:
        click.echo(store_hints(empty), err=True)
    else:
        table([header, *map(row, found)])


def table(rows: list[list[str]]) -> None:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        click.echo("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


def version_name(version: int | None) -> str:
    return "none" if version is None else f"v{version}"


def lint_summary(errors: int, warnings: int) -> str:
    if not errors and not warnings:
        return "clean"
    parts = [
        f"{n} {word}{'' if n == 1 else 's'}"
        for n, word in ((errors, "error"), (warnings, "warning"))
        if n
    ]
    return ", ".join(parts)
