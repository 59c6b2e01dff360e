"""Tenant isolation: every public method of a tenant's handle, aimed at another tenant's
flows, sessions and callbacks, is refused exactly as if they did not exist; and the
SQLite classes implement the store's protocols to the letter."""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from storekit import T0, extending_doc, flow_doc, opened, template_doc

from flowctl.engine.boundary import TenantPolicy
from flowctl.engine.runtime import Entered
from flowctl.engine.store import NotFound, Store, TemplateShelf, TenantStore
from flowctl.engine.store.documents import push_document, push_template_document
from flowctl.engine.store.postgres import PostgresStore
from flowctl.engine.store.sql.templates import TemplateShelf as SQLTemplateShelf
from flowctl.engine.store.sql.tenant import SQLTenantStore
from flowctl.engine.store.sqlite import SQLiteStore

NO_FLOW = "Unknown flow `{flow}` for tenant `acme`"
NO_SESSION = "Unknown session `{session}` for tenant `acme`"
NO_CALLBACK = "Unknown callback {callback} for tenant `acme`"
NO_KEY = "Unknown key `{key}` for tenant `acme`"
NO_SECRET = "Unknown secret `{flow}` for tenant `acme`"
NO_WEBHOOK = "Unknown webhook `{webhook}` for tenant `acme`"
NO_DELIVERY = "Unknown webhook delivery `{delivery}` for tenant `acme`"
NO_BASE = "Unknown knowledge base `{flow}` for tenant `acme`"
NO_DOCUMENT = "Unknown document `{flow}/{flow}.md` for tenant `acme`"
NO_TEMPLATE = "Unknown template `{flow}` for tenant `acme`"

# (handle, flow id, session id, callback id, the other ids by kind: key, webhook, delivery)
Call = Callable[[TenantStore, str, str, int, dict[str, str]], Awaitable[Any]]

# Every method of TenantStore that takes a flow, session, callback or key id, aimed through
# acme's handle at globex's rows, and the refusal it must get.
ACROSS: dict[str, tuple[Call, str]] = {
    "versions": (lambda t, f, s, c, k: t.versions(f), NO_FLOW),
    "version": (lambda t, f, s, c, k: t.version(f, 1), NO_FLOW),
    "published": (lambda t, f, s, c, k: t.published(f), NO_FLOW),
    "publish": (lambda t, f, s, c, k: t.publish(f, 1, actor="mallory"), NO_FLOW),
    "rollback": (lambda t, f, s, c, k: t.rollback(f, actor="mallory"), NO_FLOW),
    "unpublish": (lambda t, f, s, c, k: t.unpublish(f, actor="mallory"), NO_FLOW),
    "delete": (lambda t, f, s, c, k: t.delete(f, actor="mallory"), NO_FLOW),
    "disable": (lambda t, f, s, c, k: t.disable(f, actor="mallory"), NO_FLOW),
    "enable": (lambda t, f, s, c, k: t.enable(f, actor="mallory"), NO_FLOW),
    "history": (lambda t, f, s, c, k: t.history(f), NO_FLOW),
    # each tenant has a template named after its flow
    "template_versions": (lambda t, f, s, c, k: t.template_versions(f), NO_TEMPLATE),
    "template": (lambda t, f, s, c, k: t.template(f, 1), NO_TEMPLATE),
    "publish_template": (
        lambda t, f, s, c, k: t.publish_template(f, 1, actor="mallory"),
        NO_TEMPLATE,
    ),
    "start_session": (lambda t, f, s, c, k: t.start_session(f, 1), NO_FLOW),
    "append_events": (
        lambda t, f, s, c, k: t.append_events(s, [Entered(at=T0, state="Main")]),
        NO_SESSION,
    ),
    "end_session": (lambda t, f, s, c, k: t.end_session(s, reason="hangup"), NO_SESSION),
    "record_evaluation": (
        lambda t, f, s, c, k: t.record_evaluation(s, {"passed": True}),
        NO_SESSION,
    ),
    "session": (lambda t, f, s, c, k: t.session(s), NO_SESSION),
    "events": (lambda t, f, s, c, k: t.events(s), NO_SESSION),
    "schedule_callback": (lambda t, f, s, c, k: t.schedule_callback(s, when="now"), NO_SESSION),
    "callback": (lambda t, f, s, c, k: t.callback(c), NO_CALLBACK),
    "claim_callback": (lambda t, f, s, c, k: t.claim_callback(c, actor="m"), NO_CALLBACK),
    "complete_callback": (lambda t, f, s, c, k: t.complete_callback(c, actor="m"), NO_CALLBACK),
    "cancel_callback": (lambda t, f, s, c, k: t.cancel_callback(c, actor="m"), NO_CALLBACK),
    "revoke_key": (lambda t, f, s, c, k: t.revoke_key(k["key"], actor="mallory"), NO_KEY),
    "delete_webhook": (
        lambda t, f, s, c, k: t.delete_webhook(k["webhook"], actor="mallory"),
        NO_WEBHOOK,
    ),
    "replay_delivery": (
        lambda t, f, s, c, k: t.replay_delivery(k["delivery"], actor="mallory"),
        NO_DELIVERY,
    ),
    # each tenant has a secret named after its flow
    "delete_secret": (lambda t, f, s, c, k: t.delete_secret(f, actor="mallory"), NO_SECRET),
    # and a knowledge base named after its flow, holding `<flow>.md`
    "documents": (lambda t, f, s, c, k: t.documents(f), NO_BASE),
    "search": (lambda t, f, s, c, k: t.search(f, "opening hours"), NO_BASE),
    "document": (lambda t, f, s, c, k: t.document(f, f"{f}.md"), NO_DOCUMENT),
    "revisions": (lambda t, f, s, c, k: t.revisions(f, f"{f}.md"), NO_DOCUMENT),
    "delete_document": (
        lambda t, f, s, c, k: t.delete_document(f, f"{f}.md", actor="mallory"),
        NO_DOCUMENT,
    ),
}
# Methods that take no other tenant's ids: they can only read or change the handle's own.
OWN_ONLY = {
    "info",
    "set_routing",
    "set_limits",
    "push",
    "flows",
    "push_template",
    "templates",
    "template_usage",
    "sessions",
    "callbacks",
    "audit",
    "active_sessions",
    "reap",
    "create_key",
    "keys",
    "set_policy",
    "boundary",
    "secrets",
    "set_secret",
    "secret_values",
    "create_webhook",
    "webhooks",
    "deliveries",
    "knowledge_bases",
    "put_document",
    # callers: ids of the tenant's own callers; another tenant's caller is simply not
    # remembered here (test_store_memory.py)
    "set_retention",
    "recall",
    "memories",
    "remember",
    "purge_memory",
    "forget_caller",
}


