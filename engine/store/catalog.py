"""Routing from the store: a snapshot of every tenant's routing document and published
flows, answering ``engine.routing.Catalog`` from memory.

A tenant's routing document in the store is the body of a tenant file (``purposes``,
``rules``, ``default``, ``limits``, ``name``; see docs/routing.md) without ``tenant_id``
and ``flows``: the store knows both. A tenant without one is served only jobs that
name a flow. The flows a tenant owns are its flows in the store
that have a published version; a job is routed to that version. Workers hold one
snapshot and take a new one when :meth:`Store.changes` moves (a publish, a rollback, a
routing edit), so a lookup never waits on the database.
"""

from __future__ import annotations

import logging
from typing import Any

import msgspec

from engine.tenants import FlowEntry, Tenant

__all__ = ["StoreCatalog", "load_store_catalog", "routing_tenant", "validate_routing"]

logger = logging.getLogger(__name__)


def routing_tenant(tenant_id: str, routing: Any, flows: list[str]) -> Tenant:
    """The tenant as routing sees it; raises ``ValueError`` naming what is wrong."""
    document = dict(routing or {})
    for key in ("tenant_id", "flows"):
        if key in document:
            raise ValueError(f"`{key}` comes from the store; leave it out of the routing")
    try:
        return msgspec.convert(
            {**document, "tenant_id": tenant_id, "flows": flows or ["-"]}, Tenant
        )
    except msgspec.ValidationError as exc:
        raise ValueError(str(exc)) from None


def validate_routing(routing: Any) -> None:
    """The store's check of a routing document before it is saved."""
    routing_tenant("tenant", routing, ["-"])


class StoreCatalog:
    """Tenants and their published flows, as of store change ``change``."""

    __slots__ = ("change", "flows", "tenants")

    def __init__(
        self,
        tenants: dict[str, Tenant],
        flows: dict[tuple[str, str], FlowEntry],
        change: int,
    ) -> None:
        self.tenants = tenants
        self.flows = flows
        self.change = change

    def tenant(self, tenant_id: str, /) -> Tenant | None:
        return self.tenants.get(tenant_id)

    def flow(self, flow_id: str, tenant_id: str | None = None, /) -> FlowEntry | None:
        # Flow ids are per tenant in the store: another tenant's flow is not found.
        return self.flows.get((tenant_id or "", flow_id))

    def __repr__(self) -> str:
        return f"StoreCatalog(<{len(self.tenants)} tenants, {len(self.flows)} flows>)"


async def load_store_catalog(store: Any) -> StoreCatalog:
    """A snapshot of ``store``: tenants with a usable routing document and their
    published flows. A routing document that no longer fits is skipped with a warning
    (its tenant's jobs are refused as unknown), never half-applied."""
    change = await store.changes()
    tenants: dict[str, Tenant] = {}
    flows: dict[tuple[str, str], FlowEntry] = {}
    for record in await store.list_tenants():
        tid = record.tenant_id
        owned = [f for f in await store.tenant(tid).flows() if f.published is not None]
        for info in owned:
            flows[tid, info.flow_id] = FlowEntry(
                flow_id=info.flow_id,
                tenant_id=tid,
                version=str(info.published),
                location=f"store:{tid}/{info.flow_id}",
            )
        try:  # no routing document: the tenant's jobs must name a flow
            tenant = routing_tenant(tid, record.routing, [f.flow_id for f in owned])
        except ValueError as exc:
            logger.warning("tenant %s: routing skipped: %s", tid, exc)
            continue
        if tenant.limits.max_concurrent_sessions is None and record.max_concurrent_sessions:
            limits = msgspec.structs.replace(
                tenant.limits, max_concurrent_sessions=record.max_concurrent_sessions
            )
            tenant = msgspec.structs.replace(tenant, limits=limits)
        tenants[tid] = tenant
    return StoreCatalog(tenants, flows, change)
