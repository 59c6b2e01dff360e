"""The metrics package on its own: the catalog's label sets, the store timed (errors by
class, the long poll left out), the endpoint answering only /metrics, and what
importing it loads."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from conftest import ROOT
from metricskit import samples, scrape
from prometheus_client import CollectorRegistry

import flowctl.metrics
from flowctl.engine.observer import REFUSAL_CAUSES
from flowctl.engine.store import NotFound, open_store
from flowctl.metrics import CATALOG, Metrics, MetricsServer, timed
from flowctl.metrics.catalog import sample_names

# What is never a label: unbounded, or personal, or both.
UNBOUNDED = {"session", "session_id", "user", "user_id", "room", "job", "version", "function"}


def test_the_catalogs_names_are_unique_and_its_labels_bounded() -> None:
    names = [spec.name for spec in CATALOG]
    assert len(set(names)) == len(names)
    assert all(name.startswith("flowctl_") for name in names)
    assert all(not set(spec.labels) & UNBOUNDED for spec in CATALOG)
    assert [spec.name for spec in CATALOG if spec.pending] == []
    # the refusal causes the help names are the engine's, all of them
    refusals = next(spec for spec in CATALOG if spec.name == "flowctl_refusals")
    assert refusals.help.endswith(f"({', '.join(REFUSAL_CAUSES)}).")


def test_every_metric_of_the_catalog_is_registered_as_it_says() -> None:
    metrics = Metrics(CollectorRegistry())
    assert metrics.registry is not None
    families = {family.name: family for family in metrics.registry.collect()}
    # prometheus_client names a counter's family without `_total`, as the catalog does
    assert sorted(families) == sorted(spec.name for spec in CATALOG)
    for spec in CATALOG:
        assert families[spec.name].type == spec.kind, spec.name
        assert families[spec.name].documentation == spec.help
    assert sample_names(CATALOG[0]) == ("flowctl_sessions_started_total",)


async def test_the_timed_store_counts_each_operation_and_each_error_by_class(
    tmp_path: Path,
) -> None:
    metrics = Metrics(CollectorRegistry())
    assert metrics.registry is not None
    url = f"sqlite:///{tmp_path / 'flowctl.db'}"
    async with timed(await open_store(url, create=True), metrics) as store:
        assert store.url == url  # attributes pass through
        await store.create_tenant("acme", actor="t")
        with pytest.raises(NotFound):
            await store.tenant("acme").session("no-such-session")
        await store.tenant("acme").flows()
        await store.wait_for_change(await store.changes(), 0.01)
    with MetricsServer(metrics.registry, port=0) as server:
        text = scrape(server.url)
    assert samples(text, "flowctl_store_operation_seconds_count") == {
        ("create_tenant",): 1.0,
        ("session",): 1.0,
        ("flows",): 1.0,
        ("changes",): 1.0,
    }
    assert samples(text, "flowctl_store_errors_total") == {("session", "NotFound"): 1.0}


def test_the_endpoint_answers_only_metrics() -> None:
    metrics = Metrics(CollectorRegistry())
    assert metrics.registry is not None
    with MetricsServer(metrics.registry, port=0) as server:
        base = server.url.removesuffix("/metrics")
        for path in ("/", "/metrics/", "/api/v1/flows", "/favicon.ico"):
            response = httpx.get(base + path)
            assert (response.status_code, response.text) == (
                404,
                "Not found: the metrics are at /metrics\n",
            ), path
        assert httpx.get(base + "/metrics?name[]=x").status_code == 200
        openmetrics = httpx.get(server.url, headers={"Accept": "application/openmetrics-text"})
        assert openmetrics.headers["content-type"].startswith("application/openmetrics-text")
        assert openmetrics.text.endswith("# EOF\n")


def test_public_surface_of_metrics() -> None:
    assert flowctl.metrics.__all__ == [
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
    assert sorted(flowctl.metrics._HOMES) == flowctl.metrics.__all__
    for name in flowctl.metrics.__all__:
        assert hasattr(flowctl.metrics, name), name


def test_choosing_the_directory_imports_no_prometheus_and_metrics_no_livekit() -> None:
    code = (
        "import sys\n"
        "import flowctl.metrics, flowctl.metrics.catalog, flowctl.metrics.exposition\n"
        "import flowctl.cli.metrics\n"
        "print('prometheus_client' in sys.modules)\n"
        "import flowctl.metrics.recorder, flowctl.metrics.store\n"
        "print(sorted({n.split('.')[0] if not n.startswith('flowctl.') else '.'.join(n.split('.')[:2])\n"
        "              for n in sys.modules} & {'livekit', 'flowctl.worker', 'flowctl.api', 'litestar'}))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
    )
    assert proc.stdout.splitlines() == ["False", "[]"]
