"""Webhook delivery throughput (issue 17; target: at least 500 deliveries/s to a
receiver on loopback).

    .venv/bin/python bench/webhooks_bench.py [--quick]

N sessions start (each queues a ``call.started`` for one subscription), then one
deliverer drains the outbox into an aiohttp receiver on loopback in this process, as
``flowctl serve`` would (claims of 100, posted at once, signed). Prints deliveries/s
for SQLite and, when the server answers, PostgreSQL; never asserts.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from hookkit import Receiver  # noqa: E402

from flowctl.engine.boundary import TenantPolicy  # noqa: E402
from flowctl.engine.store import open_store  # noqa: E402
from flowctl.engine.store.documents import push_document  # noqa: E402
from flowctl.worker.webhooks import Deliverer  # noqa: E402

PG = os.environ.get("FLOWCTL_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
FLOW = {
    "flow_id": "clinic",
    "agents": [
        {
            "name": "Main",
            "instructions": "Help the caller.",
            "edges": [
                {"name": "bye", "description": "The caller says goodbye", "target_agent": "End"}
            ],
        },
        {"name": "End", "instructions": "Say goodbye.", "end": True},
    ],
}


async def bench(url: str, n: int) -> float:
    async with Receiver() as receiver, await open_store(url, create=True) as store:
        await store.create_tenant(
            "acme", actor="b", policy=TenantPolicy(egress_hosts=["hooks.acme.example"])
        )
        acme = store.tenant("acme")
        await push_document(acme, json.dumps(FLOW), actor="b")
        await acme.publish("clinic", 1, actor="b")
        await acme.create_webhook("https://hooks.acme.example/x", ["call.started"], actor="b")
        # point the subscription at the receiver (the deliverer's egress override lets it in)
        db = store.db  # type: ignore[attr-defined]
        async with db.transaction() as tx:
            await tx.run("UPDATE webhooks SET url = ?", (receiver.url,))
        for i in range(n):
            await acme.start_session("clinic", session_id=f"s{i}")
        deliverer = Deliverer(store, egress=receiver.egress)
        start = time.perf_counter()
        while await deliverer.run_once():
            pass
        seconds = time.perf_counter() - start
        await deliverer.aclose()
        assert len(receiver.received) == n, len(receiver.received)
        return n / seconds


async def pg_url() -> tuple[str, str] | None:
    import asyncpg

    try:
        conn = await asyncpg.connect(PG, timeout=3)
        await conn.close()
    except Exception:
        return None
    schema = f"flowctl_bench_{uuid.uuid4().hex[:8]}"
    return f"{PG}{'&' if '?' in PG else '?'}schema={schema}", schema


async def drop(schema: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(PG)
    await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    await conn.close()


def report(backend: str, n: int, rate: float) -> None:
    verdict = "OK" if rate >= 500 else "MISS"
    print(f"{backend + ':':12}{n:,} deliveries: {rate:,.0f}/s   target >= 500/s   {verdict}")


def main(quick: bool) -> None:
    n = 500 if quick else 3000
    with tempfile.TemporaryDirectory() as folder:
        rate = asyncio.run(bench(f"sqlite:///{folder}/b.db", n))
    report("SQLite", n, rate)
    target = asyncio.run(pg_url())
    if target is None:
        print("PostgreSQL: skipped (no server)")
        return
    url, schema = target
    try:
        rate = asyncio.run(bench(url, n))
    finally:
        asyncio.run(drop(schema))
    report("PostgreSQL", n, rate)


if __name__ == "__main__":
    main("--quick" in sys.argv)
