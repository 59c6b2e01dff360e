"""``/api/v1/sessions``: the tenant's recorded sessions, each with its timeline, and how
many are running against its limit."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, get
from litestar.params import Parameter

from flowctl.api.auth import Caller
from flowctl.api.errors import responses
from flowctl.api.models import ActiveSessions, SessionView
from flowctl.engine.store import SessionInfo

__all__ = ["SessionsController"]

READ = {"need": "viewer"}


class SessionsController(Controller):
    path = "/sessions"
    tags = ("sessions",)

    @get("/", opt=READ, responses=responses(400, 401, 403))
    async def list_sessions(
        self,
        caller: Caller,
        flow_id: Annotated[str | None, Parameter(max_length=256)] = None,
        running: Annotated[
            bool | None, Parameter(description="true: running only; false: ended only.")
        ] = None,
        limit: Annotated[int, Parameter(ge=1, le=500)] = 50,
    ) -> list[SessionInfo]:
        """The tenant's sessions, newest first."""
        return await caller.tenant.sessions(flow_id=flow_id, running=running, limit=limit)

    @get("/active/count", opt=READ, responses=responses(401, 403))
    async def active_count(self, caller: Caller) -> ActiveSessions:
        """How many of the tenant's sessions are running, and its limit."""
        active = await caller.tenant.active_sessions()
        info = await caller.tenant.info()
        return ActiveSessions(
            tenant_id=caller.tenant_id,
            active=active,
            max_concurrent_sessions=info.max_concurrent_sessions,
        )

    @get("/{session_id:str}", opt=READ, responses=responses(401, 403, 404))
    async def get_session(
        self, caller: Caller, session_id: Annotated[str, Parameter(max_length=256)]
    ) -> SessionView:
        """One session with its events: states entered, edges fired, refusals, tool
        calls and results, transcript turns, structured outputs, the end."""
        session = await caller.tenant.session(session_id)
        events = await caller.tenant.events(session_id)
        return SessionView(session=session, events=events)
