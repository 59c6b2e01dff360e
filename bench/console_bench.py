"""The console's cost (issue 19): what a console page adds to a page load over the API's
own work for the same data, at 50 concurrent users (target: < 20 ms at p99), and how
long `flowctl serve` takes to start with the console in it (target: < 1.5 s).

    .venv/bin/python bench/console_bench.py [--quick] [--users N] [--seconds S]

Start-up: a real `flowctl serve` (a subprocess, as deployed) from exec to its first
`/health` answer, then to its first console page (the templates compile on first use),
five times. Pages: 50 users, each signed in with a session of its own and a keep-alive
connection, load a page, think for 0.5-1.5 s, and load it again, for S seconds (a user
clicking through the console). The same users then load what the API answers for that
page's data: the flows list is GET /api/v1/flows; a flow's page (its graph, versions
and history) is GET /api/v1/flows/clinic, /versions and /history in turn; the calls
page is GET /api/v1/sessions. Latency runs from the send to the last byte of the last
answer. Prints p50, p99 and max of each and the console's p99 over the API's; never
asserts.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from flowctl.engine.boundary import TenantPolicy  # noqa: E402
from flowctl.engine.events import Entered, Turn  # noqa: E402
from flowctl.engine.store import open_store  # noqa: E402
from flowctl.engine.store.documents import push_document  # noqa: E402

TARGET_MS = 20.0
STARTUP_TARGET_S = 1.5
# (the console's page, the API requests that fetch the same data)
PAGES = [
    ("/flows", ["/api/v1/flows"]),
    (
        "/flows/clinic",
        ["/api/v1/flows/clinic", "/api/v1/flows/clinic/versions", "/api/v1/flows/clinic/history"],
    ),
    ("/calls", ["/api/v1/sessions"]),
]


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _prepare(url: str) -> str:
    """Tenant acme with the clinic flow published (two versions) and 40 recorded calls;
    a viewer key."""
    async with await open_store(url, create=True) as s:
        grants = TenantPolicy(transfer_to=["tel:+15555550100"])
        await s.create_tenant("acme", actor="bench", policy=grants)
        t = s.tenant("acme")
        clinic = (ROOT / "flows" / "clinic.json").read_text()
        await push_document(t, clinic, actor="bench")
        await push_document(t, clinic.replace("front-desk", "front desk"), actor="bench")
        await t.publish("clinic", 1, actor="bench")
        for i in range(40):
            sid = f"call-{i:02d}"
            await t.start_session("clinic", 1, session_id=sid)
            await t.append_events(
                sid,
                [
                    Entered(at=1.0, state="IntakeAgent", via=None),
                    Turn(at=2.0, role="user", text="I'd like to book a visit"),
                ],
            )
            await t.end_session(sid, reason="hangup")
        _, key = await t.create_key("viewer", actor="bench")
    return key


def _serve(url: str, port: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from flowctl.cli.main import main; main()",
            "serve",
            "--store",
            url,
            "--port",
            str(port),
            "--no-access-log",
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _until(url: str, proc: subprocess.Popen[bytes], started: float) -> float:
    """Seconds from ``started`` until ``url`` answers 200."""
    while True:
        if proc.poll() is not None:
            raise SystemExit("flowctl serve exited; run it by hand to see why")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return time.perf_counter() - started
        except httpx.HTTPError:
            time.sleep(0.005)


def _startup(url: str, runs: int) -> None:
    health, first_page = [], []
    for _ in range(runs):
        port = _port()
        started = time.perf_counter()
        proc = _serve(url, port)
        try:
            health.append(_until(f"http://127.0.0.1:{port}/health", proc, started))
            first_page.append(_until(f"http://127.0.0.1:{port}/login", proc, started))
        finally:
            proc.terminate()
            proc.wait(timeout=10)
    print(f"flowctl serve start-up ({runs} runs), target < {STARTUP_TARGET_S:g} s:")
    print(
        f"  to /health          median {statistics.median(health):.3f} s  max {max(health):.3f} s"
    )
    print(
        f"  to its first page   median {statistics.median(first_page):.3f} s  "
        f"max {max(first_page):.3f} s"
    )


def _sign_in(base: str, key: str) -> str:
    """A console session: its cookie header."""
    with httpx.Client(base_url=base) as client:
        form = client.get("/login").text
        token = re.search(r'name="login_token" value="([^"]+)"', form)
        assert token is not None
        answer = client.post("/login", data={"key": key, "login_token": token.group(1)})
        assert answer.status_code == 303, answer.text
        return f"flowctl_console={client.cookies['flowctl_console']}"


class _User:
    """One user's keep-alive connection: a lean HTTP/1.1 client over asyncio streams
    (httpx's async stack costs about 1.5 ms a request, which would be measured instead of
    the server)."""

    def __init__(self, port: int, cookie: str, key: str) -> None:
        self.port = port
        self.auth = f"Cookie: {cookie}\r\nAuthorization: Bearer {key}\r\n"

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)

    async def get(self, path: str) -> None:
        self.writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{self.auth}\r\n".encode())
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        status = int(lines[0].split()[1])
        length = next(
            int(line.split(b":")[1]) for line in lines if line.lower().startswith(b"content-length")
        )
        await self.reader.readexactly(length)
        if status != 200:
            raise SystemExit(f"GET {path}: {status}")

    def close(self) -> None:
        self.writer.close()


async def _load(users: list[_User], paths: list[str], seconds: float) -> list[float]:
    """Each user loads ``paths`` in turn (one page load), thinks 0.5-1.5 s, again, for
    ``seconds``; the latency of every page load."""
    samples: list[float] = []
    end = time.perf_counter() + seconds
    rng = random.Random(19)

    async def one(user: _User, delay: float) -> None:
        await asyncio.sleep(delay)
        while time.perf_counter() < end:
            start = time.perf_counter()
            for path in paths:
                await user.get(path)
            samples.append(time.perf_counter() - start)
            await asyncio.sleep(rng.uniform(0.5, 1.5))

    await asyncio.gather(*(one(u, rng.uniform(0, 1)) for u in users))
    return samples


def _ms(samples: list[float]) -> tuple[float, float, float]:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return statistics.median(ordered) * 1e3, p99 * 1e3, ordered[-1] * 1e3


async def _pages(port: int, cookies: list[str], key: str, seconds: float) -> None:
    users = [_User(port, cookie, key) for cookie in cookies]
    for user in users:
        await user.open()
    try:
        for user in users:  # warm: first compiles, first drawing, templates
            for page, api in PAGES:
                await user.get(page)
                for path in api:
                    await user.get(path)
        print(
            f"\npage loads, {len(users)} users thinking 0.5-1.5 s between loads, "
            f"{seconds:g} s each; target: console p99 - API p99 < {TARGET_MS:g} ms"
        )
        print(f"  {'page':<16} {'as':<8} {'loads':>6} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}")
        for page, api in PAGES:
            console = await _load(users, [page], seconds)
            answered = await _load(users, api, seconds)
            c50, c99, cmax = _ms(console)
            a50, a99, amax = _ms(answered)
            row = "  {:<16} {:<8} {:>6} {:>8.2f} {:>8.2f} {:>8.2f}"
            print(row.format(page, "console", len(console), c50, c99, cmax))
            print(row.format("", "API", len(answered), a50, a99, amax))
            print(f"  {'':<16} console adds {c99 - a99:+.2f} ms at p99 ({c50 - a50:+.2f} at p50)")
    finally:
        for user in users:
            user.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 seconds a phase, 3 start-ups")
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=None)
    options = parser.parse_args()
    seconds = options.seconds or (3.0 if options.quick else 10.0)
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'flowctl.db'}"
        key = asyncio.run(_prepare(url))
        _startup(url, 3 if options.quick else 5)
        port = _port()
        base = f"http://127.0.0.1:{port}"
        proc = _serve(url, port)
        try:
            _until(f"{base}/health", proc, time.perf_counter())
            cookies = [_sign_in(base, key) for _ in range(options.users)]
            asyncio.run(_pages(port, cookies, key, seconds))
        finally:
            proc.terminate()
            proc.wait(timeout=10)


if __name__ == "__main__":
    main()
