"""Callbacks in the store: booked by the session's recorded `callback` events in the same
write, then claimed, completed or cancelled (each audited), and kept across the schema
migration that gave them those statuses."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from msgspec.structs import replace
from storekit import T0, Clock, flow_doc, with_tenants

from flowctl.engine.runtime import CallbackPromised, Ended, Entered, Turn
from flowctl.engine.store import (
    AuditEntry,
    Callback,
    CallbackRefused,
    Store,
    StoreError,
    TenantStore,
    open_store,
)
from flowctl.engine.store.documents import push_document
from flowctl.engine.store.sqlite.schema import APPLICATION_ID, LATEST, MIGRATIONS


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    async with with_tenants(tmp_path / "flowctl.db", acme="Acme") as s:
        yield s


@pytest.fixture
async def acme(store: Store) -> TenantStore:
    acme = store.tenant("acme")
    await push_document(acme, flow_doc(), actor="ana")  # T0 + 2
    await acme.start_session("clinic", 1, session_id="s1")  # T0 + 3
    return acme


PROMISED = CallbackPromised(
    at=T0 + 100,
    tool="request_callback",
    when="tomorrow at 10",
    reason="test results",
    caller="+15550142277",
    details={"callback_number": "5550142277"},
)
BOOKED = Callback(
    callback_id=1,
    session_id="s1",
    caller="+15550142277",
    when="tomorrow at 10",
    reason="test results",
    details={"callback_number": "5550142277"},
    requested_at=T0 + 100,
)


async def test_a_recorded_callback_event_books_the_callback(acme: TenantStore) -> None:
    busy = CallbackPromised(at=T0 + 102, tool="handle_is_busy", when="after 5", busy=True)
    events = [
        Entered(at=T0 + 99, state="Main"),
        PROMISED,
        Turn(at=T0 + 101, role="agent", text="We will call you."),
        busy,
        Ended(at=T0 + 103, reason="busy", state="Main", detail="after 5"),
    ]
    assert await acme.append_events("s1", events) == 5
    second = Callback(
        callback_id=2, session_id="s1", when="after 5", busy=True, requested_at=T0 + 102
    )
    assert await acme.callbacks() == [BOOKED, second]
    assert await acme.callback(2) == second
    assert await acme.events("s1") == events  # the event itself stays in the timeline


async def test_a_refused_batch_books_no_callback(acme: TenantStore) -> None:
    await acme.end_session("s1", reason="hangup")
    with pytest.raises(StoreError) as refused:
        await acme.append_events("s1", [PROMISED])
    assert str(refused.value) == "Session `s1` has ended; it takes no more events"
    assert await acme.callbacks(status=None) == []


async def test_a_callback_is_claimed_then_completed_and_each_move_audited(
    acme: TenantStore,
) -> None:
    await acme.append_events("s1", [PROMISED])
    claimed = await acme.claim_callback(1, actor="ops:bo")  # T0 + 4
    assert claimed == replace(BOOKED, status="claimed", claimed_by="ops:bo", claimed_at=T0 + 4)
    assert await acme.claim_callback(1, actor="ops:bo") == claimed  # one's own: no change
    assert await acme.callbacks() == []
    assert await acme.callbacks(status="claimed") == [claimed]
    done = await acme.complete_callback(1, actor="ops:bo")  # T0 + 5
    assert done == replace(claimed, status="done", closed_by="ops:bo", closed_at=T0 + 5)
    assert await acme.callback(1) == done
    assert [(e.action, e.subject, e.detail) for e in await acme.audit(limit=2)] == [
        ("callback.complete", "1", {"status": "done", "previous": "claimed"}),
        ("callback.claim", "1", {"status": "claimed", "previous": "pending"}),
    ]


async def test_a_claimed_callback_is_no_one_elses_to_take(acme: TenantStore) -> None:
    await acme.append_events("s1", [PROMISED])
    await acme.claim_callback(1, actor="ops:bo")
    with pytest.raises(CallbackRefused) as taken:
        await acme.claim_callback(1, actor="ops:cy")
    assert str(taken.value) == "Callback 1 is already claimed by `ops:bo`"
    assert taken.value.exit_code == 1
    with pytest.raises(CallbackRefused) as not_theirs:
        await acme.complete_callback(1, actor="ops:cy")
    assert str(not_theirs.value) == "Callback 1 is claimed by `ops:bo`; only they can complete it"
    # cancelling clears a claim left behind, whoever holds it
    cancelled = await acme.cancel_callback(1, actor="ops:cy")
    assert (cancelled.status, cancelled.claimed_by, cancelled.closed_by) == (
        "cancelled",
        "ops:bo",
        "ops:cy",
    )
    for move in (acme.claim_callback, acme.complete_callback, acme.cancel_callback):
        with pytest.raises(CallbackRefused) as closed:
            await move(1, actor="ops:bo")
        assert str(closed.value) == "Callback 1 is already cancelled"
    assert (await acme.audit(limit=1))[0] == AuditEntry(
        entry_id=4,
        actor="ops:cy",
        action="callback.cancel",
        subject="1",
        detail={"status": "cancelled", "previous": "claimed"},
        at=T0 + 5,
    )


async def test_a_pending_callback_may_be_completed_without_a_claim(acme: TenantStore) -> None:
    booked = await acme.schedule_callback("s1", when="in an hour", caller="user-7")  # T0 + 4
    assert booked == Callback(
        callback_id=1, session_id="s1", caller="user-7", when="in an hour", requested_at=T0 + 4
    )
    done = await acme.complete_callback(1, actor="ops:bo")
    assert (done.status, done.claimed_by, done.closed_by) == ("done", None, "ops:bo")


async def test_listing_by_an_unknown_status_is_refused(acme: TenantStore) -> None:
    with pytest.raises(StoreError) as caught:
        await acme.callbacks(status="later")  # type: ignore[arg-type]
    assert str(caught.value) == (
        "Unknown callback status `later`; expected one of `pending`, `claimed`, `done`, `cancelled`"
    )


async def test_a_schema_4_store_keeps_its_callbacks_and_reads_disabled_documents(
    tmp_path: Path,
) -> None:
    path = tmp_path / "old.db"  # as schema 4 left it: a pending callback, a seed-001 config
    conn = sqlite3.connect(path)
    for migration in MIGRATIONS[:4]:
        for sql in migration:
            conn.execute(sql)
    conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    conn.execute("PRAGMA user_version = 4")
    conn.execute("INSERT INTO tenants (tenant_id, created_at, updated_at) VALUES ('acme', 1, 1)")
    seed = '{"agent_id": "quiet", "enabled": false, "prompt_config": {"instructions": "Hi."}}'
    for flow_id, document in (("clinic", flow_doc().decode()), ("quiet", seed)):
        conn.execute(
            "INSERT INTO flows (tenant_id, flow_id, latest, published, published_at, "
            "publications, created_at) VALUES ('acme', ?, 1, 1, 2, 1, 1)",
            (flow_id,),
        )
        conn.execute(
            "INSERT INTO flow_versions VALUES ('acme', ?, 1, ?, ?, 'ana', 1, '[]', 0, 0)",
            (flow_id, flow_id, document),
        )
    conn.execute(
        "INSERT INTO sessions (tenant_id, session_id, flow_id, version, started_at) "
        "VALUES ('acme', 's1', 'clinic', 1, 3)"
    )
    conn.execute(
        "INSERT INTO callbacks (tenant_id, session_id, due, reason, busy, requested_at) "
        "VALUES ('acme', 's1', 'after 5', 'results', 1, 4)"
    )
    conn.commit()
    conn.close()
    async with await open_store(f"sqlite:///{path}", clock=Clock()) as s:
        assert s.migrated == (4, LATEST)
        acme = s.tenant("acme")
        assert await acme.callbacks() == [
            Callback(
                callback_id=1,
                session_id="s1",
                when="after 5",
                reason="results",
                busy=True,
                requested_at=4,
            )
        ]
        assert (await acme.claim_callback(1, actor="ops")).status == "claimed"
        assert [(f.flow_id, f.enabled) for f in await acme.flows()] == [
            ("clinic", True),
            ("quiet", False),
        ]
    conn = sqlite3.connect(path)
    with pytest.raises(sqlite3.IntegrityError, match="flow versions are immutable"):
        conn.execute("UPDATE flow_versions SET enabled = 1")
    conn.close()
