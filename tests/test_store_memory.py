"""Callers in the store, on both backends: memory written at a call's end and read at
the next one's start, kept for the flow's days capped by the tenant's, purged when it
expires; and the data-protection request that deletes everything about one caller."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from storekit import T0, Clock, flow_doc, opened, raw_rows

from flowctl.engine.boundary import TenantPolicy
from flowctl.engine.memory import DAY
from flowctl.engine.runtime import CallbackPromised, Entered
from flowctl.engine.store import (
    CallerInCall,
    CallerMemory,
    Forgotten,
    Lease,
    Remembered,
    Store,
    StoreError,
    TenantStore,
)
from flowctl.engine.store.documents import push_document
from flowctl.engine.store.sql.memory import caller_digest

ANA = "+15555550142"
BOB = "+15555550199"


@pytest.fixture
async def opened_store(store_target: Any) -> AsyncIterator[tuple[Store, Clock]]:
    clock = Clock()
    s = await opened(store_target, clock)
    for tenant in ("acme", "globex"):
        policy = TenantPolicy(egress_hosts=[f"hooks.{tenant}.example"])
        await s.create_tenant(tenant, actor="admin", policy=policy)
        t = s.tenant(tenant)
        await push_document(t, flow_doc("clinic"), actor="admin")
        await t.publish("clinic", 1, actor="admin")
    yield s, clock
    await s.close()


def _call(**variables: Any) -> Remembered:
    return Remembered(
        flow_id="clinic",
        session_id="s1",
        variables=variables,
        outcome="end_state",
        ttl_days=30,
    )


async def test_a_call_is_remembered_and_recalled(opened_store: tuple[Store, Clock]) -> None:
    store, clock = opened_store
    acme = store.tenant("acme")
    assert await acme.recall(ANA) is None
    clock.reads(T0 + 100)
    written = await acme.remember(ANA, _call(caller_name="Ana Ruiz", visits=2))
    assert written == CallerMemory(
        caller=ANA,
        variables={"caller_name": "Ana Ruiz", "visits": 2},
        outcome="end_state",
        flow_id="clinic",
        session_id="s1",
        calls=1,
        first_at=T0 + 100,
        updated_at=T0 + 100,
        expires_at=T0 + 100 + 30 * DAY,
    )
    assert await acme.recall(ANA) == written
    assert await acme.memories() == [written]
    # another tenant's caller of the same number is another caller
    assert await store.tenant("globex").recall(ANA) is None
    assert await store.tenant("globex").memories() == []


async def test_a_later_call_adds_to_what_is_kept(opened_store: tuple[Store, Clock]) -> None:
    store, clock = opened_store
    acme = store.tenant("acme")
    clock.reads(T0 + 100)
    first = Remembered(
        flow_id="clinic",
        variables={"caller_name": "Ana Ruiz", "plan": "Gold", "pharmacy": "Main St"},
        summary="Ana booked a checkup.",
        outcome="end_state",
    )
    await acme.remember(ANA, first)
    clock.reads(T0 + 200)
    # another flow: sets the plan again, forgets the pharmacy, writes no summary
    second = Remembered(
        flow_id="billing",
        session_id="s2",
        variables={"plan": "Silver"},
        forget=["pharmacy"],
        outcome="transfer",
    )
    kept = await acme.remember(ANA, second)
    assert kept == CallerMemory(
        caller=ANA,
        variables={"caller_name": "Ana Ruiz", "plan": "Silver"},
        summary="Ana booked a checkup.",  # the last one written stays
        outcome="transfer",
        flow_id="billing",
        session_id="s2",
        calls=2,
        first_at=T0 + 100,
        updated_at=T0 + 200,
        expires_at=T0 + 200 + 365 * DAY,  # neither the flow nor the tenant says: a year
    )
    assert await acme.recall(ANA) == kept


async def test_expired_memory_is_not_read_and_is_purged(
    opened_store: tuple[Store, Clock], store_target: Any
) -> None:
    store, clock = opened_store
    acme = store.tenant("acme")
    clock.reads(T0)
    await acme.remember(ANA, _call(caller_name="Ana Ruiz"))
    clock.reads(T0 + 10 * DAY)
    await acme.remember(BOB, _call(caller_name="Bob Lee"))
    clock.reads(T0 + 30 * DAY)  # Ana's memory expires now
    assert await acme.recall(ANA) is None
    assert [m.caller for m in await acme.memories()] == [BOB]
    assert len(await raw_rows(store_target, "SELECT caller FROM caller_memory")) == 2
    assert await acme.purge_memory(actor="dpo") == 1
    assert await acme.purge_memory(actor="dpo") == 0  # nothing left to purge: not audited
    assert [(e.action, e.detail) for e in await acme.audit(limit=1)] == [
        ("memory.purge", {"memories": 1})
    ]
    # an expired memory is not carried on: the next call starts a new one
    clock.reads(T0 + 31 * DAY)
    fresh = await acme.remember(ANA, _call(plan="Gold"))
    assert (fresh.variables, fresh.calls, fresh.first_at) == ({"plan": "Gold"}, 1, T0 + 31 * DAY)


async def test_writing_one_callers_memory_purges_the_expired(
    opened_store: tuple[Store, Clock], store_target: Any
) -> None:
    store, clock = opened_store
    acme = store.tenant("acme")
    clock.reads(T0)
    await acme.remember(ANA, _call(caller_name="Ana Ruiz"))
    clock.reads(T0 + 40 * DAY)
    await acme.remember(BOB, _call(caller_name="Bob Lee"))
    rows = await raw_rows(store_target, "SELECT caller FROM caller_memory")
    assert rows == [(BOB,)]


async def test_the_tenants_retention_caps_the_flows(opened_store: tuple[Store, Clock]) -> None:
    store, clock = opened_store
    acme = store.tenant("acme")
    clock.reads(T0)
    await acme.remember(ANA, _call(caller_name="Ana Ruiz"))  # 30 days, as the flow says
    clock.reads(T0 + 5)
    info = await acme.set_retention(memory_days=7, actor="dpo")
    assert info.memory_days == 7
    # what is kept is held to the shorter cap at once...
    assert (await acme.recall(ANA) or _none()).expires_at == T0 + 7 * DAY
    # ...and what is written from now on too
    clock.reads(T0 + 10)
    assert (await acme.remember(BOB, _call())).expires_at == T0 + 10 + 7 * DAY
    # a longer cap than the flow's leaves the flow's
    await acme.set_retention(memory_days=90, actor="dpo")
    clock.reads(T0 + 20)
    assert (await acme.remember(BOB, _call())).expires_at == T0 + 20 + 30 * DAY
    await acme.set_retention(memory_days=None, actor="dpo")
    assert [(e.action, e.detail) for e in await acme.audit(limit=3)] == [
        ("tenant.retention", {"memory_days": None}),
        ("tenant.retention", {"memory_days": 90}),
        ("tenant.retention", {"memory_days": 7}),
    ]
    assert (await store.tenant("globex").info()).memory_days is None


def _none() -> CallerMemory:
    raise AssertionError("no memory")


async def test_a_new_tenant_may_be_given_a_retention(store_target: Any) -> None:
    store = await opened(store_target)
    try:
        made = await store.create_tenant("initech", actor="admin", memory_days=14)
        assert made.memory_days == 14
        with pytest.raises(StoreError) as refused:
            await store.tenant("initech").set_retention(memory_days=0, actor="admin")
        assert str(refused.value) == "`memory_days` is a whole number of days from 1, not `0`"
    finally:
        await store.close()


@pytest.mark.parametrize(
    "caller",
    ["", "   ", "a\nb", "x" * 257],
    ids=["empty", "blank", "newline", "too-long"],
)
async def test_a_caller_id_must_be_usable(opened_store: tuple[Store, Clock], caller: str) -> None:
    store, _ = opened_store
    with pytest.raises(StoreError) as refused:
        await store.tenant("acme").recall(caller)
    shown = "..." if len(caller) > 64 else caller
    assert str(refused.value) == (
        f"Invalid caller id `{shown}`: 1-256 characters, no control characters (a phone "
        "number such as +15555550142, or a user id)"
    )


async def test_a_callers_memory_has_a_size_limit(opened_store: tuple[Store, Clock]) -> None:
    store, _ = opened_store
    with pytest.raises(StoreError) as refused:
        await store.tenant("acme").remember(ANA, _call(notes="x" * 70_000))
    assert str(refused.value) == (
        f"The memory of caller `{ANA}` would take 70,012 bytes; a caller's remembered "
        "variables are limited to 64 KiB"
    )
    assert await store.tenant("acme").recall(ANA) is None


# --- forgetting a caller ----------------------------------------------------------------


async def _calls(t: TenantStore, tenant: str) -> None:
    """Ana's two sessions (one recorded with her as the caller; one where only a
    callback to her says so), Bob's, and a webhook that saw them all."""
    await t.create_webhook(f"https://hooks.{tenant}.example/", ["*"], actor="admin")
    await t.start_session("clinic", session_id="ana-1", caller=ANA)
    await t.append_events("ana-1", [Entered(at=T0, state="Main")])
    await t.end_session("ana-1", reason="end_state")
    await t.start_session("clinic", session_id="web-1", caller="user-7")
    promised = CallbackPromised(at=T0, tool="schedule_callback", when="today", caller=ANA)
    await t.append_events("web-1", [Entered(at=T0, state="Main"), promised])
    await t.end_session("web-1", reason="callback")
    await t.start_session("clinic", session_id="bob-1", caller=BOB)
    await t.append_events("bob-1", [Entered(at=T0, state="Main")])
    await t.schedule_callback("bob-1", when="later", caller=BOB)
    await t.end_session("bob-1", reason="hangup")
    await t.remember(ANA, _call(caller_name="Ana Ruiz"))
    await t.remember(BOB, _call(caller_name="Bob Lee"))


