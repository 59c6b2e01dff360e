"""Webhooks end to end: events written to the outbox with what they tell of, posted
signed to a real receiver on loopback, retried after failures and timeouts, left dead
after the last attempt, replayed by id; and the API and CLI that manage them."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from hookkit import Receiver
from storekit import Clock, flow_doc, opened

from flowctl.engine.boundary import TenantPolicy
from flowctl.engine.events import Entered, OutputRecorded, ToolReturned
from flowctl.engine.store import Store, StoreError, Turn
from flowctl.engine.store.documents import push_document
from flowctl.engine.webhooks import MAX_ATTEMPTS, backoff, check_events, sign, verify
from flowctl.worker.webhooks import Deliverer

HOOKS = TenantPolicy(egress_hosts=["hooks.acme.example"])


def test_signatures_verify_and_stale_or_tampered_ones_do_not() -> None:
    body = b'{"id":"evt_1"}'
    header = sign("whsec_x", 1_700_000_000, body)
    assert header.startswith("t=1700000000,v1=") and len(header) == 16 + 64
    assert verify("whsec_x", header, body, now=1_700_000_100)
    assert not verify("whsec_x", header, body + b" ", now=1_700_000_100)
    assert not verify("whsec_y", header, body, now=1_700_000_100)
    assert not verify("whsec_x", header, body, now=1_700_000_301)  # older than 5 minutes
    assert not verify("whsec_x", "v1=abc", body, now=1_700_000_000)


def test_events_and_backoff() -> None:
    assert check_events(["*"])[0] == "call.started"
    assert check_events(["call.ended", "call.started", "call.ended"]) == [
        "call.started",
        "call.ended",
    ]
    with pytest.raises(ValueError) as caught:
        check_events(["call.end"])
    assert str(caught.value) == "Unknown webhook event `call.end`; did you mean `call.ended`?"
    rng = random.Random(1)
    waits = [backoff(n, rng) for n in range(1, 14)]
    assert 2.5 <= waits[0] <= 5 and 5 <= waits[1] <= 10
    assert all(1800 <= w <= 3600 for w in waits[-3:])  # capped at an hour


@pytest.fixture
async def store(store_target: Any) -> AsyncIterator[Store]:
    async with await opened(store_target, Clock()) as s:
        await s.create_tenant("acme", actor="ana", policy=HOOKS)
        acme = s.tenant("acme")
        await push_document(acme, flow_doc(), actor="ana")
        await acme.publish("clinic", 1, actor="ana")
        yield s


async def test_a_subscription_must_be_reachable_and_name_known_events(store: Store) -> None:
    acme = store.tenant("acme")
    cases = [
        (
            "https://evil.example/x",
            ["*"],
            "Webhook URL `https://evil.example/x` cannot be reached: not on this tenant's "
            "egress allowlist. The operator grants hosts with `flowctl tenants policy acme "
            "--allow-host HOST`",
        ),
        (
            "http://hooks.acme.example/x",
            ["*"],
            "Webhook URL `http://hooks.acme.example/x` cannot be reached: only https is "
            "allowed, not http. The operator grants hosts with `flowctl tenants policy acme "
            "--allow-host HOST`",
        ),
        (
            "https://hooks.acme.example/x",
            ["call.ende"],
            "Unknown webhook event `call.ende`; did you mean `call.ended`?",
        ),
    ]
    for url, events, message in cases:
        with pytest.raises(StoreError) as caught:
            await acme.create_webhook(url, events, actor="ana")
        assert str(caught.value) == message
    assert await acme.webhooks() == []


async def test_each_event_is_queued_with_what_it_tells_of(store: Store) -> None:
    acme = store.tenant("acme")
    hook, secret = await acme.create_webhook("https://hooks.acme.example/x", ["*"], actor="ana")
    assert secret.startswith("whsec_")
    other, _ = await acme.create_webhook(
        "https://hooks.acme.example/ended", ["call.ended"], actor="ana"
    )
    await acme.start_session("clinic", session_id="s1", routing={"rule": "default"})
    await acme.append_events(
        "s1",
        [
            Entered(at=10.0, state="Main"),
            Turn(at=11.0, role="user", text="Bye"),
            ToolReturned(at=12.0, tool="crm", ok=False, error="HTTP 500"),
            OutputRecorded(at=13.0, state="Main", fields={"score": 3}),
            Entered(at=14.0, state="Goodbye", via="finish"),
        ],
    )
    summary = {"outcome": "end_state", "variables": {"name": "Ana"}, "text": "Main -> Goodbye"}
    await acme.end_session("s1", reason="end_state", summary=summary)
    found = sorted(
        (d.webhook_id == other.webhook_id, d.event, d.payload) for d in await acme.deliveries()
    )
    ended = {
        "flow_id": "clinic",
        "version": 1,
        "reason": "end_state",
        "started_at": found[0][2]["started_at"],
        "ended_at": found[0][2]["ended_at"],
        "transcript": [{"role": "user", "text": "Bye", "at": 11.0}],
        "path": ["Main", "Goodbye"],
        "variables": {"name": "Ana"},
        "summary": summary,
    }
    assert found == [
        (False, "call.ended", ended),
        (
            False,
            "call.started",
            {"flow_id": "clinic", "version": 1, "routing": {"rule": "default"}},
        ),
        (False, "output.recorded", {"state": "Main", "fields": {"score": 3}, "at": 13.0}),
        (False, "state.changed", {"state": "Goodbye", "via": "finish", "at": 14.0}),
        (False, "tool.failed", {"tool": "crm", "error": "HTTP 500", "at": 12.0}),
        (True, "call.ended", ended),
    ]
    assert (await acme.session("s1")).summary == summary
    assert {d.status for d in await acme.deliveries()} == {"pending"}
    assert hook.events[0] == "call.started"


class Time:
    """A clock both the store and the deliverer read, moved by hand; it starts at the
    real time, which another process's deliverer reads."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


