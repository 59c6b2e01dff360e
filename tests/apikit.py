"""A real `flowctl serve` for the API tests: a subprocess on a free loopback port with a
store in a temporary folder, tenants and keys made beforehand through the store."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from conftest import ROOT
from storekit import EXAMPLE_POLICY

from flowctl.engine.store import open_store

SERVE = "from flowctl.cli.main import main; main()"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _keys(url: str) -> dict[str, str]:
    """Tenants acme, globex and platform, and a key per role (plus a revoked one)."""
    keys: dict[str, str] = {}
    async with await open_store(url, create=True) as s:
        for tenant in ("acme", "globex", "platform"):
            await s.create_tenant(tenant, actor="setup", policy=EXAMPLE_POLICY)
            t = s.tenant(tenant)
            for role in ("admin", "developer", "viewer"):
                _, keys[f"{tenant}-{role}"] = await t.create_key(role, actor="setup", name=role)
        record, keys["acme-revoked"] = await s.tenant("acme").create_key("developer", actor="setup")
        await s.tenant("acme").revoke_key(record.key_id, actor="setup")
    return keys


class Server:
    """``flowctl serve`` in a child process; ``client(key)`` talks to it."""

    def __init__(self, folder: Path, *, livekit: bool = True, args: tuple[str, ...] = ()) -> None:
        self.path = folder / "flowctl.db"
        self.url = f"sqlite:///{self.path}"
        self.keys = asyncio.run(_keys(self.url))
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("LIVEKIT_")}
        if livekit:
            env |= {
                "LIVEKIT_API_KEY": "devkey",
                "LIVEKIT_API_SECRET": "secret-of-at-least-32-characters-long",
                "LIVEKIT_URL": "ws://127.0.0.1:7880",
            }
        self.log = open(folder / "serve.log", "w+b")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-c",
                SERVE,
                "serve",
                "--store",
                self.url,
                "--port",
                str(self.port),
                "--no-access-log",
                *args,
            ],
            cwd=ROOT,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self._wait()

    def _wait(self) -> None:
        """Until /health answers (the interpreter and Litestar take a second or two to
        import); a server that died or never answers fails the test with its log."""
        for _ in range(400):
            if self.proc.poll() is not None:
                break
            try:
                if httpx.get(f"{self.base}/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.05)
        self.stop()
        self.log.seek(0)
        raise RuntimeError(f"flowctl serve did not start:\n{self.log.read().decode()}")

    def client(self, key: str | None = None, headers: dict[str, str] | None = None) -> httpx.Client:
        """A client sending ``key`` (a name from ``keys``, or a key) as its bearer."""
        sent = {"Authorization": f"Bearer {self.keys.get(key, key)}"} if key else {}
        return httpx.Client(base_url=self.base, headers={**sent, **(headers or {})}, timeout=10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def error(code: str, message: str, details: Any = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details}}
