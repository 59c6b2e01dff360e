"""A webhook receiver on loopback for the webhook tests: records what arrives and
answers as told (a status per request in turn, then 200; or a delay)."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from flowctl.engine.egress import EgressPolicy


@dataclass
class Received:
    event: str
    event_id: str
    signature: str
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    statuses: list[int] = field(default_factory=list)  # answered in turn, then 200
    delay: float = 0.0
    received: list[Received] = field(default_factory=list)
    port: int = 0
    _runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    @property
    def egress(self) -> EgressPolicy:
        """What the deliverer under test may reach: this receiver, over http."""
        return EgressPolicy(hosts=(f"127.0.0.1:{self.port}",), https_only=False, allow_private=True)

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.received.append(
            Received(
                request.headers["Flowctl-Event"],
                request.headers["Flowctl-Event-Id"],
                request.headers["Flowctl-Signature"],
                body,
            )
        )
        if self.delay:
            await asyncio.sleep(self.delay)
        status = self.statuses.pop(0) if self.statuses else 200
        return web.Response(status=status, text="ok")

    async def __aenter__(self) -> Receiver:
        app = web.Application()
        app.router.add_post("/hooks", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def __aexit__(self, *_: Any) -> None:
        assert self._runner is not None
        await self._runner.cleanup()
