"""``/flows/{flow_id}/edit``: seed 001's edits as forms (an output field added or
removed, tracing on or off, LLM settings), and a JSON editor for everything else, with
completion from the flow format's schema and lint as you type.

Each save is the API's: the change applied to a base version's document
(``flowctl.api.versions.edit``, the same code as ``/api/v1/flows/{id}/output/fields``
and the rest) or the whole document pushed (``pushed``), linted as the tenant's flow,
stored as a new version only when it has no error-level finding. Nothing is published:
that stays a move on the flow's page. Lint as you type is the same lint, storing
nothing (``prepare_for``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any
from urllib.parse import quote

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.params import Parameter
from litestar.response import Redirect, Template

from flowctl.api.auth import Caller
from flowctl.api.errors import ApiError
from flowctl.api.models import Pushed
from flowctl.api.versions import MAX_VERSION, base_document, edit, pushed
from flowctl.console.app import page
from flowctl.console.signin import SignIn
from flowctl.engine import edits
from flowctl.engine.errors import FlowError
from flowctl.engine.spec import OutputField
from flowctl.engine.store import NotFound, StoredFinding, StoreError
from flowctl.engine.store.documents import prepare_for

__all__ = ["EditController", "flow_schema"]

WRITE = {"need": "developer"}
FlowId = Annotated[str, Parameter(max_length=256)]
# What the output-field form offers (the flow format's whitelist, spec.OutputField).
FIELD_TYPES = ("str", "int", "float", "bool", "list[str]", "list[int]", "list[float]", "enum")


def _text(form: Any, name: str) -> str | None:
    """A form field's text, None when left empty."""
    value = form.get(name)
    return value.strip() or None if isinstance(value, str) else None


def _base(form: Any) -> int | None:
    value = _text(form, "base")
    return int(value) if value is not None and value.isdigit() else None


def _saved(signin: SignIn, flow_id: str, done: Pushed) -> Redirect:
    if done.created:
        signin.say(
            "ok",
            f"Saved as v{done.version} ({done.errors} errors, {done.warnings} warnings); "
            "publish it when it is ready",
        )
    else:
        signin.say("ok", f"Nothing new: that document is already v{done.version}")
    return Redirect(f"/flows/{quote(flow_id, safe='')}?version={done.version}", status_code=303)


def _refused(signin: SignIn, exc: Exception) -> None:
    """What a refused save says: the API's message (lint errors named by code, row and
    column), msgspec's for a field of the wrong shape."""
    signin.say("error", exc.message if isinstance(exc, ApiError) else str(exc))


async def _apply(
    caller: Caller,
    signin: SignIn,
    flow_id: str,
    base: int | None,
    change: Callable[[dict[str, Any]], Any],
) -> Redirect:
    """One of seed 001's edits (``change``) of the ``base`` version, saved as a new
    version: the flow's page on success; the edit page again, with the reason, when the
    edit is refused."""
    try:
        done = await edit(caller, flow_id, base, change)
    except NotFound:
        raise  # another tenant's flow, or none: the 404 page
    except (msgspec.ValidationError, ApiError, FlowError) as exc:
        _refused(signin, exc)
        return _again(flow_id, base)
    return _saved(signin, flow_id, done)


