"""Routing from the store: a tenant's routing document, as the store keeps it, and its
published flows, seen through the router's :class:`flowctl.engine.routing.Catalog`.

A stored routing document is the decision part of a tenant file
(``docs/routing.md``)::

    {"purposes": {"support": "support",
                  "trial": [{"flow": "onboarding", "weight": 50}, {"flow": "sales", "weight": 50}]},
     "rules": [{"when": "is_new_user", "flow": "onboarding"}],
     "default": "support"}

What a tenant file says besides (``tenant_id``, ``name``, ``flows``, ``limits``) the
store holds in its own columns and rows: a tenant owns the flows pushed to it. A
flow's version is its published version's number (``"3"``), and a split's variant may
pin one. Only published flows can be routed to: an unpublished flow is unknown to the
router, as a flow without a version has nothing to run.

Pure but for the store reads in :func:`tenant_catalog` and :func:`route_in_store`.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Collection, Mapping
from typing import TYPE_CHECKING, Any

import msgspec

from flowctl.engine.conditions import ConditionError, parse_condition
from flowctl.engine.findings import did_you_mean
from flowctl.engine.routing import Rejected, Routed, decide, read_request
from flowctl.engine.tenants import FlowEntry, Limits, Rule, Target, Tenant, Variant

if TYPE_CHECKING:
    from flowctl.engine.store import Store, TenantStore

__all__ = [
    "StoreRouting",
    "TenantCatalog",
    "check_routed_flows",
    "parse_routing",
    "route_in_store",
    "routes_to",
    "tenant_catalog",
    "validate_routing",
]

logger = logging.getLogger(__name__)


class StoreRouting(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A tenant's routing document in the store (the fields of a tenant file that
    decide; see the module's docstring)."""

    purposes: dict[str, Target] = {}
    rules: list[Rule] = []
    default: Target | None = None


# Fields of a tenant file that the store keeps elsewhere, and where.
_FILE_ONLY = {
    "tenant_id": "the tenant is the one whose routing this is",
    "name": "set it when creating the tenant",
    "flows": "a tenant owns the flows pushed to it",
    "limits": "set them with `flowctl tenants set-limits`",
}


def parse_routing(document: Any) -> StoreRouting:
    """The routing document checked: its shape, its conditions and its pinned versions.
    Raises ``ValueError`` with a message that names the place (``- at `$.rules[0]```)."""
    if not isinstance(document, dict):
        raise ValueError("a routing document is a JSON object")
    for key, why in _FILE_ONLY.items():
        if key in document:
            raise ValueError(f"`{key}` belongs in tenant files; in the store, {why} - at `$.{key}`")
    try:
        routing = msgspec.convert(document, StoreRouting)
    except msgspec.ValidationError as exc:
        raise ValueError(str(exc)) from None
    for i, rule in enumerate(routing.rules):
        try:
            parse_condition(rule.when)
        except ConditionError as exc:
            raise ValueError(f"Invalid condition: {exc} - at `$.rules[{i}].when`") from None
    for where, target in _targets(routing):
        if not isinstance(target, list):
            continue
        if sum(v.weight for v in target) == 0:
            raise ValueError(f"The weights of this split add up to 0 - at `{where}`")
        for j, variant in enumerate(target):
            if variant.version is not None and not _is_number(variant.version):
                raise ValueError(
                    f"A variant pins a stored version by its number, such as `3`, not "
                    f"`{variant.version}` - at `{where}[{j}].version`"
                )
    return routing


def validate_routing(document: Any) -> None:
    """The store's ``validate_routing`` hook (``open_store(..., validate_routing=)``)."""
    parse_routing(document)


def routes_to(document: Any, flow_id: str) -> list[str]:
    """Where a stored routing document (None: none) names ``flow_id``: ``$.default``,
    ``$.purposes.trial[1].flow``, ``$.rules[0].flow``. A flow routed to is not deleted."""
    if document is None:
        return []
    return [where for where, named in _named_flows(parse_routing(document)) if named == flow_id]


def check_routed_flows(routing: StoreRouting, flows: Collection[str], tenant_id: str) -> None:
    """Refuse a document that routes to a flow the tenant does not have (``flows``: its
    stored flow ids): the router would reject every job it sends there, long after the
    mistake. Raises ``ValueError`` naming the first unknown flow and its place. Not part
    of :func:`validate_routing`, which checks a document alone: the store can hold a
    routing written before its flows are pushed (tenant files, ``flowctl tenants``)."""
    for where, flow_id in sorted(_named_flows(routing)):
        if flow_id not in flows:
            hint = did_you_mean(flow_id, flows) or "; push it first"
            raise ValueError(
                f"Unknown flow `{flow_id}` (tenant `{tenant_id}`){hint} - at `{where}`"
            )


