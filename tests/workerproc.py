"""A worker process serving from a store, for the many-hosts tests (run as a script).

python tests/workerproc.py URL NAME [LEASE]

Builds what ``flowctl worker start --store URL [--lease LEASE]`` builds (the store library, watching
the store) and serves jobs through the real entrypoint with ``fake_job_context``,
answering commands read from stdin, one per line, each with one JSON line:

    version V   wait until tenant acme's `clinic` routes to version V:
                {"seen": V, "at": <time.time() when it did>}
    jobs N      start N jobs at once: {"admitted": [job ids], "refused": count};
                admitted calls stay open
    end         close every call and exit
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any

from livekit.agents.testing import fake_job_context
from workerkit import services

from flowctl.engine.defaults import LEASE_SECONDS
from flowctl.worker.fakes import FakeRoom
from flowctl.worker.server import SERVICES, serve
from flowctl.worker.session import load_vads
from flowctl.worker.store_flows import StoreLibrary


async def job(library: StoreLibrary, job_id: str) -> tuple[Any, FakeRoom]:
    room = FakeRoom()
    svc = services(library, load_vads(s.compiled.flow.vad for s in library.served()), room)
    with fake_job_context(job_id=job_id, job_metadata='{"tenant_id": "acme"}') as ctx:
        ctx.job.room.name = f"acme:{job_id}"
        ctx.proc.userdata[SERVICES] = svc
        call = await serve(ctx, svc)
    return call, room


async def main(url: str, name: str, lease: float) -> None:
    library = await StoreLibrary(url, lease=lease).preload()
    await library.start()
    calls: list[tuple[Any, FakeRoom]] = []
    reader = asyncio.StreamReader()
    loop = asyncio.get_running_loop()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    print(json.dumps({"ready": name}), flush=True)
    count = 0
    while line := (await reader.readline()).decode().strip():
        command, _, arg = line.partition(" ")
        if command == "version":
            while (entry := library.flow("clinic", "acme")) is None or entry.version != arg:
                await asyncio.sleep(0.001)
            print(json.dumps({"seen": arg, "at": time.time()}), flush=True)
        elif command == "jobs":
            ids = [f"{name}-{count + i}" for i in range(int(arg))]
            count += len(ids)
            started = await asyncio.gather(*(job(library, i) for i in ids))
            admitted = [i for i, (call, _) in zip(ids, started, strict=True) if call is not None]
            calls += [(c, r) for c, r in started if c is not None]
            print(json.dumps({"admitted": admitted, "refused": len(ids) - len(admitted)}))
            sys.stdout.flush()
        elif command == "end":
            break
    for call, room in calls:
        await room.session.aclose()
        await call.aclose()
    await library.aclose()


if __name__ == "__main__":
    lease = float(sys.argv[3]) if len(sys.argv) > 3 else LEASE_SECONDS
    asyncio.run(main(sys.argv[1], sys.argv[2], lease))
