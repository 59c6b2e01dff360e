"""Two worker processes on one PostgreSQL store, as two hosts would run them: a publish
made by a third process reaches both at once, a tenant's session limit holds across
them, and when one is SIGKILLed the other closes its sessions as abandoned and the
tenant's slots are free within the lease (issue 16). The processes are tests/workerproc.py: the worker's store
library and entrypoint, driven through ``fake_job_context``."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

pytest.importorskip("livekit.agents")

import pgkit
from conftest import FLOWS, ROOT
from storekit import EXAMPLE_POLICY

from flowctl.engine.store import open_store
from flowctl.engine.store.documents import push_document

CLINIC = json.loads((FLOWS / "clinic.json").read_text())
# A publish reaches every worker within this (design.md, issue 16); bench/store_bench.py
# prints the figure measured.
PUBLISH_TARGET = 0.2
# The workers' lease (seconds): short, so a killed worker's slots come back quickly.
LEASE = 2.0


@pytest.fixture
async def url() -> AsyncIterator[str]:
    schema = pgkit.new_schema()
    url = await pgkit.schema_url(schema)
    async with await open_store(url, create=True) as store:
        await store.create_tenant(
            "acme",
            actor="t",
            routing={"default": "clinic"},
            max_concurrent_sessions=5,
            policy=EXAMPLE_POLICY,
        )
        await push_document(store.tenant("acme"), json.dumps(CLINIC), actor="t", flow_id="clinic")
        await store.tenant("acme").publish("clinic", 1, actor="t")
    try:
        yield url
    finally:
        await pgkit.drop_schema(schema)


class Worker:
    def __init__(self, url: str, name: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(ROOT / "tests" / "workerproc.py"), url, name, str(LEASE)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT / "tests",
        )
        assert self.answer() == {"ready": name}

    def send(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def answer(self) -> Any:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            _, err = self.proc.communicate(timeout=10)
            raise AssertionError(f"worker exited: {err[-3000:]}")
        return json.loads(line)

    def end(self) -> None:
        if self.proc.poll() is None:
            self.send("end")
            _, err = self.proc.communicate(timeout=30)
            assert self.proc.returncode == 0, err[-3000:]


@pytest.fixture
def workers(url: str) -> Iterator[list[Worker]]:
    started: list[Worker] = []
    try:
        started += [Worker(url, "a"), Worker(url, "b")]
        yield started
    finally:
        for w in started:
            try:
                w.end()
            except (AssertionError, BrokenPipeError, subprocess.TimeoutExpired):
                w.proc.kill()


def test_two_workers_share_publishes_the_tenants_limit_and_a_killed_ones_slots(
    url: str, workers: list[Worker]
) -> None:
    # A publish by a third process (this one) reaches both workers within the target.
    for w in workers:
        w.send("version 2")
    doc = dict(CLINIC, agents=[dict(CLINIC["agents"][0], on_enter_prompt="Version two.")])
    doc["agents"] += CLINIC["agents"][1:]

    async def publish() -> float:
        async with await open_store(url) as store:
            acme = store.tenant("acme")
            await push_document(acme, json.dumps(doc), actor="t", flow_id="clinic")
            await acme.publish("clinic", 2, actor="t")
            return time.time()

    committed = asyncio.run(publish())
    seen = [w.answer() for w in workers]
    assert [s["seen"] for s in seen] == ["2", "2"]
    lags = [s["at"] - committed for s in seen]
    print(f"publish reached the workers after {[f'{x * 1000:.1f} ms' for x in lags]}")
    assert max(lags) < PUBLISH_TARGET, lags

    # Limit 5, ten jobs starting at once on each worker: exactly five are admitted.
    for w in workers:
        w.send("jobs 10")
    started = [w.answer() for w in workers]
    admitted = [i for s in started for i in s["admitted"]]
    assert len(admitted) == 5, started
    assert sum(s["refused"] for s in started) == 15

    async def running() -> list[str]:
        async with await open_store(url) as store:
            return sorted(s.session_id for s in await store.tenant("acme").sessions(running=True))

    assert asyncio.run(running()) == sorted(admitted)

    # SIGKILL the worker holding the most calls: the other closes them as abandoned,
    # and their slots are free within the lease (its last heartbeat was at most a
    # third of a lease before the kill).
    victim, survivor = sorted(
        zip(workers, started, strict=True), key=lambda w: -len(w[1]["admitted"])
    )
    lost = victim[1]["admitted"]
    os.kill(victim[0].proc.pid, signal.SIGKILL)
    killed_at = time.monotonic()
    victim[0].proc.communicate(timeout=10)  # its pipes closed too

    async def reaped() -> tuple[float, float, list[Any]]:
        async with await open_store(url) as store:
            acme = store.tenant("acme")
            while await acme.active_sessions() != 5 - len(lost):
                await asyncio.sleep(0.02)
            free = time.monotonic() - killed_at
            while len(ended := await acme.sessions(running=False)) < len(lost):
                await asyncio.sleep(0.02)
            closed = time.monotonic() - killed_at
            for i in range(len(lost)):  # the killed worker's slots, taken again
                await acme.start_session("clinic", 1, session_id=f"again-{i}")
            return free, closed, ended

    free, closed, ended = asyncio.run(asyncio.wait_for(reaped(), 4 * LEASE))
    print(
        f"killed worker's slots free after {free:.2f} s, its sessions closed after {closed:.2f} s"
    )
    assert free <= LEASE + 0.25
    assert closed <= LEASE * 4 / 3 + 0.5
    assert sorted((s.session_id, s.end_reason) for s in ended) == [
        (i, "abandoned") for i in sorted(lost)
    ]
    assert asyncio.run(running()) == sorted(
        [*survivor[1]["admitted"], *(f"again-{i}" for i in range(len(lost)))]
    )
