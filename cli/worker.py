"""``flowctl worker dev|start``: the LiveKit voice worker; ``flowctl token``: a
participant token whose room dispatches it.

Neither imports LiveKit until it runs (``flowctl --help`` and the other commands stay
fast).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from flowctl.cli.exits import Failure
from flowctl.cli.metrics import metrics_options, serving_metrics
from flowctl.cli.route import catalog_options, check_overrides, routing_catalog
from flowctl.cli.store_common import (
    flows_option,
    read_catalog,
    remember_store,
    store_hints,
    templates_option,
    tools_option,
)
from flowctl.engine.defaults import CALLS_PER_CORE, LEASE_SECONDS, LOAD_THRESHOLD

__all__ = ["token", "worker"]

_LOG_LEVELS = ["DEBUG", "INFO", "WARNING", "ERROR"]


def _worker_options(command: Callable[..., Any]) -> Callable[..., Any]:
    command = metrics_options(command)
    command = tools_option(command)
    command = templates_option(command)
    command = click.option(
        "--log-level",
        type=click.Choice(_LOG_LEVELS, case_sensitive=False),
        default="INFO",
        show_default=True,
        help="Log level of the worker and its jobs.",
    )(command)
    command = click.option(
        "--agent-name",
        default="",
        metavar="NAME",
        help="Explicit dispatch: take only jobs dispatched to NAME (a token made with "
        "`flowctl token --agent-name NAME`). Without it, the worker joins every new room.",
    )(command)
    command = click.option(
        "--health-port",
        envvar="FLOWCTL_HEALTH_PORT",
        type=click.IntRange(0, 65535),
        default=None,
        metavar="PORT",
        help="The port of LiveKit's health server, `/` and `/worker` (or FLOWCTL_HEALTH_PORT; "
        "default: 8081 with `start`, any free port with `dev`).",
    )(command)
    command = click.option(
        "--load-threshold",
        envvar="FLOWCTL_LOAD_THRESHOLD",
        type=click.FloatRange(0, 1, min_open=True),
        default=LOAD_THRESHOLD,
        show_default=True,
        metavar="LOAD",
        help="With `start`: the load at which the worker takes no more jobs (or "
        "FLOWCTL_LOAD_THRESHOLD). The load is the worker's calls over --calls-per-core "
        'times its cores, or its CPU use if higher (docs/deployment.md, "Sizing").',
    )(command)
    command = click.option(
        "--calls-per-core",
        envvar="FLOWCTL_CALLS_PER_CORE",
        type=click.FloatRange(min=0, min_open=True),
        default=CALLS_PER_CORE,
        show_default=True,
        metavar="CALLS",
        help="How many calls a core carries before callers notice, measured with "
        "bench/capacity_bench.py (or FLOWCTL_CALLS_PER_CORE); a load of 1.",
    )(command)
    command = click.option(
        "--lease",
        "lease_seconds",
        envvar="FLOWCTL_LEASE",
        type=click.FloatRange(min=1),
        default=LEASE_SECONDS,
        show_default=True,
        metavar="SECONDS",
        help="With --store: how long a session stays held without a heartbeat (or "
        "FLOWCTL_LEASE). Renewed every third of it; a worker that dies frees its "
        "sessions' slots within it, and they are closed as `abandoned`.",
    )(command)
    command = click.option(
        "--store",
        "store_url",
        default=None,
        metavar="URL",
        callback=remember_store,  # the hints it prints name it (store_hints)
        help="Serve the published versions of a store (sqlite:///flowctl.db) instead of "
        "--flows; sessions are recorded in it.",
    )(command)
    return flows_option(
        "Folder of flows; its tenants/ folder says who owns which and how jobs route "
        "(without one, each flow is its own tenant: its customer_id, else its flow id)."
    )(command)


@click.group()
def worker() -> None:
    """The LiveKit voice worker: runs the flows of a folder, or a store's published
    versions, as voice agents.

    Each job is routed by its metadata (docs/routing.md) to one tenant's flow. Before
    connecting, every flow a tenant owns is linted and compiled, and every provider's
    key is checked. With --flows the worker refuses to start on an error (exit 1 for a
    flow's findings, 2 for anything else). With --store each published version is
    compiled as its tenant's flow; one that cannot be served is listed (as an error)
    and refused to its calls, and the worker serves every other. A tool catalog
    (--tools) whose functions do not import stops it (exit 2). It connects with
    LIVEKIT_URL, LIVEKIT_API_KEY and LIVEKIT_API_SECRET.

    With --metrics-port, every job process records Prometheus metrics (calls, turns,
    edges, tools, refusals, the first word, the store) into a multiprocess directory
    (PROMETHEUS_MULTIPROC_DIR, else a temporary one), and the worker serves them summed
    at /metrics, beside LiveKit's own (docs/deployment.md, "Monitoring").
    """


def _mode(name: str, dev: bool, doc: str) -> None:
    """``flowctl worker NAME``: the same options in either mode."""

    @worker.command(name=name, help=doc)
    @_worker_options
    def command(**options: Any) -> None:
        _serve(**options, dev=dev)


_mode(
    "dev", True, "Run the worker in development mode (readable logs, processes started on demand)."
)
_mode("start", False, "Run the worker in production mode (JSON logs, prewarmed job processes).")


def _serve(
    flows_dir: Path,
    store_url: str | None,
    agent_name: str,
    log_level: str,
    tools_path: Path | None,
    templates_dirs: tuple[Path, ...],
    lease_seconds: float,
    metrics_port: int | None,
    metrics_host: str,
    calls_per_core: float,
    load_threshold: float,
    health_port: int | None,
    *,
    dev: bool,
) -> None:
    metrics_dir, made = "", False
    if metrics_port is not None:
        # Before LiveKit imports prometheus_client, which reads the directory then; the
        # job processes inherit it.
        from flowctl.metrics.exposition import use_directory

        metrics_dir, made = use_directory()
    try:
        _run(
            flows_dir,
            store_url,
            agent_name,
            log_level,
            tools_path,
            dev=dev,
            templates_dirs=templates_dirs,
            lease_seconds=lease_seconds,
            metrics_dir=metrics_dir,
            metrics_host=metrics_host,
            metrics_port=metrics_port,
            calls_per_core=calls_per_core,
            load_threshold=load_threshold,
            health_port=health_port,
        )
    finally:
        if made:
            shutil.rmtree(metrics_dir, ignore_errors=True)


def _run(
    flows_dir: Path,
    store_url: str | None,
    agent_name: str,
    log_level: str,
    tools_path: Path | None,
    *,
    dev: bool,
    templates_dirs: tuple[Path, ...] = (),
    lease_seconds: float,
    metrics_dir: str,
    metrics_host: str,
    metrics_port: int | None,
    calls_per_core: float,
    load_threshold: float,
    health_port: int | None,
) -> None:
    from flowctl.engine.errors import FlowError
    from flowctl.worker.server import FlowServer, WorkerConfig, missing_livekit_env, preflight, run

    read_catalog(tools_path, check_functions=True)  # every function imports, or exit 2
    config = WorkerConfig(
        flows_dir=str(flows_dir),
        agent_name=agent_name,
        store_url=store_url or "",
        tools_path=str(tools_path.resolve()) if tools_path is not None else "",
        templates_dirs=tuple(str(d.resolve()) for d in templates_dirs),
        lease_seconds=lease_seconds,
        metrics_dir=metrics_dir,
        calls_per_core=calls_per_core,
        load_threshold=load_threshold,
        health_port=health_port,
    )
    try:
        library = preflight(config)
    except FlowError as exc:  # one problem a line, each a line of its own
        message = store_hints(str(exc)).replace("\n", "\nflowctl: error: ")
        raise Failure(message, exc.exit_code) from exc
    unservable = library.unservable()
    for flow in unservable:  # a store's: refused to their calls, the rest is served
        for problem in flow.problems:
            click.echo(f"flowctl: error: {flow.location}: {store_hints(problem)}", err=True)
    missing = missing_livekit_env(os.environ)
    if missing:
        raise Failure(
            f"set {', '.join(missing)} to connect to LiveKit "
            "(the server's URL, and an API key and secret of its project)"
        )
    served = library.served()
    tenants = sorted({s.tenant_id for s in served})
    dispatch = f"jobs dispatched to `{agent_name}`" if agent_name else "every new room"
    not_served = f"{len(unservable)} not served, " if unservable else ""
    click.echo(
        f"flowctl worker: {len(served)} flows of {len(tenants)} tenants from "
        f"{store_url or flows_dir}, {not_served}for {dispatch}",
        err=True,
    )
    if metrics_port is None:
        run(FlowServer(config, library).build(), dev=dev, log_level=log_level.upper())
        return
    from flowctl.metrics import Metrics, worker_registry

    server = FlowServer(config, library, metrics=Metrics.shared()).build()
    registry = worker_registry(metrics_dir)
    with serving_metrics(registry, metrics_host, metrics_port, name="flowctl worker"):
        run(server, dev=dev, log_level=log_level.upper())


@click.command()
@click.option("--room", required=True, help="The room the token joins.")
@click.option("--identity", required=True, help="The participant's identity.")
@click.option("--name", default=None, help="The participant's display name.")
@click.option(
    "--metadata",
    metavar="JSON",
    help="The routing request (docs/routing.md): the job's metadata with --agent-name, "
    "else the metadata of the room the token creates.",
)
@click.option(
    "--agent-name",
    default="",
    metavar="NAME",
    help="Dispatch the worker started with `--agent-name NAME` to the room.",
)
@click.option(
    "--ttl",
    type=click.IntRange(min=60),
    default=3600,
    show_default=True,
    help="Seconds the token stays valid.",
)
@catalog_options
def token(
    metadata: str | None, ttl: int, flows_dir: Path, store_url: str | None, **participant: Any
) -> None:
    """Print a participant token (a JWT) for ROOM, signed with LIVEKIT_API_KEY and
    LIVEKIT_API_SECRET. With --agent-name it dispatches that agent, passing --metadata
    as the job's metadata; without, --metadata becomes the room's metadata (when the
    token's participant creates the room), which a worker without an agent name
    routes by.

    --metadata is routed as the worker routes it, by the tenants of --flows or --store:
    exit 2 when a key is missing or the router would refuse it (an unknown tenant,
    another tenant's flow), with the router's reason, or when its `overrides` ask for
    what the routed flow's `overridable` does not list, with the worker's reason. A
    store's flows are its tenants', which the worker serves only in their rooms
    (TENANT:NAME): with --store, a ROOM with no namespace is put in the tenant's (a note
    says so), and another tenant's is refused (exit 2).
    """
    key = os.environ.get("LIVEKIT_API_KEY", "")
    secret = os.environ.get("LIVEKIT_API_SECRET", "")
    missing = [n for n, v in (("LIVEKIT_API_KEY", key), ("LIVEKIT_API_SECRET", secret)) if not v]
    if missing:
        raise Failure(f"set {' and '.join(missing)} to sign tokens")
    if metadata is not None:
        from flowctl.engine.routing import Rejected, route

        catalog = routing_catalog(flows_dir, store_url)
        decision = route(catalog, metadata)
        if isinstance(decision, Rejected):
            raise Failure(f"--metadata would be refused: {decision.reason}")
        check_overrides(decision, catalog, store_url)
        if store_url is not None:
            participant["room"] = _tenant_room(decision.tenant_id, participant["room"])
    from flowctl.worker.tokens import participant_token, short_secret

    note = short_secret(secret)
    if note is not None:
        click.echo(f"flowctl token: note: {note}", err=True)
    click.echo(participant_token(key, secret, ttl_seconds=ttl, metadata=metadata, **participant))


def _tenant_room(tenant_id: str, room: str) -> str:
    """The room a token for a call of tenant ``tenant_id`` joins: ``room`` in the
    tenant's namespace, as the API names it (a note on stderr when it renamed it); a
    room the worker would refuse is a :class:`Failure` in the worker's words."""
    from flowctl.engine.boundary import tenant_room

    try:
        named = tenant_room(tenant_id, room)
    except ValueError as exc:
        raise Failure(f"--room would be refused: {exc}") from exc
    if named != room:
        click.echo(
            f"flowctl token: note: the token joins `{named}`: tenant `{tenant_id}`'s calls "
            f"run in its rooms (`{tenant_id}:<name>`)",
            err=True,
        )
    return named
