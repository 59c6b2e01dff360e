"""``/api/v1/callbacks``: the callbacks the tenant's conversations promised callers,
worked through: listed, claimed (by one key: no other may then claim or complete it),
completed or cancelled. Every move is audited under the caller's key."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from litestar import Controller, get, post
from litestar.params import Parameter

from flowctl.api.auth import Caller
from flowctl.api.errors import responses
from flowctl.engine.store import Callback

__all__ = ["CallbacksController"]

READ = {"need": "viewer"}
WRITE = {"need": "developer"}
# A move of a callback: 200 with the callback as it is now.
MOVE: dict[str, Any] = {
    "opt": WRITE,
    "status_code": 200,
    "responses": responses(401, 403, 404, 409),
}
# Callback ids are the store's integers; the bound keeps a number no store holds a 400.
CallbackId = Annotated[int, Parameter(description="The callback's id.", ge=1, le=2**31)]


class CallbacksController(Controller):
    path = "/callbacks"
    tags = ("callbacks",)

    @get("/", opt=READ, responses=responses(401, 403))
    async def list_callbacks(
        self,
        caller: Caller,
        status: Annotated[
            Literal["pending", "claimed", "done", "cancelled", "all"],
            Parameter(description="Only callbacks with this status (default: pending)."),
        ] = "pending",
        limit: Annotated[int, Parameter(ge=1, le=500)] = 100,
    ) -> list[Callback]:
        """The tenant's callbacks, oldest first: who to call (`caller`, when the session
        knew), `when` and `reason` in the caller's words, the flow's own arguments
        (`details`), the session that promised it, and who claimed or closed it."""
        return await caller.tenant.callbacks(
            status=None if status == "all" else status, limit=limit
        )

    @get("/{callback_id:int}", opt=READ, responses=responses(401, 403, 404))
    async def get_callback(self, caller: Caller, callback_id: CallbackId) -> Callback:
        """One callback."""
        return await caller.tenant.callback(callback_id)

    @post("/{callback_id:int}/claim", **MOVE)
    async def claim(self, caller: Caller, callback_id: CallbackId) -> Callback:
        """Take a pending callback: it is the caller key's until done or cancelled. 409
        when another key has claimed it, or it is closed; claiming one's own again
        changes nothing."""
        return await caller.tenant.claim_callback(callback_id, actor=caller.actor)

    @post("/{callback_id:int}/complete", **MOVE)
    async def complete(self, caller: Caller, callback_id: CallbackId) -> Callback:
        """Mark the callback done: a pending one, or one this key claimed (409 for one
        another key claimed, or one closed)."""
        return await caller.tenant.complete_callback(callback_id, actor=caller.actor)

    @post("/{callback_id:int}/cancel", **MOVE)
    async def cancel(self, caller: Caller, callback_id: CallbackId) -> Callback:
        """Take the callback off the list, pending or claimed by anyone (a claim left
        behind); 409 when it is closed already."""
        return await caller.tenant.cancel_callback(callback_id, actor=caller.actor)
