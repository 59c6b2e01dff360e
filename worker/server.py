"""The LiveKit worker: an ``AgentServer`` whose one session entrypoint serves flows.

In the worker's own process, :meth:`FlowServer.on_request` answers each job offer:
a job whose metadata (or room metadata) the router rejects is rejected for every
worker; a tenant at its ``limits.max_concurrent_sessions`` in this process is
declined here (another worker may take it); anything else is accepted. A job with no
metadata at all is accepted and routed in the job, by its first participant's
attributes.

Each job runs in a process LiveKit starts ahead of time; :func:`prewarm` loads the
flows there (read, linted and compiled once) and the Silero VAD models, and rehearses a
session of each provider mix (``worker/warm.py``: the plugins imported, the first
agent built), so a job only routes, looks its flow up and starts. :func:`entrypoint`
routes the job again (the job's metadata, else the room's, else the first
participant's attributes) and either refuses it, with the reason in the log, or starts
the call (``worker/call.py``). A store's flows are tenants' flows: a job for one runs
only in that tenant's rooms, and a call refused after routing is recorded in the store.

:func:`preflight` runs before the worker connects: it loads the library, checks every
served flow's providers and keys, and warns when a flow wants tracing but the exporter
is not installed. A folder's flow with an error-level finding, or a provider it cannot
run, stops the worker, named with the problem. A store's flow with a problem stops
nothing: it is listed by the library's ``unservable()``, its calls are refused, and
every other tenant is served. :func:`run` starts the worker the way ``python -m
livekit.agents start`` does.

LiveKit offers the worker jobs while its load is under ``WorkerConfig.load_threshold``
(production mode): the load is its calls over ``calls_per_core`` times its cores, or
the host's CPU use if higher (``worker/capacity.py``, docs/deployment.md "Sizing").

With a metrics directory (``WorkerConfig.metrics_dir``, ``flowctl worker
--metrics-port``), each job process records its calls (``flowctl.metrics``) into files
there, the worker's process counts the offers it rejects and declines, and LiveKit
records its own; ``flowctl.cli.worker`` serves them summed.
"""

from __future__ import annotations

import functools
import logging
import math
import os
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from flowctl.engine.boundary import ToolCatalog
from flowctl.engine.defaults import CALLS_PER_CORE, LEASE_SECONDS, LOAD_THRESHOLD
from flowctl.engine.errors import FlowError
from flowctl.engine.hints import on_store
from flowctl.engine.library import FileLibrary, FlowLibrary, NotServed
from flowctl.engine.limits import SessionSlots
from flowctl.engine.routing import Rejected, Routed, read_request, route
from flowctl.engine.spec import VADConfig
from flowctl.worker.call import Call, Tracer
from flowctl.worker.room import CallRoom, LiveKitRoom
from flowctl.worker.session import (
    Plugins,
    SessionFactory,
    check_providers,
    load_vads,
    provider_problems,
)
from flowctl.worker.tracing import SessionTracing, exporter_problem
from flowctl.worker.warm import warm

if TYPE_CHECKING:
    from livekit.agents import AgentServer, JobContext, JobProcess, JobRequest

    from flowctl.metrics import Metrics
    from flowctl.worker.capacity import HostLoad

__all__ = [
    "LIVEKIT_ENV",
    "SERVICES",
    "FlowServer",
    "Services",
    "WorkerConfig",
    "WorkerSetupError",
    "entrypoint",
    "missing_livekit_env",
    "preflight",
    "prewarm",
    "route_job",
    "run",
    "serve",
]

logger = logging.getLogger(__name__)

# Where a job process keeps its Services (``JobProcess.userdata``).
SERVICES = "flowctl.services"
LIVEKIT_ENV = ("LIVEKIT_URL", "LIVEKIT_API_KEY", "LIVEKIT_API_SECRET")


