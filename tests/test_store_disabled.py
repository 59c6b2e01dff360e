"""Disabled flows in the store: the flag (disable, enable: audited, counted as a change)
and a published version's own `"enabled": false`, both shown as `FlowInfo.enabled`."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from storekit import T0, flow_doc, with_tenants

from flowctl.cli.main import cli
from flowctl.engine.routing import Rejected, Routed
from flowctl.engine.store import AuditEntry, FlowInfo, NotFound, Store, TenantStore
from flowctl.engine.store.catalog import load_store_catalog
from flowctl.engine.store.documents import prepare, push_document
from flowctl.engine.store.routing import route_in_store
from flowctl.engine.tenants import FlowEntry


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    async with with_tenants(tmp_path / "flowctl.db", acme="Acme") as s:
        yield s


@pytest.fixture
async def acme(store: Store) -> TenantStore:
    acme = store.tenant("acme")
    await push_document(acme, flow_doc(), actor="ana")  # T0 + 2
    await acme.publish("clinic", 1, actor="ana")  # T0 + 3
    return acme


def _disabled_doc() -> bytes:
    doc = json.loads(flow_doc(note="Closed for the holidays."))
    return json.dumps({"enabled": False, **doc}).encode()


async def test_disable_and_enable_move_the_flag_audited_and_counted(
    store: Store, acme: TenantStore
) -> None:
    before = await store.changes()
    disabled = await acme.disable("clinic", actor="bo")  # T0 + 4
    assert disabled == FlowInfo(
        flow_id="clinic",
        latest=1,
        published=1,
        published_at=T0 + 3,
        created_at=T0 + 2,
        enabled=False,
        disabled_at=T0 + 4,
    )
    assert await acme.flows() == [disabled]
    assert await store.changes() == before + 1  # workers take a new snapshot
    assert await acme.disable("clinic", actor="bo") == disabled  # so already: no change
    assert await store.changes() == before + 1
    enabled = await acme.enable("clinic", actor="cy")  # T0 + 5
    assert (enabled.enabled, enabled.disabled_at) == (True, None)
    assert await store.changes() == before + 2
    assert await acme.audit(limit=2) == [
        AuditEntry(
            entry_id=5,
            actor="cy",
            action="flow.enable",
            subject="clinic",
            detail={"published": 1},
            at=T0 + 5,
        ),
        AuditEntry(
            entry_id=4,
            actor="bo",
            action="flow.disable",
            subject="clinic",
            detail={"published": 1},
            at=T0 + 4,
        ),
    ]


async def test_a_published_version_that_says_enabled_false_disables_the_flow(
    acme: TenantStore,
) -> None:
    assert prepare(_disabled_doc(), "clinic.json").enabled is False
    await push_document(acme, _disabled_doc(), actor="ana")  # v2, T0 + 4
    assert [f.enabled for f in await acme.flows()] == [True]  # v1 is still the published one
    await acme.publish("clinic", 2, actor="ana")
    assert [(f.enabled, f.disabled_at) for f in await acme.flows()] == [(False, None)]
    # the flag cannot enable what the document disables; rolling back does
    assert (await acme.enable("clinic", actor="bo")).enabled is False
    await acme.rollback("clinic", actor="ana")
    assert [f.enabled for f in await acme.flows()] == [True]


async def test_an_unpublished_or_unknown_flow(acme: TenantStore) -> None:
    await acme.unpublish("clinic", actor="ana")
    assert (await acme.disable("clinic", actor="bo")).published is None
    with pytest.raises(NotFound) as caught:
        await acme.enable("nosuch", actor="bo")
    assert str(caught.value) == "Unknown flow `nosuch` for tenant `acme`"


async def test_routing_from_the_store_passes_over_and_refuses_a_disabled_flow(
    store: Store, acme: TenantStore
) -> None:
    await acme.set_routing({"default": "clinic"}, actor="ana")
    await acme.disable("clinic", actor="bo")
    named = '{"tenant_id": "acme", "flow_id": "clinic"}'
    assert await route_in_store(store, named) == Rejected(
        reason="Flow `clinic` is disabled (tenant `acme`)",
        origin="job metadata",
        tenant_id="acme",
        flow_id="clinic",
        version="1",
    )
    assert await route_in_store(store, '{"tenant_id": "acme"}') == Rejected(
        reason="No enabled flow for this job: the tenant's default goes to disabled flow `clinic`",
        origin="job metadata",
        tenant_id="acme",
    )
    snapshot = await load_store_catalog(store)  # what workers route by
    assert snapshot.flow("clinic", "acme") == FlowEntry(
        flow_id="clinic", tenant_id="acme", version="1", enabled=False
    )
    await acme.enable("clinic", actor="bo")
    routed = await route_in_store(store, named)
    assert isinstance(routed, Routed) and routed.flow_id == "clinic"


def test_flowctl_store_disable_enable_list_and_route(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"

    def flowctl(*args: str) -> tuple[int, str, str]:
        result = CliRunner().invoke(cli, [*args, "--store", url], env={"FLOWCTL_USER": "bo"})
        return result.exit_code, result.stdout, result.stderr

    clinic, closed = tmp_path / "clinic.json", tmp_path / "closed.json"
    clinic.write_bytes(flow_doc())
    closed.write_bytes(_disabled_doc().replace(b'"clinic"', b'"closed"'))
    for command in (
        ["store", "init"],
        ["tenants", "create", "acme"],
        ["store", "push", str(clinic), str(closed), "-t", "acme", "--publish"],
    ):
        assert flowctl(*command)[0] == 0, command
    assert flowctl("store", "disable", "clinic", "-t", "acme") == (
        0,
        "clinic disabled: no job is routed to it\n",
        "",
    )
    assert flowctl("store", "disable", "clinic", "-t", "acme") == (
        0,
        "clinic is already disabled\n",
        "",
    )
    code, out, _ = flowctl("store", "list", "-t", "acme")
    assert code == 0
    assert [(row.split()[0], row.split()[-1]) for row in out.splitlines()[1:]] == [
        ("clinic", "disabled"),
        ("closed", "v1"),  # `disabled by v1`
    ]
    assert out.splitlines()[2].endswith("  disabled by v1")
    assert flowctl("route", "--metadata", '{"tenant_id": "acme", "flow_id": "clinic"}') == (
        1,
        "rejected  Flow `clinic` is disabled (tenant `acme`)\norigin    job metadata\n",
        "",
    )
    assert flowctl("store", "enable", "clinic", "-t", "acme") == (0, "clinic enabled\n", "")
    assert flowctl("store", "enable", "clinic", "-t", "acme") == (0, "clinic is not disabled\n", "")
    assert flowctl("store", "enable", "closed", "-t", "acme") == (
        0,
        'closed stays disabled: its published v1 says "enabled": false; publish a version '
        "that does not\n",
        "",
    )
    assert flowctl("store", "disable", "nosuch", "-t", "acme") == (
        2,
        "",
        "flowctl: error: Unknown flow `nosuch` for tenant `acme`\n",
    )
