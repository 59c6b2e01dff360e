"""Where the metrics are served: ``flowctl serve --metrics-port`` on a loopback port of
its own (a real server; the API's port has no /metrics for any key), and ``flowctl
worker --metrics-port`` around the worker's run, with a multiprocess directory made
for it and removed after."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from apikit import Server, error, free_port
from click.testing import CliRunner
from conftest import FIXTURES
from metricskit import samples, scrape

from flowctl.cli.main import cli

KEYS = {"OPENAI_API_KEY": "sk-test", "DEEPGRAM_API_KEY": "dg-test"}
LIVEKIT = {
    "LIVEKIT_URL": "wss://example.livekit.cloud",
    "LIVEKIT_API_KEY": "APIkey",
    "LIVEKIT_API_SECRET": "a-secret-long-enough-for-hmac-sha256-keys",
}


def test_serve_times_the_store_on_a_metrics_port_no_api_key_reaches(tmp_path: Path) -> None:
    port = free_port()
    # --no-webhooks: the deliverer's polls would add store operations at their own pace
    server = Server(tmp_path, args=("--metrics-port", str(port), "--no-webhooks"))
    try:
        metrics = f"http://127.0.0.1:{port}/metrics"
        assert samples(scrape(metrics), "flowctl_store_operation_seconds_count") == {}
        with server.client("acme-viewer") as client:
            assert client.get("/api/v1/flows").json() == []
            assert client.get("/api/v1/sessions").status_code == 200
            # on the API's port there is no such thing, for a tenant's key...
            response = client.get("/metrics")
            assert response.status_code == 404
            assert response.json() == error("not_found", "No endpoint GET /metrics; see /docs")
        # ...nor for the platform's admin
        with server.client("platform-admin") as client:
            assert client.get("/metrics").status_code == 404
        text = scrape(metrics)
        counts = samples(text, "flowctl_store_operation_seconds_count")
        # each request to an endpoint authenticates its key first (/metrics is none)
        assert (counts[("authenticate",)], counts[("flows",)], counts[("sessions",)]) == (
            2.0,
            1.0,
            1.0,
        )
        assert samples(text, "flowctl_store_errors_total") == {}
        assert httpx.get(f"http://127.0.0.1:{port}/").status_code == 404
        # bound to loopback only
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"http://{_outward_address()}:{port}/metrics", timeout=2)
    finally:
        server.stop()
    server.log.close()
    log = (tmp_path / "serve.log").read_text()
    assert f"flowctl serve: metrics at http://127.0.0.1:{port}/metrics\n" in log


def _outward_address() -> str:
    """An address of this machine that is not loopback (the one it would route out
    from; no packet is sent)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.connect(("192.0.2.1", 9))  # TEST-NET-1: routable, never answered
        address: str = s.getsockname()[0]
    assert not address.startswith("127."), address
    return address


def test_worker_serves_metrics_while_it_runs_from_a_directory_it_made(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    port = free_port()
    seen: dict[str, Any] = {}

    def run(server: Any, **options: Any) -> None:  # the worker runs: scrape it
        seen["dir"] = os.environ["PROMETHEUS_MULTIPROC_DIR"]
        seen["exists"] = os.path.isdir(seen["dir"])
        seen["livekit"] = server._prometheus_multiproc_dir  # LiveKit keeps it to itself
        seen["status"] = httpx.get(f"http://127.0.0.1:{port}/metrics").status_code

    monkeypatch.setattr("flowctl.worker.server.run", run)
    result = CliRunner().invoke(
        cli,
        ["worker", "start", "--flows", str(FIXTURES / "voice"), "--metrics-port", str(port)],
        env={**KEYS, **LIVEKIT, "PROMETHEUS_MULTIPROC_DIR": None},
    )
    assert result.exit_code == 0, result.stderr
    assert result.stderr.splitlines()[-1] == (
        f"flowctl worker: metrics at http://127.0.0.1:{port}/metrics"
    )
    assert seen["exists"] and seen["livekit"] == seen["dir"] and seen["status"] == 200
    assert os.path.basename(seen["dir"]).startswith("flowctl-metrics-")
    assert not os.path.exists(seen["dir"])  # made for the run, removed after it
    assert "PROMETHEUS_MULTIPROC_DIR" not in os.environ


def test_worker_keeps_the_operators_metrics_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[str] = []
    monkeypatch.setattr(
        "flowctl.worker.server.run",
        lambda server, **_: seen.append(server._prometheus_multiproc_dir),
    )
    directory = tmp_path / "prometheus"
    result = CliRunner().invoke(
        cli,
        ["worker", "dev", "--flows", str(FIXTURES / "voice")],
        env={**KEYS, **LIVEKIT, "PROMETHEUS_MULTIPROC_DIR": str(directory),
             "FLOWCTL_METRICS_PORT": str(free_port())},
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert seen == [str(directory)]
    assert directory.is_dir()  # the operator's: left where it is


def test_a_metrics_port_in_use_stops_the_worker_before_it_connects(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ran: list[Any] = []
    monkeypatch.setattr("flowctl.worker.server.run", lambda server, **_: ran.append(server))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(
            cli,
            ["worker", "start", "--flows", str(FIXTURES / "voice"), "--metrics-port", str(port)],
            env={**KEYS, **LIVEKIT, "PROMETHEUS_MULTIPROC_DIR": None},
        )
    assert result.exit_code == 2
    assert result.stderr.splitlines()[-1] == (
        f"flowctl: error: cannot serve metrics on 127.0.0.1:{port}: Address already in use"
    )
    assert ran == []


def test_a_running_worker_serves_livekits_metrics_and_its_own_from_files(
    tmp_path: Path,
) -> None:
    """The real `flowctl worker dev` (it cannot reach LiveKit, and keeps trying): its
    process records into the directory it made, from before LiveKit imported
    prometheus_client (LiveKit's own metrics of that process are there), and removes
    the directory when it stops."""
    port = free_port()
    env = {
        **os.environ,
        **KEYS,
        **LIVEKIT,
        "LIVEKIT_URL": "ws://127.0.0.1:9",
        "TMPDIR": str(tmp_path),
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    command = ["worker", "dev", "--flows", str(FIXTURES / "voice"), "--metrics-port", str(port)]
    log = open(tmp_path / "worker.log", "w+b")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [sys.executable, "-c", "from flowctl.cli.main import main; main()", *command],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        text = ""
        for _ in range(300):  # the interpreter and LiveKit take a few seconds to start
            assert proc.poll() is None, (tmp_path / "worker.log").read_text()
            try:
                text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=1).text
            except httpx.HTTPError:
                text = ""
            if "lk_agents_worker_load{" in text:
                break
            time.sleep(0.05)
        assert "lk_agents_worker_load{" in text, (tmp_path / "worker.log").read_text()
        (made,) = tmp_path.glob("flowctl-metrics-*")
        # the worker's own process records into it (LiveKit's load gauge, "all" mode)
        assert (made / f"gauge_all_{proc.pid}.db").is_file()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()
    assert list(tmp_path.glob("flowctl-metrics-*")) == []
