"""The calls pages: the tenant's recorded sessions with filters, one call's timeline, and
its replay against a version of its flow (``flowctl simulate --replay``'s: the recording
as a scenario, run through the same dry-run agent, and the first turn whose path
differs)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.params import Parameter
from litestar.response import Template

from flowctl.api.auth import Caller
from flowctl.console.app import page
from flowctl.engine.describe import describe
from flowctl.engine.store import NotFound, SessionInfo, StoreError

__all__ = ["CallsController", "Filters"]

READ = {"need": "viewer"}
# Replaying runs the flow's tools (python ones from the operator's catalog, mocked or not)
# in this process: what a developer may do with `flowctl simulate --replay`.
RUN = {"need": "developer"}
# The newest sessions the filters look through (the store's listing, newest first).
SCAN = 500
SHOWN = 100
Text = Annotated[str | None, Parameter(max_length=256)]


def _day(value: str | None, *, end: bool) -> float | None:
    """A ``YYYY-MM-DD`` (UTC) as the timestamp of its start, or of the next day's start."""
    if not value:
        return None
    try:
        day = datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        return None
    return day.timestamp() + (86400 if end else 0)


class Filters:
    """What the calls page filters on: flow, version, outcome (``running``, or an end
    reason), and the days a call started between (inclusive, UTC)."""

    def __init__(
        self,
        flow: str | None,
        version: int | None,
        outcome: str | None,
        since: str | None,
        until: str | None,
    ) -> None:
        self.flow = flow or None
        self.version = version
        self.outcome = outcome or None
        self.since = since or ""
        self.until = until or ""
        self._from = _day(since, end=False)
        self._to = _day(until, end=True)

    def keeps(self, s: SessionInfo) -> bool:
        if self.version is not None and s.version != self.version:
            return False
        if self.outcome == "running":
            if s.ended_at is not None:
                return False
        elif self.outcome is not None and s.end_reason != self.outcome:
            return False
        if self._from is not None and s.started_at < self._from:
            return False
        return self._to is None or s.started_at < self._to


def _outcome(s: SessionInfo) -> str:
    return "running" if s.ended_at is None else s.end_reason or "ended"


class CallsController(Controller):
    path = "/calls"
    opt = READ

    @get("/")
    async def calls(
        self,
        request: Request[Any, Any, Any],
        caller: Caller,
        flow: Text = None,
        # text, as a form sends it: an empty box is "any version"
        version: Annotated[str | None, Parameter(max_length=10)] = None,
        outcome: Text = None,
        since: Annotated[str | None, Parameter(max_length=10)] = None,
        until: Annotated[str | None, Parameter(max_length=10)] = None,
    ) -> Template:
        """Recorded sessions, newest first, filtered."""
        number = int(version) if version and version.isdigit() else None
        filters = Filters(flow, number, outcome, since, until)
        running = True if filters.outcome == "running" else None
        listed = await caller.tenant.sessions(flow_id=filters.flow, running=running, limit=SCAN)
        kept = [s for s in listed if filters.keeps(s)]
        flows = [f.flow_id for f in await caller.tenant.flows()]
        outcomes = sorted({_outcome(s) for s in listed} | {"running"})
        template = "_calls_table.html" if request.headers.get("hx-request") else "calls.html"
        return page(
            request,
            template,
            calls=kept[:SHOWN],
            more=len(kept) > SHOWN,
            scanned=len(listed) == SCAN,
            filters=filters,
            flows=flows,
            outcomes=outcomes,
            outcome_of=_outcome,
        )

    @get("/{session_id:str}")
    async def call(
        self,
        request: Request[Any, Any, Any],
        caller: Caller,
        session_id: Annotated[str, Parameter(max_length=256)],
    ) -> Template:
        """One call: its header and timeline."""
        return page(request, "call.html", **await _call(caller, session_id))

    @post("/{session_id:str}/replay", opt=RUN)
    async def replay(
        self,
        request: Request[Any, Any, Any],
        caller: Caller,
        session_id: Annotated[str, Parameter(max_length=256)],
    ) -> Template:
        """Replay the call against the form's ``against`` version (default: the
        published one) and show the first turn whose path differs."""
        from flowctl.engine.replay import recorded, stored_version

        form = await request.form()
        against = form.get("against")
        number = int(against) if isinstance(against, str) and against.isdigit() else None
        scenario, info = await recorded(caller.tenant, session_id)
        try:
            number, compiled = await stored_version(caller.tenant, info.flow_id, number)
        except StoreError as exc:
            outcome: dict[str, Any] = {"error": str(exc), "against": number, "result": None}
        else:
            # LiveKit's agents (1.5 s to import) load on the first replay or chat, never
            # at start-up.
            from flowctl.worker.simulate import run_scenario

            result = await run_scenario(compiled, scenario)
            first = next((t for t in result.turns if t.problems), None)
            outcome = {"result": result, "first": first, "against": number, "error": None}
        outcome["info"] = info
        if request.headers.get("hx-request"):
            return page(request, "_replay.html", r=outcome)
        return page(request, "call.html", **await _call(caller, session_id), replay=outcome)


async def _call(caller: Caller, session_id: str) -> dict[str, Any]:
    info = await caller.tenant.session(session_id)
    events = await caller.tenant.events(session_id)
    rows = []
    for event in events:
        kind, text, _ = describe(event)
        rows.append((f"{event.at - info.started_at:+.2f}s", kind, text))
    try:
        versions = [v.version for v in await caller.tenant.versions(info.flow_id)]
        published = await caller.tenant.published(info.flow_id)
    except NotFound:  # the flow was deleted since; its recorded calls stay readable
        versions, published = [], None
    return {
        "info": info,
        "rows": rows,
        "versions": versions,
        "published": published,
        "outcome": _outcome(info),
        "replay": None,
    }
