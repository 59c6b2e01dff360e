"""Every metric flowctl exports, defined once: name, kind, help, labels, buckets, and
which process exports it. :class:`~flowctl.metrics.recorder.Metrics` builds the
Prometheus objects from these rows; docs/deployment.md ("Monitoring") explains them and
the Grafana dashboard (docs/grafana-dashboard.json) queries them, and the tests hold
both to this table.

Labels are bounded by what is published, never by what a caller or a model says:
``tenant`` and ``flow`` name a served flow (a folder's files, or the store's published
flows), ``edge`` and ``tool`` a name declared in it, ``reason``, ``cause``, ``role`` and
``operation`` one of a fixed set. No session id, user id, room, version, function name
as the model wrote it, or free text is ever a label. A job refused before routing chose
a flow is counted without a tenant: its metadata may name any tenant at all.

Nothing here imports ``prometheus_client``; this module is plain data.
"""

from __future__ import annotations

from typing import Literal

import msgspec

__all__ = [
    "CATALOG",
    "FIRST_WORD_SECONDS",
    "JOBS_REFUSED",
    "REFUSALS",
    "SESSIONS_ENDED",
    "SESSIONS_RUNNING",
    "SESSIONS_STARTED",
    "STORE_ERRORS",
    "STORE_SECONDS",
    "TOOL_FAILURES",
    "TOOL_SECONDS",
    "TRANSITIONS",
    "TURNS",
    "WEBHOOK_DELIVERIES",
    "WEBHOOK_DELIVERY_SECONDS",
    "WEBHOOK_LAG_SECONDS",
    "MetricSpec",
    "sample_names",
]

Kind = Literal["counter", "gauge", "histogram"]
# Which process exports a metric: the worker (its job processes, summed), `flowctl
# serve`, or both (the store's).
Exporter = Literal["worker", "serve", "both"]


class MetricSpec(msgspec.Struct, frozen=True, kw_only=True):
    """One metric. ``name`` is the family's name as Prometheus shows it in ``# TYPE``
    lines: a counter's samples add ``_total``, a histogram's ``_bucket``, ``_sum`` and
    ``_count`` (:func:`sample_names`). ``pending``: defined so dashboards and alerts can
    be written now, not yet exported by any code (the webhooks of issue 17)."""

    name: str
    kind: Kind
    help: str
    labels: tuple[str, ...]
    exporter: Exporter = "worker"
    buckets: tuple[float, ...] = ()
    # How a gauge's values from many processes combine (prometheus_client's multiprocess
    # modes): summed, or the largest, over the live processes only, so a job process
    # that died takes its values with it.
    gauge_mode: Literal["livesum", "livemax"] = "livesum"
    pending: bool = False


def sample_names(spec: MetricSpec) -> tuple[str, ...]:
    """The names of the samples ``spec`` is exported as (what a query names)."""
    if spec.kind == "counter":
        return (f"{spec.name}_total",)
    if spec.kind == "histogram":
        return (f"{spec.name}_bucket", f"{spec.name}_sum", f"{spec.name}_count")
    return (spec.name,)


# A tool is anything from a builtin (microseconds) to an http call up to its timeout.
_TOOL_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
# A caller hears the first word after the room is joined and the greeting synthesized:
# under a second is good, a few seconds is a caller wondering whether anyone is there.
_FIRST_WORD_BUCKETS = (0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 30.0)
# One statement on SQLite takes tens of microseconds; PostgreSQL over a network a
# millisecond or more; a writer waiting for the lock up to the store's timeout (5 s).
_STORE_BUCKETS = (0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0)
# From an event to its delivery, retries included: backoff runs to minutes.
_WEBHOOK_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)

