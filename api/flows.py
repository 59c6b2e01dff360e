"""``/api/v1/flows``: a tenant's flows, their versions, publishing, and seed 001's
version-making edits. Every change is a new immutable version or a move of the
published pointer, audited under the caller's key."""

from __future__ import annotations

import asyncio
import json
from collections import OrderedDict
from typing import Annotated, Any

from litestar import Controller, Request, delete, get, patch, post, put
from litestar.params import Parameter, QueryParameter
from msgspec import UNSET

from api.auth import Caller
from api.errors import ApiError, responses
from api.models import (
    DiffView,
    FlowVersionView,
    LLMChange,
    Publish,
    Pushed,
    Rollback,
    TracingChange,
)
from engine import edits
from engine.spec import OutputField
from engine.store import (
    FlowInfo,
    NotFound,
    NotPublishable,
    Publication,
    StoreConflict,
    StoreError,
    TenantStore,
    Version,
    VersionInfo,
)
from engine.store.documents import Prepared, prepare, unified_diff

__all__ = ["FlowsController", "VersionCache"]

# Version numbers are SQLite integers; a bound keeps a number SQLite cannot hold (a
# property-based run sent 47956742967991656775680) a 400, not a 500.
MAX_VERSION = 2**31
READ = {"need": "viewer"}
WRITE = {"need": "developer"}
FlowId = Annotated[str, Parameter(description="The flow's id.", max_length=256)]
VersionQuery = Annotated[
    int | None,
    Parameter(description="A version number (default: the published one).", ge=1, le=MAX_VERSION),
]
StateQuery = Annotated[
    str | None,
    QueryParameter(
        name="state",
        description="A state (agent) to edit instead of the whole flow.",
        max_length=256,
    ),
]
BaseQuery = Annotated[
    int | None,
    Parameter(
        description="The version the edit starts from (default: the latest).", ge=1, le=MAX_VERSION
    ),
]


def _v(version: int | None) -> str:
    return "no version" if version is None else f"v{version}"


async def _prepared(document: bytes | str, flow_id: str | None = None) -> Prepared:
    """The document linted, its flow id and hash worked out; in a thread, as lint of a
    large flow takes milliseconds the event loop owes other requests."""
    return await asyncio.to_thread(prepare, document, None, flow_id=flow_id)


async def _pushed(
    caller: Caller,
    document: bytes | str,
    flow_id: str | None,
    base: int | None = None,
    prepared: Prepared | None = None,
) -> Pushed:
    """Lint ``document`` and store it as the flow's next version; 422 with the findings
    (and nothing stored) when it has errors."""
    if prepared is None:
        prepared = await _prepared(document, flow_id)
    if prepared.errors:
        errors = [f for f in prepared.findings if f.severity == "error"]
        shown = "; ".join(f"{f.row}:{f.column}: {f.code} {f.message}" for f in errors[:3])
        more = f"; and {len(errors) - 3} more" if len(errors) > 3 else ""
        noun = "error" if len(errors) == 1 else "errors"
        raise ApiError(
            422,
            "lint_errors",
            f"`{prepared.flow_id}` has {len(errors)} lint {noun}: {shown}{more}. Nothing "
            "was stored; fix the document and send it again",
            {"findings": [_finding(f) for f in prepared.findings]},
        )
    result = await caller.tenant.push(document, actor=caller.actor, flow_id=prepared.flow_id)
    info = result.version
    return Pushed(
        flow_id=info.flow_id,
        version=info.version,
        created=result.created,
        hash=info.hash,
        errors=info.errors,
        warnings=info.warnings,
        findings=prepared.findings,
        base=base,
    )


def _finding(f: Any) -> dict[str, Any]:
    return {
        "code": f.code,
        "severity": f.severity,
        "message": f.message,
        "row": f.row,
        "column": f.column,
    }


async def _base(caller: Caller, flow_id: str, base: int | None) -> tuple[int, dict[str, Any]]:
    """The version an edit starts from (``base``, else the latest) and its document."""
    if base is None:
        base = (await caller.tenant.versions(flow_id))[-1].version
    stored = await caller.tenant.version(flow_id, base)
    return base, json.loads(stored.document)


async def _edit(caller: Caller, flow_id: str, base: int | None, change: Any) -> Pushed:
    number, document = await _base(caller, flow_id, base)
    edited = change(document)
    return await _pushed(caller, edits.render(edited), flow_id, number)


