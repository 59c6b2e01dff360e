"""The store's schema 2: API keys (made, checked, listed, revoked, audited), taking a
flow out of service (unpublish, with its history kept), the running-session count, and
the migration of a schema-1 file."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from storekit import T0, Clock, flow_doc, opened, raw_rows, with_tenants

from flowctl.cli.main import cli
from flowctl.engine.boundary import TenantPolicy
from flowctl.engine.store import (
    AlreadyExists,
    ApiKey,
    NotFound,
    Publication,
    QuotaExceeded,
    Store,
    StoreConflict,
    StoreError,
    TenantStore,
    open_store,
)
from flowctl.engine.store.documents import push_document
from flowctl.engine.store.keys import KEY_PATTERN, hash_key, key_id_of
from flowctl.engine.store.sqlite.schema import APPLICATION_ID, MIGRATIONS


@pytest.fixture
async def store(store_target: Any) -> AsyncIterator[Store]:
    async with with_tenants(store_target, acme="", globex="") as s:
        yield s


@pytest.fixture
def acme(store: Store) -> TenantStore:
    return store.tenant("acme")


# --- keys -----------------------------------------------------------------------------


async def test_create_key_returns_the_key_once_and_keeps_its_hash(
    store_target: Any, store: Store, acme: TenantStore
) -> None:
    record, key = await acme.create_key("developer", actor="ana", name="ci")
    assert KEY_PATTERN.match(key)
    assert key_id_of(key) == record.key_id
    assert record == ApiKey(
        key_id=record.key_id,
        tenant_id="acme",
        role="developer",
        name="ci",
        created_at=T0 + 3,
        created_by="ana",
    )
    assert await acme.keys() == [record]
    assert await raw_rows(store_target, "SELECT hash FROM api_keys") == [(hash_key(key),)]
    if isinstance(store_target, Path):  # the key itself is nowhere in the file
        assert key.encode() not in store_target.read_bytes()
    entry = (await acme.audit())[0]
    assert (entry.actor, entry.action, entry.subject, entry.detail) == (
        "ana",
        "key.create",
        record.key_id,
        {"role": "developer", "name": "ci"},
    )


async def test_authenticate_knows_only_keys_it_issued(store: Store, acme: TenantStore) -> None:
    record, key = await acme.create_key("viewer", actor="ana")
    assert await store.authenticate(key) == record
    other_id, other_key = "fk_0123456789ab", "fk_0123456789ab_" + "A" * 43
    wrong_secret = key[:-1] + ("A" if key[-1] != "A" else "B")
    for presented in (other_key, wrong_secret, "", "Bearer x", key + "x", other_id):
        assert await store.authenticate(presented) is None, presented


async def test_revoke_key_refuses_it_from_then_on(store: Store, acme: TenantStore) -> None:
    record, key = await acme.create_key("admin", actor="ana")
    revoked = await acme.revoke_key(record.key_id, actor="bo")
    assert (revoked.revoked_at, revoked.revoked_by) == (T0 + 4, "bo")
    assert await store.authenticate(key) == revoked
    assert await acme.revoke_key(record.key_id, actor="cy") == revoked  # once is enough
    assert [(e.action, e.actor) for e in await acme.audit()][:2] == [
        ("key.revoke", "bo"),
        ("key.create", "ana"),
    ]


async def test_create_key_refuses_unknown_roles_and_tenants(store: Store) -> None:
    with pytest.raises(StoreError) as caught:
        await store.tenant("acme").create_key("owner", actor="ana")
    assert str(caught.value) == (
        "Unknown role `owner`; expected one of `admin`, `developer`, `viewer`"
    )
    with pytest.raises(NotFound) as missing:
        await store.tenant("initech").create_key("admin", actor="ana")
    assert str(missing.value) == (
        "Unknown tenant `initech`; create it with `flowctl tenants create initech`"
    )


async def test_tenant_and_session_ids_already_taken(store: Store, acme: TenantStore) -> None:
    with pytest.raises(AlreadyExists) as caught:
        await store.create_tenant("acme", actor="ana")
    assert (str(caught.value), caught.value.exit_code) == ("Tenant `acme` already exists", 2)
    await push_document(acme, flow_doc(), actor="ana")
    await acme.publish("clinic", 1, actor="ana")
    await acme.start_session("clinic", session_id="s1")
    with pytest.raises(AlreadyExists, match="Session `s1` already exists"):
        await acme.start_session("clinic", session_id="s1")


def test_flowctl_keys_create_list_revoke(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'flowctl.db'}"
    env = {"FLOWCTL_STORE": url, "FLOWCTL_USER": "ana"}

    def run(*args: str) -> tuple[int, str, str]:
        result = CliRunner().invoke(cli, list(args), env=env)
        return result.exit_code, result.stdout, result.stderr

    assert run("store", "init")[0] == 0
    assert run("tenants", "create", "acme")[0] == 0
    code, out, err = run("keys", "create", "-t", "acme", "--role", "developer", "--name", "ci")
    assert code == 0
    key = out.strip()
    key_id = key_id_of(key)
    assert key_id is not None
    assert err == (
        f"Created developer key {key_id} (ci) for tenant acme. It is shown once: keep it "
        "now; the store keeps only its hash\n"
    )
    code, out, _ = run("keys", "list", "-t", "acme")
    assert code == 0
    assert out.splitlines()[0].split() == ["KEY", "ROLE", "NAME", "CREATED", "BY", "REVOKED"]
    assert out.splitlines()[1].split()[:3] == [key_id, "developer", "ci"]
    assert run("keys", "revoke", key_id, "-t", "acme") == (0, f"Revoked key {key_id}\n", "")
    assert run("keys", "list", "-t", "acme", "--format", "json")[1].count('"revoked_by": "ana"')
    assert run("keys", "create", "-t", "acme", "--role", "owner")[0] == 2
    assert run("keys", "revoke", "fk_000000000000", "-t", "acme") == (
        2,
        "",
        "flowctl: error: Unknown key `fk_000000000000` for tenant `acme`\n",
    )


# --- unpublish ------------------------------------------------------------------------


async def test_unpublish_takes_the_flow_out_of_service_and_keeps_history(
    store: Store, acme: TenantStore
) -> None:
    await push_document(acme, flow_doc(), actor="ana")
    await push_document(acme, flow_doc(note="v2"), actor="ana")
    await acme.publish("clinic", 1, actor="ana")
    await acme.publish("clinic", 2, actor="ana")
    before = await store.changes()
    gone = await acme.unpublish("clinic", actor="bo", expected_current=2)
    assert gone == Publication(
        flow_id="clinic",
        seq=3,
        version=None,
        previous=2,
        action="unpublish",
        actor="bo",
        at=T0 + 7,
    )
    assert await store.changes() == before + 1
    assert await acme.published("clinic") is None
    assert (await acme.flows())[0].published_at is None
    assert [v.version for v in await acme.versions("clinic")] == [1, 2]
    with pytest.raises(NotFound, match="has no published version"):
        await acme.version("clinic")
    with pytest.raises(StoreError) as caught:
        await acme.unpublish("clinic", actor="bo")
    assert str(caught.value) == "`clinic` is not published; nothing to unpublish"
    with pytest.raises(StoreError) as caught:
        await acme.rollback("clinic", actor="bo")
    assert str(caught.value) == "`clinic` is unpublished; publish a version to serve it again"
    back = await acme.publish("clinic", 1, actor="cy", expected_current=None)
    assert (back.seq, back.version, back.previous) == (4, 1, None)
    assert [(p.action, p.version, p.previous) for p in await acme.history("clinic")] == [
        ("publish", 1, None),
        ("publish", 2, 1),
        ("unpublish", None, 2),
        ("publish", 1, None),
    ]
    assert (await acme.audit())[1].action == "flow.unpublish"


async def test_unpublish_with_a_stale_expectation_is_a_conflict(acme: TenantStore) -> None:
    await push_document(acme, flow_doc(), actor="ana")
    await acme.publish("clinic", 1, actor="ana")
    with pytest.raises(StoreConflict) as caught:
        await acme.unpublish("clinic", actor="bo", expected_current=None)
    assert str(caught.value) == (
        "Cannot unpublish `clinic`: expected no version to be published, but v1 is (someone "
        "changed it in between); look again with `flowctl store show clinic` and retry"
    )
    assert await acme.published("clinic") == 1


def test_store_show_prints_an_unpublish(tmp_path: Path) -> None:
    path = tmp_path / "flowctl.db"

    async def record() -> None:
        async with await opened(path) as s:
            await s.create_tenant("acme", actor="ana")
            t = s.tenant("acme")
            await push_document(t, flow_doc(), actor="ana")
            await t.publish("clinic", 1, actor="ana")
            await t.unpublish("clinic", actor="bo")
            await t.publish("clinic", 1, actor="ana")

    asyncio.run(record())
    result = CliRunner().invoke(
        cli, ["store", "show", "clinic", "-t", "acme", "--store", f"sqlite:///{path}"]
    )
    assert result.exit_code == 0
    assert result.stdout.splitlines()[-3:] == [
        "  #1  2023-11-14T22:13:23Z  publish   v1 by ana",
        "  #2  2023-11-14T22:13:24Z  unpublish - (was v1) by bo",
        "  #3  2023-11-14T22:13:25Z  publish   v1 by ana",
    ]


# --- running sessions -----------------------------------------------------------------


async def test_active_sessions_counts_those_not_ended(store: Store, acme: TenantStore) -> None:
    assert await acme.active_sessions() == 0
    await push_document(acme, flow_doc(), actor="ana")
    await acme.publish("clinic", 1, actor="ana")
    for sid in ("a", "b", "c"):
        await acme.start_session("clinic", session_id=sid)
    await acme.end_session("b", reason="hangup")
    assert await acme.active_sessions() == 2
    assert await store.tenant("globex").active_sessions() == 0
    with pytest.raises(NotFound, match="Unknown tenant `initech`"):
        await store.tenant("initech").active_sessions()


# --- migrating a schema-1 file --------------------------------------------------------


async def test_a_schema_1_store_migrates_to_the_latest_keeping_its_history(
    tmp_path: Path,
) -> None:
    path2 = tmp_path / "old.db"  # as a schema-1 flowctl left it: a flow, published once
    conn = sqlite3.connect(path2)
    for sql in MIGRATIONS[0]:
        conn.execute(sql)
    conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    conn.execute("PRAGMA user_version = 1")
    conn.execute("INSERT INTO tenants VALUES ('acme', '', NULL, NULL, 1, 1)")
    conn.execute("INSERT INTO flows VALUES ('acme', 'clinic', 1, 1, 2, 1, 1)")
    conn.execute(
        "INSERT INTO flow_versions VALUES ('acme', 'clinic', 1, 'h', ?, 'ana', 1, '[]', 0, 0)",
        (flow_doc().decode(),),
    )
    conn.execute(
        "INSERT INTO publications VALUES ('acme', 'clinic', 1, 1, NULL, 'publish', 'ana', 2)"
    )
    conn.commit()
    conn.close()
    async with await open_store(f"sqlite:///{path2}", clock=Clock()) as s:
        assert s.migrated == (1, len(MIGRATIONS))
        acme = s.tenant("acme")
        assert [(p.seq, p.version) for p in await acme.history("clinic")] == [(1, 1)]
        assert (await acme.unpublish("clinic", actor="bo")).seq == 2
        assert await acme.keys() == []
        # schema 3: no grants, no secrets, and the version already stored counts
        assert (await acme.info()).policy == TenantPolicy()
        assert await acme.secrets() == []
        await acme.set_policy(TenantPolicy(max_versions=1), actor="bo")
        with pytest.raises(QuotaExceeded):
            await push_document(acme, flow_doc(note="Another version."), actor="bo")
