"""Prewarming a job process: after ``prewarm``, the first job imports nothing more."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytest.importorskip("livekit.agents")

from conftest import FLOWS

# A fresh process, as LiveKit starts one: prewarm, then one job through the real
# entrypoint (a room that takes the session without connecting: that is the network's).
JOB = f"""
import asyncio, dataclasses, json, sys
from livekit.agents import JobExecutorType, JobProcess
from livekit.agents.testing import fake_job_context
from flowctl.worker.fakes import FakeRoom
from flowctl.worker.server import SERVICES, WorkerConfig, entrypoint, prewarm

class Room(FakeRoom):
    async def start(self, session, agent):
        self.session, self.agent = session, agent

proc = JobProcess(executor_type=JobExecutorType.THREAD, user_arguments=None, http_proxy=None)
prewarm(WorkerConfig(flows_dir={str(FLOWS)!r}), proc)
room = Room()
services = dataclasses.replace(proc.userdata[SERVICES], room=lambda ctx: room, tracer=lambda a: None)
before = set(sys.modules)

async def job():
    with fake_job_context(job_id="job-1", job_metadata='{{"tenant_id": "healthcare_clinic"}}') as ctx:
        ctx.proc.userdata[SERVICES] = services
        await entrypoint(ctx)
        return room.agent.conversation.state

state = asyncio.run(job())
ours = ("flowctl", "livekit", "openai", "httpx2", "httpcore2")
print(json.dumps({{"state": state, "new": sorted(m for m in set(sys.modules) - before if m.startswith(ours))}}))
"""


def test_a_prewarmed_process_imports_nothing_for_its_first_job() -> None:
    env = {"OPENAI_API_KEY": "sk-test", "DEEPGRAM_API_KEY": "dg-test", "PATH": ""}
    done = subprocess.run(
        [sys.executable, "-c", JOB], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[-1]) == {"state": "IntakeAgent", "new": []}
