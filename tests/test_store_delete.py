"""Deleting a flow: in the SQLite store, through `flowctl store delete` and over the
API. Refused while published or routed to; recorded sessions stay readable; pushing
the id again brings the flow back."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from apikit import App, error, in_process
from click.testing import CliRunner
from storekit import flow_doc, with_tenants

from flowctl.cli.main import cli
from flowctl.engine.store import FlowInUse, NotFound, Store, TenantStore
from flowctl.engine.store.documents import push_document


@pytest.fixture
async def store(store_target: Any) -> AsyncIterator[Store]:
    async with with_tenants(store_target, acme="Acme") as s:
        yield s


async def test_store_delete_hides_the_flow_and_keeps_its_sessions(store: Store) -> None:
    acme: TenantStore = store.tenant("acme")
    await push_document(acme, flow_doc("junk"), actor="ana")
    await acme.publish("junk", 1, actor="ana")
    session = await acme.start_session("junk", session_id="call-1")
    with pytest.raises(FlowInUse) as exc:
        await acme.delete("junk", actor="ana")
    assert str(exc.value) == (
        "Cannot delete `junk`: v1 is published; unpublish it first with "
        "`flowctl store unpublish junk`"
    )
    await acme.unpublish("junk", actor="ana")
    before = await store.changes()
    deleted = await acme.delete("junk", actor="ana")
    assert (deleted.flow_id, deleted.latest, deleted.published) == ("junk", 1, None)
    assert await store.changes() == before + 1
    assert await acme.flows() == []
    for read in (acme.versions("junk"), acme.published("junk"), acme.version("junk", 1)):
        with pytest.raises(NotFound, match=r"^Unknown flow `junk` for tenant `acme`$"):
            await read
    with pytest.raises(NotFound, match=r"^Unknown flow `junk` for tenant `acme`$"):
        await acme.delete("junk", actor="ana")
    with pytest.raises(NotFound, match=r"^Unknown flow `junk` for tenant `acme`$"):
        await acme.start_session("junk", 1)
    assert (await acme.session("call-1")).flow_id == session.flow_id == "junk"
    entry = (await acme.audit(limit=1))[0]
    assert (entry.action, entry.subject, entry.actor, entry.detail) == (
        "flow.delete",
        "junk",
        "ana",
        {"versions": 1},
    )
    again = await push_document(acme, flow_doc("junk"), actor="ana")
    assert (again.version.version, again.created) == (1, False)
    assert [f.flow_id for f in await acme.flows()] == ["junk"]


async def test_store_delete_refuses_a_flow_the_routing_names(store: Store) -> None:
    acme = store.tenant("acme")
    await push_document(acme, flow_doc("junk"), actor="ana")
    routing = {"purposes": {"trial": [{"flow": "junk", "weight": 1}]}, "default": "junk"}
    await acme.set_routing(routing, actor="ana")
    with pytest.raises(FlowInUse) as exc:
        await acme.delete("junk", actor="ana")
    assert str(exc.value) == (
        "Cannot delete `junk`: the routing of tenant `acme` names it (at "
        "`$.purposes.trial[0].flow`, `$.default`); remove it from the tenant's routing "
        "first with `flowctl tenants set-routing acme ROUTING`"
    )
    assert [f.flow_id for f in await acme.flows()] == ["junk"]


def _run(url: str, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(
        cli, [*args, "--store", url], env={"FLOWCTL_USER": "ana", "FLOWCTL_TENANT": "acme"}
    )
    return result.exit_code, result.stdout, result.stderr


def test_store_delete_cli_exits_2_while_published_then_deletes(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'flowctl.db'}"
    doc = tmp_path / "junk.json"
    doc.write_bytes(flow_doc("junk"))
    assert _run(url, "store", "init")[0] == 0
    assert _run(url, "tenants", "create", "acme")[0] == 0
    assert _run(url, "store", "push", str(doc), "--publish")[0] == 0
    assert _run(url, "store", "delete", "junk") == (
        2,
        "",
        "flowctl: error: Cannot delete `junk`: v1 is published; unpublish it first with "
        f"`flowctl store unpublish junk --store {url}`\n",
    )
    assert _run(url, "store", "unpublish", "junk") == (0, "junk unpublished (was v1)\n", "")
    assert _run(url, "store", "delete", "junk") == (0, "junk deleted (1 version)\n", "")
    assert _run(url, "store", "delete", "junk") == (
        2,
        "",
        "flowctl: error: Unknown flow `junk` for tenant `acme`\n",
    )


@pytest.fixture
def api(tmp_path: Path) -> Iterator[App]:
    yield from in_process(tmp_path)


def test_api_delete_flow_needs_a_developer_and_refuses_a_published_flow(api: App) -> None:
    with api.client("acme-developer") as c:
        assert c.post("/api/v1/flows", content=flow_doc("junk")).status_code == 201
        assert c.post("/api/v1/flows/junk/publish", json={"version": 1}).status_code == 200
        refused = c.post("/api/v1/flows/junk/delete")
        assert (refused.status_code, refused.json()) == (
            409,
            error(
                "conflict",
                "Cannot delete `junk`: v1 is published; unpublish it first with "
                "`flowctl store unpublish junk`",
            ),
        )
    with api.client("acme-viewer") as c:
        assert c.post("/api/v1/flows/junk/delete").status_code == 403
    with api.client("acme-developer") as c:
        assert c.delete("/api/v1/flows/junk").status_code == 200  # unpublish
        deleted = c.post("/api/v1/flows/junk/delete")
        assert deleted.status_code == 200
        assert (deleted.json()["flow_id"], deleted.json()["latest"]) == ("junk", 1)
        assert c.get("/api/v1/flows").json() == []
        gone = c.post("/api/v1/flows/junk/delete")
        assert (gone.status_code, gone.json()) == (
            404,
            error("not_found", "Unknown flow `junk` for tenant `acme`"),
        )
