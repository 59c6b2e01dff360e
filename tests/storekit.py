"""Helpers for the store tests: a fake clock, flow documents, an opened store."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from conftest import minimal

from flowctl.engine.boundary import TenantPolicy
from flowctl.engine.store import Store, open_store

T0 = 1_700_000_000.0  # 2023-11-14T22:13:20Z


class Clock:
    """Each reading is one second after the last, starting at T0 + 1."""

    def __init__(self, start: float = T0) -> None:
        self.now = start

    def __call__(self) -> float:
        self.now += 1
        return self.now

    def reads(self, then: float) -> None:
        """Make the next reading ``then`` (and those after it one second apart)."""
        self.now = then - 1


# What a tenant needs granted to publish the example flows (flows/*.json): the numbers
# and SIP URIs their transfer_call tools go to. Tenants' flows get nothing ungranted.
EXAMPLE_POLICY = TenantPolicy(
    transfer_to=[
        "tel:+15555550100",
        "tel:+15555550142",
        "tel:+15555550177",
        "sip:support@shiftwise.example",
    ]
)


def flow_doc(flow_id: str = "clinic", note: str = "", **main: Any) -> bytes:
    """A lint-clean two-state flow, pretty-printed; ``note`` makes another version."""
    doc = minimal(**main)
    doc = {"flow_id": flow_id, **doc}
    if note:
        doc["agents"][0]["instructions"] += f" {note}"
    return json.dumps(doc, indent=2).encode()


def broken_doc(flow_id: str = "clinic") -> bytes:
    """A flow with one lint error: FL104 at 15:9."""
    return flow_doc(flow_id, tools=["nosuch"])


def warned_doc(flow_id: str = "clinic") -> bytes:
    """A flow with one lint warning: FL404 at 10:26."""
    doc = json.loads(flow_doc(flow_id))
    doc["agents"][0]["edges"][0]["description"] = "bye"
    return json.dumps(doc, indent=2).encode()


async def opened(path: Any, clock: Clock | None = None, **kwargs: Any) -> Store:
    return await open_store(f"sqlite:///{path}", create=True, clock=clock or Clock(), **kwargs)


@asynccontextmanager
async def with_tenants(path: Any, **names: str) -> AsyncIterator[Store]:
    """A new store at ``path`` with a tenant per keyword (its id = its name), closed after."""
    store = await opened(path)
    for tenant_id, name in names.items():
        await store.create_tenant(tenant_id, actor="ana", name=name)
    yield store
    await store.close()
