"""The store at run time: publishes reach new sessions without a restart, running
sessions stay pinned, and sessions are recorded as they happen."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

from conftest import FLOWS
from storekit import EXAMPLE_POLICY, store_url

from flowctl.engine.routing import Routed, route
from flowctl.engine.runtime import Called, Entered, Fired
from flowctl.engine.store import open_store
from flowctl.engine.store.documents import push_document
from flowctl.engine.store.events import Turn
from flowctl.worker.store_flows import SessionRecorder, StoreFlows

CLINIC = (FLOWS / "clinic.json").read_text()
SPECIALIST = {"caller_name": "Ana", "specialist_question": "Can I take ibuprofen?"}


async def test_a_publish_reaches_new_sessions_and_running_ones_stay_pinned(
    store_target: Any,
) -> None:
    url = store_url(store_target)
    async with await open_store(url, create=True) as store:
        await store.create_tenant(
            "acme", actor="t", routing={"default": "clinic"}, policy=EXAMPLE_POLICY
        )
        acme = store.tenant("acme")
        await push_document(acme, CLINIC, actor="t", flow_id="clinic")
        await acme.publish("clinic", 1, actor="t")
        flows = StoreFlows(store)
        assert await flows.refresh() is True  # the first snapshot (no watcher: refresh by hand)
        first = route(flows.catalog, '{"tenant_id": "acme"}')
        assert isinstance(first, Routed) and first.version == "1"
        pinned = await flows.compiled("acme", "clinic", first.version)

        doc = json.loads(CLINIC)
        doc["agents"][0]["on_enter_prompt"] = "Hello from version two."
        await push_document(acme, json.dumps(doc), actor="t", flow_id="clinic")
        await acme.publish("clinic", 2, actor="t", expected_current=1)
        assert await flows.refresh() is True
        assert await flows.refresh() is False  # nothing new since
        second = route(flows.catalog, '{"tenant_id": "acme"}')
        assert isinstance(second, Routed) and second.version == "2"
        newer = await flows.compiled("acme", "clinic", second.version)
        assert newer.flow.agents[0].on_enter_prompt == "Hello from version two."
        assert pinned.flow.agents[0].on_enter_prompt != "Hello from version two."
        assert await flows.compiled("acme", "clinic", "1") is pinned  # from the cache
        await flows.close()


@contextlib.asynccontextmanager
async def _recording(store_target: Any, session_id: str) -> AsyncIterator[Any]:
    """A store with acme's clinic published, and a recorder of a new session of it:
    (acme's store, the conversation, the recorder); the conversation's clock counts from
    100, one a reading."""
    from flowctl.engine.runtime import Conversation

    async with await open_store(store_url(store_target), create=True) as store:
        await store.create_tenant("acme", actor="t", policy=EXAMPLE_POLICY)
        acme = store.tenant("acme")
        await push_document(acme, CLINIC, actor="t", flow_id="clinic")
        await acme.publish("clinic", 1, actor="t")
        compiled = await StoreFlows(store).compiled("acme", "clinic", 1)
        conv = Conversation(compiled, clock=iter(range(100, 200)).__next__)
        recorder = await SessionRecorder.start(
            acme, conv, flow_id="clinic", version=1, session_id=session_id, interval=60
        )
        try:
            yield acme, conv, recorder
        finally:
            conv.close()


async def test_a_session_is_recorded_turn_by_turn(store_target: Any) -> None:
    async with _recording(store_target, "call-7") as (acme, conv, recorder):
        recorder.said("user", "Can I take ibuprofen? I'm Ana.")
        await conv.fire("transfer_to_specialist", SPECIALIST)
        recorder.said("agent", "Connecting you.")
        await recorder.flush()  # the end of a turn
        kinds = [type(e).__name__ for e in await acme.events("call-7")]
        assert kinds == ["Entered", "Turn", "Called", "Fired", "Entered", "Turn"]
        await recorder.close("hangup")
        info = await acme.session("call-7")
        assert (info.end_reason, info.events) == ("hangup", 6)
        events = await acme.events("call-7")
        assert events[1] == Turn(at=101.0, role="user", text="Can I take ibuprofen? I'm Ana.")
        assert isinstance(events[2], Called) and events[2].args == SPECIALIST
        assert isinstance(events[3], Fired) and isinstance(events[4], Entered)


async def test_a_flush_cancelled_mid_write_writes_its_batch_once(store_target: Any) -> None:
    """A recorder's periodic flush cancelled while its batch is being written (the call
    ends, the worker stops): the store writes the batch all the same, and the next flush
    must not write it again."""
    async with _recording(store_target, "call-8") as (acme, _, recorder):
        recorder.said("user", "Hello?")
        flushing = asyncio.ensure_future(recorder.flush())
        for _ in range(3):  # into the store's write, not yet answered
            await asyncio.sleep(0)
        flushing.cancel()
        await asyncio.gather(flushing, return_exceptions=True)
        recorder.said("agent", "Hello, this is the clinic.")
        await recorder.close("hangup")
        turns = [e.text for e in await acme.events("call-8") if isinstance(e, Turn)]
        assert turns == ["Hello?", "Hello, this is the clinic."]
        assert [type(e).__name__ for e in await acme.events("call-8")] == [
            "Entered",
            "Turn",
            "Turn",
        ]