def _named_flows(routing: StoreRouting) -> list[tuple[str, str]]:
    """Every place the document names a flow, in its order: purposes and the default
    (a split's variants one by one), then the rules."""
    named: list[tuple[str, str]] = []
    for where, target in _targets(routing):
        if isinstance(target, list):
            named += [(f"{where}[{j}].flow", v.flow) for j, v in enumerate(target)]
        else:
            named.append((where, target))
    named += [(f"$.rules[{i}].flow", rule.flow) for i, rule in enumerate(routing.rules)]
    return named


def _targets(routing: StoreRouting) -> list[tuple[str, str | list[Variant]]]:
    found: list[tuple[str, str | list[Variant]]] = [
        (f"$.purposes.{name}", target) for name, target in routing.purposes.items()
    ]
    if routing.default is not None:
        found.append(("$.default", routing.default))
    return found


def _is_number(text: str) -> bool:
    return text.isascii() and text.isdigit() and int(text) > 0


class TenantCatalog:
    """One tenant and its published flows, read from the store once: the router's
    :class:`flowctl.engine.routing.Catalog`. Flow ids are per tenant in a store, so a catalog
    holds one tenant: every other tenant is unknown to it."""

    __slots__ = ("flows", "routing_problem", "tenant_record")

    def __init__(
        self, tenant: Tenant, flows: Mapping[str, FlowEntry], routing_problem: str | None = None
    ) -> None:
        self.tenant_record = tenant
        self.flows = flows
        # Why the stored routing document was ignored (written without the validator),
        # or None.
        self.routing_problem = routing_problem

    def tenant(self, tenant_id: str, /) -> Tenant | None:
        return self.tenant_record if tenant_id == self.tenant_record.tenant_id else None

    def flow(self, flow_id: str, tenant_id: str | None = None, /) -> FlowEntry | None:
        return self.flows.get(flow_id)  # one tenant's catalog: its flows only

    def __repr__(self) -> str:
        return f"TenantCatalog(<{self.tenant_record.tenant_id}: {len(self.flows)} flows>)"


async def tenant_catalog(store: TenantStore) -> TenantCatalog:
    """The catalog of ``store``'s tenant (raises the store's ``NotFound`` for a tenant
    that does not exist). A stored routing document that does not parse (one written
    without the validator) is ignored, logged and noted in ``routing_problem``: the
    tenant's flows can still be asked for by id."""
    info = await store.info()
    flows = await store.flows()
    entries = {
        f.flow_id: FlowEntry(
            flow_id=f.flow_id,
            tenant_id=info.tenant_id,
            version=str(f.published),
            enabled=f.enabled,
        )
        for f in flows
        if f.published is not None
    }
    routing, problem = StoreRouting(), None
    if info.routing is not None:
        try:
            routing = parse_routing(info.routing)
        except ValueError as exc:
            problem = f"The routing of tenant `{info.tenant_id}` is invalid and ignored: {exc}"
            logger.warning("%s", problem)
    tenant = Tenant(
        tenant_id=info.tenant_id,
        name=info.name,
        flows=sorted(entries),
        purposes=routing.purposes,
        rules=routing.rules,
        default=routing.default,
        limits=Limits(max_concurrent_sessions=info.max_concurrent_sessions),
    )
    return TenantCatalog(tenant, entries, problem)


async def route_in_store(
    store: Store,
    job_metadata: str | bytes | None = None,
    room_metadata: str | bytes | None = None,
    attributes: Mapping[str, str] | None = None,
) -> Routed | Rejected:
    """:func:`flowctl.engine.routing.route` with the tenant and its flows read from ``store``:
    the request names the tenant, whose catalog is then read (two indexed reads)."""
    from flowctl.engine.store import NotFound
    from flowctl.engine.store.documents import ID_PATTERN

    read = read_request(job_metadata, room_metadata, attributes)
    if isinstance(read, Rejected):
        return read
    request, origin = read
    catalog: TenantCatalog | _NoTenants = _NoTenants()
    if ID_PATTERN.match(request.tenant_id):  # other ids cannot be a stored tenant's
        with contextlib.suppress(NotFound):
            catalog = await tenant_catalog(store.tenant(request.tenant_id))
    return decide(request, catalog, origin=origin)


class _NoTenants:
    """A catalog that knows no one: the decision is then "Unknown tenant"."""

    def tenant(self, tenant_id: str, /) -> Tenant | None:
        return None

    def flow(self, flow_id: str, tenant_id: str | None = None, /) -> FlowEntry | None:
        return None
