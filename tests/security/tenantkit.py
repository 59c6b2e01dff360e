"""Helpers for the tenant-boundary tests of the worker: a real SQLite store, versions
written behind lint's back (as a store from before this release may hold them), jobs run
through the worker's entrypoint under ``fake_job_context``, and a TLS listener on
loopback that tenants' https tools can reach when a test allows it."""

from __future__ import annotations

import asyncio
import hashlib
import json
import shutil
import sqlite3
import ssl
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import FINISH, GOODBYE
from livekit.agents.testing import fake_job_context
from workerkit import services

from flowctl.engine.boundary import Boundary
from flowctl.engine.egress import EgressPolicy
from flowctl.engine.spec import VADConfig
from flowctl.worker.fakes import FakePlugins, FakeRoom
from flowctl.worker.server import SERVICES, entrypoint
from flowctl.worker.session import Plugins, load_vads
from flowctl.worker.store_flows import StoreLibrary

# The worker's own secrets, set in the process environment of every test here: a
# tenant's flow must never read them.
OPERATOR_ENV = {
    "LIVEKIT_API_SECRET": "lk-operator-secret-never-leaves",
    "OPENAI_API_KEY": "sk-operator-key-never-leaves",
    "DEEPGRAM_API_KEY": "dg-operator-key-never-leaves",
}


def url_of(path: Path) -> str:
    return f"sqlite:///{path}"


def hook_flow(url: str, headers: dict[str, str], flow_id: str = "crm") -> dict[str, Any]:
    """A flow whose start state tells a CRM that a call started, by an automatic edge:
    the http tool runs as the call starts, before the model says anything."""
    return {
        "flow_id": flow_id,
        "tools": [
            {
                "kind": "http",
                "name": "crm",
                "description": "Tell the CRM that a call started.",
                "method": "POST",
                "url": url,
                "headers": headers,
            }
        ],
        "agents": [
            {
                "name": "Start",
                "instructions": "Greet the caller and ask how you can help.",
                "edges": [
                    {
                        "name": "sync",
                        "action": "action",
                        "tool": "crm",
                        "when": "true",
                        "target_agent": "Main",
                    }
                ],
            },
            {
                "name": "Main",
                "instructions": "Help the caller with their question.",
                "edges": [FINISH],
            },
            GOODBYE,
        ],
    }


def plain_flow(flow_id: str, **fields: Any) -> dict[str, Any]:
    """A lint-clean two-state flow with top-level ``fields`` (provider blocks, tools)."""
    state = {
        "name": "Main",
        "instructions": "Help the caller with their question.",
        "edges": [FINISH],
    }
    return {"flow_id": flow_id, **fields, "agents": [state, GOODBYE]}


def insert_raw(db: Path, tenant_id: str, flow_id: str, document: dict[str, Any]) -> None:
    """Store ``document`` as version 1 of a flow and publish it, with plain SQL and no
    lint: what a store written before this release may hold. Bumps the change counter,
    as a publish does."""
    text = json.dumps(document, indent=2)
    now = time.time()
    with sqlite3.connect(db) as conn:
        conn.execute(
            "INSERT INTO flows (tenant_id, flow_id, latest, published, published_at, "
            "publications, created_at) VALUES (?, ?, 1, 1, ?, 1, ?)",
            (tenant_id, flow_id, now, now),
        )
        conn.execute(
            "INSERT INTO flow_versions (tenant_id, flow_id, version, hash, document, author, "
            "created_at, findings, errors, warnings) VALUES (?, ?, 1, ?, ?, 'legacy', ?, "
            "'[]', 0, 0)",
            (tenant_id, flow_id, hashlib.sha256(text.encode()).hexdigest(), text, now),
        )
        conn.execute("UPDATE changes SET counter = counter + 1 WHERE id = 1")
    conn.close()


class Job:
    """One job run through the worker's entrypoint, and what it left behind."""

    def __init__(self, room: FakeRoom) -> None:
        self.room = room

    @property
    def conversation(self) -> Any:
        return self.room.agent.conversation if self.room.agent is not None else None

    async def hang_up(self) -> None:
        """Close the session (if one started) and wait for the job to end."""
        if self.room.session is not None:
            await self.room.session.aclose()
        await asyncio.wait_for(self.room.closed.wait(), 10)


async def run_job(
    library: StoreLibrary,
    tenant_id: str,
    job_id: str,
    *,
    flow_id: str | None = None,
    room_name: str | None = None,
    plugins: Plugins | None = None,
    overrides: Any = None,
) -> Job:
    """Offer a job for ``tenant_id`` (its ``flow_id``, else its default flow; in its room
    ``<tenant>:<job_id>`` unless ``room_name`` says otherwise; with the session
    ``overrides`` given) to the worker's entrypoint."""
    room = FakeRoom()
    svc = services(library, load_vads([VADConfig()]), room, plugins or FakePlugins())  # type: ignore[arg-type]
    request: dict[str, Any] = (
        {"tenant_id": tenant_id}
        if flow_id is None
        else {"tenant_id": tenant_id, "flow_id": flow_id}
    )
    if overrides is not None:
        request["overrides"] = overrides
    metadata = json.dumps(request)
    with fake_job_context(job_id=job_id, job_metadata=metadata) as ctx:
        ctx.job.room.name = room_name if room_name is not None else f"{tenant_id}:{job_id}"
        ctx.proc.userdata[SERVICES] = svc
        await entrypoint(ctx)
    return Job(room)


def loopback_egress(port: int) -> Callable[[Boundary], EgressPolicy | None]:
    """For tests only: the tenant's granted hosts on ``port``, loopback allowed (the
    only server a test has); https and no redirects, as in production."""

    def egress(boundary: Boundary) -> EgressPolicy:
        hosts = tuple(f"{host}:{port}" for host in boundary.policy.egress_hosts)
        return EgressPolicy(hosts=hosts, allow_private=True)

    return egress


async def until(holds: Callable[[], bool], *, limit: float = 5.0) -> None:
    """Poll ``holds`` every 10 ms until it is true; ``limit`` only stops a broken test
    from hanging."""
    async with asyncio.timeout(limit):
        while not holds():
            await asyncio.sleep(0.01)


class Tls:
    """A self-signed certificate for `localhost`: the server's context, and a client
    context that trusts it."""

    def __init__(self, folder: Path) -> None:
        openssl = shutil.which("openssl")
        if openssl is None:
            pytest.skip("needs the openssl command to make a certificate for localhost")
        cert, key = folder / "cert.pem", folder / "key.pem"
        subprocess.run(
            [
                openssl,
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-days",
                "2",
                "-subj",
                "/CN=localhost",
                "-addext",
                "subjectAltName=DNS:localhost",
                "-keyout",
                str(key),
                "-out",
                str(cert),
            ],
            check=True,
            capture_output=True,
        )
        self.server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.server.load_cert_chain(cert, key)
        self.client = ssl.create_default_context(cafile=str(cert))
