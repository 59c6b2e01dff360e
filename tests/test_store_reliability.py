"""The store under stress, on real SQLite files: concurrent publishers in separate
processes, a writer killed mid-publish, and files that are read-only, locked, damaged,
foreign or from a newer flowctl, each refused with a message naming the file and what
to do."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT
from storekit import flow_doc, opened, raw_rows, store_url

from flowctl.engine.store import (
    StoreCorrupt,
    StoreError,
    StoreLocked,
    StoreReadOnly,
    StoreSchemaTooNew,
    open_store,
)
from flowctl.engine.store.documents import content_hash, push_document
from flowctl.engine.store.sqlite.schema import LATEST as SQLITE_LATEST

PROC = str(ROOT / "tests" / "storeproc.py")


async def _init(target: Any) -> None:
    async with await opened(target) as s:
        await s.create_tenant("acme", actor="admin")


def _spawn(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, PROC, *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )


def _rows(target: Any, sql: str) -> list[tuple[Any, ...]]:
    return asyncio.run(raw_rows(target, sql))


def _check_consistent(target: Any) -> list[int]:
    """Every version once, numbered 1..n, each document matching its hash; the pointer
    history a chain ending at the published version. Returns the version numbers."""
    if isinstance(target, Path):
        assert _rows(target, "PRAGMA integrity_check") == [("ok",)]
    rows = _rows(
        target,
        "SELECT version, hash, document FROM flow_versions WHERE flow_id = 'shared' "
        "ORDER BY version",
    )
    numbers = [r[0] for r in rows]
    assert numbers == list(range(1, len(rows) + 1))
    for _, digest, document in rows:
        assert content_hash(json.loads(document)) == digest
    assert len({r[1] for r in rows}) == len(rows)
    history = _rows(
        target,
        "SELECT seq, version, previous FROM publications WHERE flow_id = 'shared' ORDER BY seq",
    )
    assert [h[0] for h in history] == list(range(1, len(history) + 1))
    previous = None
    for _, version, before in history:
        assert before == previous
        assert version in numbers
        previous = version
    pointer = _rows(
        target, "SELECT published, publications, latest FROM flows WHERE flow_id = 'shared'"
    )
    assert pointer == [(previous, len(history), len(rows))]
    return numbers


def test_four_processes_publish_250_versions_each(store_target: Any) -> None:
    asyncio.run(_init(store_target))
    url = store_url(store_target)
    procs = [_spawn("many", url, f"w{i}", "250") for i in range(4)]
    for p in procs:  # all opened and waiting: start them together
        assert p.stdout is not None and p.stdout.readline() == "ready\n", p.stderr
    for p in procs:
        assert p.stdin is not None
        p.stdin.write("go\n")
        p.stdin.flush()
    results = []
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        results.append(json.loads(out))
    numbers = _check_consistent(store_target)
    assert numbers == list(range(1, 1001))
    notes = _rows(store_target, "SELECT document FROM flow_versions")
    written = sorted(json.loads(d)["agents"][0]["instructions"][38:-1] for (d,) in notes)
    assert written == sorted(f"worker w{w}, number {i}" for w in range(4) for i in range(250))
    published = _rows(store_target, "SELECT version FROM publications ORDER BY version")
    assert [v for (v,) in published] == numbers  # each version published exactly once
    actions = dict(_rows(store_target, "SELECT action, count(*) FROM audit GROUP BY action"))
    assert actions == {"tenant.create": 1, "flow.push": 1000, "flow.publish": 1000}
    assert _rows(store_target, "SELECT counter FROM changes") == [(1001,)]
    # They really ran at once: the pushes interleave (here ~100 publishes also met a
    # conflict and retried, but how many depends on the scheduler).
    authors = [
        a for (a,) in _rows(store_target, "SELECT author FROM flow_versions ORDER BY version")
    ]
    assert sum(a != b for a, b in itertools.pairwise(authors)) > 3
    assert sorted(r["worker"] for r in results) == ["w0", "w1", "w2", "w3"]


def test_writer_killed_mid_publish_leaves_the_committed_versions(store_target: Any) -> None:
    asyncio.run(_init(store_target))
    url = store_url(store_target)
    rng = random.Random(6)
    committed: list[int] = []
    for round_ in range(3):
        proc = _spawn("forever", url, str(round_))
        assert proc.stdout is not None
        for _ in range(rng.randint(5, 40)):
            committed.append(int(proc.stdout.readline()))
        os.kill(proc.pid, signal.SIGKILL)
        # What it reported between the last line read and the kill is committed too.
        rest, _ = proc.communicate(timeout=30)
        committed += [int(line) for line in rest.split()]
        assert proc.returncode == -signal.SIGKILL
        # The database opens cleanly (WAL recovery on SQLite; the server rolls back the
        # killed connection's transaction) and holds every version reported committed,
        # plus at most the one pushed after the last report.
        numbers = _check_consistent(store_target)
        assert numbers[: len(committed)] == committed
        assert len(numbers) - len(committed) in (0, 1)
        committed = numbers

    async def reopen() -> list[int]:
        async with await open_store(url) as s:
            return [v.version for v in await s.tenant("acme").versions("shared")]

    assert asyncio.run(reopen()) == committed


# --- files that cannot be used ------------------------------------------------------------


def _message(url: str, **kwargs: object) -> str:
    """The error opening ``url`` (and pushing a version to it) raises, as
    ``ClassName: message``; or ``ok``."""

    async def run() -> str:
        try:
            async with await open_store(url, **kwargs) as s:  # type: ignore[arg-type]
                await push_document(s.tenant("acme"), flow_doc(note="more"), actor="ana")
        except StoreError as exc:
            return f"{type(exc).__name__}: {exc}"
        return "ok"

    return asyncio.run(run())


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A folder another user can reach (pytest's tmp_path is private to its owner)."""
    folder = Path(tempfile.mkdtemp(prefix="flowctl-store-"))
    folder.chmod(0o755)
    yield folder
    folder.chmod(0o755)
    shutil.rmtree(folder)


