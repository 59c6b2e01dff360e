"""The leases of the sessions a worker process runs, kept in the store.

Each session the process records is started with its :class:`LeaseKeeper`'s lease:
the process (``host:pid:random``) as holder, held for ``seconds``. Every third of that
the keeper renews every lease the process holds, in one statement whatever their
number (``Store.renew``), so two heartbeats in a row may fail before a lease lapses;
and it closes the sessions of every tenant whose lease lapsed, as ``abandoned``
(``Store.reap``): the sessions of a worker that was killed, or lost its host. A dead
worker's slots are free when its leases lapse, at most ``seconds`` after its last
heartbeat (the store's limit no longer counts them); the reaper closes their records
within one more interval. Every worker reaps, so one survivor is enough.

Knows the store, not LiveKit: ``StoreLibrary`` (``store_flows.py``) runs one keeper per
process, and its ``SessionRecorder`` holds and releases the leases.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
from typing import Any

from flowctl.engine.defaults import LEASE_SECONDS
from flowctl.engine.store.records import AbandonedSession, Lease

__all__ = ["LeaseKeeper", "holder_id", "stop"]

logger = logging.getLogger(__name__)


def holder_id() -> str:
    """This process among every worker sharing a store: ``host:pid:random`` (the
    random part tells apart two processes that got the same pid, on one host after a
    restart or in two containers)."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


class LeaseKeeper:
    """Renews this process's leases and reaps lapsed ones, every ``interval``
    (a third of the lease) while started. ``held`` counts the sessions holding the
    lease now: a process that holds none writes nothing, only reads whether anything
    lapsed."""

    def __init__(
        self, store: Any, *, seconds: float = LEASE_SECONDS, holder: str | None = None
    ) -> None:
        self.store = store
        self.lease = Lease(holder=holder or holder_id(), seconds=seconds)
        self.interval = seconds / 3
        self.actor = f"worker {self.lease.holder}"  # who closed them, in the audit log
        self.held = 0
        self._task: asyncio.Task[None] | None = None

    def hold(self) -> None:
        """One more session started with :attr:`lease`."""
        self.held += 1

    def release(self) -> None:
        """One session holding the lease ended."""
        self.held -= 1

    async def beat(self) -> list[AbandonedSession]:
        """One heartbeat: renew this process's leases (if it holds any), then close
        every session whose lease lapsed; what was closed."""
        if self.held:
            await self.store.renew(self.lease)
        reaped: list[AbandonedSession] = await self.store.reap(actor=self.actor)
        for s in reaped:
            logger.warning(
                "session %s of tenant %s closed as abandoned: its worker %s stopped "
                "renewing its lease",
                s.session_id,
                s.tenant_id,
                s.holder,
                extra={"tenant_id": s.tenant_id, "session_id": s.session_id},
            )
        return reaped

    def start(self) -> None:
        """Beat now, then every :attr:`interval` until :meth:`close`."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="flowctl.store.leases")

    async def _run(self) -> None:
        while True:
            try:
                await self.beat()
            except Exception:  # a locked or unreachable store: the next beat tries again
                logger.exception("lease heartbeat failed; next try in %.3g s", self.interval)
            await asyncio.sleep(self.interval)

    async def close(self) -> None:
        await stop(self._task)
        self._task = None


async def stop(task: asyncio.Task[Any] | None) -> None:
    """Cancel a background loop (a heartbeat, a watch, a periodic write), if any, and
    wait until it has stopped."""
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
