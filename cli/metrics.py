"""``--metrics-port`` and ``--metrics-host``, shared by ``flowctl worker`` and ``flowctl
serve``: where the Prometheus endpoint listens (docs/deployment.md, "Monitoring").

Nothing here imports prometheus_client: the worker must choose its multiprocess
directory before anything does (``flowctl.metrics.exposition.use_directory``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

__all__ = ["METRICS_HOST", "metrics_options", "serving_metrics"]

F = TypeVar("F", bound=Callable[..., Any])

# Loopback: a scrape names every tenant, so reaching it from elsewhere is a choice.
METRICS_HOST = "127.0.0.1"


def metrics_options(command: F) -> F:
    """``--metrics-port`` (``metrics_port``, None: no metrics) and ``--metrics-host``."""
    command = click.option(
        "--metrics-host",
        envvar="FLOWCTL_METRICS_HOST",
        default=METRICS_HOST,
        show_default=True,
        help="Address the metrics endpoint listens on (or FLOWCTL_METRICS_HOST). Its "
        "labels name every tenant: keep it where only your Prometheus reaches it.",
    )(command)
    return click.option(
        "--metrics-port",
        envvar="FLOWCTL_METRICS_PORT",
        type=click.IntRange(1, 65535),
        default=None,
        help="Serve Prometheus metrics at http://HOST:PORT/metrics (or "
        "FLOWCTL_METRICS_PORT); without it, none are recorded.",
    )(command)


@contextmanager
def serving_metrics(
    registry: CollectorRegistry, host: str, port: int, *, name: str
) -> Iterator[None]:
    """``GET /metrics`` on ``host``:``port`` while the block runs; says where on stderr.
    A port that cannot be bound is a ``MetricsError`` (exit 2)."""
    from flowctl.metrics import MetricsServer

    with MetricsServer(registry, host=host, port=port) as server:
        click.echo(f"{name}: metrics at {server.url}", err=True)
        yield