async def _conflict(caller: Caller, flow_id: str, verb: str, expected: int | None) -> ApiError:
    """409 for a stale ``expected_current``; ``verb`` says what was refused."""
    current = await caller.tenant.published(flow_id)
    return ApiError(
        409,
        "conflict",
        f"Cannot {verb}: expected {_v(expected)} to be published, but "
        f"{_v(current)} is (someone changed it in between); read the flow again and retry",
        {"expected_current": expected, "published": current},
    )


def _expectation(value: Any) -> Any:
    return ... if value is UNSET else value


def _refused(exc: StoreError) -> ApiError:
    """A pointer move the flow's state does not allow (nothing earlier to roll back to,
    not published): a conflict with the current state."""
    return ApiError(409, "conflict", str(exc))


class VersionCache:
    """Stored versions with their decoded documents, by (tenant, flow, version). A
    version never changes, so an entry is never stale: reading the published flow
    costs one indexed read (which version is published) and no decoding."""

    def __init__(self, maxsize: int = 256) -> None:
        self.maxsize = maxsize
        self._entries: OrderedDict[tuple[str, str, int], tuple[Version, dict[str, Any]]] = (
            OrderedDict()
        )

    async def get(
        self, tenant: TenantStore, flow_id: str, version: int
    ) -> tuple[Version, dict[str, Any]]:
        key = (tenant.tenant_id, flow_id, version)
        found = self._entries.get(key)
        if found is not None:
            self._entries.move_to_end(key)
            return found
        stored = await tenant.version(flow_id, version)
        found = self._entries[key] = (stored, json.loads(stored.document))
        while len(self._entries) > self.maxsize:
            self._entries.popitem(last=False)
        return found