def _methods(cls: type) -> dict[str, inspect.Signature]:
    return {
        name: inspect.signature(fn)
        for name, fn in inspect.getmembers(cls, inspect.isfunction)
        if not name.startswith("_")
    }


def test_every_tenant_method_is_covered_here() -> None:
    assert set(_methods(TenantStore)) == set(ACROSS) | OWN_ONLY


@pytest.mark.parametrize(
    ("protocol", "implementation"),
    [
        (TenantStore, SQLTenantStore),
        (Store, SQLiteStore),
        (Store, PostgresStore),
        (TemplateShelf, SQLTemplateShelf),
    ],
    ids=["TenantStore", "Store-sqlite", "Store-postgresql", "TemplateShelf"],
)
def test_store_classes_implement_the_protocols_exactly(
    protocol: type, implementation: type
) -> None:
    wanted, found = _methods(protocol), _methods(implementation)
    for name, signature in wanted.items():
        assert str(found[name]) == str(signature), name
    assert sorted(set(found) - set(wanted)) == []  # nothing public beyond the protocol


IDS: dict[str, dict[str, str]] = {}
NONE = {"key": "fk_000000000000", "webhook": "wh_000000000000", "delivery": "evt_0"}


@pytest.fixture
async def two(store_target: Any) -> AsyncIterator[Store]:
    s = await opened(store_target)
    for tenant, flow in (("globex", "support"), ("acme", "clinic")):
        policy = TenantPolicy(egress_hosts=[f"hooks.{tenant}.example"])
        await s.create_tenant(tenant, actor="admin", routing={"default": flow}, policy=policy)
        t = s.tenant(tenant)
        hook, _ = await t.create_webhook(f"https://hooks.{tenant}.example/", ["*"], actor="admin")
        await push_template_document(t, template_doc(flow), actor="admin")
        await t.publish_template(flow, 1, actor="admin")
        await push_document(t, extending_doc(flow, template=flow), actor="admin")
        await t.publish(flow, 1, actor="admin")
        sid = "g1" if tenant == "globex" else "a1"
        await t.start_session(flow, session_id=sid)
        await t.append_events(sid, [Entered(at=T0, state="Main")])
        await t.schedule_callback(sid, when="tomorrow")
        key, _ = await t.create_key("admin", actor="admin")
        delivery = (await t.deliveries())[0].delivery_id
        IDS[tenant] = {"key": key.key_id, "webhook": hook.webhook_id, "delivery": delivery}
        await t.set_secret(flow, f"{tenant}-value", actor="admin")
        await t.put_document(
            flow, f"{flow}.md", f"# {tenant}\n\nOpening hours of {tenant}.", actor="admin"
        )
    yield s
    await s.close()


