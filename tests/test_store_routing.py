"""Routing from the store: a tenant's stored routing document and its published flows
decide exactly as the same tenant's files do; the stored document's own checks."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import msgspec
import pytest
from conftest import FLOWS
from storekit import EXAMPLE_POLICY, flow_doc, opened

from flowctl.engine.routing import Rejected, Routed, route
from flowctl.engine.store import Store, StoreError
from flowctl.engine.store.documents import push_document
from flowctl.engine.store.routing import (
    StoreRouting,
    parse_routing,
    route_in_store,
    tenant_catalog,
    validate_routing,
)
from flowctl.engine.tenants import load_catalog

DYNAMIC = json.loads((FLOWS / "tenants" / "dynamic-co.json").read_text())
ROUTING = {k: v for k, v in DYNAMIC.items() if k in ("purposes", "rules", "default")}


@pytest.fixture
async def store(store_target: Any) -> AsyncIterator[Store]:
    s = await opened(store_target, validate_routing=validate_routing)
    await s.create_tenant("dynamic-co", actor="ana", routing=ROUTING, policy=EXAMPLE_POLICY)
    t = s.tenant("dynamic-co")
    for flow in DYNAMIC["flows"]:
        path = FLOWS / f"{flow}.json"
        await push_document(t, path.read_bytes(), actor="ana", filename=str(path))
        await t.publish(flow, 1, actor="ana")
    await s.create_tenant("globex", actor="ana", policy=EXAMPLE_POLICY)
    yield s
    await s.close()


REQUESTS = [
    {"tenant_id": "dynamic-co", "agent_id": "interview", "purpose": "sales"},
    {"tenant_id": "dynamic-co", "purpose": "sales", "user_details": {"is_new_user": True}},
    {"tenant_id": "dynamic-co", "user_details": {"is_new_user": True, "tier": "premium"}},
    {"tenant_id": "dynamic-co", "purpose": "billing", "user_details": {"tier": "premium"}},
    {"tenant_id": "dynamic-co", "purpose": "trial", "user_id": "user-1"},
    {"tenant_id": "dynamic-co", "purpose": "trial"},
    {"tenant_id": "dynamic-co"},
    {"tenant_id": "dynamic-co", "flow_id": "clinic"},
    {"tenant_id": "dynamic-co", "flow_id": "sales", "agent_id": "support"},
    {"tenant_id": "healthcare_clinic"},
    {"tenant_id": 3},
]


@pytest.mark.parametrize("request_", REQUESTS, ids=[json.dumps(r) for r in REQUESTS])
async def test_store_routing_decides_as_the_tenant_files_do(
    store: Store, request_: dict[str, Any]
) -> None:
    metadata = json.dumps(request_)
    from_files = route(load_catalog(FLOWS), metadata)
    from_store = await route_in_store(store, metadata)
    if request_.get("tenant_id") == "healthcare_clinic":  # a tenant of the files only
        assert from_store == Rejected(
            reason="Unknown tenant `healthcare_clinic`",
            origin="job metadata",
            tenant_id="healthcare_clinic",
        )
        return
    if request_.get("flow_id") == "clinic":
        # Files know every tenant's flows; a tenant's store catalog knows only its own,
        # so another tenant's flow is unknown rather than "belongs to another tenant".
        assert isinstance(from_files, Rejected)
        from_files = msgspec.structs.replace(
            from_files, reason="Unknown flow `clinic` (tenant `dynamic-co`)"
        )
    if isinstance(from_files, Routed):
        # a file holds one version (the document's `version`); the store numbers them
        assert (from_files.version, getattr(from_store, "version", None)) == ("1.0.0", "1")
        from_files = msgspec.structs.replace(from_files, version="1")
    assert from_store == from_files


async def test_store_routing_knows_only_published_flows(store: Store) -> None:
    t = store.tenant("dynamic-co")
    await t.unpublish("sales", actor="ana")
    decision = await route_in_store(store, '{"tenant_id": "dynamic-co", "flow_id": "sales"}')
    assert decision == Rejected(
        reason="Unknown flow `sales` (tenant `dynamic-co`)",
        origin="job metadata",
        tenant_id="dynamic-co",
    )
    decision = await route_in_store(store, '{"tenant_id": "dynamic-co", "purpose": "sales"}')
    assert isinstance(decision, Rejected)
    assert decision.reason == (
        "Tenant `dynamic-co` routes to flow `sales` by purpose, which is not one of its flows"
    )
    await push_document(t, flow_doc("sales", note="v2"), actor="ana")
    await t.publish("sales", 2, actor="ana")
    decision = await route_in_store(store, '{"tenant_id": "dynamic-co", "purpose": "sales"}')
    assert isinstance(decision, Routed)
    assert (decision.flow_id, decision.version, decision.rule) == ("sales", "2", "purpose")


async def test_store_routing_never_serves_another_tenants_flow(store: Store) -> None:
    g = store.tenant("globex")
    await push_document(g, flow_doc("support"), actor="bo")
    await g.publish("support", 1, actor="bo")
    await g.set_routing({"default": "support"}, actor="bo")
    globex = await route_in_store(store, '{"tenant_id": "globex"}')
    assert isinstance(globex, Routed)
    assert (globex.tenant_id, globex.flow_id, globex.version) == ("globex", "support", "1")
    asked = await route_in_store(store, '{"tenant_id": "globex", "flow_id": "sales"}')
    assert asked == Rejected(
        reason="Unknown flow `sales` (tenant `globex`)", origin="job metadata", tenant_id="globex"
    )


async def test_store_routing_split_variant_pins_a_version(store: Store) -> None:
    t = store.tenant("dynamic-co")
    await push_document(t, flow_doc("sales", note="v2"), actor="ana")
    await t.set_routing(
        {
            "default": [
                {"flow": "sales", "weight": 1, "version": "2"},
                {"flow": "support", "weight": 0},
            ]
        },
        actor="ana",
    )
    decision = await route_in_store(store, '{"tenant_id": "dynamic-co", "user_id": "u"}')
    assert isinstance(decision, Routed)
    assert (decision.flow_id, decision.version, decision.rule) == ("sales", "2", "split")


async def test_tenant_catalog_ignores_a_routing_written_without_the_validator(
    store_target: Any,
) -> None:
    async with await opened(store_target, validate_routing=lambda _: None) as s:
        await s.create_tenant("acme", actor="ana", routing={"default": "clinic", "flows": []})
        t = s.tenant("acme")
        await push_document(t, flow_doc(), actor="ana")
        await t.publish("clinic", 1, actor="ana")
        catalog = await tenant_catalog(t)
        assert catalog.routing_problem == (
            "The routing of tenant `acme` is invalid and ignored: `flows` belongs in tenant "
            "files; in the store, a tenant owns the flows pushed to it - at `$.flows`"
        )
        decision = await route_in_store(s, '{"tenant_id": "acme", "flow_id": "clinic"}')
        assert isinstance(decision, Routed)
        assert await route_in_store(s, '{"tenant_id": "acme"}') == Rejected(
            reason="No purpose or rule matched and tenant `acme` has no default flow",
            origin="job metadata",
            tenant_id="acme",
        )


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ([], "a routing document is a JSON object"),
        (
            {"tenant_id": "acme", "default": "x"},
            "`tenant_id` belongs in tenant files; in the store, the tenant is the one whose "
            "routing this is - at `$.tenant_id`",
        ),
        ({"purpose": {}}, "Object contains unknown field `purpose`"),
        ({"default": 3}, "Expected `str | array | null`, got `int` - at `$.default`"),
        (
            {"rules": [{"when": "tier =", "flow": "x"}]},
            "Invalid condition: unexpected `=` at column 6 - at `$.rules[0].when`",
        ),
        (
            {"purposes": {"t": [{"flow": "a", "weight": 0}]}},
            "The weights of this split add up to 0 - at `$.purposes.t`",
        ),
        (
            {"default": [{"flow": "a", "weight": 1, "version": "1.0.0"}]},
            "A variant pins a stored version by its number, such as `3`, not `1.0.0` - at "
            "`$.default[0].version`",
        ),
    ],
    ids=["array", "file-field", "unknown", "type", "condition", "zero-split", "version"],
)
def test_parse_routing_refuses(document: Any, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_routing(document)
    assert str(caught.value) == message


async def test_the_validator_guards_the_store(store: Store) -> None:
    with pytest.raises(StoreError) as caught:
        await store.tenant("globex").set_routing({"rules": [{"when": "x"}]}, actor="bo")
    assert str(caught.value) == (
        "Invalid routing for tenant `globex`: Object missing required field `flow` - at "
        "`$.rules[0]`"
    )
    assert parse_routing(ROUTING) == msgspec.convert(ROUTING, StoreRouting)
