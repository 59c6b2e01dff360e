"""The worker serving flows built on templates: a folder's, resolved with the
templates beside them, and a store's, each published version with the template version
it pinned, until the flow is pushed and published again."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("livekit.agents")

from conftest import FLOWS
from livekit.agents.testing import fake_job_context
from workerkit import services

from flowctl.engine.library import FileLibrary, FlowLibrary
from flowctl.engine.spec import VADConfig
from flowctl.engine.store import open_store
from flowctl.engine.store.documents import push_document, push_shared_template
from flowctl.worker.fakes import FakeRoom
from flowctl.worker.server import SERVICES, serve
from flowctl.worker.session import load_vads
from flowctl.worker.store_flows import StoreLibrary

TEMPLATE = FLOWS / "templates" / "clinic_desk.json"
VET = (FLOWS / "vet.json").read_bytes()
V1_GREETING = (
    "Thank you for calling Riverside Animal Clinic. I can book a visit or pass a question "
    "to our clinical team. How can I help?"
)


async def _job(library: FlowLibrary, job_id: str, tenant: str, purpose: str) -> tuple[Any, Any]:
    room = FakeRoom()
    vads = load_vads(s.compiled.flow.vad or VADConfig() for s in library.served())
    svc = services(library, vads, room)
    metadata = json.dumps({"tenant_id": tenant, "purpose": purpose})
    with fake_job_context(job_id=job_id, job_metadata=metadata) as ctx:
        ctx.job.room.name = f"{tenant}:{job_id}"
        ctx.proc.userdata[SERVICES] = svc
        call = await serve(ctx, svc)
    return call, room


async def _hang_up(call: Any, room: Any) -> None:
    await room.session.aclose()
    await asyncio.wait_for(room.closed.wait(), 10)
    await call.aclose()


async def test_a_folders_flows_are_served_resolved_with_their_template() -> None:
    library = FileLibrary.load(FLOWS)
    call, room = await _job(library, "job-1", "coastal-care", "vet")
    assert call is not None and call.served.flow_id == "vet"
    assert call.conversation.state == "FrontDesk"
    assert call.conversation.greeting() == V1_GREETING
    offered = [f.name for f in call.conversation.functions()]
    # the template's, with the flow's own tool; the callback the flow removed is gone
    assert offered == ["transfer_to_clinician", "wrap_up_call", "hang_up", "book_visit"]
    await _hang_up(call, room)


async def _store(tmp_path: Path) -> str:
    """A store whose operator shares `clinic_desk`, and tenant acme's vet flow on it."""
    url = f"sqlite:///{tmp_path / 'flowctl.db'}"
    async with await open_store(url, create=True) as store:
        await store.create_tenant("acme", actor="t", routing={"default": "vet"})
        shelf = store.shared_templates()
        await push_shared_template(shelf, TEMPLATE.read_bytes(), actor="op")
        await shelf.publish_template("clinic_desk", 1, actor="op")
        await push_document(store.tenant("acme"), VET, actor="t")
        await store.tenant("acme").publish("vet", 1, actor="t")
    return url


async def test_a_store_serves_each_version_with_the_template_version_it_pinned(
    tmp_path: Path,
) -> None:
    url = await _store(tmp_path)
    library = StoreLibrary(url, poll=0.02)
    await library.preload()
    await library.start()
    first, room = await _job(library, "job-1", "acme", "vet")
    assert first is not None and first.conversation.greeting() == V1_GREETING

    # The operator publishes a new greeting: running and published flows keep theirs.
    template = json.loads(TEMPLATE.read_text())
    template["agents"][0]["on_enter_prompt"] = "Hello from {{practice_name}}: v2 speaking."
    async with await open_store(url) as store:
        shelf = store.shared_templates()
        await push_shared_template(shelf, json.dumps(template), actor="op")
        await shelf.publish_template("clinic_desk", 2, actor="op")
    second, room2 = await _job(library, "job-2", "acme", "vet")
    assert second is not None and second.served.version == "1"
    assert second.conversation.greeting() == V1_GREETING
    await _hang_up(second, room2)

    # Pushed and published again, the flow moves to it: the next job, without a restart.
    async with await open_store(url) as store:
        pushed = await push_document(store.tenant("acme"), VET, actor="t")
        assert str(pushed.version.template) == "shared:clinic_desk@v2"
        await store.tenant("acme").publish("vet", 2, actor="t")
    for _ in range(200):  # the watcher polls every 20 ms
        if library.flow("vet", "acme").version == "2":
            break
        await asyncio.sleep(0.01)
    third, room3 = await _job(library, "job-3", "acme", "vet")
    assert third is not None and third.served.version == "2"
    assert third.conversation.greeting() == "Hello from Riverside Animal Clinic: v2 speaking."
    # the first call, still running, is on the version it started with
    assert first.conversation.greeting() == V1_GREETING
    await _hang_up(third, room3)
    await _hang_up(first, room)
    await library.aclose()
