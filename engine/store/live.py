"""The store at run time: what a worker serving from the store needs.

- :class:`StoreFlows` keeps a routing snapshot (``engine.store.catalog``) fresh by
  polling the store's change counter (a publish reaches new sessions within one poll
  interval, without a restart) and hands out compiled flows by (tenant, flow, version)
  from a cache. A session compiles the version it was routed to, so it stays pinned to
  it whatever is published later.
- :class:`SessionRecorder` writes a session and its events as they happen: the
  engine's history and the transcript, in order, in batches off the audio path. Every
  completed turn is flushed, so a worker that dies loses at most the turn in progress.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from engine.cache import FlowCache
from engine.compile import CompiledFlow
from engine.runtime import Conversation
from engine.store.catalog import StoreCatalog, load_store_catalog
from engine.store.events import Turn

__all__ = ["SessionRecorder", "StoreFlows", "StoreLibrary"]

logger = logging.getLogger(__name__)

# How often a worker asks the store whether anything was published: the issue's
# "within 2 s" with room to spare; the question is one indexed read.
POLL_SECONDS = 1.0


class StoreFlows:
    """Routing snapshot and compiled flows of a store, kept fresh."""

    def __init__(self, store: Any, *, poll: float = POLL_SECONDS, cache_size: int = 256) -> None:
        self.store = store
        self.poll = poll
        self.cache = FlowCache(cache_size)
        self.catalog: StoreCatalog = StoreCatalog({}, {}, -1)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Take a snapshot (or, given one already, just check it is current) and watch."""
        if self.catalog.change < 0:
            self.catalog = await load_store_catalog(self.store)
        else:
            await self.refresh()
        self._task = asyncio.create_task(self._watch(), name="flowctl.store.watch")

    async def refresh(self) -> bool:
        """Take a new snapshot if the store changed; whether it did."""
        change = await self.store.changes()
        if change == self.catalog.change:
            return False
        self.catalog = await load_store_catalog(self.store)
        logger.info("store change %d: routing snapshot refreshed", self.catalog.change)
        return True

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self.poll)
            try:
                await self.refresh()
            except Exception:  # a busy or briefly locked store: keep the last snapshot
                logger.exception("store refresh failed; serving the last snapshot")

    async def compiled(self, tenant_id: str, flow_id: str, version: str | int) -> CompiledFlow:
        return await self.cache.compiled(self.store.tenant(tenant_id), flow_id, int(version))

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None


