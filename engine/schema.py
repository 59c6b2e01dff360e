"""The flow format's JSON Schema, generated from the spec structs (``flowctl schema``)."""

from __future__ import annotations

import copy
import inspect
from typing import Any

import msgspec

from flowctl.engine.spec import Flow, SingleAgentConfig, Template

__all__ = ["flow_json_schema"]

# What a template or an extending flow may hold in place of a whole state, edge or tool:
# the same fields, only `name` required (the rest merge into the template's part of that
# name, or make a new one; flowctl.engine.extends).
_NAMED: tuple[str, ...] = ("State", "Edge", "GlobalEdge", "BuiltinTool", "PythonTool")
_NAMED += ("CatalogTool", "HttpTool", "MockTool")
# The fields of a flow that name one flow, which a template cannot set.
_ONE_FLOW = ("flow_id", "customer_id", "version")


def flow_json_schema() -> dict[str, Any]:
    """A JSON Schema (draft 2020-12) accepting a flow, a flow that extends a template, a
    template, or a seed-001 single-agent config."""
    (flow, single, _), defs = msgspec.json.schema_components([Flow, SingleAgentConfig, Template])
    _add_partials(defs)
    schema: dict[str, Any] = _clean_descriptions(
        {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "title": "flowctl flow",
            "description": "A conversation flow for flowctl: states (agents) joined by edges.",
            "anyOf": [flow, {"$ref": "#/$defs/Extension"}, {"$ref": "#/$defs/Template"}, single],
            "$defs": defs,
        }
    )
    return schema


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/$defs/{name}"}


def _add_partials(defs: dict[str, Any]) -> None:
    """Add ``Extension`` (a flow that extends a template) and make ``Template`` the whole
    template document: the flow's fields, each optional, their named parts partial."""
    for name in _NAMED:
        part = copy.deepcopy(defs[name])
        part["title"] = f"{name}Override"
        part["required"] = ["name"]
        defs[f"{name}Override"] = part
    defs["StateOverride"]["properties"]["edges"]["items"] = _ref("EdgeOverride")
    partial = copy.deepcopy(defs["Flow"]["properties"])
    partial["agents"].pop("minItems", None)
    partial["agents"]["items"] = _ref("StateOverride")
    tools = partial["tools"]["items"]
    tools.pop("discriminator", None)  # an override may leave `kind` to the template
    tools["anyOf"] = [_ref(item["$ref"].rsplit("/", 1)[1] + "Override") for item in tools["anyOf"]]
    partial["global_edges"]["items"] = _ref("GlobalEdgeOverride")
    head = defs["Template"]["properties"]
    defs["Extension"] = {
        "title": "Extension",
        "description": "A flow that extends a template: its states, edges, tools, global "
        "edges and variables override the template's of their names or are added, "
        "its settings replace the template's, and `remove` takes parts out.",
        "type": "object",
        "properties": {**partial, "extends": head["extends"], "remove": head["remove"]},
        "required": ["extends"],
        "additionalProperties": False,
    }
    own = {key: value for key, value in partial.items() if key not in _ONE_FLOW}
    template = defs["Template"]
    template["properties"] = {**own, **head}
    template["additionalProperties"] = False


def _clean_descriptions(node: Any) -> Any:
    """The schema with every description's docstring indentation removed, as
    ``inspect.cleandoc`` does: msgspec releases differ on whether they strip it, and the
    committed ``flows/flow.schema.json`` must not depend on which one is installed."""
    if isinstance(node, dict):
        return {
            key: inspect.cleandoc(value)
            if key == "description" and isinstance(value, str)
            else _clean_descriptions(value)
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [_clean_descriptions(item) for item in node]
    return node