async def _subscribed(store_target: Any, receiver: Receiver) -> tuple[Store, Time, str]:
    clock = Time()
    store = await opened(store_target, clock)  # type: ignore[arg-type]
    await store.create_tenant("acme", actor="ana", policy=HOOKS)
    acme = store.tenant("acme")
    await push_document(acme, flow_doc(), actor="ana")
    await acme.publish("clinic", 1, actor="ana")
    # Subscribed through the store as a tenant would (an allowlisted https URL), then
    # pointed at the receiver on loopback: the deliverer's egress override lets it in.
    hook, secret = await acme.create_webhook("https://hooks.acme.example/x", ["*"], actor="ana")
    await _point(store_target, hook.webhook_id, receiver.url)
    return store, clock, secret


async def _point(store_target: Any, webhook_id: str, url: str) -> None:
    from storekit import raw_rows

    await raw_rows(
        store_target,
        f"UPDATE webhooks SET url = '{url}' WHERE webhook_id = '{webhook_id}' RETURNING 1",
    )


async def test_deliveries_are_signed_retried_and_left_dead_then_replayed(store_target: Any) -> None:
    async with Receiver(statuses=[500, 503]) as receiver:
        store, clock, secret = await _subscribed(store_target, receiver)
        acme = store.tenant("acme")
        deliverer = Deliverer(store, egress=receiver.egress, clock=clock, rng=random.Random(2))
        try:
            await acme.start_session("clinic", session_id="s1")
            assert await deliverer.run_once() == 1  # HTTP 500
            assert await deliverer.run_once() == 0  # not due yet
            [d] = await acme.deliveries()
            assert (d.status, d.attempts, d.last_error) == ("pending", 1, "HTTP 500")
            assert 2.5 <= d.next_at - clock.now <= 5
            clock.now += 5
            assert await deliverer.run_once() == 1  # HTTP 503
            clock.now += 10
            assert await deliverer.run_once() == 1  # 200
            [d] = await acme.deliveries()
            assert (d.status, d.attempts, d.last_error, d.delivered_at) == (
                "delivered",
                3,
                None,
                clock.now,
            )
            # Every attempt carried the same event id, signed, with the envelope.
            assert [r.event_id for r in receiver.received] == [d.delivery_id] * 3
            last = receiver.received[-1]
            assert verify(secret, last.signature, last.body, now=clock.now)
            assert last.json == {
                "id": d.delivery_id,
                "type": "call.started",
                "created_at": d.created_at,
                "tenant_id": "acme",
                "session_id": "s1",
                "data": {"flow_id": "clinic", "version": 1, "routing": None},
            }
            # A receiver that always fails: dead after the last attempt, then replayed.
            receiver.statuses = [500] * MAX_ATTEMPTS
            await acme.end_session("s1", reason="hangup")
            for _ in range(MAX_ATTEMPTS):
                assert await deliverer.run_once() == 1
                clock.now += 3600
            assert await deliverer.run_once() == 0
            dead = await acme.deliveries(status="dead")
            assert [(x.event, x.attempts, x.last_error) for x in dead] == [
                ("call.ended", MAX_ATTEMPTS, "HTTP 500")
            ]
            replayed = await acme.replay_delivery(dead[0].delivery_id, actor="ana")
            assert (replayed.status, replayed.attempts) == ("pending", 0)
            assert await deliverer.run_once() == 1
            assert [x.status for x in await acme.deliveries()] == ["delivered", "delivered"]
            assert receiver.received[-1].event_id == dead[0].delivery_id
        finally:
            await deliverer.aclose()
            await store.close()