@pytest.mark.parametrize("method", sorted(ACROSS))
async def test_other_tenants_rows_are_not_found(two: Store, method: str) -> None:
    call, message = ACROSS[method]
    acme = two.tenant("acme")
    with pytest.raises(NotFound) as across:
        await call(acme, "support", "g1", 1, IDS["globex"])  # globex's rows
    assert str(across.value) == message.format(
        flow="support", session="g1", callback=1, **IDS["globex"]
    )
    with pytest.raises(NotFound) as missing:
        await call(acme, "nosuch", "nosuch", 99, NONE)
    # worded exactly as for rows that do not exist at all
    assert str(missing.value) == message.format(
        flow="nosuch", session="nosuch", callback=99, **NONE
    )
    globex = two.tenant("globex")
    assert await globex.published("support") == 1
    assert [f.enabled for f in await globex.flows()] == [True]
    assert (await globex.session("g1")).ended_at is None
    assert [c.status for c in await globex.callbacks(status=None)] == ["pending"]
    assert [k.revoked_at for k in await globex.keys()] == [None]
    assert [h.webhook_id for h in await globex.webhooks()] == [IDS["globex"]["webhook"]]
    assert {d.status for d in await globex.deliveries()} == {"pending"}
    assert await globex.secret_values() == {"support": "globex-value"}
    assert [p.text for p in await globex.search("support", "opening hours")] == [
        "Opening hours of globex."
    ]
    assert [(i.template_id, i.published) for i in await globex.templates()] == [("support", 1)]


async def test_own_only_methods_see_only_their_tenant(two: Store) -> None:
    acme, globex = two.tenant("acme"), two.tenant("globex")
    assert [f.flow_id for f in await acme.flows()] == ["clinic"]
    assert [i.template_id for i in await acme.templates()] == ["clinic"]
    assert [(u.flow_id, str(u.template)) for u in await acme.template_usage()] == [
        ("clinic", "clinic@v1")
    ]
    assert [s.session_id for s in await acme.sessions()] == ["a1"]
    assert [s.name for s in await acme.secrets()] == ["clinic"]
    assert await acme.secret_values() == {"clinic": "acme-value"}
    assert (await acme.boundary()).secrets == frozenset({"clinic"})
    assert (await acme.boundary()).knowledge == frozenset({"clinic"})
    assert [b.base for b in await acme.knowledge_bases()] == ["clinic"]
    # globex's base name in acme's hands is acme's own new base, not globex's
    await acme.put_document("support", "mine.md", "Acme's own text.", actor="admin")
    assert [d.name for d in await globex.documents("support")] == ["support.md"]
    assert [p.source for p in await acme.search("support", "opening hours")] == []
    assert [c.session_id for c in await acme.callbacks()] == ["a1"]
    assert {e.subject for e in await acme.audit()} == {
        "acme",
        "clinic",
        "clinic/clinic.md",
        "support/mine.md",
        *IDS["acme"].values(),
    } - {IDS["acme"]["delivery"]}
    assert [k.key_id for k in await acme.keys()] == [IDS["acme"]["key"]]
    assert await acme.active_sessions() == 1
    assert (await acme.info()).routing == {"default": "clinic"}
    # globex's document pushed to acme is acme's own first version, not globex's
    pushed = await push_document(acme, flow_doc("support"), actor="admin")
    assert (pushed.created, pushed.version.version) == (True, 1)
    await acme.set_routing({"default": "support"}, actor="admin")
    await acme.set_limits(max_concurrent_sessions=1, actor="admin")
    info = await globex.info()
    assert (info.routing, info.max_concurrent_sessions) == ({"default": "support"}, None)
    assert [v.version for v in await globex.versions("support")] == [1]
    assert {e.subject for e in await globex.audit()} == {
        "globex",
        "support",
        "support/support.md",
        IDS["globex"]["key"],
        IDS["globex"]["webhook"],
    }


async def test_session_ids_are_per_tenant(two: Store) -> None:
    acme = two.tenant("acme")
    started = await acme.start_session("clinic", session_id="g1")
    assert started.session_id == "g1"
    assert await acme.events("g1") == []
    assert len(await two.tenant("globex").events("g1")) == 1


async def test_the_admin_listing_is_the_one_read_across_tenants(two: Store) -> None:
    assert [t.tenant_id for t in await two.list_tenants()] == ["acme", "globex"]
