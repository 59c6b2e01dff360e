"""The webhook deliverer: posts what the outbox holds to tenants' URLs.

:class:`Deliverer` claims due deliveries from the store (``Store.claim_deliveries``:
across tenants, each claimed for a lease), posts each one signed
(``flowctl.engine.webhooks``), and reports every attempt back
(``Store.finish_deliveries``): delivered on a 2xx answer; otherwise retried after
:func:`~flowctl.engine.webhooks.backoff`, and left ``dead`` after the last attempt for a
replay by id. Redirects are never followed (a 3xx is a failure), answers are not read,
and every request goes out under the tenant's egress policy, the one its http tools
obey: its allowlisted hosts, https, public addresses checked after DNS.

A deliverer killed mid-POST leaves its claimed rows to the next one when their lease
lapses: the receiver may then get an event twice, under the same ``Flowctl-Event-Id``,
and keeps the first. ``flowctl serve`` runs one; ``flowctl webhooks deliver`` runs one
on its own. Several may run against one store: claims never overlap.

No LiveKit here: ``flowctl serve`` imports it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import socket
import time
import uuid
from collections.abc import Callable
from typing import Any

import msgspec

from flowctl.engine.egress import EgressPolicy, EgressRefused, check_url, client_session
from flowctl.engine.store.records import Outbound
from flowctl.engine.webhooks import MAX_ATTEMPTS, backoff, sign

__all__ = ["Deliverer", "Observe", "envelope"]

logger = logging.getLogger(__name__)

# (tenant, event, outcome: delivered | failed | dead, seconds from the event to now)
Observe = Callable[[str, str, str, float], None]
# (tenant, seconds): the age of the oldest event of the tenant's this round found waiting
Lag = Callable[[str, float], None]
_json = msgspec.json.Encoder()


def envelope(item: Outbound) -> bytes:
    """The body a receiver gets: the event's id and type, when it happened, whose, and
    its data."""
    d = item.delivery
    return _json.encode(
        {
            "id": d.delivery_id,
            "type": d.event,
            "created_at": d.created_at,
            "tenant_id": item.tenant_id,
            "session_id": d.session_id,
            "data": d.payload,
        }
    )


class Deliverer:
    """Delivers a store's outbox. ``egress``: tests only, where every tenant may connect
    instead of its policy's hosts (a receiver on loopback); never set in production."""

    def __init__(
        self,
        store: Any,
        *,
        holder: str | None = None,
        batch: int = 100,
        lease: float = 30.0,
        timeout: float = 10.0,
        idle: float = 1.0,
        egress: EgressPolicy | None = None,
        observe: Observe | None = None,
        lag: Lag | None = None,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
    ) -> None:
        self.store = store
        self.holder = holder or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.batch = batch
        self.lease = lease
        self.timeout = timeout
        self.idle = idle
        self.egress = egress
        self.observe = observe
        self.lag = lag
        self._lagging: set[str] = set()  # tenants whose last lag reading was not zero
        self.clock = clock
        self.rng = rng or random.Random()
        self._sessions: dict[EgressPolicy, Any] = {}

    def _policy(self, item: Outbound) -> EgressPolicy:
        return self.egress or EgressPolicy(hosts=item.egress_hosts)

    def _session(self, policy: EgressPolicy) -> Any:
        session = self._sessions.get(policy)
        if session is None or session.closed:
            session = self._sessions[policy] = client_session(policy)
        return session

    async def run_once(self) -> int:
        """Claim what is due and attempt each, at once; how many were attempted."""
        claimed: list[Outbound] = await self.store.claim_deliveries(
            holder=self.holder, limit=self.batch, lease=self.lease
        )
        self._report_lag(claimed)
        if not claimed:
            return 0
        errors = await asyncio.gather(*(self._post(item) for item in claimed))
        now = self.clock()
        results = []
        for item, error in zip(claimed, errors, strict=True):
            d = item.delivery
            attempt = d.attempts + 1
            retry_at = None if error is None else now + backoff(attempt, self.rng)
            results.append((item.tenant_id, d.delivery_id, error, retry_at))
            if error is not None:
                outcome = "dead" if attempt >= MAX_ATTEMPTS else "failed"
                log = logger.warning if outcome == "dead" else logger.info
                log("webhook %s (%s) attempt %d: %s", d.delivery_id, d.event, attempt, error)
            else:
                outcome = "delivered"
            if self.observe is not None:
                self.observe(item.tenant_id, d.event, outcome, now - d.created_at)
        await self.store.finish_deliveries(results, holder=self.holder)
        return len(claimed)

    def _report_lag(self, claimed: list[Outbound]) -> None:
        """How far behind each tenant's deliveries are: the oldest event claimed now
        (zero for a tenant with nothing waiting any more)."""
        if self.lag is None:
            return
        now = self.clock()
        oldest: dict[str, float] = {}
        for item in claimed:
            age = now - item.delivery.created_at
            oldest[item.tenant_id] = max(oldest.get(item.tenant_id, 0.0), age)
        for tenant in self._lagging - set(oldest):
            self.lag(tenant, 0.0)
        for tenant, age in oldest.items():
            self.lag(tenant, max(age, 0.0))
        self._lagging = set(oldest)

    async def _post(self, item: Outbound) -> str | None:
        """One attempt: None when the receiver took it, else why not."""
        policy = self._policy(item)
        try:
            check_url(policy, item.url)
        except EgressRefused as exc:
            return f"refused: {exc.reason}"
        body = envelope(item)
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "flowctl-webhooks",
            "Flowctl-Event": item.delivery.event,
            "Flowctl-Event-Id": item.delivery.delivery_id,
            "Flowctl-Signature": sign(item.secret, int(self.clock()), body),
        }
        import aiohttp

        try:
            async with asyncio.timeout(self.timeout):
                session = self._session(policy)
                async with session.post(
                    item.url, data=body, headers=headers, allow_redirects=False
                ) as answer:
                    if 200 <= answer.status < 300:
                        return None
                    return f"HTTP {answer.status}"
        except TimeoutError:
            return f"no answer within {self.timeout:g} s"
        except EgressRefused as exc:
            return f"refused: {exc.reason}"
        except (aiohttp.ClientError, OSError) as exc:
            return f"{type(exc).__name__}: {exc}"[:300]

    async def run(self, stop: asyncio.Event) -> None:
        """Deliver until ``stop`` is set: at once while there is work, else every
        ``idle`` seconds. A store that fails is retried after ``idle``."""
        while not stop.is_set():
            try:
                done = await self.run_once()
            except Exception:
                logger.exception("webhook delivery failed; trying again")
                done = 0
            if not done:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.idle)

    async def aclose(self) -> None:
        sessions, self._sessions = list(self._sessions.values()), {}
        for session in sessions:
            await session.close()