SESSIONS_STARTED = MetricSpec(
    name="flowctl_sessions_started",
    kind="counter",
    help="Calls started (a conversation opened in a room), by tenant and flow.",
    labels=("tenant", "flow"),
)
SESSIONS_ENDED = MetricSpec(
    name="flowctl_sessions_ended",
    kind="counter",
    help="Calls ended, by tenant, flow and reason: the flow's end (end_state, end_call, "
    "transfer, busy), hangup (the caller left first) or error (the call failed to start).",
    labels=("tenant", "flow", "reason"),
)
SESSIONS_RUNNING = MetricSpec(
    name="flowctl_sessions_running",
    kind="gauge",
    help="Calls running now, by tenant and flow (summed over live job processes).",
    labels=("tenant", "flow"),
)
TURNS = MetricSpec(
    name="flowctl_turns",
    kind="counter",
    help="Transcript turns, by tenant, flow and role (user: the caller spoke; agent: the "
    "agent answered).",
    labels=("tenant", "flow", "role"),
)
TRANSITIONS = MetricSpec(
    name="flowctl_transitions",
    kind="counter",
    help="Edges fired, by tenant, flow and edge (automatic edges included).",
    labels=("tenant", "flow", "edge"),
)
REFUSALS = MetricSpec(
    name="flowctl_refusals",
    kind="counter",
    help="Function calls the engine refused, by tenant, flow and cause (ended, "
    "not_offered, invalid_arguments, invalid_value, requires, condition).",
    labels=("tenant", "flow", "cause"),
)
TOOL_SECONDS = MetricSpec(
    name="flowctl_tool_duration_seconds",
    kind="histogram",
    help="Time a tool took to answer, by tenant, flow and tool (failures included).",
    labels=("tenant", "flow", "tool"),
    buckets=_TOOL_BUCKETS,
)
TOOL_FAILURES = MetricSpec(
    name="flowctl_tool_failures",
    kind="counter",
    help="Tool calls that failed (an error, a timeout, a result that did not fit its "
    "variables), by tenant, flow and tool.",
    labels=("tenant", "flow", "tool"),
)
FIRST_WORD_SECONDS = MetricSpec(
    name="flowctl_first_word_seconds",
    kind="histogram",
    help="Time from a job's start in its process to the agent's first spoken word, by "
    "tenant and flow.",
    labels=("tenant", "flow"),
    buckets=_FIRST_WORD_BUCKETS,
)
JOBS_REFUSED = MetricSpec(
    name="flowctl_jobs_refused",
    kind="counter",
    help="Jobs not served, by reason: routing (the router rejected the request), "
    "not_served (the flow routing chose cannot be served here, the room is not the "
    "tenant's, the job's overrides are not ones the flow allows, or the tenant is at its "
    "session limit in the store), declined (the tenant "
    "is at its session limit in this worker; another may take the job).",
    labels=("reason",),
)
STORE_SECONDS = MetricSpec(
    name="flowctl_store_operation_seconds",
    kind="histogram",
    help="Time a store operation took, by operation (the store's method: published, "
    "start_session, append_events...), failures included.",
    labels=("operation",),
    exporter="both",
    buckets=_STORE_BUCKETS,
)
STORE_ERRORS = MetricSpec(
    name="flowctl_store_errors",
    kind="counter",
    help="Store operations that raised, by operation and error (the exception's class: "
    "NotFound is a caller asking for what is not there, StoreUnavailable a database "
    "that does not answer).",
    labels=("operation", "error"),
    exporter="both",
)
WEBHOOK_DELIVERIES = MetricSpec(
    name="flowctl_webhook_deliveries",
    kind="counter",
    help="Webhook delivery attempts, by tenant, event and outcome (delivered, failed, dead).",
    labels=("tenant", "event", "outcome"),
    exporter="both",
)
WEBHOOK_DELIVERY_SECONDS = MetricSpec(
    name="flowctl_webhook_delivery_seconds",
    kind="histogram",
    help="Time from an event to its delivery (retries included), by tenant.",
    labels=("tenant",),
    exporter="both",
    buckets=_WEBHOOK_BUCKETS,
)
WEBHOOK_LAG_SECONDS = MetricSpec(
    name="flowctl_webhook_lag_seconds",
    kind="gauge",
    help="Age of the oldest event a deliverer found waiting in its last round, by tenant "
    "(0 once none waits).",
    labels=("tenant",),
    exporter="both",
    gauge_mode="livemax",
)

CATALOG: tuple[MetricSpec, ...] = (
    SESSIONS_STARTED,
    SESSIONS_ENDED,
    SESSIONS_RUNNING,
    TURNS,
    TRANSITIONS,
    REFUSALS,
    TOOL_SECONDS,
    TOOL_FAILURES,
    FIRST_WORD_SECONDS,
    JOBS_REFUSED,
    STORE_SECONDS,
    STORE_ERRORS,
    WEBHOOK_DELIVERIES,
    WEBHOOK_DELIVERY_SECONDS,
    WEBHOOK_LAG_SECONDS,
)