class FlowsController(Controller):
    path = "/flows"
    tags = ("flows",)

    @get("/", opt=READ, responses=responses(401, 403))
    async def list_flows(self, caller: Caller) -> list[FlowInfo]:
        """The tenant's flows: latest version, published version and when."""
        return await caller.tenant.flows()

    @post("/", opt=WRITE, responses=responses(400, 401, 403, 409, 413, 422))
    async def create_flow(self, caller: Caller, request: Request, data: dict[str, Any]) -> Pushed:
        """Create a flow from its document (its id: the document's `flow_id`, or
        `agent_id` for a seed-001 config) as version 1. 409 if the flow exists (PUT a
        new version instead); 422 with the findings if it has lint errors."""
        raw = await request.body()
        prepared = await _prepared(raw)
        flow_id = prepared.flow_id
        try:
            await caller.tenant.published(flow_id)
        except NotFound:
            return await _pushed(caller, raw, flow_id, prepared=prepared)
        raise ApiError(
            409,
            "conflict",
            f"Flow `{flow_id}` exists; add a version with PUT /api/v1/flows/{flow_id}",
        )

    @get("/{flow_id:str}", opt=READ, responses=responses(400, 401, 403, 404))
    async def get_flow(
        self, caller: Caller, request: Request, flow_id: FlowId, version: VersionQuery = None
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
        v, document = await cache.get(caller.tenant, flow_id, number)
        return FlowVersionView(
            flow_id=v.flow_id,
            version=v.version,
            published=published,
            hash=v.hash,
            author=v.author,
            created_at=v.created_at,
            errors=v.errors,
            warnings=v.warnings,
            findings=v.findings,
            document=document,
        )

    @put("/{flow_id:str}", opt=WRITE, responses=responses(400, 401, 403, 404, 413, 422))
    async def update_flow(
        self, caller: Caller, request: Request, flow_id: FlowId, data: dict[str, Any]
    ) -> Pushed:
        """A new version of the flow from a whole document (`created: false` when the
        content is already a version). Concurrent updates each become a version; only
        publishing moves what new sessions get."""
        await caller.tenant.published(flow_id)  # 404 for a flow that does not exist
        return await _pushed(caller, await request.body(), flow_id)

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
        try:
            return await caller.tenant.unpublish(
                flow_id, actor=caller.actor, expected_current=expected
            )
        except StoreConflict:
            raise await _conflict(
                caller, flow_id, f"unpublish `{flow_id}`", expected_current
            ) from None
        except NotFound:
            raise
        except StoreError as exc:
            raise _refused(exc) from None

    @get("/{flow_id:str}/versions", opt=READ, responses=responses(401, 403, 404))
    async def list_versions(self, caller: Caller, flow_id: FlowId) -> list[VersionInfo]:
        """Every version of the flow, oldest first, with its author and lint counts."""
        return await caller.tenant.versions(flow_id)

    @get("/{flow_id:str}/history", opt=READ, responses=responses(401, 403, 404))
    async def history(self, caller: Caller, flow_id: FlowId) -> list[Publication]:
        """Every move of the published pointer: publish, rollback, unpublish."""
        return await caller.tenant.history(flow_id)

    @get("/{flow_id:str}/diff", opt=READ, responses=responses(400, 401, 403, 404))
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
        text = unified_diff(a.document, b.document, f"{flow_id}@v{old}", f"{flow_id}@v{new}")
        return DiffView(flow_id=flow_id, old=old, new=new, diff=text)

    @post(
        "/{flow_id:str}/publish",
        opt=WRITE,
        status_code=200,
        responses=responses(400, 401, 403, 404, 409, 413, 422),
    )
    async def publish(self, caller: Caller, flow_id: FlowId, data: Publish) -> Publication:
        """Make a lint-clean version the one new sessions get (422 with its findings if
        it has errors; 409 if `expected_current` is stale)."""
        expected = _expectation(data.expected_current)
        try:
            return await caller.tenant.publish(
                flow_id, data.version, actor=caller.actor, expected_current=expected
            )
        except StoreConflict:
            raise await _conflict(
                caller,
                flow_id,
                f"publish `{flow_id}` v{data.version}",
                data.expected_current,  # type: ignore[arg-type]
            ) from None

    @post(
        "/{flow_id:str}/rollback",
        opt=WRITE,
        status_code=200,
        responses=responses(400, 401, 403, 404, 409, 413, 422),
    )
    async def rollback(self, caller: Caller, flow_id: FlowId, data: Rollback) -> Publication:
        """Republish an earlier version: `to`, or the newest earlier one published."""
        expected = _expectation(data.expected_current)
        try:
            return await caller.tenant.rollback(
                flow_id, actor=caller.actor, to=data.to, expected_current=expected
            )
        except StoreConflict:
            raise await _conflict(
                caller,
                flow_id,
                f"roll back `{flow_id}`",
                data.expected_current,  # type: ignore[arg-type]
            ) from None
        except (NotFound, NotPublishable):
            raise
        except StoreError as exc:
            raise _refused(exc) from None

    # --- seed 001's conveniences: each makes a new version ------------------------------

    @post(
        "/{flow_id:str}/output/fields",
        opt=WRITE,
        status_code=200,
        responses=responses(400, 401, 403, 404, 409, 413, 422),
    )
    async def add_output_field(
        self,
        caller: Caller,
        flow_id: FlowId,
        data: OutputField,
        in_state: StateQuery = None,
        base: BaseQuery = None,
    ) -> Pushed:
        """Add a structured-output field (to the flow, or to `?state=`): a new version."""
        import msgspec

        field = msgspec.to_builtins(data)
        return await _edit(
            caller, flow_id, base, lambda d: edits.add_output_field(d, field, state=in_state)
        )

    @delete(
        "/{flow_id:str}/output/fields/{field_name:str}",
        opt=WRITE,
        status_code=200,
        responses=responses(400, 401, 403, 404, 422),
    )
    async def remove_output_field(
        self,
        caller: Caller,
        flow_id: FlowId,
        field_name: Annotated[str, Parameter(max_length=256)],
        in_state: StateQuery = None,
        base: BaseQuery = None,
    ) -> Pushed:
        """Remove a structured-output field: a new version."""
        return await _edit(
            caller,
            flow_id,
            base,
            lambda d: edits.remove_output_field(d, field_name, state=in_state),
        )

    @put(
        "/{flow_id:str}/tracing",
        opt=WRITE,
        responses=responses(400, 401, 403, 404, 413, 422),
    )
    async def set_tracing(
        self, caller: Caller, flow_id: FlowId, data: TracingChange, base: BaseQuery = None
    ) -> Pushed:
        """Turn tracing on or off (seed 001's toggle): a new version."""
        changes = {k: v for k, v in _given(data).items()}
        return await _edit(caller, flow_id, base, lambda d: edits.set_tracing(d, changes))

    @patch(
        "/{flow_id:str}/llm",
        opt=WRITE,
        responses=responses(400, 401, 403, 404, 413, 422),
    )
    async def set_llm(
        self,
        caller: Caller,
        flow_id: FlowId,
        data: LLMChange,
        in_state: StateQuery = None,
        base: BaseQuery = None,
    ) -> Pushed:
        """Change LLM settings (of the flow, or `?state=`'s override): a new version."""
        changes = _given(data)
        return await _edit(
            caller, flow_id, base, lambda d: edits.set_llm(d, changes, state=in_state)
        )


def _given(data: Any) -> dict[str, Any]:
    """The fields a change body sets (null included: it removes the setting)."""
    return {
        name: getattr(data, name)
        for name in data.__struct_fields__
        if getattr(data, name) is not UNSET
    }
