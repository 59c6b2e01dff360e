"""The flows pages: the tenant's flows, a flow with its graph, findings and versions,
two versions side by side, and the moves of the published pointer (publish, roll back,
unpublish) and the disabled flag.

Every read and move is the tenant store's, through the signed-in key's ``Caller``, as in
``flowctl.api.flows``: another tenant's flow is a 404 page, a viewer's publish a 403,
and a move made from a page that showed another published version than the one now
published is refused (the page sends what it showed as ``expected_current``).
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post
from litestar.params import Parameter
from litestar.response import Redirect, Template

from flowctl.api.auth import Caller
from flowctl.api.versions import MAX_VERSION
from flowctl.console.app import page
from flowctl.console.diff import side_by_side
from flowctl.console.signin import SignIn
from flowctl.engine.store import NotFound, StoreConflict, StoreError
from flowctl.engine.store.records import Expected, version_name

__all__ = ["FlowsController", "expected_from"]

READ = {"need": "viewer"}
WRITE = {"need": "developer"}
FlowId = Annotated[str, Parameter(max_length=256)]
Number = Annotated[int | None, Parameter(ge=1, le=MAX_VERSION)]


def expected_from(form: Any) -> Expected:
    """The published version the page showed (``expected_current``: a number, or
    ``none``), which a move checks; ``...`` when the form sent none."""
    value = form.get("expected_current")
    if value is None or value == "":
        return ...
    if value == "none":
        return None
    return int(value) if str(value).isdigit() else ...


def _number(form: Any, name: str) -> int | None:
    value = form.get(name)
    return int(value) if isinstance(value, str) and value.isdigit() else None


class FlowsController(Controller):
    path = "/flows"
    opt = READ

    @get("/")
    async def flows(self, request: Request[Any, Any, Any], caller: Caller) -> Template:
        """The tenant's flows: published version, latest, status."""
        return page(request, "flows.html", flows=await caller.tenant.flows())

    @get("/{flow_id:str}")
    async def flow(
        self,
        request: Request[Any, Any, Any],
        caller: Caller,
        flow_id: FlowId,
        version: Number = None,
    ) -> Template:
        """A version of the flow (the published one, else the latest): its graph, lint
        findings, states, versions and history, and the moves the role may make."""
        tenant = caller.tenant
        versions = await tenant.versions(flow_id)  # 404 for a flow not the tenant's
        info = next(f for f in await tenant.flows() if f.flow_id == flow_id)
        number = version or info.published or versions[-1].version
        stored = await tenant.version(flow_id, number)
        drawing = await request.app.state.console.drawings.get(tenant, stored)
        history = await tenant.history(flow_id)
        return page(
            request,
            "flow.html",
            info=info,
            stored=stored,
            drawing=drawing if not isinstance(drawing, str) else None,
            not_drawn=drawing if isinstance(drawing, str) else None,
            versions=list(reversed(versions)),
            history=list(reversed(history)),
            earlier=[v.version for v in versions if v.version < number],
        )

    @get("/{flow_id:str}/diff")
    async def diff(
        self,
        request: Request[Any, Any, Any],
        caller: Caller,
        flow_id: FlowId,
        old: Annotated[int, Parameter(ge=1, le=MAX_VERSION)],
        new: Number = None,
    ) -> Template:
        """Two versions side by side (``new`` defaults to the latest)."""
        versions = await caller.tenant.versions(flow_id)
        new = new or versions[-1].version
        a = await caller.tenant.version(flow_id, old)
        b = await caller.tenant.version(flow_id, new)
        rows = await asyncio.to_thread(side_by_side, a.document, b.document)
        return page(
            request,
            "diff.html",
            flow_id=flow_id,
            old=a,
            new=b,
            rows=rows,
            numbers=[v.version for v in versions],
        )

    @get("/{flow_id:str}/versions/{number:int}/document.json")
    async def document(self, caller: Caller, flow_id: FlowId, number: int) -> Response[bytes]:
        """A version's document as it was pushed, to save as ``FLOW_ID.json`` (the file a
        saved scenario names)."""
        stored = await caller.tenant.version(flow_id, number)
        return Response(
            stored.document.encode(),
            media_type="application/json",
            headers={"Content-Disposition": f'attachment; filename="{flow_id}.json"'},
        )

    @post("/{flow_id:str}/publish", opt=WRITE)
    async def publish(
        self, request: Request[Any, Any, Any], caller: Caller, signin: SignIn, flow_id: FlowId
    ) -> Redirect:
        """Publish the form's ``version``."""
        form = await request.form()
        number = _number(form, "version")
        if number is None:
            signin.say("error", "Choose a version to publish")
            return _back(flow_id)

        async def move() -> str:
            done = await caller.tenant.publish(
                flow_id, number, actor=caller.actor, expected_current=expected_from(form)
            )
            return f"Published {version_name(done.version)} of `{flow_id}`: new calls get it"

        return await _moving(signin, flow_id, number, "publish", move)

    @post("/{flow_id:str}/rollback", opt=WRITE)
    async def rollback(
        self, request: Request[Any, Any, Any], caller: Caller, signin: SignIn, flow_id: FlowId
    ) -> Redirect:
        """Republish the form's ``to``, or the newest earlier published version."""
        form = await request.form()
        to = _number(form, "to")

        async def move() -> str:
            done = await caller.tenant.rollback(
                flow_id, actor=caller.actor, to=to, expected_current=expected_from(form)
            )
            return (
                f"Rolled `{flow_id}` back from {version_name(done.previous)} to "
                f"{version_name(done.version)}: new calls get it"
            )

        return await _moving(signin, flow_id, None, "roll back", move)

    @post("/{flow_id:str}/unpublish", opt=WRITE)
    async def unpublish(
        self, request: Request[Any, Any, Any], caller: Caller, signin: SignIn, flow_id: FlowId
    ) -> Redirect:
        """Take the flow out of service (running calls keep their version)."""
        form = await request.form()

        async def move() -> str:
            await caller.tenant.unpublish(
                flow_id, actor=caller.actor, expected_current=expected_from(form)
            )
            return f"Unpublished `{flow_id}`: new calls get no version of it"

        return await _moving(signin, flow_id, None, "unpublish", move)

    @post("/{flow_id:str}/disable", opt=WRITE)
    async def disable(self, caller: Caller, signin: SignIn, flow_id: FlowId) -> Redirect:
        """Route no call to the flow until it is enabled."""
        await caller.tenant.disable(flow_id, actor=caller.actor)
        signin.say("ok", f"Disabled `{flow_id}`: no new call is routed to it")
        return _back(flow_id)

    @post("/{flow_id:str}/enable", opt=WRITE)
    async def enable(self, caller: Caller, signin: SignIn, flow_id: FlowId) -> Redirect:
        """Undo a disable."""
        await caller.tenant.enable(flow_id, actor=caller.actor)
        signin.say("ok", f"Enabled `{flow_id}`")
        return _back(flow_id)


def _back(flow_id: str, version: int | None = None) -> Redirect:
    from urllib.parse import quote

    query = f"?version={version}" if version is not None else ""
    return Redirect(f"/flows/{quote(flow_id, safe='')}{query}", status_code=303)


async def _moving(
    signin: SignIn, flow_id: str, number: int | None, doing: str, move: Any
) -> Redirect:
    """Run a move of the published pointer and come back to the flow's page with what
    came of it; a stale page (someone moved the pointer since it was shown) is told so
    plainly, and nothing changes."""
    try:
        signin.say("ok", await move())
    except StoreConflict as exc:
        signin.say(
            "error",
            f"Nothing changed: this page showed {version_name(exc.expected)} as published, "
            f"but {version_name(exc.current)} is now (someone else moved it since the page "
            f"was loaded). Look at the versions below and {doing} again if you still mean it.",
        )
    except NotFound:
        raise  # another tenant's flow, or none: the 404 page
    except StoreError as exc:  # not publishable (its findings), nothing to roll back to
        signin.say("error", str(exc))
    return _back(flow_id, number)
