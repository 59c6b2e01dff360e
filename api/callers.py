"""``/api/v1/callers``: what the tenant's store holds about its callers. What its flows
remember about each (read by any key, as sessions are), how long that is kept, memory
past its retention deleted now, and a data-protection request carried out: everything
about one caller deleted, audited under the admin key that asked."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, delete, get, post, put
from litestar.params import Parameter

from flowctl.api.auth import Caller
from flowctl.api.errors import responses
from flowctl.api.models import Purged, Retention
from flowctl.engine.store import CallerMemory, Forgotten, NotFound, Tenant

__all__ = ["CallersController"]

READ = {"need": "viewer"}
ADMIN = {"need": "admin"}
# A phone number (`+15555550142`: a `+` in a path is itself), a SIP URI, a user id.
CallerId = Annotated[
    str, Parameter(description="The caller: a phone number or a user id.", max_length=256)
]


class CallersController(Controller):
    path = "/callers"
    tags = ("callers",)

    @get("/", opt=READ, responses=responses(401, 403))
    async def list_callers(
        self, caller: Caller, limit: Annotated[int, Parameter(ge=1, le=500)] = 100
    ) -> list[CallerMemory]:
        """The callers the tenant's flows remember, the latest called first (memory past
        its retention left out)."""
        return await caller.tenant.memories(limit=limit)

    @get("/{caller_id:str}", opt=READ, responses=responses(401, 403, 404))
    async def get_caller(self, caller: Caller, caller_id: CallerId) -> CallerMemory:
        """What is remembered about one caller: the values its flows keep, the last
        summary written, how and when their last call ended, when it expires."""
        found = await caller.tenant.recall(caller_id)
        if found is None:
            raise NotFound(
                f"Nothing is remembered about caller `{caller_id}` for tenant `{caller.tenant_id}`"
            )
        return found

    @delete("/{caller_id:str}", opt=ADMIN, status_code=200, responses=responses(401, 403, 409))
    async def forget_caller(self, caller: Caller, caller_id: CallerId) -> Forgotten:
        """A data-protection request: delete everything the tenant holds about the
        caller, in one transaction: their memory; every session they called in, with
        its transcript, variables, tool calls and summary; their callbacks; the webhook
        deliveries of those sessions. Says what was deleted (all zero when nothing was
        held); audited under a digest of the caller id. 409 while one of their calls is
        running."""
        return await caller.tenant.forget_caller(caller_id, actor=caller.actor)

    @post("/purge", opt=ADMIN, status_code=200, responses=responses(401, 403))
    async def purge(self, caller: Caller) -> Purged:
        """Delete every memory past its retention now."""
        return Purged(memories=await caller.tenant.purge_memory(actor=caller.actor))

    @put("/retention", opt=ADMIN, responses=responses(401, 403, 413))
    async def set_retention(self, caller: Caller, data: Retention) -> Tenant:
        """Keep callers' memory at most `memory_days` after their last call (null: as
        long as the flows' `ttl_days` say, else a year). A shorter cap applies at once
        to what is kept."""
        return await caller.tenant.set_retention(memory_days=data.memory_days, actor=caller.actor)
