"""A real HTTP/1.1 server on loopback that records every connection and request it gets,
so a test can prove that nothing at all reached it."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import ssl as _ssl
from collections.abc import Callable
from typing import Any

import msgspec

# A route's answer: status, headers, body; or a coroutine that writes it itself.
Answer = tuple[int, dict[str, str], bytes]
Writer = Callable[[asyncio.StreamWriter], Any]


class Request(msgspec.Struct, frozen=True):
    method: str
    target: str
    headers: dict[str, str]  # names lower-cased
    body: bytes


def json_answer(value: Any, status: int = 200) -> Answer:
    return status, {"Content-Type": "application/json"}, json.dumps(value).encode()


def redirect(location: str, status: int = 302) -> Answer:
    return status, {"Location": location}, b""


async def endless(writer: asyncio.StreamWriter) -> None:
    """A 200 with no length that never ends: 64 KiB at a time until the client leaves."""
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n")
    with contextlib.suppress(ConnectionError):
        while not writer.is_closing():
            writer.write(b" " * 65536)
            await writer.drain()


class Listener:
    """Serves ``routes`` (path to answer) on 127.0.0.1 and, when the machine has IPv6, on
    ::1 at the same port. Any other path is a 404. With ``ssl``, over TLS: every TCP
    connection is counted before the handshake, so one that fails it is counted too."""

    def __init__(
        self, routes: dict[str, Answer | Writer], *, ssl: _ssl.SSLContext | None = None
    ) -> None:
        self.routes = routes
        self.ssl = ssl
        self.connections = 0
        self.requests: list[Request] = []
        self.port = 0
        self._servers: list[asyncio.Server] = []

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        scheme = "https" if self.ssl is not None else "http"
        return f"{scheme}://{host}:{self.port}{path}"

    async def __aenter__(self) -> Listener:
        server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self._servers.append(server)
        self.port = server.sockets[0].getsockname()[1]
        with contextlib.suppress(OSError):
            self._servers.append(
                await asyncio.start_server(self._serve, "::1", self.port, family=socket.AF_INET6)
            )
        return self

    async def __aexit__(self, *exc: object) -> None:
        for server in self._servers:
            server.close()
            await server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            if self.ssl is not None:
                await writer.start_tls(self.ssl)
            head = await reader.readuntil(b"\r\n\r\n")
            line, *fields = head.decode("latin-1").split("\r\n")
            method, target, _ = line.split(" ", 2)
            headers = {
                k.strip().lower(): v.strip() for k, _, v in (f.partition(":") for f in fields if f)
            }
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            self.requests.append(Request(method, target, headers, body))
            route = self.routes.get(target.split("?")[0])
            if callable(route):
                await route(writer)
                return
            status, extra, content = route if route is not None else (404, {}, b"not found")
            lines = [f"HTTP/1.1 {status} X", f"Content-Length: {len(content)}", "Connection: close"]
            lines += [f"{k}: {v}" for k, v in extra.items()]
            writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + content)
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, _ssl.SSLError):
            pass
        finally:
            writer.close()