async def test_forgetting_a_caller_deletes_everything_about_them(
    opened_store: tuple[Store, Clock],
) -> None:
    store, _ = opened_store
    acme, globex = store.tenant("acme"), store.tenant("globex")
    await _calls(acme, "acme")
    await _calls(globex, "globex")
    deliveries = len(await acme.deliveries())
    forgotten = await acme.forget_caller(ANA, actor="dpo")
    # 2 sessions; the callback promised in web-1; their deliveries: call.started and
    # call.ended of each, callback.requested of web-1
    assert forgotten == Forgotten(caller=ANA, memory=True, sessions=2, callbacks=1, deliveries=5)
    assert [s.session_id for s in await acme.sessions()] == ["bob-1"]
    assert await acme.recall(ANA) is None
    assert [c.caller for c in await acme.callbacks(status=None)] == [BOB]
    assert len(await acme.deliveries()) == deliveries - 5
    assert {d.session_id for d in await acme.deliveries()} == {"bob-1"}
    # the log says it was done, about whom only as a digest, and what went
    entry = (await acme.audit(limit=1))[0]
    assert (entry.actor, entry.action, entry.subject, entry.detail) == (
        "dpo",
        "caller.forget",
        caller_digest("acme", ANA),
        {"memory": True, "sessions": 2, "callbacks": 1, "deliveries": 5},
    )
    assert ANA not in str(await acme.audit())
    # nothing left: asking again deletes nothing, and is noted again
    again = await acme.forget_caller(ANA, actor="dpo")
    assert again == Forgotten(caller=ANA, memory=False, sessions=0, callbacks=0, deliveries=0)
    # the other tenant's Ana is untouched
    assert [s.session_id for s in await globex.sessions()] == ["bob-1", "web-1", "ana-1"]
    assert (await globex.recall(ANA) or _none()).variables == {"caller_name": "Ana Ruiz"}


