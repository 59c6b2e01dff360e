"""The store through its Python API, on real SQLite files: tenants, versions and their
hashes, publishing and rollback, sessions and their events, callbacks, the audit log."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from storekit import (
    T0,
    Clock,
    broken_doc,
    flow_doc,
    opened,
    raw_refusal,
    warned_doc,
    with_tenants,
)

from flowctl.engine.errors import FlowInvalidError
from flowctl.engine.runtime import (
    Ended,
    Entered,
    Fired,
    OutputRecorded,
    RefusedEvent,
    ToolCalled,
    ToolReturned,
)
from flowctl.engine.store import (
    Callback,
    FlowInfo,
    NotFound,
    NotPublishable,
    Publication,
    SessionInfo,
    SessionLimitReached,
    Store,
    StoreConflict,
    StoredFinding,
    StoreError,
    Tenant,
    TenantStore,
    Turn,
    open_store,
)
from flowctl.engine.store.documents import canonical, content_hash, prepare, push_document
from flowctl.engine.store.errors import PointerRefused
from flowctl.engine.store.sqlite.schema import LATEST as SQLITE_LATEST


@pytest.fixture
async def store(store_target: Any) -> AsyncIterator[Store]:
    async with with_tenants(store_target, acme="Acme") as s:
        yield s


@pytest.fixture
def acme(store: Store) -> TenantStore:
    return store.tenant("acme")


# --- opening --------------------------------------------------------------------------


async def test_open_store_creates_a_wal_file_with_the_latest_schema(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "new.db"
    async with await opened(path) as s:
        assert s.migrated == (0, SQLITE_LATEST)
    async with await opened(path) as s:
        assert s.migrated is None
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    assert conn.execute("PRAGMA user_version").fetchone() == (SQLITE_LATEST,)
    assert conn.execute("PRAGMA application_id").fetchone() == (0x666C6F77,)
    conn.close()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (
            "flowctl.db",
            "Store URL `flowctl.db` has no scheme; did you mean `sqlite:///flowctl.db`?",
        ),
        (
            "postgresql://ana:s3cret@db.internal/",
            "Store URL `postgresql://ana:***@db.internal/` names no database: add `/DATABASE`",
        ),
        (
            "postgresql://db.internal/flowctl?schema=Acme-Prod",
            "Store URL `postgresql://db.internal/flowctl?schema=Acme-Prod`: `schema` is a "
            "lower-case SQL name (letters, digits, `_`), not `Acme-Prod`",
        ),
        (
            "postgres://db.internal/flowctl?pool_max=0",
            "Store URL `postgres://db.internal/flowctl?pool_max=0`: `pool_max` is a whole "
            "number of connections, 1 or more",
        ),
        (
            "mysql://x/y",
            "Unsupported store URL `mysql://x/y`: expected `sqlite:///PATH` or "
            "`postgresql://USER@HOST/DATABASE`",
        ),
        (
            "sqlite://host/x.db",
            "Store URL `sqlite://host/x.db` names a host (`host`); SQLite stores are local files: `sqlite:///relative.db` or `sqlite:////absolute.db`",
        ),
        ("sqlite:///", "Store URL `sqlite:///` names no file: write `sqlite:///PATH`"),
        (
            "sqlite:///x.db?cache=shared",
            "Unknown option `cache` in store URL `sqlite:///x.db?cache=shared`; known: mode, timeout",
        ),
        (
            "sqlite:///x.db?mode=rwc",
            "Store URL `sqlite:///x.db?mode=rwc`: `mode` is `rw` or `ro`, not `rwc`",
        ),
        (
            "sqlite:///x.db?timeout=soon",
            "Store URL `sqlite:///x.db?timeout=soon`: `timeout` is a number of seconds",
        ),
    ],
    ids=[
        "no-scheme",
        "pg-no-database",
        "pg-schema",
        "pg-pool",
        "mysql",
        "host",
        "no-file",
        "option",
        "mode",
        "timeout",
    ],
)
async def test_open_store_refuses_bad_urls(url: str, message: str) -> None:
    with pytest.raises(StoreError) as caught:
        await open_store(url)
    assert str(caught.value) == message
    assert caught.value.exit_code == 2


async def test_open_store_in_memory() -> None:
    async with await open_store("sqlite:///:memory:", clock=Clock()) as s:
        await s.create_tenant("acme", actor="ana")
        result = await push_document(s.tenant("acme"), flow_doc(), actor="ana")
        assert result.version.version == 1


async def test_open_store_missing_file_says_how_to_create_it(tmp_path: Path) -> None:
    path = tmp_path / "none.db"
    with pytest.raises(StoreError) as caught:
        await open_store(f"sqlite:///{path}")
    assert str(caught.value) == (
        f"No store at `{path}`; create one with `flowctl store init --store sqlite:///{path}`"
    )
    assert not path.exists()


async def test_open_store_create_needs_an_existing_folder(tmp_path: Path) -> None:
    path = tmp_path / "missing" / "x.db"
    with pytest.raises(StoreError) as caught:
        await open_store(f"sqlite:///{path}", create=True)
    assert str(caught.value) == (
        f"Cannot create store `{path}`: folder `{tmp_path / 'missing'}` does not exist"
    )


# --- tenants --------------------------------------------------------------------------


async def test_tenants_are_created_listed_and_edited(store: Store, acme: TenantStore) -> None:
    await store.create_tenant(
        "globex", actor="bo", routing={"default": "support"}, max_concurrent_sessions=3
    )
    assert await store.list_tenants() == [
        Tenant(tenant_id="acme", name="Acme", created_at=T0 + 1, updated_at=T0 + 1),
        Tenant(
            tenant_id="globex",
            routing={"default": "support"},
            max_concurrent_sessions=3,
            created_at=T0 + 2,
            updated_at=T0 + 2,
        ),
    ]
    assert (await acme.set_routing(b'{"default": "clinic"}', actor="ana")).routing == {
        "default": "clinic"
    }
    assert (
        await acme.set_limits(max_concurrent_sessions=2, actor="ana")
    ).max_concurrent_sessions == 2
    assert (await acme.set_routing(None, actor="ana")).routing is None
    assert [(e.action, e.detail) for e in await acme.audit()] == [
        ("tenant.routing", None),
        ("tenant.limits", {"max_concurrent_sessions": 2}),
        ("tenant.routing", {"default": "clinic"}),
        ("tenant.create", {"name": "Acme", "routing": None, "max_concurrent_sessions": None}),
    ]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda s: s.create_tenant("acme", actor="x"), "Tenant `acme` already exists"),
        (
            lambda s: s.create_tenant("a b", actor="x"),
            "Invalid tenant id `a b`: use 1-128 letters, digits, `_`, `.` or `-`, starting with a letter or digit",
        ),
        (
            lambda s: s.create_tenant("new", actor=" "),
            "Every change names who made it: `actor` must not be empty",
        ),
        (
            lambda s: s.create_tenant("new", actor="x", max_concurrent_sessions=0),
            "`max_concurrent_sessions` is a whole number from 1, not `0`",
        ),
        (
            lambda s: s.create_tenant("new", actor="x", routing="[1]"),
            "Routing for tenant `new` must be a JSON object",
        ),
        (
            lambda s: s.tenant("acme").set_routing("{", actor="x"),
            "Routing for tenant `acme` is not valid JSON: Expecting property name enclosed in double quotes: line 1 column 2 (char 1)",
        ),
        (
            lambda s: s.tenant("ghost").info(),
            "Unknown tenant `ghost`; create it with `flowctl tenants create ghost`",
        ),
        (
            lambda s: push_document(s.tenant("ghost"), flow_doc(), actor="x"),
            "Unknown tenant `ghost`; create it with `flowctl tenants create ghost`",
        ),
    ],
    ids=[
        "twice",
        "bad-id",
        "no-actor",
        "limit",
        "routing-array",
        "routing-json",
        "unknown",
        "push",
    ],
)
async def test_tenant_mistakes_are_refused(store: Store, call: object, message: str) -> None:
    with pytest.raises(StoreError) as caught:
        await call(store)  # type: ignore[operator]
    assert str(caught.value) == message


async def test_routing_validator_is_plugged_in(store_target: Any) -> None:
    def validate(routing: object) -> None:
        if "default" not in routing:  # type: ignore[operator]
            raise ValueError("`default` is required")

    async with await opened(store_target, validate_routing=validate) as s:
        with pytest.raises(StoreError) as caught:
            await s.create_tenant("acme", actor="ana", routing={"rules": []})
        assert str(caught.value) == "Invalid routing for tenant `acme`: `default` is required"
        await s.create_tenant("acme", actor="ana", routing={"default": "clinic"})


# --- versions -------------------------------------------------------------------------


async def test_push_numbers_versions_and_keeps_document_and_lint(acme: TenantStore) -> None:
    first = await push_document(acme, flow_doc(), actor="ana", filename="flows/clinic.json")
    assert first.created
    assert first.version.version == 1
    assert first.version.hash == content_hash(json.loads(flow_doc()))
    second = await push_document(acme, warned_doc(), actor="bo")
    assert (second.created, second.version.version, second.version.warnings) == (True, 2, 1)
    stored = await acme.version("clinic", 2)
    assert stored.document == warned_doc().decode()
    assert stored.author == "bo"
    assert stored.findings == [
        StoredFinding(
            code="FL404",
            severity="warning",
            message="Description of `finish` is 3 characters; say when to call it in at least 20 - at `$.agents[0].edges[0].description`",
            row=10,
            column=26,
        )
    ]
    assert [v.version for v in await acme.versions("clinic")] == [1, 2]


async def test_push_same_content_is_the_same_version(acme: TenantStore) -> None:
    await push_document(acme, flow_doc(), actor="ana")
    await push_document(acme, flow_doc(note="v2"), actor="ana")
    # Reformatted, keys reordered, escapes changed: the same content.
    doc = json.loads(flow_doc())
    reordered = {k: doc[k] for k in reversed(list(doc))}
    text = json.dumps(reordered, indent=None, ensure_ascii=True).replace("Help", "\\u0048elp")
    again = await push_document(acme, text, actor="bo")
    assert (again.created, again.version.version, again.version.author) == (False, 1, "ana")
    assert len(await acme.versions("clinic")) == 2
    assert [e.action for e in await acme.audit()].count("flow.push") == 2


async def test_push_stores_a_prepared_document_without_linting_it_again(
    acme: TenantStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    prepared = prepare(warned_doc(), "flows/clinic.json")

    def lint_again(*args: object, **kwargs: object) -> None:
        raise AssertionError("a prepared document was linted again")

    monkeypatch.setattr("flowctl.engine.store.documents.prepare", lint_again)
    pushed = await acme.push(prepared, actor="ana")
    assert (pushed.created, pushed.version.flow_id, pushed.version.warnings) == (True, "clinic", 1)
    stored = await acme.version("clinic", 1)
    assert (stored.document, stored.findings) == (warned_doc().decode(), prepared.findings)
    again = await acme.push(prepared, actor="bo", flow_id="clinic")
    assert (again.created, again.version.version) == (False, 1)


async def test_push_refuses_a_prepared_document_of_another_flow(acme: TenantStore) -> None:
    with pytest.raises(StoreError) as caught:
        await acme.push(prepare(flow_doc("clinic")), actor="ana", flow_id="sales")
    assert str(caught.value) == "The document is a version of `clinic`, not of `sales`"
    assert await acme.flows() == []


async def test_push_lints_a_raw_document_off_the_event_loop(
    acme: TenantStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    import flowctl.engine.store.documents as documents

    threads = []

    def recording(*args: object, **kwargs: object) -> object:
        threads.append(threading.current_thread())
        return prepare(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(documents, "prepare", recording)
    await push_document(acme, flow_doc(), actor="ana")
    assert threads and threads[0] is not threading.main_thread()


def test_canonical_form_sorts_keys_and_drops_whitespace() -> None:
    assert canonical({"b": [1, 2.5, "é"], "a": {"y": None, "x": True}}) == (
        '{"a":{"x":true,"y":null},"b":[1,2.5,"é"]}'.encode()
    )


async def test_push_names_the_flow(acme: TenantStore) -> None:
    doc = json.loads(flow_doc())
    del doc["flow_id"]
    text = json.dumps(doc)
    assert (
        await push_document(acme, text, actor="a", filename="dir/front-desk.json")
    ).version.flow_id == ("front-desk")
    assert (await push_document(acme, text, actor="a", flow_id="other")).version.flow_id == "other"
    with pytest.raises(StoreError) as caught:
        await push_document(acme, text, actor="a")
    assert str(caught.value) == "The document has no `flow_id`; name the flow it is a version of"
    with pytest.raises(StoreError) as caught:
        await push_document(acme, flow_doc("clinic"), actor="a", flow_id="sales", filename="c.json")
    assert str(caught.value) == (
        "`c.json` declares flow_id `clinic`; push it as `clinic` or change its flow_id to `sales`"
    )


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            b'{"agents": [',
            "`x.json` is not a JSON object (1:13: FL001 Invalid JSON: unexpected end of file); nothing was pushed",
        ),
        (
            b"[1, 2]",
            "`x.json` is not a JSON object (1:1: FL002 Expected `object`, got `array` - at `$`); nothing was pushed",
        ),
        (
            b"",
            "`x.json` is not a JSON object (1:1: FL001 File is empty; a flow is a JSON object); nothing was pushed",
        ),
    ],
    ids=["truncated", "array", "empty"],
)
async def test_push_refuses_what_is_not_a_json_object(
    acme: TenantStore, data: bytes, message: str
) -> None:
    with pytest.raises(FlowInvalidError) as caught:
        await push_document(acme, data, actor="ana", filename="x.json")
    assert str(caught.value) == message
    assert caught.value.exit_code == 1
    assert await acme.flows() == []


async def test_versions_are_immutable_in_the_database(
    store: Store, acme: TenantStore, store_target: Any
) -> None:
    await push_document(acme, flow_doc(), actor="ana")
    for sql in ("UPDATE flow_versions SET document = '{}'", "DELETE FROM flow_versions"):
        assert await raw_refusal(store_target, sql) == "flow versions are immutable"


# --- publishing -----------------------------------------------------------------------


async def test_publish_moves_the_pointer_and_records_it(store: Store, acme: TenantStore) -> None:
    await push_document(acme, flow_doc(), actor="ana")
    await push_document(acme, flow_doc(note="v2"), actor="ana")
    before = await store.changes()
    assert await acme.published("clinic") is None
    first = await acme.publish("clinic", 1, actor="ana", expected_current=None)
    second = await acme.publish("clinic", 2, actor="bo", expected_current=1)
    assert await acme.published("clinic") == 2
    assert await acme.history("clinic") == [first, second]
    assert second == Publication(
        flow_id="clinic", seq=2, version=2, previous=1, action="publish", actor="bo", at=T0 + 5
    )
    assert await store.changes() == before + 2
    # Publishing the published version again changes nothing.
    assert await acme.publish("clinic", 2, actor="cy") == second
    assert await store.changes() == before + 2
    assert (await acme.version("clinic")).version == 2
    assert await acme.flows() == [
        FlowInfo(flow_id="clinic", latest=2, published=2, published_at=T0 + 5, created_at=T0 + 2)
    ]


async def test_publish_with_a_stale_expectation_is_a_conflict(acme: TenantStore) -> None:
    for note in ("", "v2", "v3"):
        await push_document(acme, flow_doc(note=note), actor="ana")
    await acme.publish("clinic", 1, actor="ana")
    await acme.publish("clinic", 2, actor="bo", expected_current=1)
    with pytest.raises(StoreConflict) as caught:
        await acme.publish("clinic", 3, actor="cy", expected_current=1)
    assert str(caught.value) == (
        "Cannot publish `clinic` v3: expected v1 to be published, but v2 is (someone changed "
        "it in between); look again with `flowctl store show clinic` and retry"
    )
    assert caught.value.exit_code == 1
    assert (caught.value.refused, caught.value.expected, caught.value.current) == (
        "Cannot publish `clinic` v3: expected v1 to be published, but v2 is (someone changed "
        "it in between)",
        1,
        2,
    )
    with pytest.raises(StoreConflict, match="expected no version to be published, but v2 is"):
        await acme.publish("clinic", 3, actor="cy", expected_current=None)
    assert await acme.published("clinic") == 2


async def test_pointer_moves_the_state_does_not_allow_are_pointer_refused(
    acme: TenantStore,
) -> None:
    await push_document(acme, flow_doc(), actor="ana")
    with pytest.raises(PointerRefused) as caught:
        await acme.unpublish("clinic", actor="ana")
    assert (str(caught.value), caught.value.exit_code) == (
        "`clinic` is not published; nothing to unpublish",
        2,
    )
    with pytest.raises(PointerRefused) as caught:
        await acme.rollback("clinic", actor="ana")
    assert str(caught.value) == "`clinic` has never been published; nothing to roll back"


def test_rows_are_read_into_records_by_column_name() -> None:
    from flowctl.engine.store.sql.rows import columns

    assert columns(Callback, when="due") == (
        'callback_id, session_id, caller, due AS "when", reason, details, busy, requested_at, '
        "status, claimed_by, claimed_at, closed_by, closed_at"
    )


async def test_publish_refuses_lint_errors_and_names_them(acme: TenantStore) -> None:
    await push_document(acme, broken_doc(), actor="ana")
    with pytest.raises(NotPublishable) as caught:
        await acme.publish("clinic", 1, actor="ana")
    assert str(caught.value) == (
        "Cannot publish `clinic` v1: it has 1 lint error: 15:9: FL104 Unknown tool `nosuch` - "
        "at `$.agents[0].tools[0]`. Fix them and push a new version"
    )
    assert caught.value.exit_code == 1
    assert [f.code for f in caught.value.findings] == ["FL104"]
    assert await acme.published("clinic") is None
    await push_document(acme, warned_doc(), actor="ana")  # warnings do not stop a publish
    await acme.publish("clinic", 2, actor="ana")


@pytest.mark.parametrize(
    ("flow", "version", "message"),
    [
        ("sales", 1, "Unknown flow `sales` for tenant `acme`"),
        ("clinic", 9, "Flow `clinic` of tenant `acme` has no version 9"),
    ],
    ids=["flow", "version"],
)
async def test_publish_unknown_things(
    acme: TenantStore, flow: str, version: int, message: str
) -> None:
    await push_document(acme, flow_doc(), actor="ana")
    with pytest.raises(NotFound) as caught:
        await acme.publish(flow, version, actor="ana")
    assert str(caught.value) == message


async def test_rollback_goes_back_through_what_was_published(acme: TenantStore) -> None:
    for note in ("", "v2", "v3", "v4"):
        await push_document(acme, flow_doc(note=note), actor="ana")
    for v in (1, 2, 4):
        await acme.publish("clinic", v, actor="ana")
    back = await acme.rollback("clinic", actor="bo")
    assert (back.version, back.previous, back.action) == (2, 4, "rollback")
    assert (await acme.rollback("clinic", actor="bo")).version == 1
    with pytest.raises(StoreError) as caught:
        await acme.rollback("clinic", actor="bo")
    assert str(caught.value) == (
        "`clinic` v1 is the earliest version ever published; nothing earlier to roll back to"
    )
    await acme.publish("clinic", 4, actor="ana")
    assert (await acme.rollback("clinic", actor="bo", to=3, expected_current=4)).version == 3
    with pytest.raises(StoreError) as caught:
        await acme.rollback("clinic", actor="bo", to=4)
    assert str(caught.value) == (
        "v4 is not earlier than the published v3; use `flowctl store publish clinic 4`"
    )
    with pytest.raises(StoreConflict, match="Cannot roll back `clinic`: expected v4"):
        await acme.rollback("clinic", actor="bo", expected_current=4)
    history = await acme.history("clinic")
    assert [(p.seq, p.action, p.version, p.previous) for p in history] == [
        (1, "publish", 1, None),
        (2, "publish", 2, 1),
        (3, "publish", 4, 2),
        (4, "rollback", 2, 4),
        (5, "rollback", 1, 2),
        (6, "publish", 4, 1),
        (7, "rollback", 3, 4),
    ]


async def test_rollback_of_an_unpublished_flow(acme: TenantStore) -> None:
    await push_document(acme, flow_doc(), actor="ana")
    with pytest.raises(StoreError) as caught:
        await acme.rollback("clinic", actor="ana")
    assert str(caught.value) == "`clinic` has never been published; nothing to roll back"


async def test_version_of_a_flow_never_published(acme: TenantStore) -> None:
    await push_document(acme, flow_doc(), actor="ana")
    with pytest.raises(NotFound) as caught:
        await acme.version("clinic")
    assert str(caught.value) == (
        "Flow `clinic` of tenant `acme` has no published version; publish one with "
        "`flowctl store publish clinic VERSION`"
    )


# --- sessions -------------------------------------------------------------------------

EVENTS = [
    Entered(at=T0 + 10, state="Main"),
    Turn(at=T0 + 11, role="user", text="Hi, can I book a table?"),
    ToolCalled(at=T0 + 12, tool="check_table", args={"day": "Tue"}),
    ToolReturned(at=T0 + 12.5, tool="check_table", ok=True, value={"free": True}),
    RefusedEvent(at=T0 + 13, name="book", reason="`book` needs `caller_name` first."),
    OutputRecorded(at=T0 + 14, state="Main", fields={"system_response": "Booked."}),
    Turn(at=T0 + 14, role="agent", text="Booked."),
    Fired(at=T0 + 15, edge="finish", source="Main", target="Goodbye"),
    Entered(at=T0 + 15, state="Goodbye", via="finish"),
    Ended(at=T0 + 15, reason="end_state", state="Goodbye"),
]


async def test_sessions_record_events_in_batches(acme: TenantStore) -> None:
    await push_document(acme, flow_doc(), actor="ana")
    await acme.publish("clinic", 1, actor="ana")
    started = await acme.start_session("clinic", session_id="s1", routing={"rule": "default"})
    assert started == SessionInfo(
        session_id="s1", flow_id="clinic", version=1, routing={"rule": "default"}, started_at=T0 + 4
    )
    assert await acme.append_events("s1", EVENTS[:4]) == 4
    assert await acme.append_events("s1", []) == 4
    assert await acme.append_events("s1", EVENTS[4:]) == 10
    assert await acme.events("s1") == EVENTS
    ended = await acme.end_session("s1", reason="end_state")
    assert (ended.ended_at, ended.end_reason, ended.events) == (T0 + 5, "end_state", 10)
    assert await acme.end_session("s1", reason="hangup") == ended  # the first end stays
    with pytest.raises(StoreError) as caught:
        await acme.append_events("s1", EVENTS[:1])
    assert str(caught.value) == "Session `s1` has ended; it takes no more events"


async def test_concurrent_batches_share_a_transaction_and_fail_alone(
    store: Store, acme: TenantStore
) -> None:
    await push_document(acme, flow_doc(), actor="ana")
    await store.create_tenant("globex", actor="bo")
    for sid in ("s1", "s2"):
        await acme.start_session("clinic", 1, session_id=sid)
    await acme.start_session("clinic", 1, session_id="over")
    await acme.end_session("over", reason="hangup")
    calls = [
        acme.append_events("s1", EVENTS[:2]),
        acme.append_events("s2", EVENTS[:3]),
        acme.append_events("s1", EVENTS[2:5]),
        acme.append_events("nosuch", EVENTS[:1]),
        store.tenant("globex").append_events("s1", EVENTS[:1]),
        acme.append_events("over", EVENTS[:1]),
        acme.append_events("s1", EVENTS[5:]),
    ]
    results = await asyncio.gather(*calls, return_exceptions=True)
    assert [r if isinstance(r, int) else str(r) for r in results] == [
        2,
        3,
        5,
        "Unknown session `nosuch` for tenant `acme`",
        "Unknown session `s1` for tenant `globex`",
        "Session `over` has ended; it takes no more events",
        10,
    ]
    assert await acme.events("s1") == EVENTS
    assert await acme.events("s2") == EVENTS[:3]
    assert (await acme.session("s2")).events == 3


async def test_close_waits_for_queued_events(store_target: Any) -> None:
    s = await opened(store_target)
    await s.create_tenant("acme", actor="ana")
    acme = s.tenant("acme")
    await push_document(acme, flow_doc(), actor="ana")
    await acme.start_session("clinic", 1, session_id="s1")
    pending = [asyncio.ensure_future(acme.append_events("s1", [e])) for e in EVENTS]
    await asyncio.sleep(0)
    await s.close()
    assert [p.result() for p in pending] == list(range(1, 11))
    async with await opened(store_target) as again:
        assert await again.tenant("acme").events("s1") == EVENTS


async def test_sessions_pin_a_version_and_list_newest_first(acme: TenantStore) -> None:
    await push_document(acme, flow_doc(), actor="ana")
    await push_document(acme, flow_doc(note="v2"), actor="ana")
    await acme.publish("clinic", 1, actor="ana")
    a = await acme.start_session("clinic")
    await acme.publish("clinic", 2, actor="ana")
    b = await acme.start_session("clinic")
    c = await acme.start_session("clinic", 1, session_id="pinned")
    assert (a.version, b.version, c.version) == (1, 2, 1)
    assert len(a.session_id) == 32
    await acme.end_session(b.session_id, reason="hangup")
    assert [s.session_id for s in await acme.sessions()] == ["pinned", b.session_id, a.session_id]
    assert [s.session_id for s in await acme.sessions(running=False)] == [b.session_id]
    assert [s.session_id for s in await acme.sessions(running=True, limit=1)] == ["pinned"]
    assert await acme.sessions(flow_id="sales") == []


async def test_start_session_refusals(acme: TenantStore) -> None:
    await push_document(acme, flow_doc(), actor="ana")
    with pytest.raises(NotFound) as caught:
        await acme.start_session("clinic")
    assert str(caught.value) == (
        "Flow `clinic` of tenant `acme` has no published version to start a session on"
    )
    with pytest.raises(NotFound, match=r"^Flow `clinic` of tenant `acme` has no version 5$"):
        await acme.start_session("clinic", 5)
    await acme.start_session("clinic", 1, session_id="s1")
    with pytest.raises(StoreError) as caught:
        await acme.start_session("clinic", 1, session_id="s1")
    assert str(caught.value) == "Session `s1` already exists"


async def test_session_limit_counts_running_sessions(acme: TenantStore) -> None:
    await push_document(acme, flow_doc(), actor="ana")
    await acme.set_limits(max_concurrent_sessions=2, actor="ana")
    await acme.start_session("clinic", 1, session_id="a")
    await acme.start_session("clinic", 1, session_id="b")
    with pytest.raises(SessionLimitReached) as caught:
        await acme.start_session("clinic", 1, session_id="c")
    assert str(caught.value) == (
        "Tenant `acme` already runs 2 sessions, its limit; end one, or raise the limit with "
        "`flowctl tenants set-limits acme --max-sessions N`"
    )
    assert caught.value.exit_code == 1
    await acme.end_session("a", reason="hangup")
    await acme.start_session("clinic", 1, session_id="c")


async def test_a_misspelt_option_is_refused_as_python_refuses_a_keyword(
    acme: TenantStore, store: Store
) -> None:
    with pytest.raises(TypeError) as caught:
        await store.create_tenant("globex", actor="ana", max_sessions=2)  # type: ignore[call-arg]
    assert str(caught.value) == "create_tenant() got an unexpected keyword argument 'max_sessions'"
    await push_document(acme, flow_doc(), actor="ana")
    with pytest.raises(TypeError) as caught:
        await acme.start_session("clinic", 1, sesion_id="x")  # type: ignore[call-arg]
    assert str(caught.value) == "start_session() got an unexpected keyword argument 'sesion_id'"
    assert await store.list_tenants() == [await acme.info()]
