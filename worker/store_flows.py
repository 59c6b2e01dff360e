"""The store at run time: what a worker serving from the store needs.

- :class:`StoreFlows` keeps a routing snapshot (``flowctl.engine.store.catalog``) fresh by
  watching the store's change counter (a publish reaches new sessions at once on
  PostgreSQL, which notifies, within one poll interval on SQLite; no restart) and
  hands out compiled flows by (tenant, flow, version) from a cache, each compiled as
  its tenant's flow. A session compiles the version it
  was routed to, so it stays pinned to it whatever is published later.
- :class:`StoreLibrary` is the worker's ``flowctl.engine.library.FlowLibrary`` over it: tenants'
  flows under their boundaries, with their secrets and egress policy; a flow that
  cannot be served is reported and refused alone.
- :class:`SessionRecorder` writes a session and its events as they happen: the
  engine's history and the transcript, in order, in batches off the audio path. Every
  completed turn is flushed, so a worker that dies loses at most the turn in progress.
  The end is written with the call's summary (``flowctl.engine.summary``), and then,
  for a flow with an ``evaluation``, how the call did (``call.evaluated``).
  A worker's sessions hold its lease (``leases.py``): if it dies, they are closed as
  ``abandoned`` and their slots freed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import KW_ONLY, dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import msgspec

from flowctl.engine.boundary import Boundary, Secrets, ToolCatalog, import_function
from flowctl.engine.cache import FlowCache
from flowctl.engine.compile import CompiledFlow
from flowctl.engine.defaults import LEASE_SECONDS
from flowctl.engine.egress import EgressPolicy
from flowctl.engine.errors import FlowInvalidError
from flowctl.engine.evaluation import CallEvaluation
from flowctl.engine.findings import Finding
from flowctl.engine.hints import on_store
from flowctl.engine.library import NotServed, ServedFlow, UnservableFlow
from flowctl.engine.lint.runner import Located
from flowctl.engine.routing import Rejected, Routed
from flowctl.engine.runtime import Conversation
from flowctl.engine.spec import PythonTool
from flowctl.engine.store.catalog import StoreCatalog, load_store_catalog
from flowctl.engine.store.errors import NotFound, StoreError
from flowctl.engine.store.events import Turn
from flowctl.engine.store.records import ABANDONED
from flowctl.engine.summary import CallSummary, summarize
from flowctl.worker.leases import LeaseKeeper, stop

if TYPE_CHECKING:
    from flowctl.engine.knowledge.retrieval import Retriever
    from flowctl.metrics import Metrics

__all__ = ["SessionRecorder", "StoreFlows", "StoreLibrary"]

logger = logging.getLogger(__name__)

# How often a worker asks the store whether anything was published: the issue's
# "within 2 s" with room to spare; the question is one indexed read.
POLL_SECONDS = 1.0


class StoreFlows:
    """Routing snapshot and compiled flows of a store, kept fresh.

    ``reload`` takes a snapshot (default: routing only, ``load_store_catalog``); the
    worker's library passes one that also compiles and checks what is published."""

    def __init__(
        self,
        store: Any,
        *,
        poll: float = POLL_SECONDS,
        cache_size: int = 256,
        reload: Callable[[Any], Awaitable[StoreCatalog]] = load_store_catalog,
    ) -> None:
        self.store = store
        self.poll = poll
        self.cache = FlowCache(cache_size)
        self.catalog: StoreCatalog = StoreCatalog({}, {}, -1)
        self._reload = reload
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Take a snapshot (or, given one already, just check it is current) and watch."""
        if self.catalog.change < 0:
            self.catalog = await self._reload(self.store)
        else:
            await self.refresh()
        self._task = asyncio.create_task(self._watch(), name="flowctl.store.watch")

    async def refresh(self) -> bool:
        """Take a new snapshot if the store changed; whether it did."""
        change = await self.store.changes()
        if change == self.catalog.change:
            return False
        self.catalog = await self._reload(self.store)
        logger.info("store change %d: routing snapshot refreshed", self.catalog.change)
        return True

    async def _watch(self) -> None:
        while True:
            try:
                # PostgreSQL answers as soon as a change commits (NOTIFY); SQLite after
                # one poll interval.
                await self.store.wait_for_change(self.catalog.change, self.poll)
                await self.refresh()
            except Exception:  # a busy or briefly locked store: keep the last snapshot
                logger.exception("store refresh failed; serving the last snapshot")
                await asyncio.sleep(self.poll)

    async def compiled(self, tenant_id: str, flow_id: str, version: str | int) -> CompiledFlow:
        """The version compiled as its tenant's flow (its boundary read from the store)."""
        return await self.cache.compiled(self.store.tenant(tenant_id), flow_id, int(version))

    async def close(self) -> None:
        await stop(self._task)
        self._task = None


