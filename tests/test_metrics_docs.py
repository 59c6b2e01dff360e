"""The metrics' documents hold to the catalog: every query of the Grafana dashboard
(docs/grafana-dashboard.json) names metrics that exist with labels they have, and the
table of docs/deployment.md ("Monitoring") lists each metric with its type and labels."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import ROOT

from flowctl.metrics import CATALOG
from flowctl.metrics.catalog import MetricSpec, sample_names

DASHBOARD = json.loads((ROOT / "docs" / "grafana-dashboard.json").read_text())
# Each sample name a query may use, and the metric it belongs to.
SAMPLES = {name: spec for spec in CATALOG for name in sample_names(spec)}
METRIC = re.compile(r"\b(?:flowctl|lk)_[a-z0-9_]+\b")
GROUPING = re.compile(r"\b(?:by|without)\s*\(([^)]*)\)")
MATCHER = re.compile(r"(\w+)\s*(?:=~|!~|!=|=)\s*\"")
LEGEND = re.compile(r"\{\{\s*(\w+)\s*\}\}")


def _panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in panels:
        yield panel
        yield from _panels(panel.get("panels", []))


def _queries() -> Iterator[tuple[str, str, str]]:
    """(where, PromQL, legend) for every query the dashboard runs."""
    for panel in _panels(DASHBOARD["panels"]):
        for target in panel.get("targets", []):
            yield f"{panel['title']} ({target['refId']})", target["expr"], target["legendFormat"]
    for variable in DASHBOARD["templating"]["list"]:
        if variable["type"] == "query":
            query = variable["query"]["query"]
            inner = re.fullmatch(r"label_values\((.*),\s*(\w+)\)", query)
            assert inner is not None, query
            # label_values(SELECTOR, LABEL): the label is one the selector's metric has
            yield f"variable {variable['name']}", f"sum by ({inner[2]}) ({inner[1]})", ""


def _labels(specs: list[MetricSpec], expr: str) -> set[str]:
    labels = {label for spec in specs for label in spec.labels}
    if "_bucket" in expr:
        labels.add("le")
    return labels


QUERIES = list(_queries())


@pytest.mark.parametrize(("where", "expr", "legend"), QUERIES, ids=[q[0] for q in QUERIES])
def test_a_dashboard_query_names_only_metrics_and_labels_that_exist(
    where: str, expr: str, legend: str
) -> None:
    names = METRIC.findall(expr)
    assert names, f"{where}: no flowctl metric in `{expr}`"
    unknown = [name for name in names if name not in SAMPLES]
    assert unknown == [], f"{where}: no such metric {unknown} (the catalog's: {sorted(SAMPLES)})"
    specs = [SAMPLES[name] for name in names]
    labels = _labels(specs, expr)
    grouped = {
        label.strip() for group in GROUPING.findall(expr) for label in group.split(",") if label
    }
    matched = set(MATCHER.findall(expr))
    assert grouped | matched <= labels, f"{where}: labels {sorted((grouped | matched) - labels)}"
    shown = set(LEGEND.findall(legend))
    assert shown <= (grouped or labels), f"{where}: legend shows {sorted(shown - grouped)}"


def test_the_dashboard_covers_every_metric_and_filters_by_its_variables() -> None:
    used = {SAMPLES[name].name for _, expr, _ in QUERIES for name in METRIC.findall(expr)}
    assert used == {spec.name for spec in CATALOG}
    variables = [v["name"] for v in DASHBOARD["templating"]["list"]]
    assert variables == ["datasource", "tenant", "flow"]
    ids = [panel["id"] for panel in _panels(DASHBOARD["panels"])]
    assert len(ids) == len(set(ids))


def test_deployment_md_lists_every_metric_with_its_type_and_labels() -> None:
    text = (ROOT / "docs" / "deployment.md").read_text()
    monitoring = text[text.index("## Monitoring") :]
    rows = re.findall(r"^\| `(flowctl_\w+)` \| (\w+) \| ([\w, ]+) \| .+ \|$", monitoring, re.M)
    listed = [
        (name, kind, tuple(label.strip() for label in labels.split(",")))
        for name, kind, labels in rows
    ]
    assert listed == [
        (sample_names(spec)[0].removesuffix("_bucket"), spec.kind, spec.labels) for spec in CATALOG
    ]
    # every metric the text names elsewhere is one of them (a histogram by its name too)
    known = {*SAMPLES, *(spec.name for spec in CATALOG), "lk_agents_"}
    assert set(METRIC.findall(monitoring)) <= known