async def test_a_caller_on_a_call_is_not_forgotten_until_it_ends(
    opened_store: tuple[Store, Clock],
) -> None:
    store, _ = opened_store
    acme = store.tenant("acme")
    lease = Lease(holder="worker-1", seconds=30)
    await acme.start_session("clinic", session_id="live", caller=ANA, lease=lease)
    await acme.remember(ANA, _call(caller_name="Ana Ruiz"))
    with pytest.raises(CallerInCall) as refused:
        await acme.forget_caller(ANA, actor="dpo")
    assert str(refused.value) == (
        f"Caller `{ANA}` of tenant `acme` is on a call now (session `live`); forget them "
        "once it has ended"
    )
    assert await acme.recall(ANA) is not None  # nothing was deleted
    await acme.end_session("live", reason="hangup")
    forgotten = await acme.forget_caller(ANA, actor="dpo")
    assert (forgotten.sessions, forgotten.memory) == (1, True)


async def test_forgetting_needs_a_known_tenant_and_an_actor(store_target: Any) -> None:
    store = await opened(store_target)
    try:
        with pytest.raises(StoreError) as unknown:
            await store.tenant("nosuch").forget_caller(ANA, actor="dpo")
        assert str(unknown.value) == (
            "Unknown tenant `nosuch`; create it with `flowctl tenants create nosuch`"
        )
        await store.create_tenant("acme", actor="admin")
        with pytest.raises(StoreError) as nobody:
            await store.tenant("acme").forget_caller(ANA, actor=" ")
        assert str(nobody.value) == "Every change names who made it: `actor` must not be empty"
    finally:
        await store.close()