class EditController(Controller):
    path = "/flows"
    opt = WRITE

    @get("/{flow_id:str}/edit")
    async def edit_page(
        self,
        request: Request[Any, Any, Any],
        caller: Caller,
        flow_id: FlowId,
        base: Annotated[int | None, Parameter(ge=1, le=MAX_VERSION)] = None,
    ) -> Template:
        """The forms and the editor, on the base version (default: the latest)."""
        number, document = await base_document(caller, flow_id, base)
        return _page(request, flow_id, number, _pretty(document), None)

    @post("/{flow_id:str}/edit/output-field")
    async def add_field(
        self, request: Request[Any, Any, Any], caller: Caller, signin: SignIn, flow_id: FlowId
    ) -> Redirect:
        """Add an output field (to the flow, or to the form's state)."""
        form = await request.form()
        field: dict[str, Any] = {
            "field_name": _text(form, "field_name") or "",
            "field_type": _text(form, "field_type") or "str",
        }
        if description := _text(form, "description"):
            field["description"] = description
        if field["field_type"] == "enum":
            field["enum"] = [v.strip() for v in (_text(form, "enum") or "").split(",") if v.strip()]
        if form.get("optional"):
            field["required"] = False
        state = _text(form, "state")

        def add(document: dict[str, Any]) -> Any:
            msgspec.convert(field, OutputField)
            return edits.add_output_field(document, field, state=state)

        return await _apply(caller, signin, flow_id, _base(form), add)

    @post("/{flow_id:str}/edit/output-field/remove")
    async def remove_field(
        self, request: Request[Any, Any, Any], caller: Caller, signin: SignIn, flow_id: FlowId
    ) -> Redirect:
        """Remove an output field."""
        form = await request.form()
        name, state = _text(form, "field_name") or "", _text(form, "state")
        return await _apply(
            caller,
            signin,
            flow_id,
            _base(form),
            lambda d: edits.remove_output_field(d, name, state=state),
        )

    @post("/{flow_id:str}/edit/tracing")
    async def tracing(
        self, request: Request[Any, Any, Any], caller: Caller, signin: SignIn, flow_id: FlowId
    ) -> Redirect:
        """Turn tracing on or off."""
        form = await request.form()
        changes = {"enabled": form.get("enabled") == "on"}
        return await _apply(
            caller, signin, flow_id, _base(form), lambda d: edits.set_tracing(d, changes)
        )

    @post("/{flow_id:str}/edit/llm")
    async def llm(
        self, request: Request[Any, Any, Any], caller: Caller, signin: SignIn, flow_id: FlowId
    ) -> Redirect:
        """Change LLM settings (a box left empty leaves its setting as it is)."""
        form = await request.form()
        changes: dict[str, Any] = {}
        try:
            for name, kind in (
                ("provider", str),
                ("model", str),
                ("temperature", float),
                ("max_tokens", int),
            ):
                value = _text(form, name)
                if value is not None:
                    changes[name] = kind(value)
        except ValueError:
            signin.say("error", "Temperature must be a number and max tokens a whole number")
            return _again(flow_id, _base(form))
        state = _text(form, "state")
        return await _apply(
            caller, signin, flow_id, _base(form), lambda d: edits.set_llm(d, changes, state=state)
        )

    @post("/{flow_id:str}/edit/document")
    async def document(
        self, request: Request[Any, Any, Any], caller: Caller, signin: SignIn, flow_id: FlowId
    ) -> Template | Redirect:
        """Save the editor's document as a new version; refused (and shown again, with
        its findings) when it has lint errors."""
        form = await request.form()
        text = str(form.get("document", ""))
        base = _base(form)
        await caller.tenant.versions(flow_id)  # 404 for a flow that is not the tenant's
        try:
            done = await pushed(caller, text, flow_id, base)
        except ApiError as exc:
            findings = (exc.details or {}).get("findings")
            listed = [msgspec.convert(f, StoredFinding) for f in findings] if findings else None
            signin.say("error", exc.message)
            return _page(request, flow_id, base, text, listed, status_code=exc.status)
        except StoreError as exc:
            signin.say("error", str(exc))
            return _page(request, flow_id, base, text, None, status_code=400)
        return _saved(signin, flow_id, done)

    @post("/{flow_id:str}/lint")
    async def lint(
        self, request: Request[Any, Any, Any], caller: Caller, flow_id: FlowId
    ) -> Template:
        """The editor's document linted as the tenant's flow (what saving it would say),
        storing nothing: the findings, for htmx to put under the editor."""
        form = await request.form()
        text = str(form.get("document", ""))
        try:
            prepared = await prepare_for(caller.tenant, text, flow_id=flow_id)
        except StoreError as exc:
            return page(request, "_message.html", kind="error", text=str(exc))
        return page(request, "_findings.html", findings=prepared.findings)


@get("/flow.schema.json", opt={"need": "viewer"}, include_in_schema=False)
async def flow_schema(request: Request[Any, Any, Any]) -> Response[bytes]:
    """The flow format's JSON Schema (``flowctl schema``), which the editor completes
    from."""
    cached = request.app.state.get("flow_schema")
    if cached is None:
        from flowctl.engine.schema import flow_json_schema

        cached = msgspec.json.encode(flow_json_schema())
        request.app.state.flow_schema = cached
    return Response(cached, media_type="application/json")


def _pretty(document: str) -> str:
    import json

    return json.dumps(json.loads(document), indent=2, ensure_ascii=False) + "\n"


def _again(flow_id: str, base: int | None) -> Redirect:
    query = f"?base={base}" if base is not None else ""
    return Redirect(f"/flows/{quote(flow_id, safe='')}/edit{query}", status_code=303)


def _page(
    request: Request[Any, Any, Any],
    flow_id: str,
    base: int | None,
    text: str,
    findings: list[StoredFinding] | None,
    status_code: int = 200,
) -> Template:
    return page(
        request,
        "edit.html",
        status_code,
        flow_id=flow_id,
        base=base,
        text=text,
        findings=findings,
        field_types=FIELD_TYPES,
    )
