"""Reading what a metrics endpoint serves, for the metrics tests: a scrape over real
HTTP, parsed by prometheus_client's own parser, each sample by its label values."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families

from flowctl.metrics import CATALOG

# Each metric's labels in the catalog's order (the parser sorts them by name).
_LABELS = {spec.name: spec.labels for spec in CATALOG}


def scrape(url: str) -> str:
    response = httpx.get(url, timeout=10)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=")
    return response.text


def samples(text: str, name: str, **where: str) -> dict[tuple[str, ...], float]:
    """The samples called ``name`` in ``text`` whose labels include ``where``: each by
    its other labels' values, in the catalog's order of its labels (a bucket's ``le``
    last)."""
    found: dict[tuple[str, ...], float] = {}
    for family in text_string_to_metric_families(text):
        order = (*_LABELS.get(family.name, ()), "le")
        for sample in family.samples:
            if sample.name != name:
                continue
            if any(sample.labels.get(k) != v for k, v in where.items()):
                continue
            names = sorted(sample.labels, key=lambda k: (order.index(k) if k in order else 99, k))
            found[tuple(sample.labels[k] for k in names if k not in where)] = sample.value
    return found
