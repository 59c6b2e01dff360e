"""The Prometheus objects of one process, built from the catalog, and what records into
them: :class:`SessionMetrics` (one call's, the engine's observer), the job and store
counts.

In the worker, every job process records into files in the multiprocess directory
(prometheus_client's multiprocess mode, which LiveKit's own metrics use too) and the
worker's process serves them summed (``flowctl.metrics.exposition``); ``flowctl serve``
records into its own registry. Either way :meth:`Metrics.shared` is the one set of
objects a process has.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, Literal

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram

from flowctl.engine.events import Event, Fired, RefusedEvent, ToolCalled, ToolReturned
from flowctl.engine.observer import RefusalCause
from flowctl.metrics import catalog
from flowctl.metrics.catalog import MetricSpec

__all__ = ["JobRefusal", "Metrics", "SessionMetrics"]

# Why a job was not served (flowctl_jobs_refused's `reason`; see the catalog).
JobRefusal = Literal["routing", "not_served", "declined"]


def _counter(spec: MetricSpec, registry: CollectorRegistry | None) -> Counter:
    assert spec.kind == "counter", spec
    return Counter(spec.name, spec.help, spec.labels, registry=registry)


def _gauge(spec: MetricSpec, registry: CollectorRegistry | None) -> Gauge:
    assert spec.kind == "gauge", spec
    return Gauge(
        spec.name, spec.help, spec.labels, registry=registry, multiprocess_mode=spec.gauge_mode
    )


def _histogram(spec: MetricSpec, registry: CollectorRegistry | None) -> Histogram:
    assert spec.kind == "histogram", spec
    return Histogram(spec.name, spec.help, spec.labels, registry=registry, buckets=spec.buckets)


class Metrics:
    """Every metric of the catalog, registered in ``registry`` (a test's own; None: in
    no registry, which multiprocess mode does not need). A process uses
    :meth:`shared`."""

    _shared: Metrics | None = None
    _lock = threading.Lock()

    def __init__(self, registry: CollectorRegistry | None) -> None:
        self.registry = registry
        self.sessions_started = _counter(catalog.SESSIONS_STARTED, registry)
        self.sessions_ended = _counter(catalog.SESSIONS_ENDED, registry)
        self.sessions_running = _gauge(catalog.SESSIONS_RUNNING, registry)
        self.turns = _counter(catalog.TURNS, registry)
        self.transitions = _counter(catalog.TRANSITIONS, registry)
        self.refusals = _counter(catalog.REFUSALS, registry)
        self.tool_seconds = _histogram(catalog.TOOL_SECONDS, registry)
        self.tool_failures = _counter(catalog.TOOL_FAILURES, registry)
        self.first_word_seconds = _histogram(catalog.FIRST_WORD_SECONDS, registry)
        self.jobs_refused = _counter(catalog.JOBS_REFUSED, registry)
        self.store_seconds = _histogram(catalog.STORE_SECONDS, registry)
        self.store_errors = _counter(catalog.STORE_ERRORS, registry)
        self.webhook_deliveries = _counter(catalog.WEBHOOK_DELIVERIES, registry)
        self.webhook_delivery_seconds = _histogram(catalog.WEBHOOK_DELIVERY_SECONDS, registry)
        self.webhook_lag_seconds = _gauge(catalog.WEBHOOK_LAG_SECONDS, registry)

    @classmethod
    def shared(cls) -> Metrics:
        """This process's metrics, in prometheus_client's default registry (made on first
        use: a metric's name may be registered only once)."""
        with cls._lock:
            if cls._shared is None:
                cls._shared = cls(REGISTRY)
            return cls._shared

    def session(
        self, tenant: str, flow: str, *, job_started: float | None = None
    ) -> SessionMetrics:
        """What one call records, for ``tenant``'s ``flow``; ``job_started``: when its
        job started (``time.monotonic()``), for the time to the first word."""
        return SessionMetrics(self, tenant, flow, job_started=job_started)

    def job_refused(self, reason: JobRefusal) -> None:
        self.jobs_refused.labels(reason).inc()

    def webhook_attempt(self, tenant: str, event: str, outcome: str, age: float) -> None:
        """One delivery attempt (``flowctl.worker.webhooks.Observe``): its outcome, and
        for a delivered event how long after it happened."""
        self.webhook_deliveries.labels(tenant, event, outcome).inc()
        if outcome == "delivered":
            self.webhook_delivery_seconds.labels(tenant).observe(max(age, 0.0))

    def webhook_lag(self, tenant: str, seconds: float) -> None:
        """How far behind the tenant's webhook deliveries are (``Deliverer``'s lag)."""
        self.webhook_lag_seconds.labels(tenant).set(seconds)

    def store_call(self, operation: str, seconds: float, error: BaseException | None) -> None:
        self.store_seconds.labels(operation).observe(seconds)
        if error is not None:
            self.store_errors.labels(operation, type(error).__name__).inc()


class SessionMetrics:
    """One call's metrics: the ``Conversation``'s observer (edges, tools, refusals) and
    what the worker tells it (start, end, turns, the first word). Its (tenant, flow)
    series are looked up once, and each edge's or tool's on first use, so a turn costs
    a dictionary lookup and an increment per event. One event loop drives it."""

    def __init__(
        self,
        metrics: Metrics,
        tenant: str,
        flow: str,
        *,
        job_started: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.metrics = metrics
        self.labels = (tenant, flow)
        self.clock = clock
        self.job_started = job_started
        self._running = metrics.sessions_running.labels(tenant, flow)
        self._edges: dict[str, Any] = {}
        self._tools: dict[str, tuple[Any, Any]] = {}
        self._turns: dict[str, Any] = {}
        self._calls: dict[str, list[float]] = {}  # tool -> start times of calls running
        self._state = "new"  # new, started, ended

    # --- the conversation's observer ---------------------------------------------------

    def __call__(self, event: Event, cause: RefusalCause | None, /) -> None:
        match event:
            case Fired(edge=edge):
                counter = self._edges.get(edge)
                if counter is None:
                    counter = self._edges[edge] = self.metrics.transitions.labels(
                        *self.labels, edge
                    )
                counter.inc()
            case ToolCalled(tool=tool):
                self._calls.setdefault(tool, []).append(self.clock())
            case ToolReturned():
                self._tool_returned(event)
            case RefusedEvent():
                self.metrics.refusals.labels(*self.labels, cause or "unknown").inc()

    def _tool_returned(self, event: ToolReturned) -> None:
        starts = self._calls.get(event.tool)
        tool = self._tools.get(event.tool)
        if tool is None:
            tool = self._tools[event.tool] = (
                self.metrics.tool_seconds.labels(*self.labels, event.tool),
                self.metrics.tool_failures.labels(*self.labels, event.tool),
            )
        if starts:  # calls of one tool may overlap (parallel calls): first in, first out
            tool[0].observe(self.clock() - starts.pop(0))
        if not event.ok:
            tool[1].inc()

    # --- what the worker tells it --------------------------------------------------------

    def started(self) -> None:
        """The call starts."""
        if self._state == "new":
            self._state = "started"
            self.metrics.sessions_started.labels(*self.labels).inc()
            self._running.inc()

    def ended(self, reason: str) -> None:
        """The call is over (``reason``: its record's end reason); once."""
        if self._state == "started":
            self._state = "ended"
            self.metrics.sessions_ended.labels(*self.labels, reason).inc()
            self._running.dec()

    def said(self, role: str) -> None:
        """A transcript turn: ``user`` or ``agent``."""
        counter = self._turns.get(role)
        if counter is None:
            counter = self._turns[role] = self.metrics.turns.labels(*self.labels, role)
        counter.inc()

    def speaking(self) -> None:
        """The agent started speaking; the first time, the time since the job started."""
        if self.job_started is not None:
            seconds, self.job_started = self.clock() - self.job_started, None
            self.metrics.first_word_seconds.labels(*self.labels).observe(seconds)
