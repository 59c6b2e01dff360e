"""The admin HTTP API as an ASGI app (Litestar), served by ``flowctl serve``.

Litestar decodes and validates request bodies into the same msgspec structs the engine
is made of, encodes responses from them, and writes the OpenAPI document from their
types: the store's records, the flow format's ``OutputField``, the router's
``Routed``/``Rejected`` are served as they are, with no second set of models to keep
in step (docs/api.md says more).

Every request goes through :func:`_before_request` before its handler: the key is
checked (401), then the role (403), then the body (413, 400), in that order, so a
caller without a key learns nothing from the shape of its body. Errors of any kind
leave as one JSON shape (``flowctl.api.errors``).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from litestar import Litestar, Request, Response, Router, get
from litestar.datastructures import State
from litestar.di import Provide
from litestar.openapi.config import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin, SwaggerRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme

from flowctl.api.admin import KeysController, MiscController, TenantsController
from flowctl.api.auth import Caller, authenticate
from flowctl.api.body import MAX_BODY_BYTES, check_body
from flowctl.api.callbacks import CallbacksController
from flowctl.api.callers import CallersController
from flowctl.api.errors import ApiError, handle_exception, responses
from flowctl.api.flow_edits import FlowEditsController
from flowctl.api.flows import FlowsController
from flowctl.api.knowledge import KnowledgeController
from flowctl.api.models import Health
from flowctl.api.policy import PolicyController, SecretsController
from flowctl.api.routing import RoutingController, TokensController
from flowctl.api.sessions import SessionsController
from flowctl.api.tokens import LiveKitCredentials
from flowctl.api.versions import VersionCache
from flowctl.api.webhooks import WebhooksController
from flowctl.engine import __version__
from flowctl.engine.boundary import ToolCatalog
from flowctl.engine.egress import EgressPolicy

if TYPE_CHECKING:
    from flowctl.metrics import Metrics
    from flowctl.worker.webhooks import Deliverer

__all__ = ["Settings", "create_app", "livekit_from_env"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Settings:
    """What the app is served with (``flowctl serve``'s options)."""

    store_url: str
    platform_tenant: str = "platform"
    agent_name: str = "flowctl"
    livekit: LiveKitCredentials | None = None
    # The operator's tool catalog (`--tools`): what tenants' flows may name.
    catalog: ToolCatalog | None = None
    # Where the store's operations are timed (`--metrics-port`); None: nowhere. The
    # metrics are served on a port of their own, never by this app (docs/security.md).
    metrics: Metrics | None = None
    # Deliver the tenants' webhooks from this process (`--no-webhooks`: another one does,
    # e.g. `flowctl webhooks deliver`).
    deliver_webhooks: bool = True
    # Tests only: where webhooks may connect instead of each tenant's policy's hosts.
    webhook_egress: EgressPolicy | None = None


def livekit_from_env(environ: Any = os.environ) -> LiveKitCredentials | None:
    """LiveKit credentials from ``LIVEKIT_API_KEY``, ``LIVEKIT_API_SECRET`` (and
    ``LIVEKIT_URL``, handed to clients), or None when either of the first two is unset."""
    key, secret = environ.get("LIVEKIT_API_KEY"), environ.get("LIVEKIT_API_SECRET")
    if not key or not secret:
        return None
    return LiveKitCredentials(key, secret, environ.get("LIVEKIT_URL") or None)


async def _before_request(request: Request[Any, Any, Any]) -> None:
    """Authenticate and authorize (``opt["need"]``), then check the body against the
    handler's ``data`` type. Handlers without ``need`` (health, docs) are public."""
    need = request.route_handler.opt.get("need")
    if need is None:
        return
    state = request.app.state
    caller = await authenticate(request, state.store, state.settings.platform_tenant, need)
    request.state.caller = caller
    data = request.route_handler.parsed_fn_signature.parameters.get("data")
    if data is not None:
        check_body(await request.body(), data.annotation)


async def _provide_caller(request: Request[Any, Any, Any]) -> Caller:
    caller: Caller = request.state.caller  # put there by _before_request
    return caller


@get("/health", tags=["health"], opt={"public": True})
async def health() -> Health:
    """Liveness: the process answers."""
    return Health(status="ok", version=__version__)


@get("/ready", tags=["health"], responses=responses(503), opt={"public": True})
async def ready(request: Request[Any, Any, Any]) -> Health:
    """Readiness: the store answers a read (503 when it does not)."""
    from flowctl.engine.store import StoreError

    try:
        await request.app.state.store.changes()
    except StoreError as exc:
        raise ApiError(503, "store_unavailable", str(exc)) from None
    return Health(status="ready", version=__version__)


@get("/openapi.json", tags=["docs"], opt={"public": True}, include_in_schema=False)
async def openapi_json(request: Request[Any, Any, Any]) -> Response[bytes]:
    """The OpenAPI document (3.1), generated from the handlers' types."""
    return Response(_schema_bytes(request.app), media_type="application/json")


@get("/docs", tags=["docs"], opt={"public": True}, include_in_schema=False)
async def docs(request: Request[Any, Any, Any]) -> Response[bytes]:
    """Swagger UI over the OpenAPI document. The page loads Swagger UI's script and
    styles from a CDN (jsdelivr); the document itself is inlined in the page."""
    page = SwaggerRenderPlugin(path="/docs").render(request, request.app.openapi_schema.to_schema())
    return Response(page, media_type="text/html")


def _schema_bytes(app: Litestar) -> bytes:
    cached = app.state.get("openapi_bytes")
    if cached is None:
        import msgspec

        cached = msgspec.json.encode(app.openapi_schema.to_schema())
        app.state.openapi_bytes = cached
    return cached


def _deliverer(settings: Settings, store: Any) -> Deliverer | None:
    """The webhook deliverer this process runs, recording into its metrics."""
    if not settings.deliver_webhooks:
        return None
    from flowctl.worker.webhooks import Deliverer

    metrics = settings.metrics
    return Deliverer(
        store,
        egress=settings.webhook_egress,
        observe=metrics.webhook_attempt if metrics is not None else None,
        lag=metrics.webhook_lag if metrics is not None else None,
    )


def create_app(settings: Settings) -> Litestar:
    """The app; it opens the store on startup (migrating it if needed) and closes it
    on shutdown."""

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        from flowctl.engine.store import open_store
        from flowctl.engine.store.routing import validate_routing

        store = await open_store(
            settings.store_url, validate_routing=validate_routing, catalog=settings.catalog
        )
        if settings.metrics is not None:
            from flowctl.metrics import timed

            store = timed(store, settings.metrics)
        app.state.store = store
        deliverer = _deliverer(settings, store)
        stop = asyncio.Event()
        delivering = (
            asyncio.create_task(deliverer.run(stop), name="flowctl.webhooks")
            if deliverer is not None
            else None
        )
        # Everything loaded so far (Litestar, the engine, lint's rules) lives as long as
        # the process: frozen, a full collection no longer walks it. In
        # bench/api_bench.py this cut the p99 of a flow read from 5-12 ms to 3-5 ms.
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            stop.set()
            if delivering is not None and deliverer is not None:
                await delivering
                await deliverer.aclose()
            await app.state.console.close()
            await store.close()

    v1 = Router(
        path="/api/v1",
        route_handlers=[
            FlowsController,
            FlowEditsController,
            SessionsController,
            CallbacksController,
            WebhooksController,
            CallersController,
            RoutingController,
            TokensController,
            KeysController,
            TenantsController,
            MiscController,
            PolicyController,
            SecretsController,
            KnowledgeController,
        ],
        dependencies={"caller": Provide(_provide_caller)},
        security=[{"apiKey": []}],
    )
    openapi = OpenAPIConfig(
        title="flowctl admin API",
        version=__version__,
        description=(
            "Flows, versions, sessions, callbacks, routing, tokens and knowledge bases, per "
            "tenant. See docs/api.md."
        ),
        # Served at /openapi.json and /docs by the handlers above; Litestar's own
        # router for it stays out of the way under /schema.
        path="/schema",
        render_plugins=[JsonRenderPlugin()],
        components=Components(
            security_schemes={
                "apiKey": SecurityScheme(
                    type="http",
                    scheme="bearer",
                    description="A key from `flowctl keys create`: `Authorization: Bearer fk_...`",
                )
            }
        ),
        use_handler_docstrings=True,
    )
    from flowctl.console import Console, console_routes, template_config

    return Litestar(
        route_handlers=[v1, health, ready, openapi_json, docs, *console_routes()],
        template_config=template_config(),
        lifespan=[lifespan],
        before_request=_before_request,
        exception_handlers={Exception: handle_exception},
        openapi_config=openapi,
        request_max_body_size=MAX_BODY_BYTES,
        state=State({"settings": settings, "versions": VersionCache(), "console": Console()}),
        debug=False,
        logging_config=None,
    )
