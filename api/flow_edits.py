"""Seed 001's conveniences under ``/api/v1/flows/{flow_id}``: add or remove a
structured-output field, toggle tracing, change LLM settings. Each edits the document
of a version (``?base=N``, default the latest) and stores the result as a new version;
none changes what sessions get until that version is published."""

from __future__ import annotations

import json
from typing import Annotated, Any

from litestar import Controller, Request, delete, patch, post, put
from litestar.params import Parameter, QueryParameter
from msgspec import UNSET

from flowctl.api.auth import Caller
from flowctl.api.errors import responses
from flowctl.api.models import LLMChange, Pushed, TracingChange
from flowctl.api.versions import MAX_VERSION, edit
from flowctl.engine import edits
from flowctl.engine.spec import OutputField

__all__ = ["FlowEditsController"]

WRITE = {"need": "developer"}
FlowId = Annotated[str, Parameter(description="The flow's id.", max_length=256)]
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


class FlowEditsController(Controller):
    path = "/flows"
    tags = ("flows",)
    opt = WRITE  # every edit stores a version

    @post(
        "/{flow_id:str}/output/fields",
        status_code=200,
        responses=responses(400, 401, 403, 404, 409, 413, 422),
    )
    async def add_output_field(
        self,
        caller: Caller,
        request: Request[Any, Any, Any],
        flow_id: FlowId,
        data: OutputField,
        in_state: StateQuery = None,
        base: BaseQuery = None,
    ) -> Pushed:
        """Add a structured-output field (to the flow, or to `?state=`): a new version."""
        # The field as the caller wrote it (checked against OutputField already), not
        # re-encoded: `"ge": 0` stays 0, and fields left at their default stay out.
        field = json.loads(await request.body())
        return await edit(
            caller, flow_id, base, lambda d: edits.add_output_field(d, field, state=in_state)
        )

    @delete(
        "/{flow_id:str}/output/fields/{field_name:str}",
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
        return await edit(
            caller,
            flow_id,
            base,
            lambda d: edits.remove_output_field(d, field_name, state=in_state),
        )

    @put("/{flow_id:str}/tracing", responses=responses(400, 401, 403, 404, 413, 422))
    async def set_tracing(
        self, caller: Caller, flow_id: FlowId, data: TracingChange, base: BaseQuery = None
    ) -> Pushed:
        """Turn tracing on or off (seed 001's toggle): a new version."""
        changes = _given(data)
        return await edit(caller, flow_id, base, lambda d: edits.set_tracing(d, changes))

    @patch("/{flow_id:str}/llm", responses=responses(400, 401, 403, 404, 413, 422))
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
        return await edit(
            caller, flow_id, base, lambda d: edits.set_llm(d, changes, state=in_state)
        )


def _given(data: Any) -> dict[str, Any]:
    """The fields a change body sets (null included: it removes the setting)."""
    return {
        name: getattr(data, name)
        for name in data.__struct_fields__
        if getattr(data, name) is not UNSET
    }
