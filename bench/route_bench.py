"""Routing performance: ``route()`` on a warm catalog, per step of the precedence.

    .venv/bin/python bench/route_bench.py [--quick]

Prints medians and p99s, never asserts. Routing is the first part of a session start
(design.md: flow lookup + conversation creation under 2 ms p99 with a warm cache), so
a decision should cost a few microseconds: the target here is a median under 10 us and
a p99 under 50 us for every kind of request. Loading the example catalog from files
(once per worker) is shown for scale.
"""

from __future__ import annotations

import functools
import json
import logging
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from timing import time_calls  # noqa: E402

from flowctl.engine.routing import Rejected, Routed, route  # noqa: E402
from flowctl.engine.tenants import load_catalog  # noqa: E402

TENANT = "dynamic-co"
DETAILS = {"name": "John Doe", "email": "john@example.com", "tier": "premium"}

# (label, job metadata, room metadata, attributes): one per step of the precedence,
# with the seed-003 metadata a frontend sends (user_details included).
CASES: list[tuple[str, str | None, str | None, dict[str, str] | None]] = [
    ("explicit (agent_id)", json.dumps({"tenant_id": TENANT, "agent_id": "sales"}), None, None),
    (
        "purpose",
        json.dumps(
            {
                "tenant_id": TENANT,
                "purpose": "support",
                "user_id": "user-123",
                "user_details": DETAILS,
            }
        ),
        None,
        None,
    ),
    (
        "rule[1] (after rule[0])",
        json.dumps({"tenant_id": TENANT, "user_id": "user-123", "user_details": DETAILS}),
        None,
        None,
    ),
    (
        "split (sha256 of user id)",
        json.dumps({"tenant_id": TENANT, "purpose": "trial", "user_id": "user-123"}),
        None,
        None,
    ),
    ("default", json.dumps({"tenant_id": TENANT, "user_id": "user-123"}), None, None),
    ("room metadata fallback", "", json.dumps({"tenant_id": TENANT, "purpose": "sales"}), None),
    (
        "participant attributes",
        None,
        None,
        {"tenant_id": TENANT, "purpose": "sales", "user_id": "user-123", "tier": "premium"},
    ),
    ("rejected: unknown tenant", json.dumps({"tenant_id": "nobody"}), None, None),
    ("rejected: malformed JSON", '{"tenant_id": "dynamic-co",', None, None),
]


def _us(value: float) -> str:
    return f"{value * 1e6:5.1f} us"


def main(quick: bool) -> None:
    # A worker logs rejections through its handlers; here they go nowhere, at the cost
    # of a real handler call, instead of to stderr.
    log = logging.getLogger("flowctl.engine.routing")
    log.addHandler(logging.NullHandler())
    log.propagate = False

    loads = time_calls(lambda: load_catalog(ROOT / "flows"), 3 if quick else 20)
    catalog = load_catalog(ROOT / "flows")
    print(
        f"load_catalog(flows/): median {statistics.median(loads) * 1000:.1f} ms (once per worker)"
    )
    print("route() on a warm catalog                  median        p99")
    repeat = 2_000 if quick else 50_000
    worst_med = worst_p99 = 0.0
    for label, job, room, attributes in CASES:
        result = route(catalog, job, room, attributes)
        assert isinstance(result, Rejected if label.startswith("rejected") else Routed), result
        call = functools.partial(route, catalog, job, room, attributes)
        for _ in range(200):  # warm caches: parsed conditions, the interpreter's own
            call()
        samples = sorted(time_calls(call, repeat))
        med, p99 = statistics.median(samples), samples[int(len(samples) * 0.99)]
        worst_med, worst_p99 = max(worst_med, med), max(worst_p99, p99)
        print(f"   {label:<38} {_us(med)}   {_us(p99)}")
    ok = worst_med < 10e-6 and worst_p99 < 50e-6
    print(
        f"   worst: median {_us(worst_med).strip()}, p99 {_us(worst_p99).strip()}   "
        f"target < 10 us, < 50 us   {'OK' if ok else 'MISS'}"
    )


if __name__ == "__main__":
    main("--quick" in sys.argv[1:])
