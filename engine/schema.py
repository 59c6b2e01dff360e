"""The flow format's JSON Schema, generated from the spec structs (``flowctl schema``)."""

from __future__ import annotations

from typing import Any

import msgspec

from engine.spec import Flow, SingleAgentConfig

__all__ = ["flow_json_schema"]


def flow_json_schema() -> dict[str, Any]:
    """A JSON Schema (draft 2020-12) accepting a flow or a seed-001 single-agent config."""
    (flow, single), defs = msgspec.json.schema_components([Flow, SingleAgentConfig])
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "flowctl flow",
        "description": "A conversation flow for flowctl: states (agents) joined by edges.",
        "anyOf": [flow, single],
        "$defs": defs,
    }
