"""``flowctl serve``: the admin HTTP API (docs/api.md) on a store, served by uvicorn.

Nothing here imports the web framework until the command runs, so ``flowctl lint`` and
the store commands start as fast as before.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import click

from flowctl.cli.metrics import metrics_options, serving_metrics
from flowctl.cli.store_common import read_catalog, store_option, tools_option

__all__ = ["serve"]


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port", type=click.IntRange(1, 65535), default=8000, show_default=True, help="TCP port."
)
@store_option
@click.option(
    "--platform-tenant",
    envvar="FLOWCTL_PLATFORM_TENANT",
    default="platform",
    show_default=True,
    help="The tenant whose admin keys may manage every tenant (or FLOWCTL_PLATFORM_TENANT).",
)
@click.option(
    "--agent-name",
    envvar="FLOWCTL_AGENT_NAME",
    default="flowctl",
    show_default=True,
    help="The agent that minted tokens dispatch (the worker's --agent-name).",
)
@tools_option
@click.option("--access-log/--no-access-log", default=True, help="Log every request.")
@click.option(
    "--webhooks/--no-webhooks",
    "deliver_webhooks",
    default=True,
    show_default=True,
    help="Deliver the tenants' webhooks from this process (`flowctl webhooks deliver` "
    "does it on its own).",
)
@metrics_options
def serve(
    host: str,
    port: int,
    url: str,
    tools_path: Path | None,
    access_log: bool,
    deliver_webhooks: bool,
    metrics_port: int | None,
    metrics_host: str,
    **settings: str,
) -> None:
    """The admin HTTP API: flows, versions, sessions, routing and LiveKit tokens per
    tenant, authenticated by keys from `flowctl keys create`. OpenAPI at /openapi.json,
    interactive docs at /docs; the web console (sign in with a key) at /.

    The store must exist (`flowctl store init`); opening it applies any migration it
    lacks. Tokens need LIVEKIT_API_KEY and LIVEKIT_API_SECRET (LIVEKIT_URL is passed on
    to clients); without them POST /api/v1/tokens answers 503. One process: SQLite has
    one writer, and every request is a few indexed reads. Pushed flows are linted as
    their tenant's, against the tool catalog given with --tools (its functions need not
    be importable here: the workers check them).

    With --metrics-port, Prometheus metrics (the store's operations, the process's own)
    are served at /metrics on that port, on loopback unless --metrics-host says
    otherwise, never on the API's port: their labels name every tenant.
    """
    import asyncio

    from flowctl.engine.store import open_store

    async def check() -> None:
        async with await open_store(url):
            pass

    catalog = read_catalog(tools_path)
    asyncio.run(check())

    import logging
    import sys

    import uvicorn

    from flowctl.api import Settings, create_app, livekit_from_env

    # uvicorn configures its own loggers; this is for flowctl's (an unexpected error's
    # traceback, a stored routing document that no longer parses), on stderr.
    logging.basicConfig(level=logging.INFO, format="%(levelname)s:  %(name)s: %(message)s")

    livekit = livekit_from_env()
    metrics = None
    if metrics_port is not None:
        from flowctl.metrics import Metrics

        metrics = Metrics.shared()
    served = Settings(
        store_url=url,
        livekit=livekit,
        catalog=catalog,
        metrics=metrics,
        deliver_webhooks=deliver_webhooks,
        platform_tenant=settings["platform_tenant"],
        agent_name=settings["agent_name"],
    )
    click.echo(
        f"flowctl serve: store {url}; console at http://{host}:{port}/, "
        f"API docs at http://{host}:{port}/docs"
        + ("" if livekit else "; no LIVEKIT_API_KEY/SECRET: tokens answer 503"),
        err=True,
    )
    # Lint of a pushed document runs in a thread, which holds the GIL while it computes:
    # the event loop asks for it back at every request. Python hands it over after 5 ms
    # by default; after 1 ms here, so one tenant pushing megabyte flows back to back
    # costs every other request milliseconds, not tens of them (bench/api_bench.py:
    # /health p99 55 ms at 5 ms, 38 ms at 1 ms, p50 12 ms and 3 ms).
    sys.setswitchinterval(0.001)
    app = create_app(served)
    with contextlib.ExitStack() as stack:
        if metrics is not None and metrics_port is not None:
            assert metrics.registry is not None  # the process's own: its scrape
            stack.enter_context(
                serving_metrics(metrics.registry, metrics_host, metrics_port, name="flowctl serve")
            )
        uvicorn.run(
            app,
            host=host,
            port=port,
            access_log=access_log,
            log_level="info",
            # Requests are short; on SIGTERM wait this long for those in flight.
            timeout_graceful_shutdown=5,
        )