class WorkerSetupError(FlowError):
    """The worker cannot start: providers it cannot run, keys or LiveKit settings
    missing. ``problems`` lists each."""

    exit_code = 2

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class WorkerConfig(msgspec.Struct, frozen=True, kw_only=True):
    """What a job process needs to set itself up (it is pickled to it)."""

    flows_dir: str
    agent_name: str = ""
    store_url: str = ""  # serve a store's published versions instead of flows_dir
    tools_path: str = ""  # the operator's tool catalog (a file each process loads)
    # Folders of the templates flows_dir's flows extend (empty: flows_dir/templates).
    templates_dirs: tuple[str, ...] = ()
    lease_seconds: float = LEASE_SECONDS  # how long a session is held without a heartbeat
    # Prometheus' multiprocess directory, where every process records its metrics
    # (flowctl.metrics); empty: no metrics.
    metrics_dir: str = ""
    # When LiveKit offers the worker no more jobs (worker/capacity.py): at
    # load_threshold of calls_per_core x cores calls, or of its CPU. Production mode
    # only: in development mode LiveKit offers every job, as it does by default.
    calls_per_core: float = CALLS_PER_CORE
    load_threshold: float = LOAD_THRESHOLD
    # The port of LiveKit's health server (`/` and `/worker`); None: LiveKit's default
    # (8081 in production mode, any free port in development mode).
    health_port: int | None = None


@dataclass(frozen=True)
class Services:
    """What one process's jobs share: the flows, the session factory (plugins and VAD
    models), how a job reaches its room, how a traced session exports its spans, and
    the process's metrics (None: not recorded)."""

    library: FlowLibrary
    factory: SessionFactory
    room: Callable[[JobContext], CallRoom] = LiveKitRoom
    tracer: Tracer = SessionTracing.start
    metrics: Metrics | None = None

    @classmethod
    def load(
        cls,
        library: FlowLibrary,
        plugins: Plugins | None = None,
        room: Callable[[JobContext], CallRoom] = LiveKitRoom,
        metrics: Metrics | None = None,
    ) -> Services:
        """Services for ``library``'s flows, with a Silero model loaded for each VAD
        setting they use."""
        vads = load_vads(s.compiled.flow.vad or VADConfig() for s in library.served())
        factory = SessionFactory(plugins or Plugins(), vads)
        return cls(library, factory, room, metrics=metrics)


# --- before connecting ---------------------------------------------------------------------


def preflight(config: WorkerConfig, env: Mapping[str, str] | None = None) -> FlowLibrary:
    """The library the worker will serve, every flow linted and compiled; raises
    ``CatalogError`` (a tool catalog that cannot be used), ``StoreError`` (a store that
    cannot be opened), and for a folder ``FlowInvalidError`` (a flow has errors),
    ``TenantError`` (tenant files that cannot be used) or :class:`WorkerSetupError`
    (providers or keys). A store's flows that cannot be served do not raise: the
    library's ``unservable()`` lists them, for the caller to report."""
    env = os.environ if env is None else env
    library = _library(config, env, report=False)
    problems = check_providers(library.served(), env)
    if problems:
        raise WorkerSetupError(problems)
    wanted = [s.location for s in library.served() if _wants_tracing(s)]
    if wanted:
        problem = exporter_problem()
        if problem is not None:
            logger.warning("%s enable tracing, but %s", ", ".join(wanted), problem)
    return library


def _wants_tracing(served: Any) -> bool:
    tracing = served.compiled.flow.tracing
    return tracing is not None and tracing.enabled and tracing.sample_rate > 0


def missing_livekit_env(env: Mapping[str, str]) -> list[str]:
    """LiveKit's variables the worker needs to connect and are not set."""
    return [name for name in LIVEKIT_ENV if not env.get(name)]


# --- in a job process ----------------------------------------------------------------------


def _library(
    config: WorkerConfig,
    env: Mapping[str, str],
    *,
    report: bool = True,
    metrics: Metrics | None = None,
) -> FlowLibrary:
    """The flows to serve: a folder's, linted and compiled as the operator's; or a
    store's published versions, each compiled as its tenant's flow and checked against
    the providers and keys of ``env`` (``report``: log each one that cannot be served;
    ``metrics``: time the store's operations)."""
    tools = ToolCatalog.load(Path(config.tools_path)) if config.tools_path else None
    if not config.store_url:
        templates = [Path(d) for d in config.templates_dirs]
        return FileLibrary.load(Path(config.flows_dir), tools=tools, templates=templates)
    import asyncio

    from flowctl.worker.store_flows import StoreLibrary

    library = StoreLibrary(
        config.store_url,
        lease=config.lease_seconds,
        tools=tools,
        check=functools.partial(provider_problems, env=env),
        report=report,
        metrics=metrics,
    )
    return asyncio.run(library.preload())


