"""The API for its tests, with a store in a temporary folder and tenants and keys made
beforehand through the store: :class:`App` runs it in the test's process (Litestar's
test client, a store per test), :class:`Server` as a real `flowctl serve` subprocess on
a free loopback port, for the tests that need a process (concurrent clients, the
security boundary, schemathesis over HTTP). Both hand out httpx clients the same way."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
from conftest import ROOT
from litestar.exceptions import LitestarDeprecationWarning
from litestar.testing import TestClient
from litestar.testing.transport import TestClientTransport
from storekit import EXAMPLE_POLICY

from flowctl.api import Settings, create_app
from flowctl.api.tokens import LiveKitCredentials
from flowctl.engine.store import open_store

SERVE = "from flowctl.cli.main import main; main()"
# What the API mints tokens with in the tests (a server gets them from its environment).
LIVEKIT = LiveKitCredentials(
    "devkey", "secret-of-at-least-32-characters-long", "ws://127.0.0.1:7880"
)


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


class _Api:
    """A store in ``folder`` with the tenants and keys of :func:`_keys`."""

    base: str

    def __init__(self, folder: Path) -> None:
        self.path = folder / "flowctl.db"
        self.url = f"sqlite:///{self.path}"
        self.keys = asyncio.run(_keys(self.url))

    def client(self, key: str | None = None, headers: dict[str, str] | None = None) -> httpx.Client:
        """A client sending ``key`` (a name from ``keys``, or a key) as its bearer."""
        sent = {"Authorization": f"Bearer {self.keys.get(key, key)}"} if key else {}
        return httpx.Client(base_url=self.base, headers={**sent, **(headers or {})}, **self._how())

    def _how(self) -> dict[str, Any]:
        """How the client reaches the app (httpx.Client's options)."""
        raise NotImplementedError


class _InProcess(httpx.BaseTransport):
    """Litestar's test transport as an httpx transport (it is not one itself)."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        return self._inner.handle_request(request)  # type: ignore[no-any-return]


class App(_Api):
    """The API app in this process; ``client(key)`` talks to it. ``close()`` it."""

    def __init__(self, folder: Path, *, livekit: bool = True) -> None:
        super().__init__(folder)
        settings = Settings(store_url=self.url, livekit=LIVEKIT if livekit else None)
        with warnings.catch_warnings():
            # Litestar 2.23+ deprecates what the app's handlers declare (an inferred
            # `caller` dependency, `data` without a body marker) for Litestar 3; a real
            # server prints these once, in process they would fail the tests.
            warnings.simplefilter("ignore", LitestarDeprecationWarning)
            app = create_app(settings)
        self._test = TestClient(app)
        self.base = str(self._test.base_url)
        self._test.__enter__()  # the app's lifespan: the store opens once

    def _how(self) -> dict[str, Any]:
        return {"transport": _InProcess(TestClientTransport(self._test))}

    def close(self) -> None:
        self._test.__exit__(None, None, None)


class Server(_Api):
    """``flowctl serve`` in a child process; ``client(key)`` talks to it."""

    def __init__(self, folder: Path, *, livekit: bool = True, args: tuple[str, ...] = ()) -> None:
        super().__init__(folder)
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("LIVEKIT_")}
        if livekit:
            env |= {
                "LIVEKIT_API_KEY": LIVEKIT.api_key,
                "LIVEKIT_API_SECRET": LIVEKIT.api_secret,
                "LIVEKIT_URL": LIVEKIT.url or "",
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

    def _how(self) -> dict[str, Any]:
        return {"timeout": 10}

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


def in_process(tmp_path: Path) -> Iterator[App]:
    """The body of a test's ``api`` fixture: the API in process on a store of its own,
    closed after the test."""
    app = App(tmp_path)
    yield app
    app.close()
