"""``/api/v1/routing`` (the tenant's routing document and a dry run of the router) and
``/api/v1/tokens`` (a LiveKit token that dispatches the agent, for a job the router
would serve)."""

from __future__ import annotations

import json
from typing import Any

from litestar import Controller, Request, delete, get, post, put

from flowctl.api.auth import Caller
from flowctl.api.errors import ApiError, responses
from flowctl.api.models import DryRun, RoutingView, TokenRequest, TokenView
from flowctl.api.tokens import mint_token
from flowctl.engine.boundary import tenant_room
from flowctl.engine.routing import Rejected, Routed, decide, read_request
from flowctl.engine.store.routing import check_routed_flows, parse_routing, tenant_catalog

__all__ = ["RoutingController", "TokensController", "route_for"]


def _text(value: dict[str, Any] | str | None) -> str | None:
    """Metadata as the worker gets it: JSON text."""
    return value if value is None or isinstance(value, str) else json.dumps(value)


def _quoted(value: str) -> str:
    """An id from the request, safe in a message: escaped and at most 80 characters."""
    short = value if len(value) <= 80 else value[:80] + "…"
    return "`" + json.dumps(short, ensure_ascii=False)[1:-1] + "`"


async def route_for(
    caller: Caller,
    job: str | None,
    room: str | None = None,
    attributes: dict[str, str] | None = None,
) -> Routed | Rejected:
    """The router's decision for the caller's tenant, from the store. A request naming
    another tenant is 404 with the words an unknown tenant gets: a key learns nothing
    of tenants but its own."""
    read = read_request(job, room, attributes)
    if isinstance(read, Rejected):
        return read
    request, origin = read
    if request.tenant_id != caller.tenant_id:
        raise ApiError(404, "not_found", f"Unknown tenant {_quoted(request.tenant_id)}")
    return decide(request, await tenant_catalog(caller.tenant), origin=origin)


def _checked(document: dict[str, Any] | None) -> dict[str, Any] | None:
    if document is not None:
        try:
            parse_routing(document)
        except ValueError as exc:
            raise ApiError(422, "invalid_routing", f"Invalid routing: {exc}") from None
    return document


class RoutingController(Controller):
    path = "/routing"
    tags = ("routing",)

    @get("/", opt={"need": "viewer"}, responses=responses(401, 403))
    async def get_routing(self, caller: Caller) -> RoutingView:
        """The tenant's routing document (docs/routing.md: purposes, rules, default)."""
        info = await caller.tenant.info()
        return RoutingView(tenant_id=caller.tenant_id, routing=info.routing)

    @put("/", opt={"need": "admin"}, responses=responses(400, 401, 403, 413, 422))
    async def set_routing(self, caller: Caller, data: dict[str, Any]) -> RoutingView:
        """Replace the tenant's routing document (422 with the reason if it cannot
        decide: an unknown field, a condition that does not parse, a flow the tenant
        does not have...)."""
        checked = _checked(data)
        known = [f.flow_id for f in await caller.tenant.flows()]
        try:
            check_routed_flows(parse_routing(checked), known, caller.tenant_id)
        except ValueError as exc:
            raise ApiError(422, "invalid_routing", f"Invalid routing: {exc}") from None
        info = await caller.tenant.set_routing(checked, actor=caller.actor)
        return RoutingView(tenant_id=caller.tenant_id, routing=info.routing)

    @delete("/", opt={"need": "admin"}, status_code=200, responses=responses(401, 403))
    async def clear_routing(self, caller: Caller) -> RoutingView:
        """Remove the tenant's routing: jobs must then name their flow."""
        info = await caller.tenant.set_routing(None, actor=caller.actor)
        return RoutingView(tenant_id=caller.tenant_id, routing=info.routing)

    @post(
        "/dry-run",
        opt={"need": "viewer"},
        status_code=200,
        responses=responses(400, 401, 403, 404, 413),
    )
    async def dry_run(self, caller: Caller, data: DryRun) -> Routed | Rejected:
        """What a job with this metadata would get: the flow, its version and the rule
        that decided (`"decision": "routed"`), or the reason it would be refused
        (`"decision": "rejected"`), as `flowctl route` and the worker decide."""
        return await route_for(
            caller, _text(data.metadata), _text(data.room_metadata), data.attributes
        )


async def _check_overrides(caller: Caller, decision: Routed) -> None:
    """Refuse, with 422 and the worker's reason, ``overrides`` the routed version does not
    allow (``flowctl.engine.overrides``)."""
    if not decision.overrides or decision.version is None:
        return
    from flowctl.engine.load import load_bytes
    from flowctl.engine.overrides import OverrideRefused, session_settings

    version = await caller.tenant.version(decision.flow_id, int(decision.version))
    name = f"{caller.tenant_id}/{decision.flow_id}@v{version.version}"
    loaded = load_bytes(version.document.encode(), name, stem=decision.flow_id)
    if loaded.flow is None:  # a published version decoded when it was pushed
        raise ApiError(422, "overrides_refused", f"Flow `{decision.flow_id}` does not decode")
    try:
        session_settings(loaded.flow, decision.overrides)
    except OverrideRefused as exc:
        raise ApiError(422, "overrides_refused", str(exc)) from None


class TokensController(Controller):
    path = "/tokens"
    tags = ("sessions",)

    @post("/", opt={"need": "developer"}, responses=responses(400, 401, 403, 404, 413, 422, 503))
    async def create_token(
        self, caller: Caller, request: Request[Any, Any, Any], data: TokenRequest
    ) -> TokenView:
        """Start a session: a LiveKit token for `identity` to join `room`, which
        dispatches the agent with `metadata` (its `tenant_id` defaults to the key's). The
        room is in the tenant's namespace (`acme:call-1`; a name without one gets the
        tenant's put in front, a name in another tenant's is 403). The job is routed
        first: a request the router would refuse is 422 with its reason, and no token;
        so are `overrides` (the body's, or the metadata's) that the routed flow's
        `overridable` does not allow (`overrides_refused`), as the worker would refuse
        the job. 503 when the server has no LiveKit credentials."""
        settings = request.app.state.settings
        credentials = settings.livekit
        if credentials is None:
            raise ApiError(
                503,
                "livekit_not_configured",
                "Minting tokens needs LIVEKIT_API_KEY and LIVEKIT_API_SECRET in the "
                "environment of `flowctl serve`; set both and restart it",
            )
        metadata = dict(data.metadata or {})
        metadata.setdefault("tenant_id", caller.tenant_id)
        if data.overrides is not None:
            metadata["overrides"] = data.overrides
        text = json.dumps(metadata, ensure_ascii=False)
        try:
            room = tenant_room(caller.tenant_id, data.room)
        except ValueError as exc:
            raise ApiError(403, "room_not_allowed", str(exc)) from None
        decision = await route_for(caller, text)
        if isinstance(decision, Rejected):
            raise ApiError(422, "routing_rejected", decision.reason)
        await _check_overrides(caller, decision)
        token, expires_at = mint_token(
            credentials,
            room=room,
            identity=data.identity,
            name=data.name,
            agent_name=settings.agent_name,
            metadata=text,
            ttl_seconds=data.ttl_seconds,
        )
        return TokenView(
            token=token,
            url=credentials.url,
            room=room,
            identity=data.identity,
            agent_name=settings.agent_name,
            expires_at=expires_at,
            routing=decision,
        )
