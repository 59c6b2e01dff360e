"""The worker serving a store (``flowctl worker --store``): jobs routed from the store's
tenants to published versions, sessions recorded as they happen, the tenant's session
limit counted in the store."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("livekit.agents")

from conftest import FLOWS
from livekit.agents.testing import fake_job_context
from storekit import EXAMPLE_POLICY
from workerkit import services, until

from flowctl.engine.runtime import CallbackPromised
from flowctl.engine.store import open_store
from flowctl.engine.store.documents import push_document
from flowctl.worker.fakes import FakePlugins, FakeRoom
from flowctl.worker.llm import Step
from flowctl.worker.server import SERVICES, serve
from flowctl.worker.session import load_vads
from flowctl.worker.store_flows import StoreLibrary

CLINIC = (FLOWS / "clinic.json").read_text()


async def _store(tmp_path: Path, limit: int | None = None) -> str:
    url = f"sqlite:///{tmp_path / 'flowctl.db'}"
    async with await open_store(url, create=True) as store:
        await store.create_tenant(
            "acme",
            actor="t",
            routing={"default": "clinic"},
            max_concurrent_sessions=limit,
            policy=EXAMPLE_POLICY,
        )
        await push_document(store.tenant("acme"), CLINIC, actor="t", flow_id="clinic")
        await store.tenant("acme").publish("clinic", 1, actor="t")
    return url


async def _job(library: StoreLibrary, job_id: str) -> tuple[Any, FakeRoom]:
    room = FakeRoom()
    svc = services(library, load_vads(s.compiled.flow.vad for s in library.served()), room)
    with fake_job_context(job_id=job_id, job_metadata='{"tenant_id": "acme"}') as ctx:
        ctx.job.room.name = f"acme:{job_id}"  # a tenant's flows run in its rooms only
        ctx.proc.userdata[SERVICES] = svc
        call = await serve(ctx, svc)
    return call, room


async def test_a_job_is_served_the_published_version_and_recorded(tmp_path: Path) -> None:
    url = await _store(tmp_path)
    library = await StoreLibrary(url).preload()
    assert [s.location for s in library.served()] == ["acme/clinic@v1"]
    call, room = await _job(library, "job-1")
    assert call is not None and call.served.version == "1"
    await room.session.aclose()
    await asyncio.wait_for(room.closed.wait(), 10)
    await call.aclose()
    ts = library.store.tenant("acme")
    info = await ts.session("job-1")
    assert (info.flow_id, info.version, info.end_reason) == ("clinic", 1, "hangup")
    assert info.routing["rule"] == "default"
    events = await ts.events("job-1")
    # closed before the greeting played out: the start is what there is to record
    assert [type(e).__name__ for e in events] == ["Entered"]
    assert events[0].state == "IntakeAgent"
    await library.aclose()


async def test_the_tenants_limit_is_counted_in_the_store(tmp_path: Path) -> None:
    url = await _store(tmp_path, limit=1)
    library = await StoreLibrary(url).preload()
    first, room = await _job(library, "job-1")
    assert first is not None
    second, room2 = await _job(library, "job-2")
    assert second is None
    assert room2.shutdowns[0].startswith("flowctl: refused: ")
    assert "acme" in room2.shutdowns[0]
    await room.session.aclose()
    await asyncio.wait_for(room.closed.wait(), 10)
    await first.aclose()
    await library.aclose()


async def test_a_new_publish_reaches_the_next_job_without_a_restart(tmp_path: Path) -> None:
    url = await _store(tmp_path)
    library = StoreLibrary(url, poll=0.02)
    await library.preload()
    await library.start()
    doc = json.loads(CLINIC)
    doc["agents"][0]["on_enter_prompt"] = "Version two speaking."
    async with await open_store(url) as store:
        await push_document(store.tenant("acme"), json.dumps(doc), actor="t", flow_id="clinic")
        await store.tenant("acme").publish("clinic", 2, actor="t")
    for _ in range(200):  # the watcher polls every 20 ms
        if library.flow("clinic", "acme").version == "2":
            break
        await asyncio.sleep(0.01)
    call, room = await _job(library, "job-3")
    assert call is not None and call.served.version == "2"
    assert call.conversation.greeting() == "Version two speaking."
    await room.session.aclose()
    await asyncio.wait_for(room.closed.wait(), 10)
    await call.aclose()
    await library.aclose()


def test_worker_start_with_a_store_checks_its_published_flows(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from flowctl.cli.main import cli

    url = asyncio.run(_store(tmp_path))
    env = {"OPENAI_API_KEY": "", "DEEPGRAM_API_KEY": "", "LIVEKIT_URL": ""}
    result = CliRunner().invoke(cli, ["worker", "start", "--store", url], env=env)
    assert result.exit_code == 2
    assert result.stderr.splitlines()[0] == (
        "flowctl: error: acme/clinic@v1: `stt` (deepgram) needs DEEPGRAM_API_KEY in the environment"
    )
    result = CliRunner().invoke(
        cli, ["worker", "start", "--store", f"sqlite:///{tmp_path / 'none.db'}"], env=env
    )
    assert result.exit_code == 2
    assert result.stderr.startswith("flowctl: error: No store at ")


async def test_a_version_refused_with_located_findings_names_each(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # FlowInvalidError carries plain findings (a compile's) or located ones (a push's);
    # a version the worker cannot compile is reported with either kind's code and text.
    from flowctl.engine.errors import FlowInvalidError

    url = await _store(tmp_path)
    async with await open_store(url) as store:
        with pytest.raises(FlowInvalidError) as refused:
            await push_document(store.tenant("acme"), "[]", actor="t", flow_id="clinic")

    async def compiled(*args: Any, **kwargs: Any) -> Any:
        raise refused.value

    library = StoreLibrary(url, report=False)
    monkeypatch.setattr(library.cache, "compiled", compiled)
    await library.preload()
    assert [f.problems for f in library.unservable()] == [
        ["FL002 Expected `object`, got `array` - at `$`"]
    ]


@pytest.mark.parametrize(
    ("sip", "caller"),
    [(True, "+15550142277"), (False, "user-7")],
    ids=["phone-line-number", "job-user-id"],
)
async def test_a_callback_promised_on_a_call_is_kept_in_the_store_with_the_caller(
    tmp_path: Path, sip: bool, caller: str
) -> None:
    url = await _store(tmp_path)
    library = await StoreLibrary(url).preload()
    room = FakeRoom(sip=sip, attributes={"sip.phoneNumber": "+15550142277"})
    plugins = FakePlugins()
    svc = services(library, load_vads(s.compiled.flow.vad for s in library.served()), room, plugins)
    metadata = '{"tenant_id": "acme", "user_id": "user-7"}'
    with fake_job_context(job_id="job-cb", job_metadata=metadata) as ctx:
        ctx.job.room.name = "acme:job-cb"
        call = await serve(ctx, svc)
    assert call is not None and call.session is not None
    session = call.session
    await until(session, lambda: session.agent_state == "listening" and plugins.spoken)
    args = {"callback_number": "5550142277", "callback_window": "today after 5 PM"}
    plugins.model.plan([Step.call("request_callback", args)])
    session.generate_reply(user_input="Could someone call me back after five?")
    await until(session, lambda: bool(call.conversation.callbacks))
    await session.aclose()
    await asyncio.wait_for(room.closed.wait(), 10)
    await call.aclose()
    ts = library.store.tenant("acme")
    [booked] = await ts.callbacks()
    assert (booked.session_id, booked.caller, booked.when, booked.details, booked.busy) == (
        "job-cb",
        caller,  # a phone line's number, else the job's user id
        None,
        args,
        False,
    )
    recorded = [e for e in await ts.events("job-cb") if isinstance(e, CallbackPromised)]
    assert recorded == call.conversation.callbacks
    await library.aclose()


async def test_a_job_naming_a_disabled_flow_is_refused_and_recorded(tmp_path: Path) -> None:
    url = await _store(tmp_path)
    async with await open_store(url) as store:
        await store.tenant("acme").disable("clinic", actor="t")
    library = await StoreLibrary(url).preload()
    room = FakeRoom()
    svc = services(library, load_vads(s.compiled.flow.vad for s in library.served()), room)
    metadata = '{"tenant_id": "acme", "flow_id": "clinic"}'
    with fake_job_context(job_id="job-off", job_metadata=metadata) as ctx:
        ctx.job.room.name = "acme:job-off"
        assert await serve(ctx, svc) is None
    reason = "Flow `clinic` is disabled (tenant `acme`)"
    assert room.shutdowns == [f"flowctl: refused: {reason}"]
    info = await library.store.tenant("acme").session("job-off")
    assert (info.flow_id, info.version, info.end_reason) == ("clinic", 1, f"refused: {reason}")
    assert info.routing == {
        "decision": "rejected",
        "reason": reason,
        "origin": "job metadata",
        "tenant_id": "acme",
        "flow_id": "clinic",
        "version": "1",
    }
    # routed by the tenant's default: nothing to route to, and no flow to record it under
    second, room2 = await _job(library, "job-default")
    assert second is None
    assert room2.shutdowns == [
        "flowctl: refused: No enabled flow for this job: the tenant's default goes to "
        "disabled flow `clinic`"
    ]
    assert [s.session_id for s in await library.store.tenant("acme").sessions()] == ["job-off"]
    await library.aclose()
