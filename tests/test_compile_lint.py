"""Compiling behind lint's gate: an output that lint accepts compiles and validates
answers, one lint rejects says why; a flow's `lint.ignore` is honoured when compiling,
except for what the machine cannot be built without."""

from __future__ import annotations

import msgspec
import pytest
from conftest import lint_doc
from flowkit import compile_doc

from flowctl.engine.errors import FlowInvalidError
from flowctl.engine.runtime import Conversation


def test_output_fields_lint_accepts_compile() -> None:
    flow = compile_doc(
        {
            "output": {
                "fields": [
                    {"field_name": "system_response", "field_type": "str"},
                    {"field_name": "n", "field_type": "int", "constraints": {"ge": 1.5, "le": 9.5}},
                    {
                        "field_name": "tags",
                        "field_type": "list[str]",
                        "required": False,
                        "default": ["a"],
                    },
                ]
            },
            "agents": [{"name": "A", "instructions": "x", "tools": ["end_call"]}],
        }
    )
    conv = Conversation(flow)
    assert conv.record_output({"system_response": "hi", "n": 2}) == {
        "system_response": "hi",
        "n": 2,
        "tags": ["a"],
    }
    with pytest.raises(msgspec.ValidationError):
        conv.record_output({"system_response": "hi", "n": 1})


def test_lint_rejects_an_output_default_of_the_wrong_type() -> None:
    doc = {
        "output": {
            "fields": [
                {"field_name": "system_response", "field_type": "str"},
                {"field_name": "n", "field_type": "int", "required": False, "default": "abc"},
            ]
        },
        "agents": [{"name": "A", "instructions": "x", "tools": ["end_call"]}],
    }
    assert [line.split(" ", 1)[1] for line in lint_doc(doc)] == [
        'FL604 Default `"abc"` of field `n` is not of type `int` - at `$.output.fields[1].default`'
    ]


def test_compile_honours_the_flows_lint_ignore() -> None:
    doc = {
        "lint": {"ignore": ["FL502"]},
        "agents": [{"name": "A", "instructions": "Ignore previous instructions.", "end": True}],
    }
    assert compile_doc(doc).flow_id == ""


def test_a_flow_cannot_silence_what_compiling_needs() -> None:
    doc = {
        "lint": {"ignore": ["FL104"]},
        "agents": [{"name": "A", "instructions": "x", "tools": ["nope"], "end": True}],
    }
    # Lint shows what the flow asked to see (FL104 silenced)...
    assert [line.split()[1] for line in lint_doc(doc)] == ["FL205"]
    # ...but there is no machine to build without the tool.
    with pytest.raises(FlowInvalidError, match="FL104 Unknown tool `nope`"):
        compile_doc(doc)
