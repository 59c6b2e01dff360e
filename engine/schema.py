"""The flow format's JSON Schema, generated from the spec structs (``flowctl schema``)."""

from __future__ import annotations

import inspect
from typing import Any

import msgspec

from flowctl.engine.spec import Flow, SingleAgentConfig

__all__ = ["flow_json_schema"]


def flow_json_schema() -> dict[str, Any]:
    """A JSON Schema (draft 2020-12) accepting a flow or a seed-001 single-agent config."""
    (flow, single), defs = msgspec.json.schema_components([Flow, SingleAgentConfig])
    schema: dict[str, Any] = _clean_descriptions(
        {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "title": "flowctl flow",
            "description": "A conversation flow for flowctl: states (agents) joined by edges.",
            "anyOf": [flow, single],
            "$defs": defs,
        }
    )
    return schema


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
