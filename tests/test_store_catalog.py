"""Routing from the store: tenants' routing documents and published flows."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import FLOWS
from storekit import EXAMPLE_POLICY, store_url

from flowctl.engine.routing import Rejected, Routed, route
from flowctl.engine.store import StoreError, open_store
from flowctl.engine.store.catalog import load_store_catalog
from flowctl.engine.store.documents import push_document

CLINIC = (FLOWS / "clinic.json").read_text()
SUPPORT = (FLOWS / "support.json").read_text()


async def test_jobs_route_to_published_versions_of_the_tenants_own_flows(store_target: Any) -> None:
    url = store_url(store_target)
    async with await open_store(url, create=True) as store:
        await store.create_tenant(
            "acme",
            actor="t",
            routing={"purposes": {"care": "clinic"}, "default": "clinic"},
            policy=EXAMPLE_POLICY,
        )
        await store.create_tenant(
            "other", actor="t", max_concurrent_sessions=3, policy=EXAMPLE_POLICY
        )
        acme, other = store.tenant("acme"), store.tenant("other")
        await push_document(acme, CLINIC, actor="t", flow_id="clinic")
        await push_document(acme, SUPPORT, actor="t", flow_id="support")  # never published
        await acme.publish("clinic", 1, actor="t")
        await push_document(other, SUPPORT, actor="t", flow_id="support")
        await other.publish("support", 1, actor="t")
        catalog = await load_store_catalog(store)

    by_purpose = route(catalog, '{"tenant_id": "acme", "purpose": "care"}')
    assert isinstance(by_purpose, Routed)
    assert (by_purpose.flow_id, by_purpose.version, by_purpose.rule) == ("clinic", "1", "purpose")
    explicit = route(catalog, '{"tenant_id": "other", "flow_id": "support"}')
    assert isinstance(explicit, Routed) and explicit.version == "1"
    assert catalog.tenant("other").limits.max_concurrent_sessions == 3  # type: ignore[union-attr]
    cross = route(catalog, '{"tenant_id": "acme", "flow_id": "support"}')
    assert isinstance(cross, Rejected)
    assert cross.reason == "Unknown flow `support` (tenant `acme`)"
    unpublished = route(catalog, '{"tenant_id": "other", "purpose": "x"}')
    assert isinstance(unpublished, Rejected)


async def test_a_routing_document_that_does_not_fit_is_refused_on_save(store_target: Any) -> None:
    url = store_url(store_target)
    async with await open_store(url, create=True) as store:
        with pytest.raises(StoreError) as exc:
            await store.create_tenant("acme", actor="t", routing={"defualt": "clinic"})
        assert str(exc.value) == (
            "Invalid routing for tenant `acme`: Object contains unknown field `defualt`"
        )
        with pytest.raises(StoreError) as exc:
            await store.create_tenant("acme", actor="t", routing={"flows": ["x"]})
        assert str(exc.value) == (
            "Invalid routing for tenant `acme`: `flows` belongs in tenant files; in the "
            "store, a tenant owns the flows pushed to it - at `$.flows`"
        )


def _clinic_store(target: Any) -> str:
    """A store whose tenant `acme` has published `clinic` v1, its default; its URL."""
    import asyncio

    url = store_url(target)

    async def setup() -> None:
        async with await open_store(url, create=True) as store:
            await store.create_tenant(
                "acme", actor="t", routing={"default": "clinic"}, policy=EXAMPLE_POLICY
            )
            await push_document(store.tenant("acme"), CLINIC, actor="t", flow_id="clinic")
            await store.tenant("acme").publish("clinic", 1, actor="t")

    asyncio.run(setup())
    return url


def test_flowctl_token_routes_by_the_store(store_target: Any) -> None:
    from click.testing import CliRunner

    from flowctl.cli.main import cli

    url = _clinic_store(store_target)
    env = {
        "LIVEKIT_API_KEY": "APIkey",
        "LIVEKIT_API_SECRET": "a-secret-long-enough-for-hmac-sha256",
    }
    args = ["token", "--room", "acme:r", "--identity", "i", "--store", url, "--metadata"]
    refused = CliRunner().invoke(cli, [*args, '{"tenant_id": "dynamic-co"}'], env=env)
    assert refused.exit_code == 2
    assert (
        refused.stderr
        == "flowctl: error: --metadata would be refused: Unknown tenant `dynamic-co`\n"
    )
    minted = CliRunner().invoke(cli, [*args, '{"tenant_id": "acme"}'], env=env)
    assert minted.exit_code == 0
    assert minted.stdout.count(".") == 2  # a JWT


def test_flowctl_route_from_the_store(store_target: Any) -> None:
    from click.testing import CliRunner

    from flowctl.cli.main import cli

    url = _clinic_store(store_target)
    result = CliRunner().invoke(
        cli, ["route", "--store", url, "--metadata", '{"tenant_id": "acme", "user_id": "u1"}']
    )
    assert result.exit_code == 0
    assert result.stdout.splitlines()[:5] == [
        "tenant    acme",
        "flow      clinic",
        "version   1",
        "rule      default",
        "reason    nothing else matched: the tenant's default",
    ]
