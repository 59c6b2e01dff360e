"""What only the PostgreSQL store does: its URL, its errors (naming the server, never
the password), refusing a schema that is not a store, and telling watchers of a change
as soon as it commits (NOTIFY), falling back to polling when it cannot listen."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import asyncpg
import pgkit
import pytest
from storekit import Clock, flow_doc

from flowctl.engine.store import (
    Store,
    StoreCorrupt,
    StoreError,
    StoreSchemaTooNew,
    StoreUnavailable,
    open_store,
)
from flowctl.engine.store.documents import push_document
from flowctl.engine.store.postgres.db import placeholders, redact
from flowctl.engine.store.postgres.schema import LATEST


@pytest.fixture
async def schema() -> AsyncIterator[str]:
    name = pgkit.new_schema()
    await pgkit.require_server()
    try:
        yield name
    finally:
        await pgkit.drop_schema(name)


async def _sql(sql: str) -> None:
    conn = await asyncpg.connect(pgkit.server_url())
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def test_placeholders_are_numbered_and_passwords_hidden() -> None:
    assert placeholders("SELECT a FROM t WHERE b = ? AND c IN (?, ?)") == (
        "SELECT a FROM t WHERE b = $1 AND c IN ($2, $3)"
    )
    assert redact("postgresql://ana:s3cret@db:5432/flowctl?schema=x") == (
        "postgresql://ana:***@db:5432/flowctl?schema=x"
    )
    assert redact("postgresql://ana@db/flowctl") == "postgresql://ana@db/flowctl"


async def test_a_missing_store_says_how_to_create_it(schema: str) -> None:
    url = await pgkit.schema_url(schema)
    with pytest.raises(StoreUnavailable) as caught:
        await open_store(url)
    assert str(caught.value) == (
        f"No store at `{pgkit.server_url()}?schema={schema}` (schema `{schema}`); "
        f"create one with `flowctl store init --store {url}`"
    )
    async with await open_store(url, create=True, clock=Clock()) as s:
        assert (s.migrated, s.schema_version, s.url) == ((0, LATEST), LATEST, url)
    async with await open_store(url) as s:
        assert s.migrated is None


async def test_a_schema_holding_other_tables_is_left_alone(schema: str) -> None:
    await _sql(f'CREATE SCHEMA "{schema}"; CREATE TABLE "{schema}".orders (id int)')
    with pytest.raises(StoreCorrupt) as caught:
        await open_store(await pgkit.schema_url(schema), create=True)
    assert str(caught.value) == (
        f"`{pgkit.server_url()}?schema={schema}` (schema `{schema}`) holds tables but is "
        "not a flowctl store; point --store at a flowctl store, or at an empty database "
        "or schema to create one"
    )


async def test_a_newer_schema_asks_for_a_newer_flowctl(schema: str) -> None:
    url = await pgkit.schema_url(schema)
    async with await open_store(url, create=True):
        pass
    await _sql(f'UPDATE "{schema}".flowctl_meta SET version = {LATEST + 1}')
    with pytest.raises(StoreSchemaTooNew) as caught:
        await open_store(url)
    assert str(caught.value) == (
        f"Store `{pgkit.server_url()}?schema={schema}` (schema `{schema}`) has schema version "
        f"{LATEST + 1}, newer than this flowctl knows ({LATEST}); upgrade flowctl "
        "(`pip install -U flowctl-voice`) to use it"
    )


async def test_unreachable_servers_and_databases_are_named_without_the_password() -> None:
    with pytest.raises(StoreUnavailable) as caught:
        await open_store("postgresql://ana:s3cret@127.0.0.1:9/flowctl", timeout=2)
    message = str(caught.value)
    assert message.startswith("Cannot reach store `postgresql://ana:***@127.0.0.1:9/flowctl`: ")
    assert "s3cret" not in message
    base = await pgkit.require_server()
    missing = base.rsplit("/", 1)[0] + "/flowctl_no_such_db"
    with pytest.raises(StoreUnavailable) as caught:
        await open_store(missing)
    assert str(caught.value) == (
        f'Store `{missing}`: the database does not exist (database "flowctl_no_such_db" '
        "does not exist); create it (`createdb NAME`) or point --store at one that does"
    )


async def _two(schema: str) -> tuple[Store, Store]:
    """Two handles on one new store (as two processes hold): tenant `acme` has
    pushed `clinic` v1, unpublished."""
    url = await pgkit.schema_url(schema)
    first = await open_store(url, create=True, clock=Clock())
    await first.create_tenant("acme", actor="ana")
    await push_document(first.tenant("acme"), flow_doc(), actor="ana")
    return first, await open_store(url, clock=Clock())


async def test_a_watcher_hears_of_a_publish_when_it_commits(schema: str) -> None:
    watcher, publisher = await _two(schema)
    try:
        seen = await watcher.changes()
        # Nothing changes: the wait lasts its timeout.
        assert await watcher.wait_for_change(seen, 0.05) == seen
        waiting = asyncio.ensure_future(watcher.wait_for_change(seen, 30))
        await asyncio.sleep(0.05)
        assert not waiting.done()
        await publisher.tenant("acme").publish("clinic", 1, actor="ana")
        start = time.monotonic()
        assert await asyncio.wait_for(waiting, 10) == seen + 1
        assert time.monotonic() - start < 5  # woken by NOTIFY, not the 30 s timeout
    finally:
        await watcher.close()
        await publisher.close()


async def test_a_watcher_polls_while_it_cannot_listen(schema: str) -> None:
    watcher, publisher = await _two(schema)
    try:
        seen = await watcher.changes()
        assert await watcher.wait_for_change(seen, 0.01) == seen  # listening now
        # The server drops the listening connection (a restart, a network cut).
        await _sql(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE application_name = 'flowctl-listen'"
        )
        await publisher.tenant("acme").publish("clinic", 1, actor="ana")
        # The next wait sees the change (it reads the counter, listening again).
        assert await watcher.wait_for_change(seen, 5) == seen + 1
    finally:
        await watcher.close()
        await publisher.close()


async def test_errors_inside_a_transaction_roll_it_back(schema: str) -> None:
    s, other = await _two(schema)
    await other.close()
    try:
        acme = s.tenant("acme")
        with pytest.raises(StoreError):
            await acme.publish("clinic", 9, actor="ana")
        # The connection is usable and nothing was half-written.
        assert await acme.published("clinic") is None
        assert [e.action for e in await acme.audit()] == ["flow.push", "tenant.create"]
    finally:
        await s.close()
