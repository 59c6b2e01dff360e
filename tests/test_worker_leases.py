"""A worker's leases (``worker/leases.py``): its sessions hold its lease, renewed in one
statement per heartbeat, and every worker closes the sessions of a dead one as
``abandoned``. On a fake clock first; then two real worker processes sharing a store,
one of them SIGKILLed, on each backend: the survivor closes its sessions and the
tenant's slots are free within the lease."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT, minimal
from flowkit import compile_doc
from storekit import Clock, flow_doc, opened, store_url

from flowctl.engine.runtime import Conversation
from flowctl.engine.store import (
    AbandonedSession,
    SessionLimitReached,
    Store,
    StoreReadOnly,
    TenantStore,
    open_store,
)
from flowctl.engine.store.documents import push_document
from flowctl.worker.leases import LeaseKeeper, holder_id
from flowctl.worker.store_flows import SessionRecorder

PROC = str(ROOT / "tests" / "storeproc.py")


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def store(tmp_path: Path, clock: Clock) -> AsyncIterator[Store]:
    async with await opened(tmp_path / "flowctl.db", clock) as s:
        await s.create_tenant("acme", actor="ana", max_concurrent_sessions=3)
        await push_document(s.tenant("acme"), flow_doc(), actor="ana")
        yield s


async def _record(acme: TenantStore, session_id: str, leases: LeaseKeeper) -> SessionRecorder:
    conversation = Conversation(compile_doc(minimal()), session_id=session_id)
    return await SessionRecorder.start(
        acme,
        conversation,
        flow_id="clinic",
        version=1,
        session_id=session_id,
        interval=60,
        leases=leases,
    )


def test_a_holder_id_names_the_host_and_the_process() -> None:
    host, pid, random = holder_id().split(":")
    assert (host, pid, len(random)) == (os.uname().nodename, str(os.getpid()), 8)
    assert holder_id() != holder_id()


async def test_a_keeper_renews_its_sessions_and_closes_a_dead_workers(
    store: Store, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    acme = store.tenant("acme")
    alive = LeaseKeeper(store, seconds=30, holder="host-a:1:aa")
    dead = LeaseKeeper(store, seconds=30, holder="host-b:2:bb")
    assert (alive.interval, alive.actor) == (10, "worker host-a:1:aa")
    clock.reads(1000)
    a1 = await _record(acme, "a1", alive)  # held until 1030
    await _record(acme, "a2", alive)  # 1031
    b1 = await _record(acme, "b1", dead)  # 1032, and its worker never beats again
    assert (alive.held, dead.held) == (2, 1)
    with pytest.raises(SessionLimitReached):
        await acme.start_session("clinic", 1, session_id="c")
    clock.reads(1020)
    assert await alive.beat() == []  # renewed at 1020: held until 1050
    clock.reads(1040)
    caplog.set_level(logging.WARNING, "flowctl.worker")
    assert await alive.beat() == [  # renewed at 1040, reaped at 1041
        AbandonedSession(
            tenant_id="acme",
            session_id="b1",
            flow_id="clinic",
            version=1,
            holder="host-b:2:bb",
            started_at=1002,
            lease_until=1032,
            ended_at=1041,
        )
    ]
    assert caplog.messages == [
        "session b1 of tenant acme closed as abandoned: its worker host-b:2:bb stopped "
        "renewing its lease"
    ]
    assert (await acme.audit(limit=1))[0].actor == "worker host-a:1:aa"
    await acme.start_session("clinic", 1, session_id="c")  # b1's slot
    clock.reads(1065)  # a1 and a2 hold until 1070
    assert await alive.beat() == []
    await a1.close("hangup")
    assert (alive.held, (await acme.session("a1")).end_reason) == (1, "hangup")
    # b1's worker was not dead after all, only cut off from the store for too long
    caplog.clear()
    await b1.close("hangup")
    assert dead.held == 0
    assert (await acme.session("b1")).end_reason == "abandoned"
    assert caplog.messages == [
        "session b1 had been closed as abandoned: its lease lapsed while it ran (the store "
        "was out of reach for longer than the lease); events not recorded: 1"
    ]


async def test_a_keeper_holding_nothing_writes_nothing(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "flowctl.db"
    async with await open_store(f"sqlite:///{path}?mode=ro") as read_only:
        keeper = LeaseKeeper(read_only, seconds=30)
        assert await keeper.beat() == []  # no renewal, and the reaper's look is a read
        keeper.hold()
        with pytest.raises(StoreReadOnly) as caught:  # now it renews
            await keeper.beat()
    assert str(caught.value) == (
        f"Store `{path}` is open read-only (`mode=ro` in its URL); drop `mode=ro` to change it"
    )


async def test_a_session_without_a_keeper_holds_no_lease(store: Store, clock: Clock) -> None:
    acme = store.tenant("acme")
    conversation = Conversation(compile_doc(minimal()), session_id="dry")
    clock.reads(1000)
    recorder = await SessionRecorder.start(
        acme, conversation, flow_id="clinic", version=1, session_id="dry", interval=60
    )
    clock.reads(10**9)
    assert await store.reap(actor="r") == []
    await recorder.close("hangup")
    assert (await acme.session("dry")).end_reason == "hangup"


# --- two worker processes, one killed ------------------------------------------------------

LEASE = 2.0  # seconds: renewed every 0.67 s


def _hold(url: str, name: str, count: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, PROC, "hold", url, name, str(count), str(LEASE)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )


def _holder(proc: subprocess.Popen[str]) -> str:
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        proc.wait(10)
        raise AssertionError(proc.stderr.read() if proc.stderr else "no output")
    word, holder = line.split()
    assert word == "holding"
    return holder


def test_a_killed_workers_sessions_are_closed_by_the_survivor_within_the_lease(
    store_target: Any,
) -> None:
    url = store_url(store_target)

    async def init() -> None:
        async with await open_store(url, create=True) as s:
            await s.create_tenant(
                "acme", actor="ana", routing={"default": "clinic"}, max_concurrent_sessions=5
            )
            await push_document(s.tenant("acme"), flow_doc(), actor="ana")
            await s.tenant("acme").publish("clinic", 1, actor="ana")

    asyncio.run(init())
    killed, survivor = _hold(url, "a", 3), _hold(url, "b", 2)
    try:
        killed_holder, survivor_holder = _holder(killed), _holder(survivor)
        asyncio.run(_watch(url, killed, killed_holder, survivor_holder))
    finally:
        for proc in (killed, survivor):
            if proc.poll() is None:
                proc.terminate()
        _, logged = survivor.communicate(timeout=30)
        killed.communicate(timeout=30)
    assert (killed.returncode, survivor.returncode) == (-signal.SIGKILL, -signal.SIGTERM)
    assert sorted(logged.splitlines()) == [
        f"session a-{i} of tenant acme closed as abandoned: its worker {killed_holder} "
        "stopped renewing its lease"
        for i in range(3)
    ]


async def _seconds_until(holds: Callable[[], Awaitable[bool]], since: float) -> float:
    """Seconds from ``since`` (``time.monotonic``) until ``holds()``, looking every 20 ms."""
    while not await holds():
        assert time.monotonic() - since < 4 * LEASE, "not even within four leases"
        await asyncio.sleep(0.02)
    return time.monotonic() - since


async def _watch(
    url: str, killed: subprocess.Popen[str], killed_holder: str, survivor_holder: str
) -> None:
    async with await open_store(url) as store:
        acme = store.tenant("acme")
        # Both hold their sessions past a whole lease: their heartbeats renew them.
        await asyncio.sleep(LEASE * 1.25)
        assert await acme.active_sessions() == 5
        with pytest.raises(SessionLimitReached):
            await acme.start_session("clinic", 1)
        os.kill(killed.pid, signal.SIGKILL)
        killed_at = time.monotonic()

        async def slots_free() -> bool:
            return await acme.active_sessions() == 2

        async def closed() -> bool:
            return len(await acme.sessions(running=False)) == 3

        # Its last heartbeat was at most a third of a lease before the kill: its
        # sessions stop counting at most a lease after it (plus how often we look).
        assert await _seconds_until(slots_free, killed_at) <= LEASE + 0.25
        # The survivor looks every third of a lease.
        assert await _seconds_until(closed, killed_at) <= LEASE * 4 / 3 + 0.5
        ended = {s.session_id: s.end_reason for s in await acme.sessions(running=False)}
        assert ended == {"a-0": "abandoned", "a-1": "abandoned", "a-2": "abandoned"}
        running = [s.session_id for s in await acme.sessions(running=True)]
        assert sorted(running) == ["b-0", "b-1"]
        reaped = [e for e in await acme.audit() if e.action == "session.abandoned"]
        assert sorted((e.subject, e.actor, e.detail["holder"]) for e in reaped) == [
            (f"a-{i}", f"worker {survivor_holder}", killed_holder) for i in range(3)
        ]
        for i in range(3):  # the killed worker's three slots
            await acme.start_session("clinic", 1, session_id=f"new-{i}")
        with pytest.raises(SessionLimitReached):
            await acme.start_session("clinic", 1)