class SessionRecorder:
    """Records one session of ``conversation`` in the tenant's store."""

    def __init__(
        self,
        tenant_store: Any,
        session_id: str,
        conversation: Conversation,
        *,
        interval: float,
        leases: LeaseKeeper | None = None,
    ) -> None:
        self.tenant_store = tenant_store
        self.session_id = session_id
        self.conversation = conversation
        self.interval = interval
        self.leases = leases  # holding its lease; None: a session with no lease
        self._mark = 0  # how much of the conversation's history is taken
        self._pending: list[Any] = []
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self.written = 0
        self.lines = 0  # transcript lines said: the summary's `turns`

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
        leases: LeaseKeeper | None = None,
    ) -> SessionRecorder:
        """Record a new session of the conversation's caller (the tenant's session limit
        applies here), holding the lease of ``leases`` (None: no lease, as a dry run's)."""
        lease = None if leases is None else leases.lease
        info = await tenant_store.start_session(
            flow_id,
            version,
            session_id=session_id,
            routing=routing,
            lease=lease,
            caller=conversation.caller,
        )
        if leases is not None:
            leases.hold()
        recorder = cls(
            tenant_store, info.session_id, conversation, interval=interval, leases=leases
        )
        recorder._task = asyncio.create_task(recorder._run(), name="flowctl.store.record")
        return recorder

    def _take(self) -> None:
        history = self.conversation.history
        if len(history) > self._mark:
            self._pending.extend(history[self._mark :])
            self._mark = len(history)

    def said(self, role: Literal["user", "agent"], text: str) -> None:
        """A transcript line (``user`` or ``agent``), after what the engine logged."""
        self._take()
        self._pending.append(Turn(at=self.conversation.clock(), role=role, text=text))
        self.lines += 1

    async def flush(self) -> None:
        """Write what is pending now (called at the end of every turn)."""
        async with self._lock:
            self._take()
            if not self._pending:
                return
            batch, self._pending = self._pending, []
            try:
                await self.tenant_store.append_events(self.session_id, batch)
            except Exception:
                self._pending[:0] = batch  # nothing lost: the next flush tries again
                raise
            # Cancelled, the batch is not taken back: the store writes a batch it was
            # given whether or not its caller still waits, so a retry would write it twice.
            self.written += len(batch)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.flush()
            except Exception:
                logger.exception("session %s: events not written; retrying", self.session_id)

    async def close(self, reason: str, *, summary: CallSummary | None = None) -> None:
        """Write the rest and mark the session ended (its lease with it), with what it
        came to: ``summary``, or by default the conversation's summary now."""
        await stop(self._task)
        self._task = None
        leases, self.leases = self.leases, None
        unwritten: StoreError | None = None
        try:
            try:
                await self.flush()
            except StoreError as exc:  # the end is recorded all the same, then raised
                unwritten = exc
            if summary is None:
                summary = summarize(self.conversation, outcome=reason, turns=self.lines)
            info = await self.tenant_store.end_session(
                self.session_id, reason=reason, summary=msgspec.to_builtins(summary)
            )
        finally:
            if leases is not None:
                leases.release()
        if info.end_reason == ABANDONED and reason != ABANDONED:
            # Not this process's doing: the store refused the last events for it.
            logger.warning(
                "session %s had been closed as abandoned: its lease lapsed while it ran "
                "(the store was out of reach for longer than the lease); events not "
                "recorded: %d",
                self.session_id,
                len(self._pending),
            )
        elif unwritten is not None:
            raise unwritten

    async def evaluated(self, evaluation: CallEvaluation) -> None:
        """Keep the call's evaluation; ``call.evaluated`` goes with it."""
        await self.tenant_store.record_evaluation(self.session_id, msgspec.to_builtins(evaluation))


