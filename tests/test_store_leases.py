"""Sessions' leases in the store, on both backends and a fake clock: a worker's
session is held while its lease is renewed, stops counting against its tenant's limit
the moment the lease lapses, and is closed as ``abandoned`` by ``reap``, audited; a
session with no lease (a dry run, a row from before leases) is never reaped."""

from __future__ import annotations

import math
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from storekit import Clock, flow_doc, opened, raw_rows

from flowctl.engine.runtime import Entered
from flowctl.engine.store import (
    AbandonedSession,
    AuditEntry,
    Lease,
    NotFound,
    SessionLimitReached,
    Store,
    StoreError,
    StoreReadOnly,
    open_store,
)
from flowctl.engine.store.documents import push_document
from flowctl.engine.store.sqlite.schema import APPLICATION_ID, MIGRATIONS

A = Lease(holder="host-a:101:aa01", seconds=30)
B = Lease(holder="host-b:202:bb02", seconds=30)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def store(store_target: Any, clock: Clock) -> AsyncIterator[Store]:
    """acme (flow clinic) and globex (flow support), each with v1 published."""
    async with await opened(store_target, clock) as s:
        for tenant, flow in (("acme", "clinic"), ("globex", "support")):
            await s.create_tenant(tenant, actor="ana")
            await push_document(s.tenant(tenant), flow_doc(flow), actor="ana")
            await s.tenant(tenant).publish(flow, 1, actor="ana")
        yield s


async def _lease_columns(target: Any) -> dict[str, tuple[str | None, float | None]]:
    """Each session's ``holder`` and ``lease_until``, as stored."""
    rows = await raw_rows(target, "SELECT session_id, holder, lease_until FROM sessions")
    return {sid: (holder, until) for sid, holder, until in rows}


async def test_a_lease_holds_until_it_lapses_and_the_reaper_closes_it(
    store: Store, clock: Clock, store_target: Any
) -> None:
    acme = store.tenant("acme")
    clock.reads(1000)
    await acme.start_session("clinic", session_id="s1", lease=A)
    assert await _lease_columns(store_target) == {"s1": (A.holder, 1030)}
    clock.reads(1020)
    assert await store.renew(A) == 1
    assert await _lease_columns(store_target) == {"s1": (A.holder, 1050)}
    clock.reads(1050)  # the last second of the lease: still held
    assert await store.reap(actor="reaper") == []
    clock.reads(1050)
    assert await acme.active_sessions() == 1
    clock.reads(1051)  # lapsed: no longer counted, though nothing has closed it yet
    assert await acme.active_sessions() == 0
    assert (await acme.session("s1")).ended_at is None
    clock.reads(1052)
    assert await store.renew(A) == 0  # a lapsed lease is not revived: its slot is gone
    clock.reads(1053)
    reaped = await store.reap(actor="reaper")
    assert reaped == [
        AbandonedSession(
            tenant_id="acme",
            session_id="s1",
            flow_id="clinic",
            version=1,
            holder=A.holder,
            started_at=1000,
            lease_until=1050,
            ended_at=1053,
        )
    ]
    info = await acme.session("s1")
    assert (info.ended_at, info.end_reason) == (1053, "abandoned")
    assert await _lease_columns(store_target) == {"s1": (A.holder, None)}
    assert (await acme.audit(limit=1))[0] == AuditEntry(
        entry_id=7,  # after the two tenants' create, push and publish
        actor="reaper",
        action="session.abandoned",
        subject="s1",
        detail={"flow_id": "clinic", "version": 1, "holder": A.holder, "lease_until": 1050},
        at=1053,
    )
    with pytest.raises(StoreError) as caught:
        await acme.append_events("s1", [Entered(at=1054, state="Main")])
    assert str(caught.value) == "Session `s1` has ended; it takes no more events"
    assert await store.reap(actor="reaper") == []
    # the worker ending it late changes nothing: the reaper's reason stays
    assert (await acme.end_session("s1", reason="hangup")).end_reason == "abandoned"


async def test_renew_takes_every_running_session_of_its_holder_whatever_the_tenant(
    store: Store, clock: Clock, store_target: Any
) -> None:
    acme, globex = store.tenant("acme"), store.tenant("globex")
    clock.reads(1000)
    await acme.start_session("clinic", session_id="a1", lease=A)
    await globex.start_session("support", session_id="g1", lease=A)
    await acme.start_session("clinic", session_id="a2", lease=B)
    await acme.start_session("clinic", session_id="a3", lease=A)
    await acme.start_session("clinic", session_id="dry")  # no lease: `simulate --record`
    await acme.end_session("a3", reason="hangup")
    assert await _lease_columns(store_target) == {
        "a1": (A.holder, 1030),
        "g1": (A.holder, 1031),
        "a2": (B.holder, 1032),
        "a3": (A.holder, None),  # ended: the lease is over, who ran it is kept
        "dry": (None, None),
    }
    clock.reads(1010)
    assert await store.renew(A) == 2
    clock.reads(1035)  # B stopped renewing at 1032; A holds until 1040
    assert [(s.tenant_id, s.session_id) for s in await store.reap(actor="r")] == [("acme", "a2")]
    clock.reads(1041)
    assert [(s.tenant_id, s.session_id) for s in await store.reap(actor="r")] == [
        ("acme", "a1"),
        ("globex", "g1"),
    ]
    clock.reads(10**9)  # a session with no lease is never reaped
    assert await store.reap(actor="r") == []
    assert [s.session_id for s in await acme.sessions(running=True)] == ["dry"]
    assert (await acme.session("a3")).end_reason == "hangup"