class SessionRecorder:
    """Records one session of ``conversation`` in the tenant's store."""

    def __init__(
        self, tenant_store: Any, session_id: str, conversation: Conversation, *, interval: float
    ) -> None:
        self.tenant_store = tenant_store
        self.session_id = session_id
        self.conversation = conversation
        self.interval = interval
        self._mark = 0  # how much of the conversation's history is taken
        self._pending: list[Any] = []
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self.written = 0

    @classmethod
    async def start(
        cls,
        tenant_store: Any,
        conversation: Conversation,
        *,
        flow_id: str,
        version: int,
        session_id: str | None = None,
        routing: Any = None,
        interval: float = 0.5,
    ) -> SessionRecorder:
        """Record a new session (the tenant's session limit applies here)."""
        info = await tenant_store.start_session(
            flow_id, version, session_id=session_id, routing=routing
        )
        recorder = cls(tenant_store, info.session_id, conversation, interval=interval)
        recorder._task = asyncio.create_task(recorder._run(), name="flowctl.store.record")
        return recorder

    def _take(self) -> None:
        history = self.conversation.history
        if len(history) > self._mark:
            self._pending.extend(history[self._mark :])
            self._mark = len(history)

    def said(self, role: str, text: str) -> None:
        """A transcript line (``user`` or ``agent``), after what the engine logged."""
        self._take()
        self._pending.append(Turn(at=self.conversation.clock(), role=role, text=text))  # type: ignore[arg-type]

    async def flush(self) -> None:
        """Write what is pending now (called at the end of every turn)."""
        async with self._lock:
            self._take()
            if not self._pending:
                return
            batch, self._pending = self._pending, []
            try:
                await self.tenant_store.append_events(self.session_id, batch)
            except BaseException:
                self._pending[:0] = batch  # nothing lost: the next flush tries again
                raise
            self.written += len(batch)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.flush()
            except Exception:
                logger.exception("session %s: events not written; retrying", self.session_id)

    async def close(self, reason: str) -> None:
        """Write the rest and mark the session ended."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.flush()
        await self.tenant_store.end_session(self.session_id, reason=reason)


class StoreLibrary:
    """The worker's flows from a store (``flowctl worker --store URL``): routing from
    the tenants' routing documents, published versions compiled once and cached, new
    publishes picked up by polling, and every session recorded.

    :meth:`preload` (any event loop, e.g. a job process's prewarm) takes the snapshot
    and compiles what is published; :meth:`start` (in the loop that runs jobs) opens the
    store for good and starts watching it."""

    def __init__(self, url: str, *, poll: float = POLL_SECONDS) -> None:
        self.url = url
        self.poll = poll
        self.cache = FlowCache()
        self.catalog: StoreCatalog = StoreCatalog({}, {}, -1)
        self.store: Any = None
        self._flows: StoreFlows | None = None
        self._served: dict[tuple[str, str, str], Any] = {}

    async def preload(self) -> StoreLibrary:
        from engine.store import open_store

        async with await open_store(self.url) as store:
            self.catalog = await load_store_catalog(store)
            for (tid, fid), entry in self.catalog.flows.items():
                await self._compile(store, tid, fid, entry.version or "")
        return self

    async def start(self) -> None:
        if self._flows is not None:
            return
        from engine.store import open_store

        self.store = await open_store(self.url)
        flows = StoreFlows(self.store, poll=self.poll)
        flows.cache = self.cache  # what preload compiled stays compiled
        flows.catalog = self.catalog  # and what it read is reread only if it changed
        await flows.start()
        self._flows = flows

    def _snapshot(self) -> StoreCatalog:
        return self._flows.catalog if self._flows is not None else self.catalog

    def tenant(self, tenant_id: str, /) -> Any:
        return self._snapshot().tenant(tenant_id)

    def flow(self, flow_id: str, tenant_id: str | None = None, /) -> Any:
        return self._snapshot().flow(flow_id, tenant_id)

    def served(self) -> list[Any]:
        return list(self._served.values())

    async def _compile(self, store: Any, tid: str, fid: str, version: str) -> Any:
        from engine.library import ServedFlow

        key = (tid, fid, version)
        served = self._served.get(key)
        if served is None:
            compiled = await self.cache.compiled(store.tenant(tid), fid, int(version))
            served = ServedFlow(
                tenant_id=tid,
                flow_id=fid,
                version=version,
                location=f"{tid}/{fid}@v{version}",
                compiled=compiled,
            )
            self._served[key] = served
        return served

    async def compiled(self, tenant_id: str, flow_id: str, version: str | None) -> Any:
        from engine.library import NotServed
        from engine.store.errors import NotFound

        await self.start()
        if version is None or not version.isdigit():
            raise NotServed(f"Flow `{flow_id}` of tenant `{tenant_id}` has no stored version")
        try:
            return await self._compile(self.store, tenant_id, flow_id, version)
        except NotFound as exc:
            raise NotServed(str(exc)) from None

    async def record(self, served: Any, conversation: Conversation, routing: Any) -> Any:
        """Start recording the session; the tenant's session limit (across every
        worker sharing the store) refuses it with ``NotServed``."""
        from engine.library import NotServed
        from engine.store.errors import SessionLimitReached

        await self.start()
        try:
            return await SessionRecorder.start(
                self.store.tenant(served.tenant_id),
                conversation,
                flow_id=served.flow_id,
                version=int(served.version),
                session_id=conversation.session_id,
                routing=routing,
            )
        except SessionLimitReached as exc:
            raise NotServed(str(exc)) from None

    async def aclose(self) -> None:
        if self._flows is not None:
            await self._flows.close()
            self._flows = None
        if self.store is not None:
            await self.store.close()
            self.store = None
