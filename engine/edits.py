"""Edits that make a new version of a flow document: seed 001's conveniences (add or
remove a structured-output field, toggle tracing, change the LLM settings), applied to
the decoded JSON so everything else in the document stays as written.

Pure: a document (a dict) in, a new dict out; the input is never changed. Both shapes
of document are understood: a flow (``output``, ``llm`` and ``tracing`` at the top or
in a state of ``agents``) and a seed-001 single-agent config (``schema_config``,
``llm_config``, ``tracing_config``; its one state is named by ``agent_id``). Whether
the result is a good flow is lint's business: the caller pushes it as a new version,
which lints it.

::

    FlowError
    └── EditError          exit 2   the edit does not fit the document
        ├── EditNotFound   exit 2   no such state or output field
        └── EditConflict   exit 1   an output field of that name exists already
"""

from __future__ import annotations

import copy
import json
from typing import Any

from flowctl.engine.errors import FlowError

__all__ = [
    "EditConflict",
    "EditError",
    "EditNotFound",
    "add_output_field",
    "remove_output_field",
    "render",
    "set_llm",
    "set_tracing",
]


class EditError(FlowError):
    """The edit cannot be applied to this document."""


class EditNotFound(EditError):
    """The state or output field named does not exist."""


class EditConflict(EditError):
    """The edit would duplicate something already there."""

    exit_code = 1


def render(document: dict[str, Any]) -> str:
    """An edited document as text: 2-space JSON, keys in their order, UTF-8 kept."""
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def _seed001(document: dict[str, Any]) -> bool:
    return "agents" not in document and "agent_id" in document


def _block(document: dict[str, Any], key: str, state: str | None) -> dict[str, Any]:
    """The object holding ``key`` (``output``, ``llm`` or ``tracing``) for ``state``
    (None: the whole flow), in a document already copied."""
    if _seed001(document):
        if state is not None and state != document.get("agent_id"):
            raise EditNotFound(
                f"Unknown state `{state}`: a single-agent config has one state, "
                f"`{document.get('agent_id')}`"
            )
        return document
    if state is None:
        return document
    agents = document.get("agents")
    if isinstance(agents, list):
        for agent in agents:
            if isinstance(agent, dict) and agent.get("name") == state:
                return agent
    names = (
        [a.get("name") for a in agents if isinstance(a, dict)] if isinstance(agents, list) else []
    )
    known = ", ".join(f"`{n}`" for n in names if isinstance(n, str)) or "none"
    raise EditNotFound(f"Unknown state `{state}`; the flow's states: {known}")


def _key(document: dict[str, Any], key: str) -> str:
    """The document's name for ``key``: seed-001 configs say ``<key>_config`` (and
    ``schema_config`` for the output)."""
    if not _seed001(document):
        return key
    return "schema_config" if key == "output" else f"{key}_config"


def _object(holder: dict[str, Any], key: str, where: str) -> dict[str, Any]:
    value = holder.setdefault(key, {})
    if value is None:
        value = holder[key] = {}
    if not isinstance(value, dict):
        raise EditError(f"`{where}` is not an object; fix the document first")
    return value


def _where(state: str | None, key: str) -> str:
    return f"state `{state}`'s `{key}`" if state is not None else f"`{key}`"


def _fields(document: dict[str, Any], state: str | None) -> tuple[list[Any], str]:
    holder = _block(document, "output", state)
    key = _key(document, "output")
    output = _object(holder, key, key)
    fields = output.setdefault("fields", [])
    if not isinstance(fields, list):
        raise EditError(f"`{key}.fields` is not a list; fix the document first")
    return fields, _where(state, key)


def add_output_field(
    document: dict[str, Any], field: dict[str, Any], *, state: str | None = None
) -> dict[str, Any]:
    """A copy of ``document`` with ``field`` (an ``OutputField`` as JSON) appended to
    the output of ``state`` (None: the flow's)."""
    doc = copy.deepcopy(document)
    fields, where = _fields(doc, state)
    name = field.get("field_name")
    if any(isinstance(f, dict) and f.get("field_name") == name for f in fields):
        raise EditConflict(f"Output field `{name}` already exists in {where}")
    fields.append(field)
    return doc


def remove_output_field(
    document: dict[str, Any], name: str, *, state: str | None = None
) -> dict[str, Any]:
    """A copy of ``document`` without the output field ``name`` of ``state``."""
    doc = copy.deepcopy(document)
    fields, where = _fields(doc, state)
    kept = [f for f in fields if not (isinstance(f, dict) and f.get("field_name") == name)]
    if len(kept) == len(fields):
        have = [f.get("field_name") for f in fields if isinstance(f, dict)]
        known = ", ".join(f"`{n}`" for n in have if isinstance(n, str)) or "none"
        raise EditNotFound(f"No output field `{name}` in {where}; its fields: {known}")
    fields[:] = kept
    return doc


def _merge(target: dict[str, Any], changes: dict[str, Any]) -> None:
    """Set each changed key; a change to None removes the key (back to the default)."""
    for key, value in changes.items():
        if value is None:
            target.pop(key, None)
        else:
            target[key] = value


def set_tracing(document: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``document`` with its tracing settings changed (``{"enabled": false}``
    turns tracing off and keeps the provider)."""
    doc = copy.deepcopy(document)
    key = _key(doc, "tracing")
    _merge(_object(doc, key, key), changes)
    return doc


def set_llm(
    document: dict[str, Any], changes: dict[str, Any], *, state: str | None = None
) -> dict[str, Any]:
    """A copy of ``document`` with the LLM settings of ``state`` (None: the flow's)
    changed; a setting changed to None is removed, and an override left empty goes."""
    doc = copy.deepcopy(document)
    holder = _block(doc, "llm", state)
    key = _key(doc, "llm")
    llm = _object(holder, key, _where(state, key))
    _merge(llm, changes)
    if not llm and state is not None:
        del holder[key]
    return doc