def prewarm(config: WorkerConfig, proc: JobProcess) -> None:
    """Set a job process up before any job arrives: the flows, the VAD models, and
    everything the first job would otherwise import and build (``worker/warm.py``)."""
    metrics = None
    if config.metrics_dir:  # this process records into the worker's metrics directory
        from flowctl.metrics import Metrics

        metrics = Metrics.shared()
    library = _library(config, os.environ, metrics=metrics)
    services = Services.load(library, metrics=metrics)
    warm(services.factory, services.library.served())
    proc.userdata[SERVICES] = services


async def route_job(ctx: JobContext, library: FlowLibrary, room: CallRoom) -> Routed | Rejected:
    """The routing decision for a job: its metadata, else its room's, else (waiting
    for them) the first participant's attributes."""
    job_metadata = ctx.job.metadata or None
    room_metadata = ctx.job.room.metadata or None
    attributes = None
    if not (job_metadata or "").strip() and not (room_metadata or "").strip():
        attributes = await room.attributes()
    return route(library, job_metadata, room_metadata, attributes)


async def serve(ctx: JobContext, services: Services) -> Call | None:
    """Route the job and start its call; None when the job is refused."""
    job_started = time.monotonic()  # what the time to the first word counts from
    start = getattr(services.library, "start", None)
    if start is not None:  # a store: opened in the loop that runs the job, and watched
        await start()
    room = services.room(ctx)
    decision = await route_job(ctx, services.library, room)
    routed = decision if isinstance(decision, Routed) else None
    if routed is not None:
        try:
            call = await Call.open(
                routed,
                library=services.library,
                factory=services.factory,
                room=room,
                session_id=ctx.job.id,
                tracer=services.tracer,
                room_name=ctx.job.room.name,
                metrics=services.metrics,
                job_started=job_started,
            )
        except NotServed as exc:
            tenant_id = routed.tenant_id
            decision = Rejected(reason=str(exc), origin=routed.origin, tenant_id=tenant_id)
    if isinstance(decision, Rejected):
        store_url = getattr(services.library, "url", None)  # a store's: its hints name it
        logger.warning(
            "job %s refused: %s",
            ctx.job.id,
            on_store(decision.reason, store_url),
            extra={"job_id": ctx.job.id, "tenant_id": decision.tenant_id or ""},
        )
        if services.metrics is not None:
            services.metrics.job_refused("routing" if routed is None else "not_served")
        refused = getattr(services.library, "refused", None)
        # A store records a refusal of one of its flows (routing's choice, or the
        # disabled flow the job named) as a session of it.
        about: Routed | Rejected | None = routed or (decision if decision.flow_id else None)
        if about is not None and refused is not None:
            try:
                await refused(about, decision.reason, ctx.job.id)
            except Exception:
                logger.exception("job %s: recording the refusal failed", ctx.job.id)
        room.shutdown(f"flowctl: refused: {decision.reason}")
        return None
    ctx.log_context_fields = {**ctx.log_context_fields, **call.log_fields}
    await call.start()
    return call


async def entrypoint(ctx: JobContext) -> None:
    """The worker's rtc session entrypoint."""
    await serve(ctx, ctx.proc.userdata[SERVICES])


# --- in the worker's process ---------------------------------------------------------------