class _Grants:
    """What one tenant's flows are held to and may use, as of one snapshot."""

    __slots__ = ("boundary", "egress", "secrets")

    def __init__(self, boundary: Boundary, secrets: Secrets, egress: EgressPolicy | None) -> None:
        self.boundary = boundary
        self.secrets = secrets
        self.egress = egress


def _problem(found: Finding | Located) -> str:
    """A finding as an unservable flow's problem: its code and text. A stored version's
    compile reports plain findings; a located one (lint's, as a push reports them)
    carries its finding inside."""
    finding = found.finding if isinstance(found, Located) else found
    return f"{finding.code} {finding.text}"


@dataclass(eq=False)
class StoreLibrary:
    """The worker's flows from a store (``flowctl worker --store URL``): every tenant's
    published versions, each compiled as that tenant's flow, new publishes picked up by
    polling, and every session recorded.

    A snapshot (:meth:`preload`, then again whenever the store's change counter moves:
    a publish, a policy or routing edit, a secret set) reads the tenants' routing, each
    tenant's boundary (its policy, the operator's ``tools`` catalog) and secret values,
    and compiles every published version under its tenant's boundary. A version that
    cannot be served (lint refuses it under the policy, a catalog function does not
    import, or ``check`` finds a problem: the worker's providers and keys) is an
    :class:`~flowctl.engine.library.UnservableFlow`, logged at every snapshot, one line each;
    calls routed to it are refused with its reason, and every other flow is served.
    (``report`` False: not logged, for a caller that reports :meth:`unservable` itself,
    as ``flowctl worker`` does before it connects.) Served flows carry their tenant's
    secrets and egress policy; a rotated secret reaches the first call after the
    snapshot that read it.

    ``metrics``: time every operation on the store (``flowctl.metrics.timed``).

    ``egress`` is for tests only: where a tenant's http tools may connect instead of
    its policy's hosts (``Boundary.egress``: https, public addresses), e.g. a listener
    on loopback. The worker never passes it.

    Every session is recorded holding this process's lease of ``lease`` seconds, which
    :attr:`leases` renews while the process lives; it also closes, as ``abandoned``,
    the sessions of any worker whose leases lapsed (``worker/leases.py``).

    :meth:`preload` (any event loop, e.g. a job process's prewarm) takes the snapshot;
    :meth:`start` (in the loop that runs jobs) opens the store for good, watches it and
    keeps the leases."""

    url: str
    _: KW_ONLY
    poll: float = POLL_SECONDS
    lease: float = LEASE_SECONDS
    tools: ToolCatalog | None = None
    check: Callable[[ServedFlow], Sequence[str]] | None = None
    egress: Callable[[Boundary], EgressPolicy | None] | None = None
    report: bool = True
    metrics: Metrics | None = None
    cache: FlowCache = field(default_factory=FlowCache, init=False)
    catalog: StoreCatalog = field(default_factory=lambda: StoreCatalog({}, {}, -1), init=False)
    store: Any = field(default=None, init=False)
    leases: LeaseKeeper | None = field(default=None, init=False)
    _flows: StoreFlows | None = field(default=None, init=False)
    _tenants: dict[str, _Grants] = field(default_factory=dict, init=False)
    _served: dict[tuple[str, str, str], ServedFlow] = field(default_factory=dict, init=False)
    _unservable: dict[tuple[str, str, str], UnservableFlow] = field(
        default_factory=dict, init=False
    )

    def _egress(self, boundary: Boundary) -> EgressPolicy | None:
        return (self.egress or Boundary.egress)(boundary)

    async def preload(self) -> StoreLibrary:
        from flowctl.engine.store import open_store

        async with await open_store(self.url, catalog=self.tools) as store:
            await self._reload(store)
        return self

    async def start(self) -> None:
        if self._flows is not None:
            return
        from flowctl.engine.store import open_store

        store = await open_store(self.url, catalog=self.tools)
        if self.metrics is not None:
            from flowctl.metrics import timed

            store = timed(store, self.metrics)
        self.store = store
        flows = StoreFlows(self.store, poll=self.poll, reload=self._reload)
        flows.cache = self.cache  # what preload compiled stays compiled
        flows.catalog = self.catalog  # and what it read is reread only if it changed
        await flows.start()
        self._flows = flows
        self.leases = LeaseKeeper(self.store, seconds=self.lease)
        self.leases.start()

    async def _reload(self, store: Any) -> StoreCatalog:
        """A new snapshot: routing, every tenant's grants, every published version
        compiled and checked under them. Replaces the last one only when complete."""
        catalog = await load_store_catalog(store)
        # Room for every published version and as many pinned ones, so a snapshot reuses
        # what the last one compiled instead of evicting it.
        self.cache.maxsize = max(self.cache.maxsize, 2 * len(catalog.flows))
        tenants = {tid: await _grants(store.tenant(tid), self._egress) for tid in catalog.tenants}
        served: dict[tuple[str, str, str], ServedFlow] = {}
        unservable: dict[tuple[str, str, str], UnservableFlow] = {}
        for (tid, fid), entry in catalog.flows.items():
            key = (tid, fid, entry.version or "")
            outcome = await self._serve(store, tenants[tid], fid, key[2])
            if isinstance(outcome, UnservableFlow):
                unservable[key] = outcome
            else:
                served[key] = outcome
        self.catalog, self._tenants = catalog, tenants
        self._served, self._unservable = served, unservable
        if self.report:
            for flow in unservable.values():
                _report(flow, self.url)
        return catalog

    async def _serve(
        self, store: Any, grants: _Grants, flow_id: str, version: str
    ) -> ServedFlow | UnservableFlow:
        """``version`` of the flow as its tenant's, or why it cannot be served. Raises
        the store's errors (a missing version, a locked store): nothing to judge yet."""
        tenant_id = grants.boundary.tenant_id
        assert tenant_id is not None
        location = f"{tenant_id}/{flow_id}@v{version}"

        def refused(problems: list[str]) -> UnservableFlow:
            return UnservableFlow(
                tenant_id=tenant_id,
                flow_id=flow_id,
                version=version,
                location=location,
                problems=problems,
            )

        try:
            compiled = await self.cache.compiled(
                store.tenant(tenant_id), flow_id, int(version), boundary=grants.boundary
            )
        except FlowInvalidError as exc:
            return refused([_problem(f) for f in exc.findings] or [str(exc)])
        except StoreError:
            raise
        except Exception as exc:  # a bug in compiling one tenant's flow stops no other
            logger.exception("compiling %s failed", location)
            return refused([f"compiling it failed: {type(exc).__name__}: {exc}"])
        problems = _function_problems(compiled)
        served = ServedFlow(
            tenant_id=tenant_id,
            flow_id=flow_id,
            version=version,
            location=location,
            compiled=compiled,
            boundary=grants.boundary,
            secrets=grants.secrets,
            egress=grants.egress,
        )
        if self.check is not None:
            problems.extend(self.check(served))
        return refused(problems) if problems else served

    def tenant(self, tenant_id: str, /) -> Any:
        return self.catalog.tenant(tenant_id)

    def flow(self, flow_id: str, tenant_id: str | None = None, /) -> Any:
        return self.catalog.flow(flow_id, tenant_id)

    def served(self) -> list[ServedFlow]:
        return list(self._served.values())

    def unservable(self) -> list[UnservableFlow]:
        return list(self._unservable.values())

    async def compiled(self, tenant_id: str, flow_id: str, version: str | None) -> ServedFlow:
        """The served flow routing chose; ``NotServed`` with the reason when it cannot
        be served. A version the snapshot does not hold (a session pinned to the one
        published before) is compiled and checked now, under the tenant's grants."""
        await self.start()
        if version is None or not version.isdigit():
            raise NotServed(f"Flow `{flow_id}` of tenant `{tenant_id}` has no stored version")
        key = (tenant_id, flow_id, version)
        served = self._served.get(key)
        if served is not None:
            return served
        known = self._unservable.get(key)
        if known is not None:
            raise NotServed(known.reason)
        try:
            grants = self._tenants.get(tenant_id)
            if grants is None:  # a tenant newer than the snapshot
                grants = await _grants(self.store.tenant(tenant_id), self._egress)
            outcome = await self._serve(self.store, grants, flow_id, version)
        except NotFound as exc:
            raise NotServed(str(exc)) from None
        if isinstance(outcome, UnservableFlow):
            self._unservable[key] = outcome
            if self.report:
                _report(outcome, self.url)
            raise NotServed(outcome.reason)
        self._served[key] = outcome
        return outcome

    async def record(
        self, served: ServedFlow, conversation: Conversation, routing: Any
    ) -> SessionRecorder:
        """Start recording the session; the tenant's session limit (across every
        worker sharing the store) refuses it with ``NotServed``."""
        from flowctl.engine.store.errors import SessionLimitReached

        await self.start()
        assert served.version is not None  # a stored flow's, as every flow served here
        try:
            return await SessionRecorder.start(
                self.store.tenant(served.tenant_id),
                conversation,
                flow_id=served.flow_id,
                version=int(served.version),
                session_id=conversation.session_id,
                routing=routing,
                leases=self.leases,
            )
        except SessionLimitReached as exc:
            raise NotServed(str(exc)) from None

    def retriever(self, served: ServedFlow) -> Retriever | None:
        """The tenant's own handle: its statements name the tenant, so its knowledge
        tools search its bases and no other's."""
        assert self.store is not None  # started by compiled(), which served the flow
        retriever: Retriever = self.store.tenant(served.tenant_id)
        return retriever

    async def memory(self, tenant_id: str) -> Any:
        """The tenant's handle: the store remembers its callers."""
        await self.start()
        return self.store.tenant(tenant_id)

    async def refused(self, routed: Routed | Rejected, reason: str, session_id: str) -> None:
        """Record a call refused after routing chose one of this store's flows (a flow
        that cannot be served, a room outside the tenant's namespace), or refused for the
        disabled flow it named (``routed``: routing's rejection, naming the flow): a
        session of that flow and version, started and ended at once, its
        ``end_reason`` ``refused: `` and the reason.

        A session rather than an audit entry: the audit log records changes someone
        made to the tenant (who, what, when), while a refused call is a call. Kept with
        the tenant's other calls, under the job's id and with the routing decision
        that led to it, it is found where a tenant looks for calls (``flowctl
        sessions``, the API's sessions) and counts against nothing, having ended.
        Nothing is recorded when the store refuses the session itself (the tenant's
        session limit, a version that does not exist); the log has it."""
        if routed.version is None or not routed.version.isdigit() or routed.flow_id is None:
            return
        assert routed.tenant_id is not None  # routing named the flow: it knew the tenant
        await self.start()
        assert self.leases is not None
        tenant_store = self.store.tenant(routed.tenant_id)
        try:
            await tenant_store.start_session(  # leased: ended at once, unless the process dies
                routed.flow_id,
                int(routed.version),
                session_id=session_id,
                routing=msgspec.to_builtins(routed),
                lease=self.leases.lease,
            )
        except StoreError as exc:
            logger.info("job %s: the refusal is not recorded: %s", session_id, exc)
            return
        await tenant_store.end_session(session_id, reason=f"refused: {reason}")

    async def aclose(self) -> None:
        if self.leases is not None:
            await self.leases.close()
            self.leases = None
        if self._flows is not None:
            await self._flows.close()
            self._flows = None
        if self.store is not None:
            await self.store.close()
            self.store = None


async def _grants(tenant_store: Any, egress: Callable[[Boundary], EgressPolicy | None]) -> _Grants:
    """The tenant's boundary, with the names of the secrets whose values were read."""
    boundary = await tenant_store.boundary()
    secrets = Secrets(tenant_store.tenant_id, await tenant_store.secret_values())
    boundary = msgspec.structs.replace(boundary, secrets=frozenset(secrets))
    return _Grants(boundary, secrets, egress(boundary))


def _function_problems(compiled: CompiledFlow) -> list[str]:
    """The python tools (a tenant's come from the operator's catalog) whose function
    does not import now."""
    problems = []
    for tool in compiled.tools.values():
        if isinstance(tool, PythonTool):
            try:
                import_function(tool.function)
            except Exception as exc:  # whatever importing the operator's module raised
                problems.append(f"Tool `{tool.name}` cannot import `{tool.function}`: {exc}")
    return problems


def _report(flow: UnservableFlow, url: str) -> None:
    """Log why ``flow`` is not served, its hints naming the worker's store."""
    logger.warning(
        "%s",
        on_store(flow.reason, url),
        extra={"tenant_id": flow.tenant_id, "flow_id": flow.flow_id, "flow_version": flow.version},
    )
