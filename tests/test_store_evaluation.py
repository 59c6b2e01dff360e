"""A session's summary and evaluation in the store, on both backends: ``end_session``
keeps the summary and puts it in ``call.ended``; ``record_evaluation`` keeps the
evaluation and queues ``call.evaluated`` in the same transaction."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from storekit import T0, flow_doc, opened, raw_rows

from flowctl.engine.boundary import TenantPolicy
from flowctl.engine.store import NotFound, Store, TenantStore
from flowctl.engine.store.documents import push_document

SUMMARY = {"outcome": "end_call", "variables": {"caller_name": "Ana"}, "text": "Main; ended"}
EVALUATION = {"passed": True, "goals": [{"name": "booked", "met": True, "detail": "entered"}]}


@pytest.fixture
async def store(store_target: Any) -> AsyncIterator[Store]:
    s = await opened(store_target)
    policy = TenantPolicy(egress_hosts=["hooks.acme.example"])
    await s.create_tenant("acme", actor="ana", policy=policy)
    acme = s.tenant("acme")
    await push_document(acme, flow_doc(), actor="ana")
    await acme.publish("clinic", 1, actor="ana")
    await acme.start_session("clinic", session_id="s1")
    yield s
    await s.close()


@pytest.fixture
def acme(store: Store) -> TenantStore:
    return store.tenant("acme")


async def test_end_session_keeps_the_summary_and_sends_it_in_call_ended(
    acme: TenantStore,
) -> None:
    await acme.create_webhook("https://hooks.acme.example/calls", ["call.ended"], actor="ana")
    ended = await acme.end_session("s1", reason="end_call", summary=SUMMARY)
    assert (ended.summary, ended.evaluation) == (SUMMARY, None)
    [delivery] = await acme.deliveries()
    assert delivery.event == "call.ended"
    assert delivery.payload["summary"] == SUMMARY
    assert delivery.payload["variables"] == {"caller_name": "Ana"}


async def test_record_evaluation_keeps_it_and_queues_call_evaluated(
    store_target: Any, acme: TenantStore
) -> None:
    await acme.create_webhook("https://hooks.acme.example/a", ["call.evaluated"], actor="ana")
    await acme.create_webhook("https://hooks.acme.example/b", ["call.ended"], actor="ana")
    await acme.end_session("s1", reason="end_call", summary=SUMMARY)
    info = await acme.record_evaluation("s1", EVALUATION)
    assert (info.evaluation, info.summary, info.end_reason) == (EVALUATION, SUMMARY, "end_call")
    assert (await acme.session("s1")).evaluation == EVALUATION
    assert [s.evaluation for s in await acme.sessions()] == [EVALUATION]
    evaluated = [d for d in await acme.deliveries() if d.event == "call.evaluated"]
    assert [(d.session_id, d.payload) for d in evaluated] == [
        (
            "s1",
            {
                "flow_id": "clinic",
                "version": 1,
                "evaluated_at": T0 + 8,
                "evaluation": EVALUATION,
            },
        )
    ]
    # One row per subscription that wants the event: `b` wants only call.ended.
    rows = await raw_rows(
        store_target, "SELECT event, count(*) FROM webhook_deliveries GROUP BY event ORDER BY event"
    )
    assert rows == [("call.ended", 1), ("call.evaluated", 1)]


async def test_record_evaluation_again_replaces_it_and_tells_again(acme: TenantStore) -> None:
    await acme.create_webhook("https://hooks.acme.example/a", ["call.evaluated"], actor="ana")
    await acme.record_evaluation("s1", EVALUATION)
    again = {**EVALUATION, "passed": False}
    assert (await acme.record_evaluation("s1", again)).evaluation == again
    payloads = [d.payload["evaluation"] for d in await acme.deliveries()]
    assert sorted(p["passed"] for p in payloads) == [False, True]


async def test_record_evaluation_refuses_an_unknown_session(acme: TenantStore) -> None:
    with pytest.raises(NotFound) as caught:
        await acme.record_evaluation("nosuch", EVALUATION)
    assert str(caught.value) == "Unknown session `nosuch` for tenant `acme`"
    assert await acme.deliveries() == []