class FlowServer:
    """The worker: job offers answered here, jobs run in prewarmed processes."""

    def __init__(
        self,
        config: WorkerConfig,
        library: FlowLibrary,
        *,
        running: Callable[[], Iterable[str]] | None = None,
        metrics: Metrics | None = None,
        cpu: Callable[[], float] | None = None,
        cores: float | None = None,
    ) -> None:
        self.config = config
        self.library = library
        self.slots = SessionSlots()
        self.server: AgentServer | None = None
        self.metrics = metrics  # the worker process's own: jobs rejected and declined
        self._running = running  # ids of the jobs running now; default: the server's
        self._cpu = cpu  # the host's CPU use (0 to 1); default: LiveKit's measure
        self._cores = cores  # default: the cores the worker may use (cgroups included)

    def running(self) -> Iterable[str]:
        if self._running is not None:
            return self._running()
        if self.server is None:
            return ()
        return [job.job.id for job in self.server.active_jobs]

    async def on_request(self, req: JobRequest) -> None:
        """Accept, decline or reject one job offer."""
        if self.config.store_url:
            # The job process routes it from a fresh snapshot, and the store counts
            # sessions across every worker when the session starts.
            await req.accept()
            return
        job_metadata = req.job.metadata or None
        room_metadata = req.room.metadata or None
        read = read_request(job_metadata, room_metadata, None)
        if isinstance(read, Rejected) and read.origin is None:
            # Nothing to route by yet: the job routes by its participant's attributes.
            await req.accept()
            return
        decision = route(self.library, job_metadata, room_metadata, None)
        if isinstance(decision, Rejected):
            logger.warning("job %s rejected: %s", req.id, decision.reason)
            if self.metrics is not None:
                self.metrics.job_refused("routing")
            await req.reject(terminate=True)  # no worker may serve it
            return
        tenant = self.library.tenant(decision.tenant_id)
        assert tenant is not None  # routing found it a moment ago
        self.slots.sync(self.running())
        refused = self.slots.admit(tenant, req.id)
        if refused is not None:
            logger.warning("job %s declined: %s", req.id, refused.reason)
            if self.metrics is not None:
                self.metrics.job_refused("declined")
            await req.reject(terminate=False)  # another worker may have room
            return
        try:
            await req.accept()
        except BaseException:
            self.slots.release(req.id)
            raise
        self.slots.started(req.id)

    def load(self) -> HostLoad:
        """The worker's load function (worker/capacity.py)."""
        from flowctl.worker.capacity import CPUUse, HostLoad

        cpu = self._cpu
        cores = self._cores
        if cpu is None or cores is None:
            use = CPUUse()
            cpu, cores = cpu or use, cores or use.cores
        return HostLoad(self.config.calls_per_core, running=self.running, cpu=cpu, cores=cores)

    def build(self) -> AgentServer:
        from livekit.agents import AgentServer
        from livekit.agents.worker import ServerEnvOption

        options: dict[str, Any] = {}
        if self.config.health_port is not None:
            options["port"] = self.config.health_port
        server = AgentServer(
            setup_fnc=functools.partial(prewarm, self.config),
            # LiveKit empties the directory when the worker starts, and records its own
            # metrics there (lk_agents_*), which flowctl's endpoint serves beside ours.
            prometheus_multiproc_dir=self.config.metrics_dir or None,
            load_fnc=self.load(),
            # Development mode takes every job, as LiveKit's default does.
            load_threshold=ServerEnvOption(
                dev_default=math.inf, prod_default=self.config.load_threshold
            ),
            **options,
        )
        server.rtc_session(
            entrypoint, agent_name=self.config.agent_name, on_request=self.on_request
        )
        self.server = server
        return server


def run(server: AgentServer, *, dev: bool, log_level: str = "INFO") -> None:
    """Run ``server`` until interrupted, connecting with LiveKit's environment
    (``LIVEKIT_URL``, ``LIVEKIT_API_KEY``, ``LIVEKIT_API_SECRET``). ``dev``: LiveKit's
    development mode (one process per job started on demand, readable logs)."""
    # LiveKit's own entry points (`python -m livekit.agents start`, the deprecated
    # run_app) parse sys.argv themselves; this is the function both end up calling.
    from livekit.agents.cli import proto
    from livekit.agents.cli.cli import _run_worker

    _run_worker(server, proto.CliArgs(log_level=log_level, dev=dev))