async def test_a_receiver_that_does_not_answer_in_time_is_retried(store_target: Any) -> None:
    async with Receiver(delay=1.0) as receiver:
        store, clock, _ = await _subscribed(store_target, receiver)
        deliverer = Deliverer(store, egress=receiver.egress, clock=clock, timeout=0.2)
        try:
            await store.tenant("acme").start_session("clinic", session_id="s1")
            assert await deliverer.run_once() == 1
            [d] = await store.tenant("acme").deliveries()
            assert (d.status, d.last_error) == ("pending", "no answer within 0.2 s")
        finally:
            await deliverer.aclose()
            await store.close()


async def test_a_deliverer_killed_mid_delivery_loses_nothing(store_target: Any) -> None:
    import os
    import signal
    import subprocess
    import sys

    from conftest import ROOT
    from storekit import store_url

    async with Receiver(delay=0.02) as receiver:
        store, clock, _ = await _subscribed(store_target, receiver)
        acme = store.tenant("acme")
        for i in range(60):
            await acme.start_session("clinic", session_id=f"s{i}")
        every = {d.delivery_id for d in await acme.deliveries(limit=500)}
        assert len(every) == 60
        proc = subprocess.Popen(
            [
                sys.executable,
                str(ROOT / "tests" / "hookproc.py"),
                store_url(store_target),
                str(receiver.port),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
            while len(receiver.received) < 25:  # mid-way: some delivered, a batch in flight
                await asyncio.sleep(0.005)
            os.kill(proc.pid, signal.SIGKILL)
        finally:
            proc.kill()
            proc.communicate(timeout=10)  # reaps it, and closes its pipes
        # What it had claimed is claimed again once its one-second lease lapses.
        deliverer = Deliverer(store, egress=receiver.egress, idle=0.05, clock=clock)
        try:
            for _ in range(400):
                clock.now = time.time()  # the store's clock: real time, as the killed one's
                await deliverer.run_once()
                left = await acme.deliveries(status="pending") + await acme.deliveries(
                    status="delivering"
                )
                if not left:
                    break
                await asyncio.sleep(0.05)
        finally:
            await deliverer.aclose()
        assert {d.status for d in await acme.deliveries(limit=500)} == {"delivered"}
        got = [r.event_id for r in receiver.received]
        # Nothing lost; a receiver that keeps the first of each id sees each once. Only
        # what was in flight when the deliverer died may have come twice.
        assert set(got) == every
        assert len(got) - len(set(got)) <= 10
        await store.close()


def test_the_docs_verification_recipe_accepts_what_the_deliverer_signs() -> None:
    from conftest import ROOT

    text = (ROOT / "docs" / "webhooks.md").read_text()
    recipe = text.split("```python\n", 1)[1].split("```", 1)[0]
    scope: dict[str, Any] = {}
    exec(recipe, scope)
    body = b'{"id":"evt_1","type":"call.ended"}'
    header = sign("whsec_x", int(time.time()), body)
    assert scope["verified"]("whsec_x", header, body) is True
    assert scope["verified"]("whsec_x", header, body + b"x") is False
    assert scope["verified"]("whsec_y", header, body) is False
    stale = sign("whsec_x", int(time.time()) - 301, body)
    assert scope["verified"]("whsec_x", stale, body) is False
    assert scope["verified"]("whsec_x", "garbage", body) is False


async def test_attempts_and_lag_reach_the_metrics(store_target: Any) -> None:
    from prometheus_client import CollectorRegistry

    from flowctl.metrics import Metrics

    registry = CollectorRegistry()
    metrics = Metrics(registry)
    async with Receiver(statuses=[500]) as receiver:
        store, clock, _ = await _subscribed(store_target, receiver)
        deliverer = Deliverer(
            store,
            egress=receiver.egress,
            clock=clock,
            observe=metrics.webhook_attempt,
            lag=metrics.webhook_lag,
        )
        try:
            await store.tenant("acme").start_session("clinic", session_id="s1")
            clock.now += 2
            assert await deliverer.run_once() == 1  # HTTP 500, two seconds after the event
            lag = registry.get_sample_value("flowctl_webhook_lag_seconds", {"tenant": "acme"})
            assert lag == 2.0
            clock.now += 10
            assert await deliverer.run_once() == 1  # delivered, twelve seconds after
            assert await deliverer.run_once() == 0  # nothing waits: no lag
        finally:
            await deliverer.aclose()
            await store.close()

    def attempts(outcome: str) -> float | None:
        labels = {"tenant": "acme", "event": "call.started", "outcome": outcome}
        return registry.get_sample_value("flowctl_webhook_deliveries_total", labels)

    assert (attempts("failed"), attempts("delivered")) == (1.0, 1.0)
    assert registry.get_sample_value("flowctl_webhook_lag_seconds", {"tenant": "acme"}) == 0.0
    seconds = registry.get_sample_value("flowctl_webhook_delivery_seconds_sum", {"tenant": "acme"})
    assert seconds == 12.0