async def test_the_limit_frees_a_lapsed_lease_before_any_reap(store: Store, clock: Clock) -> None:
    acme = store.tenant("acme")
    await acme.set_limits(max_concurrent_sessions=2, actor="ana")
    clock.reads(1000)
    await acme.start_session("clinic", session_id="a", lease=A)  # held until 1030
    await acme.start_session("clinic", session_id="b")
    clock.reads(1030)
    with pytest.raises(SessionLimitReached) as caught:
        await acme.start_session("clinic", session_id="c", lease=B)
    assert str(caught.value) == (
        "Tenant `acme` already runs 2 sessions, its limit; end one, or raise the limit with "
        "`flowctl tenants set-limits acme --max-sessions N`"
    )
    clock.reads(1031)  # a's worker died: its slot is free at once
    await acme.start_session("clinic", session_id="c", lease=B)
    with pytest.raises(SessionLimitReached):
        await acme.start_session("clinic", session_id="d", lease=B)
    assert (await acme.session("a")).ended_at is None  # counted out, not yet closed
    assert [s.session_id for s in await store.reap(actor="r")] == ["a"]


async def test_a_tenants_reap_closes_only_its_own_sessions(store: Store, clock: Clock) -> None:
    acme, globex = store.tenant("acme"), store.tenant("globex")
    clock.reads(1000)
    await acme.start_session("clinic", session_id="s1", lease=A)
    await globex.start_session("support", session_id="s1", lease=A)
    clock.reads(2000)
    assert [(s.tenant_id, s.session_id) for s in await acme.reap(actor="r")] == [("acme", "s1")]
    assert (await globex.session("s1")).ended_at is None
    assert await acme.reap(actor="r") == []
    assert [(s.tenant_id, s.session_id) for s in await store.reap(actor="r")] == [("globex", "s1")]
    with pytest.raises(NotFound) as caught:
        await store.tenant("initech").reap(actor="r")
    assert str(caught.value) == (
        "Unknown tenant `initech`; create it with `flowctl tenants create initech`"
    )
    with pytest.raises(StoreError) as refused:
        await store.reap(actor=" ")
    assert str(refused.value) == "Every change names who made it: `actor` must not be empty"


async def test_reaping_nothing_is_a_read(tmp_path: Path) -> None:
    clock = Clock()
    async with await opened(tmp_path / "flowctl.db", clock) as s:
        await s.create_tenant("acme", actor="ana")
        await push_document(s.tenant("acme"), flow_doc(), actor="ana")
        clock.reads(1000)
        await s.tenant("acme").start_session("clinic", 1, session_id="s1", lease=A)
    url = f"sqlite:///{tmp_path / 'flowctl.db'}?mode=ro"  # SQLite's read-only mode
    read_only = Clock()
    read_only.reads(1010)
    async with await open_store(url, clock=read_only) as ro:
        assert await ro.reap(actor="r") == []  # no write transaction: fine read-only
        read_only.reads(1031)
        with pytest.raises(StoreReadOnly):
            await ro.reap(actor="r")


@pytest.mark.parametrize(
    ("holder", "seconds", "message"),
    [
        ("", 30, "A lease's holder is 1-200 characters, not ``"),
        ("x" * 201, 30, f"A lease's holder is 1-200 characters, not `{'x' * 201}`"),
        ("host:1:a", 0, "A lease lasts more than 0 seconds, not `0`"),
        ("host:1:a", -5.0, "A lease lasts more than 0 seconds, not `-5.0`"),
        ("host:1:a", math.inf, "A lease lasts more than 0 seconds, not `inf`"),
        ("host:1:a", "30", "A lease lasts a number of seconds, not `30`"),
        ("host:1:a", True, "A lease lasts a number of seconds, not `True`"),
    ],
    ids=["empty", "long", "zero", "negative", "infinite", "text", "bool"],
)
def test_a_lease_names_its_holder_and_lasts_some_seconds(
    holder: str, seconds: float, message: str
) -> None:
    with pytest.raises(StoreError) as caught:
        Lease(holder=holder, seconds=seconds)
    assert str(caught.value) == message


async def test_sessions_from_before_leases_are_never_reaped(tmp_path: Path) -> None:
    path = tmp_path / "old.db"  # as a schema-4 flowctl left it: a session running
    conn = sqlite3.connect(path)
    for migration in MIGRATIONS[:4]:
        for sql in migration:
            conn.execute(sql)
    conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    conn.execute("PRAGMA user_version = 4")
    conn.execute(
        "INSERT INTO tenants (tenant_id, max_concurrent_sessions, created_at, updated_at) "
        "VALUES ('acme', 1, 1, 1)"
    )
    conn.execute(
        "INSERT INTO flows (tenant_id, flow_id, latest, created_at) VALUES ('acme', 'clinic', 1, 1)"
    )
    conn.execute(
        "INSERT INTO flow_versions VALUES ('acme', 'clinic', 1, 'h', ?, 'ana', 1, '[]', 0, 0)",
        (flow_doc().decode(),),
    )
    conn.execute(
        "INSERT INTO sessions (tenant_id, session_id, flow_id, version, started_at) "
        "VALUES ('acme', 'old', 'clinic', 1, 2)"
    )
    conn.commit()
    conn.close()
    clock = Clock()
    async with await open_store(f"sqlite:///{path}", clock=clock) as s:
        assert s.migrated == (4, len(MIGRATIONS))
        clock.reads(10**9)
        assert await s.reap(actor="r") == []
        acme = s.tenant("acme")
        assert await acme.active_sessions() == 1  # still holds the tenant's one slot
        with pytest.raises(SessionLimitReached):
            await acme.start_session("clinic", 1, lease=A)
