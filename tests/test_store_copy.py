"""`flowctl store copy`: a whole store moved between backends (SQLite to PostgreSQL
and back), everything readable the same afterwards, and verified."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pgkit
import pytest
from click.testing import CliRunner
from storekit import (
    EXAMPLE_POLICY,
    Clock,
    extending_doc,
    flow_doc,
    opened,
    store_url,
    template_doc,
)

from flowctl.cli.main import cli
from flowctl.engine.boundary import TenantPolicy
from flowctl.engine.runtime import Entered
from flowctl.engine.store import Remembered, Store, Turn
from flowctl.engine.store.documents import (
    push_document,
    push_shared_template,
    push_template_document,
)


async def _fill(s: Store) -> None:
    """A store with something in every table."""
    await s.create_tenant(
        "acme",
        actor="ana",
        name="Acme",
        routing={"default": "clinic"},
        policy=TenantPolicy(egress_hosts=["hooks.acme.example"]),
    )
    await s.create_tenant("globex", actor="ana", max_concurrent_sessions=3, policy=EXAMPLE_POLICY)
    acme = s.tenant("acme")
    for note in ("", "two", "three"):
        await push_document(acme, flow_doc(note=note), actor="bo")
    await acme.publish("clinic", 1, actor="bo")
    await acme.publish("clinic", 3, actor="bo")
    await acme.rollback("clinic", actor="cy")
    await push_document(acme, flow_doc("junk"), actor="bo")
    await acme.delete("junk", actor="bo")
    # a template of the tenant's and one of the operator's, and a flow on each
    await push_shared_template(s.shared_templates(), template_doc("base"), actor="ana")
    await s.shared_templates().publish_template("base", 1, actor="ana")
    await push_template_document(acme, template_doc("desk"), actor="bo")
    await acme.publish_template("desk", 1, actor="bo")
    await push_document(acme, extending_doc("front", template="base"), actor="bo")
    await push_document(acme, extending_doc("back", template="desk"), actor="bo")
    await acme.set_secret("CRM_TOKEN", "s3cret", actor="ana")
    await acme.create_key("developer", actor="ana", name="ci")
    await acme.create_webhook("https://hooks.acme.example/calls", ["*"], actor="ana")
    await acme.start_session(
        "clinic", session_id="call-1", routing={"rule": "default"}, caller="+15555550142"
    )
    await acme.append_events(
        "call-1", [Entered(at=5.0, state="Main"), Turn(at=6.5, role="user", text="Hi")]
    )
    await acme.schedule_callback("call-1", when="tomorrow", reason="asked")
    await acme.end_session("call-1", reason="hangup")
    called = Remembered(flow_id="clinic", session_id="call-1", variables={"name": "Ana"})
    await acme.remember("+15555550142", called)
    await acme.start_session("clinic", session_id="call-2")
    await acme.put_document("clinic", "hours.md", "# Hours\n\nOpen 8 to 6.", actor="ana")
    await acme.put_document("clinic", "hours.md", "# Hours\n\nOpen 9 to 5.", actor="bo")
    await acme.put_document("clinic", "parking.txt", "Park behind the building.", actor="ana")


async def _everything(s: Store) -> dict[str, Any]:
    """All a store holds, as its API reads it."""
    out: dict[str, Any] = {"tenants": await s.list_tenants()}
    for tenant in out["tenants"]:
        t = s.tenant(tenant.tenant_id)
        flows = await t.flows()
        out[tenant.tenant_id] = {
            "flows": flows,
            "versions": {f.flow_id: await t.versions(f.flow_id) for f in flows},
            "documents": [await t.version("clinic", v) for v in (1, 2, 3)] if flows else [],
            "history": {f.flow_id: await t.history(f.flow_id) for f in flows},
            "sessions": await t.sessions(),
            "events": [await t.events(x.session_id) for x in await t.sessions()],
            "callbacks": await t.callbacks(status=None),
            "audit": await t.audit(limit=1000),
            "keys": await t.keys(),
            "secrets": await t.secret_values(),
            "webhooks": await t.webhooks(),
            "deliveries": await t.deliveries(),
            "knowledge": await t.knowledge_bases(),
            "documents_of": {
                b.base: [await t.revisions(b.base, d.name) for d in await t.documents(b.base)]
                for b in await t.knowledge_bases()
            },
            # the target's full-text index was built as the chunks were copied in (what
            # each backend scores them differs; which it finds, and their order, do not)
            "search": [
                [p.source for p in await t.search(b.base, "open hours park")]
                for b in await t.knowledge_bases()
            ],
            "memories": await t.memories(),
            "templates": await t.templates(),
            "template versions": [
                await t.template(i.template_id, 1, shared=i.shared) for i in await t.templates()
            ],
            "template usage": await t.template_usage(),
        }
    return out


def _copy(source: str, target: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["store", "copy", "--from", source, "--to", target])
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
async def pg() -> Any:
    schema = pgkit.new_schema()
    url = await pgkit.schema_url(schema)
    yield url
    await pgkit.drop_schema(schema)


def test_copy_to_postgresql_and_back_keeps_everything(tmp_path: Path, pg: str) -> None:
    first = store_url(tmp_path / "one.db")
    back = store_url(tmp_path / "back.db")

    async def fill() -> dict[str, Any]:
        async with await opened(tmp_path / "one.db", Clock()) as s:
            await _fill(s)
            return await _everything(s)

    before = asyncio.run(fill())
    assert _copy(first, pg) == (
        0,
        f"Copied 68 rows from {first} to {pg}; verified\n",
        "  tenants: 2 rows\n  flows: 4 rows\n  flow_versions: 6 rows\n  publications: 3 rows\n"
        "  sessions: 2 rows\n  session_events: 2 rows\n  callbacks: 1 row\n"
        "  audit: 22 rows\n  api_keys: 1 row\n  secrets: 1 row\n  webhooks: 1 row\n"
        "  webhook_deliveries: 4 rows\n  caller_memory: 1 row\n  templates: 2 rows\n"
        "  template_versions: 2 rows\n  knowledge_documents: 2 rows\n"
        "  knowledge_revisions: 3 rows\n  knowledge_chunks: 2 rows\n"
        "  knowledge_terms: 7 rows\n",
    )
    assert _copy(pg, back)[0] == 0

    async def read(url: str) -> dict[str, Any]:
        async with await opened(url) as s:
            everything = await _everything(s)
            # The copy carries the change counter on, bumped: watchers reload.
            everything["changes"] = await s.changes()
            # Ids handed out next follow the copied ones.
            c = await s.tenant("acme").schedule_callback("call-2", when=None)
            everything["next callback"] = c.callback_id
            # and new chunks are indexed beside the copied ones
            acme = s.tenant("acme")
            await acme.put_document("clinic", "fees.txt", "Fees are due at the visit.", actor="x")
            found = await acme.search("clinic", "fees park")
            everything["found"] = sorted(p.source for p in found)
            return everything

    for url in (pg, back):
        after = asyncio.run(read(url))
        assert after.pop("next callback") == 2
        assert after.pop("found") == ["fees.txt", "parking.txt"]
        assert after.pop("changes") > 0
        assert after == before


def test_copy_into_a_store_that_holds_something_is_refused(tmp_path: Path, pg: str) -> None:
    async def fill() -> None:
        for target in (tmp_path / "one.db", pg):
            async with await opened(target, Clock()) as s:
                await s.create_tenant("acme", actor="ana")

    asyncio.run(fill())
    assert _copy(store_url(tmp_path / "one.db"), pg) == (
        2,
        "",
        "flowctl: error: The target store is not empty (it has tenants); copy into a new "
        "store, created with `flowctl store init`\n",
    )
