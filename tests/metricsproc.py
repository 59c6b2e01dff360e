"""A job process recording metrics, for the multiprocess test (run as a script).

python tests/metricsproc.py JOB_ID finish|hold

Runs what a LiveKit job process runs (the real entrypoint, ``fake_job_context``, the
desk flow of tests/fixtures/voice) with this process's shared metrics, which
PROMETHEUS_MULTIPROC_DIR (set by the test) sends to files. ``finish``: the call greets,
the caller leaves, the process exits. ``hold``: the call greets and stays up; the
process prints one line and waits to be killed.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

from conftest import FIXTURES
from livekit.agents.testing import fake_job_context
from workerkit import services, until

from flowctl.engine.library import FileLibrary
from flowctl.metrics import Metrics
from flowctl.worker.fakes import FakeRoom
from flowctl.worker.server import serve
from flowctl.worker.session import load_vads


async def main(job_id: str, mode: str) -> None:
    library = FileLibrary.load(FIXTURES / "voice")
    room = FakeRoom()
    vads = load_vads(s.compiled.flow.vad for s in library.served())
    svc = services(library, vads, room, metrics=Metrics.shared())
    with fake_job_context(job_id=job_id, job_metadata='{"tenant_id": "acme"}') as ctx:
        call: Any = await serve(ctx, svc)
        session = call.session
        await until(session, lambda: room.speaker.segments and session.agent_state == "listening")
        if mode == "hold":
            print("holding", flush=True)
            await asyncio.Event().wait()
        await session.aclose()
        await asyncio.wait_for(call.finished.wait(), 10)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
