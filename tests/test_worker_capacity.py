"""A worker host stops taking jobs before its callers notice: its load is its calls over
the measured capacity (calls per core x cores), or its CPU use if higher, and LiveKit
offers it no more jobs at the threshold (worker/capacity.py). Checked through LiveKit's
own ``AgentServer`` in production mode, answering offers as it answers the server's."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

pytest.importorskip("livekit.agents")

from conftest import FIXTURES
from livekit.agents import AgentServer
from livekit.protocol import agent, models
from test_worker_cli import KEYS, LIVEKIT, run
from workerkit import record_sessions

from flowctl.engine.defaults import CALLS_PER_CORE, LOAD_THRESHOLD
from flowctl.engine.library import FileLibrary
from flowctl.worker.capacity import CPUUse, HostLoad
from flowctl.worker.server import FlowServer, WorkerConfig

ACME = '{"tenant_id": "acme"}'  # the desk's tenant: the worker takes its jobs


class Host:
    """What the load function reads, set by each test: the calls running, the CPU."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.cpu = 0.0


def test_the_load_is_calls_over_capacity_or_cpu_whichever_is_higher() -> None:
    host = Host()
    load = HostLoad(2.5, running=lambda: host.calls, cpu=lambda: host.cpu, cores=2.0)
    assert load.capacity == 5.0
    assert load() == 0.0
    host.calls = ["a", "b"]
    assert load() == 0.4
    host.cpu = 0.55
    assert load() == 0.55
    host.calls = ["a", "b", "c", "d"]
    assert load() == 0.8


def test_the_cpu_use_is_livekits_measure_averaged() -> None:
    use = CPUUse()
    assert use.cores >= 1
    assert 0.0 <= use() <= 1.0


# --- through LiveKit's AgentServer ----------------------------------------------------------


@pytest.fixture
async def server(desk: FileLibrary, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Any]:
    """A worker of 2 calls per core on 2 cores, full at 0.75: 3 calls. Started as
    `flowctl worker start` starts it, but not connected to a LiveKit server (there is
    none here): its answers to offers are read where they would be sent."""
    # A job LiveKit's server never assigns waits this long (7.5 s) before giving up.
    monkeypatch.setattr("livekit.agents.worker.ASSIGNMENT_TIMEOUT", 0.05)
    host = Host()
    # A free port, not 0: with 0 each address family gets its own.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = WorkerConfig(
        flows_dir=str(FIXTURES / "voice"), calls_per_core=2, load_threshold=0.75, health_port=port
    )
    flows = FlowServer(config, desk, running=lambda: host.calls, cpu=lambda: host.cpu, cores=2.0)
    lk = flows.build()
    lk.update_options(num_idle_processes=0)  # no job process is started
    started = asyncio.Event()
    lk.on("worker_started", lambda: started.set())
    running = asyncio.create_task(lk.run(devmode=False, unregistered=True))
    await asyncio.wait_for(started.wait(), 10)
    yield lk, host, port
    await lk.aclose()
    await running


async def _offer(lk: AgentServer, job_id: str) -> tuple[bool, bool]:
    """Offer ``lk`` a job as LiveKit's server does; (available, terminate) answered."""
    job = agent.Job(id=job_id, metadata=ACME, room=models.Room(name=f"room-{job_id}"))
    lk._handle_availability(agent.AvailabilityRequest(job=job))
    message = await asyncio.wait_for(lk._msg_chan.recv(), 5)
    answer = message.availability
    assert answer.job_id == job_id
    return answer.available, answer.terminate


async def _reported_load(port: int) -> float:
    """The load the worker's health server reports (`GET /worker`)."""
    url = f"http://127.0.0.1:{port}/worker"
    async with aiohttp.ClientSession() as http, http.get(url) as response:
        assert response.status == 200
        return float(json.loads(await response.text()).get("worker_load", 0.0))


async def test_a_worker_below_its_threshold_takes_the_job(server: Any) -> None:
    lk, host, _ = server
    host.calls = ["a", "b"]  # 2 of 4: load 0.5
    # (acme's own limit is one session: the calls running are another tenant's)
    assert await _offer(lk, "job-1") == (True, False)


@pytest.mark.parametrize(
    ("calls", "cpu"),
    [(["a", "b", "c"], 0.1), ([], 0.8)],
    ids=["three-calls-of-four", "cpu-at-80-percent"],
)
async def test_a_worker_at_its_threshold_refuses_the_job(
    server: Any, calls: list[str], cpu: float
) -> None:
    lk, host, port = server
    host.calls, host.cpu = calls, cpu
    # Refused for this worker only: another one may take it.
    assert await _offer(lk, "job-2") == (False, False)
    # The load it answered by, as it reports it (refreshed for the offer).
    assert await _reported_load(port) == max(len(calls) / 4, cpu)


def test_start_mode_takes_its_load_settings_from_flags_or_the_environment(
    ran: list,  # type: ignore[type-arg]
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    registered = record_sessions(monkeypatch)
    for args, env, expected in (
        ([], {}, (CALLS_PER_CORE, LOAD_THRESHOLD, None)),
        (
            ["--calls-per-core", "3", "--load-threshold", "0.5", "--health-port", "0"],
            {},
            (3, 0.5, 0),
        ),
        ([], {"FLOWCTL_CALLS_PER_CORE": "4.5", "FLOWCTL_LOAD_THRESHOLD": "0.6"}, (4.5, 0.6, None)),
    ):
        code, _, err = run("worker", "start", *args, env={**KEYS, **LIVEKIT, **env})
        assert code == 0, err
        config = registered[-1]["on_request"].__self__.config
        assert (config.calls_per_core, config.load_threshold, config.health_port) == expected
        lk = registered[-1]["server"]
        assert lk._load_threshold.prod_default == expected[1]
        assert lk._load_threshold.dev_default == float("inf")  # dev mode takes every job


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (
            ["--load-threshold", "1.5"],
            "Error: Invalid value for '--load-threshold': 1.5 is not in the range 0<x<=1.",
        ),
        (
            ["--calls-per-core", "0"],
            "Error: Invalid value for '--calls-per-core': 0.0 is not in the range x>0.",
        ),
    ],
    ids=["threshold-over-one", "no-calls"],
)
def test_start_mode_refuses_load_settings_out_of_range(
    ran: list,  # type: ignore[type-arg]
    args: list[str],
    error: str,
) -> None:
    code, _, err = run("worker", "start", *args, env={**KEYS, **LIVEKIT})
    assert code == 2
    assert err.splitlines()[-1] == error
    assert ran == []
