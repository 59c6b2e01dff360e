"""``/api/v1/flows``: a tenant's flows and their versions, publishing, rollback,
unpublishing, disabling and deleting (seed 001's edits are ``flowctl.api.flow_edits``).
Every change is a new immutable version, a move of the published pointer, the disabled
flag or a deletion, audited under the caller's key."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from litestar import Controller, Request, delete, get, post, put
from litestar.params import Parameter
from msgspec import UNSET

from flowctl.api.auth import Caller
from flowctl.api.errors import ApiError, responses
from flowctl.api.models import DiffView, FlowVersionView, Publish, Pushed, Rollback, view
from flowctl.api.versions import MAX_VERSION, VersionCache, prepared_document, pushed
from flowctl.engine.store import FlowInfo, NotFound, Publication, VersionInfo
from flowctl.engine.store.documents import unified_diff

__all__ = ["FlowsController"]

READ = {"need": "viewer"}
WRITE = {"need": "developer"}
# A move of the published pointer (publish, rollback): 200 with the history entry.
MOVE: dict[str, Any] = {
    "opt": WRITE,
    "status_code": 200,
    "responses": responses(400, 401, 403, 404, 409, 413, 422),
}
FlowId = Annotated[str, Parameter(description="The flow's id.", max_length=256)]
VersionQuery = Annotated[
    int | None,
    Parameter(description="A version number (default: the published one).", ge=1, le=MAX_VERSION),
]


def _expectation(value: Any) -> Any:
    return ... if value is UNSET else value


class FlowsController(Controller):
    path = "/flows"
    tags = ("flows",)
    opt = READ  # the handlers that change something say WRITE

    @get("/", responses=responses(401, 403))
    async def list_flows(self, caller: Caller) -> list[FlowInfo]:
        """The tenant's flows: latest version, published version and when."""
        return await caller.tenant.flows()

    @post("/", opt=WRITE, responses=responses(400, 401, 403, 409, 413, 422))
    async def create_flow(
        self, caller: Caller, request: Request[Any, Any, Any], data: dict[str, Any]
    ) -> Pushed:
        """Create a flow from its document (its id: the document's `flow_id`, or
        `agent_id` for a seed-001 config) as version 1. 409 if the flow exists (PUT a
        new version instead); 422 with the findings if it has lint errors."""
        raw = await request.body()
        prepared = await prepared_document(caller, raw)
        flow_id = prepared.flow_id
        try:
            await caller.tenant.published(flow_id)
        except NotFound:
            return await pushed(caller, raw, flow_id, prepared=prepared)
        raise ApiError(
            409,
            "conflict",
            f"Flow `{flow_id}` exists; add a version with PUT /api/v1/flows/{flow_id}",
        )

    @get("/{flow_id:str}", responses=responses(400, 401, 403, 404))
    async def get_flow(
        self,
        caller: Caller,
        request: Request[Any, Any, Any],
        flow_id: FlowId,
        version: VersionQuery = None,
    ) -> FlowVersionView:
        """A version of the flow with its document and findings: the published one, or
        `?version=N`."""
        published = await caller.tenant.published(flow_id)
        if version is None and published is None:
            raise ApiError(
                404,
                "not_found",
                f"Flow `{flow_id}` has no published version; ask for one with ?version=N, "
                f"or publish one with POST /api/v1/flows/{flow_id}/publish",
            )
        cache: VersionCache = request.app.state.versions
        number = version if version is not None else published
        assert number is not None
        stored, document = await cache.get(caller.tenant, flow_id, number)
        return view(FlowVersionView, stored, published=published, document=document)

    @put("/{flow_id:str}", opt=WRITE, responses=responses(400, 401, 403, 404, 413, 422))
    async def update_flow(
        self, caller: Caller, request: Request[Any, Any, Any], flow_id: FlowId, data: dict[str, Any]
    ) -> Pushed:
        """A new version of the flow from a whole document (`created: false` when the
        content is already a version). Concurrent updates each become a version; only
        publishing moves what new sessions get."""
        await caller.tenant.published(flow_id)  # 404 for a flow that does not exist
        return await pushed(caller, await request.body(), flow_id)

    @delete(
        "/{flow_id:str}", opt=WRITE, status_code=200, responses=responses(400, 401, 403, 404, 409)
    )
    async def unpublish_flow(
        self,
        caller: Caller,
        flow_id: FlowId,
        expected_current: Annotated[
            int | None,
            Parameter(
                description="Refuse (409) unless this version is published.", ge=1, le=MAX_VERSION
            ),
        ] = None,
    ) -> Publication:
        """Take the flow out of service: new sessions get no version of it; running ones
        keep theirs; versions and history stay (publish to bring it back)."""
        expected = ... if expected_current is None else expected_current
        return await caller.tenant.unpublish(flow_id, actor=caller.actor, expected_current=expected)

    @post(
        "/{flow_id:str}/delete", opt=WRITE, status_code=200, responses=responses(401, 403, 404, 409)
    )
    async def delete_flow(self, caller: Caller, flow_id: FlowId) -> FlowInfo:
        """Delete the flow (one pushed by mistake): it leaves every listing and no session
        can start on it. 409 while a version is published (unpublish it first) or the
        tenant's routing names it. Its recorded sessions stay readable; pushing its id
        again brings it back with its versions. Answers the flow as it was."""
        return await caller.tenant.delete(flow_id, actor=caller.actor)

    @post("/{flow_id:str}/disable", opt=WRITE, status_code=200, responses=responses(401, 403, 404))
    async def disable_flow(self, caller: Caller, flow_id: FlowId) -> FlowInfo:
        """Route no job to the flow, whatever is published, until it is enabled: a job
        naming it is refused as disabled, routing passes over it otherwise. Running
        sessions go on. Disabling a disabled flow changes nothing."""
        return await caller.tenant.disable(flow_id, actor=caller.actor)

    @post("/{flow_id:str}/enable", opt=WRITE, status_code=200, responses=responses(401, 403, 404))
    async def enable_flow(self, caller: Caller, flow_id: FlowId) -> FlowInfo:
        """Undo a disable. `enabled` in the answer stays false while the published
        version itself says `"enabled": false`."""
        return await caller.tenant.enable(flow_id, actor=caller.actor)

    @get("/{flow_id:str}/versions", responses=responses(401, 403, 404))
    async def list_versions(self, caller: Caller, flow_id: FlowId) -> list[VersionInfo]:
        """Every version of the flow, oldest first, with its author and lint counts."""
        return await caller.tenant.versions(flow_id)

    @get("/{flow_id:str}/history", responses=responses(401, 403, 404))
    async def history(self, caller: Caller, flow_id: FlowId) -> list[Publication]:
        """Every move of the published pointer: publish, rollback, unpublish."""
        return await caller.tenant.history(flow_id)

    @get("/{flow_id:str}/diff", responses=responses(400, 401, 403, 404))
    async def diff(
        self,
        caller: Caller,
        flow_id: FlowId,
        old: Annotated[int, Parameter(description="The older version.", ge=1, le=MAX_VERSION)],
        new: Annotated[
            int | None, Parameter(description="Default: the latest.", ge=1, le=MAX_VERSION)
        ] = None,
    ) -> DiffView:
        """A unified diff of two versions, each as 2-space JSON."""
        if new is None:
            new = (await caller.tenant.versions(flow_id))[-1].version
        a = await caller.tenant.version(flow_id, old)
        b = await caller.tenant.version(flow_id, new)
        # Diffing two documents up to a megabyte each: in a thread, off the event loop.
        text = await asyncio.to_thread(
            unified_diff, a.document, b.document, f"{flow_id}@v{old}", f"{flow_id}@v{new}"
        )
        return DiffView(flow_id=flow_id, old=old, new=new, diff=text)

    @post("/{flow_id:str}/publish", **MOVE)
    async def publish(self, caller: Caller, flow_id: FlowId, data: Publish) -> Publication:
        """Make a lint-clean version the one new sessions get (422 with its findings if
        it has errors; 409 if `expected_current` is stale)."""
        expected = _expectation(data.expected_current)
        return await caller.tenant.publish(
            flow_id, data.version, actor=caller.actor, expected_current=expected
        )

    @post("/{flow_id:str}/rollback", **MOVE)
    async def rollback(self, caller: Caller, flow_id: FlowId, data: Rollback) -> Publication:
        """Republish an earlier version: `to`, or the newest earlier one published."""
        expected = _expectation(data.expected_current)
        return await caller.tenant.rollback(
            flow_id, actor=caller.actor, to=data.to, expected_current=expected
        )