def _unprivileged(fn: Callable[[], str]) -> str:
    """``fn()`` in a forked child that runs as `nobody` when this process is root (root
    writes read-only files regardless), or in this process otherwise."""
    if os.geteuid() != 0:
        return fn()
    # The child cannot import anything once it is `nobody` (the interpreter's files may
    # be private to root): the caller runs ``fn`` once first, so all is imported.
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.close(read)
        try:
            os.setgid(65534)
            os.setuid(65534)
            out = fn()
        except PermissionError as exc:
            out = f"cannot drop privileges: {exc}"
        except BaseException as exc:
            out = f"{type(exc).__name__}: {exc}"
        os.write(write, out.encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        out = pipe.read().decode()
    os.waitpid(pid, 0)
    if out.startswith("cannot drop privileges"):
        pytest.skip(f"running as root and {out}: read-only files cannot be tested here")
    return out


def test_read_only_file_says_how_to_write_or_read_it(shared_dir: Path) -> None:
    path = shared_dir / "flowctl.db"
    asyncio.run(_init(path))
    url = f"sqlite:///{path}"
    assert _message(url) == "ok"  # warms every import the forked child needs
    path.chmod(0o444)
    assert _unprivileged(lambda: _message(url)) == (
        f"StoreReadOnly: Cannot write to store `{path}`: the file is read-only. Make it "
        f"writable (`chmod u+w {path}`), or add `?mode=ro` to the store URL to only read it"
    )


def test_read_only_folder_says_where_sqlite_writes(shared_dir: Path) -> None:
    path = shared_dir / "flowctl.db"
    asyncio.run(_init(path))
    url = f"sqlite:///{path}"
    assert _message(url) == "ok"
    path.chmod(0o666)
    shared_dir.chmod(0o555)
    assert _unprivileged(lambda: _message(url)) == (
        f"StoreReadOnly: Cannot write to store `{path}`: its folder `{shared_dir}` is not "
        "writable, and SQLite keeps `flowctl.db-wal` and `flowctl.db-shm` beside the store. "
        "Make the folder writable, or add `?mode=ro` to the store URL to only read it"
    )


async def test_mode_ro_reads_but_refuses_writes(tmp_path: Path) -> None:
    path = tmp_path / "flowctl.db"
    await _init(path)
    async with await open_store(f"sqlite:///{path}?mode=ro") as s:
        assert await s.tenant("acme").flows() == []
        with pytest.raises(StoreReadOnly) as caught:
            await push_document(s.tenant("acme"), flow_doc(), actor="ana")
    assert str(caught.value) == (
        f"Store `{path}` is open read-only (`mode=ro` in its URL); drop `mode=ro` to change it"
    )


async def test_locked_store_gives_up_after_the_busy_timeout(tmp_path: Path) -> None:
    path = tmp_path / "flowctl.db"
    await _init(path)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another writer, stuck mid-transaction
    try:
        async with await open_store(f"sqlite:///{path}?timeout=0.1") as s:
            acme = s.tenant("acme")
            assert await acme.flows() == []  # readers are not blocked (WAL)
            with pytest.raises(StoreLocked) as caught:
                await push_document(acme, flow_doc(), actor="ana")
            assert str(caught.value) == (
                f"Store `{path}` is locked: another connection held it for more than 0.1 s. "
                f"Try again; if it stays locked, find the process holding it (`fuser {path}`)"
            )
            assert caught.value.exit_code == 2
            holder.execute("ROLLBACK")
            await push_document(acme, flow_doc(), actor="ana")  # the same handle works again
    finally:
        holder.close()


async def test_exclusively_locked_store_cannot_even_be_opened(tmp_path: Path) -> None:
    path = tmp_path / "flowctl.db"
    await _init(path)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("PRAGMA locking_mode = EXCLUSIVE")
    holder.execute("BEGIN EXCLUSIVE")
    holder.execute("UPDATE changes SET counter = counter")
    try:
        with pytest.raises(StoreLocked, match=r"^Store `.*` is locked: another connection"):
            await open_store(f"sqlite:///{path}", timeout=0.1)
    finally:
        holder.close()


async def test_garbage_file_is_not_a_store(tmp_path: Path) -> None:
    path = tmp_path / "flowctl.db"
    path.write_bytes(b"these are not the bytes you are looking for" * 100)
    with pytest.raises(StoreCorrupt) as caught:
        await open_store(f"sqlite:///{path}")
    assert str(caught.value) == (
        f"`{path}` is not a flowctl store: it is not an SQLite database. Point --store at "
        "the right file, or restore it from a backup"
    )


async def test_damaged_store_says_how_to_recover(tmp_path: Path) -> None:
    path = tmp_path / "flowctl.db"
    await _init(path)
    data = bytearray(path.read_bytes())
    data[100:4096] = b"\xff" * 3996  # the schema page, after the file header
    path.write_bytes(bytes(data))
    with pytest.raises(StoreCorrupt) as caught:
        await open_store(f"sqlite:///{path}")
    assert str(caught.value) == (
        f"Store `{path}` is damaged (database disk image is malformed). Restore it from a "
        f"backup; `sqlite3 {path} .recover` may salvage what is left"
    )


async def test_another_sqlite_database_is_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE users (id INTEGER)")
    conn.commit()
    conn.close()
    with pytest.raises(StoreCorrupt) as caught:
        await open_store(f"sqlite:///{path}", create=True)
    assert str(caught.value) == (
        f"`{path}` is an SQLite database but not a flowctl store; point --store at a "
        "flowctl store, or at a new file to create one"
    )
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT name FROM sqlite_master").fetchall() == [("users",)]
    assert conn.execute("PRAGMA journal_mode").fetchone() == ("delete",)  # untouched
    conn.close()


async def test_newer_schema_asks_for_a_newer_flowctl(tmp_path: Path) -> None:
    path = tmp_path / "flowctl.db"
    await _init(path)
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    with pytest.raises(StoreSchemaTooNew) as caught:
        await open_store(f"sqlite:///{path}")
    assert str(caught.value) == (
        f"Store `{path}` has schema version 99, newer than this flowctl knows ({SQLITE_LATEST}); upgrade "
        "flowctl (`pip install -U flowctl-voice`) to use it"
    )
    assert caught.value.exit_code == 2


async def test_an_empty_sqlite_file_is_migrated(tmp_path: Path) -> None:
    path = tmp_path / "flowctl.db"
    sqlite3.connect(path).close()
    path.touch()
    async with await open_store(f"sqlite:///{path}") as s:
        assert s.migrated == (0, SQLITE_LATEST)
