"""Routing from the store: a snapshot of every tenant's routing document and published
flows, answering ``flowctl.engine.routing.Catalog`` from memory.

Each tenant is read as ``flowctl.engine.store.routing`` reads one (its routing document, its
published flows; a tenant without routing is served only jobs that name a flow), for
every tenant at once. Workers hold one
snapshot and take a new one when :meth:`Store.changes` moves (a publish, a rollback, a
routing edit), so a lookup never waits on the database.
"""

from __future__ import annotations

import logging
from typing import Any

from flowctl.engine.tenants import FlowEntry, Tenant

__all__ = ["StoreCatalog", "load_store_catalog"]

logger = logging.getLogger(__name__)


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
    """A snapshot of ``store``: every tenant as ``flowctl.engine.store.routing.tenant_catalog``
    reads it (a routing document that no longer fits is ignored and logged there; the
    tenant's flows can still be asked for by id), with its published flows."""
    from flowctl.engine.store.routing import tenant_catalog

    change = await store.changes()
    tenants: dict[str, Tenant] = {}
    flows: dict[tuple[str, str], FlowEntry] = {}
    for record in await store.list_tenants():
        catalog = await tenant_catalog(store.tenant(record.tenant_id))
        tenants[record.tenant_id] = catalog.tenant_record
        for flow_id, entry in catalog.flows.items():
            flows[record.tenant_id, flow_id] = entry
    return StoreCatalog(tenants, flows, change)
