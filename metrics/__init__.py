"""Prometheus metrics of the worker and of ``flowctl serve`` (docs/deployment.md,
"Monitoring"): what is counted (``catalog``), the objects that count it
(``recorder``), the store timed (``store``), and the endpoint that serves it all
(``exposition``).

The engine knows nothing of this: a ``Conversation`` takes an observer
(``flowctl.engine.observer``), and :class:`SessionMetrics` is the one the worker gives
it. The public names load on first use, so importing the package imports neither
prometheus_client nor anything else (the multiprocess directory must be chosen before
prometheus_client is imported).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from flowctl.engine.exports import lazy

if TYPE_CHECKING:  # what the names below resolve to, for type checkers
    from flowctl.metrics.catalog import CATALOG, MetricSpec
    from flowctl.metrics.exposition import (
        MetricsError,
        MetricsServer,
        use_directory,
        worker_registry,
    )
    from flowctl.metrics.recorder import Metrics, SessionMetrics
    from flowctl.metrics.store import timed

# Each public name and the module that defines it (a test keeps it equal to __all__).
_HOMES = {
    "CATALOG": "catalog",
    "MetricSpec": "catalog",
    "Metrics": "recorder",
    "MetricsError": "exposition",
    "MetricsServer": "exposition",
    "SessionMetrics": "recorder",
    "timed": "store",
    "use_directory": "exposition",
    "worker_registry": "exposition",
}

__all__ = [
    "CATALOG",
    "MetricSpec",
    "Metrics",
    "MetricsError",
    "MetricsServer",
    "SessionMetrics",
    "timed",
    "use_directory",
    "worker_registry",
]

__getattr__, __dir__ = lazy(__name__, _HOMES, globals())
