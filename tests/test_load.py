"""Loading: every way a file can be broken gives a finding with its place, never a
traceback; valid documents of both shapes decode."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import FIXTURES, lint_doc, minimal

from flowctl.engine.errors import FlowReadError
from flowctl.engine.load import MAX_FILE_BYTES, load_bytes, load_path
from flowctl.engine.spec import Flow, MockTool, SingleAgentConfig


def test_seed_000_example_decodes_unchanged() -> None:
    loaded = load_path(FIXTURES / "seed000.json")
    assert loaded.findings == []
    flow = loaded.flow
    assert isinstance(flow, Flow)
    assert flow.customer_id == "healthcare_clinic"
    assert flow.flow_id == "seed000"  # the file stem when the document has none
    assert [s.name for s in flow.agents] == ["IntakeAgent", "SpecialistAgent"]
    edge = flow.agents[0].edges[0]
    assert (edge.name, edge.action, edge.target_agent) == (
        "transfer_to_specialist",
        "handoff",
        "SpecialistAgent",
    )
    assert flow.agents[1].tools == ["medical_lookup", "prescription_check"]


SEED_001 = {
    "agent_id": "interview-agent-strict-v1",
    "agent_type": "interview",
    "version": "1.0.0",
    "enabled": True,
    "prompt_config": {
        "template_id": "strict_interview",
        "instructions": "You are a very strict interviewer...",
        "dynamic_vars": {"candidate": "Ana", "attempt": 2},
    },
    "schema_config": {
        "schema_id": "strict_schema_v1",
        "fields": [
            {
                "field_name": "system_response",
                "field_type": "str",
                "description": "Response to candidate",
                "required": True,
                "metadata": {"use_in_tts": False, "hidden": False},
            }
        ],
    },
    "llm_config": {
        "provider": "openai",
        "model": "gpt-5-nano",
        "temperature": 0.5,
        "supports_structured_output": True,
    },
    "tts_config": {"provider": "deepgram", "instruction_field": "voice_instructions"},
    "tracing_config": {"enabled": True, "provider": "langfuse", "sample_rate": 1.0},
    "tenant_config": {"tenant_id": "customer-a", "isolation_level": "organization"},
}


def test_seed_001_single_agent_config_becomes_a_one_state_flow() -> None:
    loaded = load_bytes(json.dumps(SEED_001).encode(), "strict.json", stem="strict")
    assert loaded.seed001 and loaded.findings == []
    flow = loaded.flow
    assert flow is not None
    assert flow.flow_id == "interview-agent-strict-v1"
    assert flow.customer_id == "customer-a"
    assert [(s.name, s.instructions) for s in flow.agents] == [
        ("interview-agent-strict-v1", "You are a very strict interviewer...")
    ]
    assert {k: (v.type, v.default) for k, v in flow.variables.items()} == {
        "candidate": ("str", "Ana"),
        "attempt": ("int", 2),
    }
    assert flow.output is not None and flow.output.schema_id == "strict_schema_v1"
    assert flow.llm is not None and flow.llm.temperature == 0.5
    assert flow.tracing is not None and flow.tracing.enabled


def test_seed_001_shape_errors_point_into_its_own_fields() -> None:
    doc = {**SEED_001, "llm_config": {"temprature": 0.5}}
    assert lint_doc(doc)[0] == (
        "30:5 FL004 Object contains unknown field `temprature`; did you mean `temperature`? "
        "- at `$.llm_config.temprature`"
    )


def test_tools_are_tagged_by_kind() -> None:
    doc = minimal()
    doc["tools"] = [{"kind": "mock", "name": "lookup", "description": "x", "result": {"a": 1}}]
    loaded = load_bytes(json.dumps(doc).encode(), "f.json")
    assert loaded.flow is not None
    assert loaded.flow.tools == [MockTool(name="lookup", description="x", result={"a": 1})]


@pytest.mark.parametrize(
    ("data", "finding"),
    [
        (b"", "1:1 FL001 File is empty; a flow is a JSON object"),
        (b"  \n\t ", "1:1 FL001 File is empty; a flow is a JSON object"),
        (b"[1, 2]", "1:1 FL002 Expected `object`, got `array` - at `$`"),
        (b'"flow"', "1:1 FL002 Expected `object`, got `str` - at `$`"),
        (
            b'{"agents": [\n  {"name": "a",}\n]}',
            "2:16 FL001 Invalid JSON: trailing comma in object",
        ),
        (b'{"agents": [', "1:13 FL001 Invalid JSON: unexpected end of file"),
        (b'{"agents": []} x', "1:16 FL001 Invalid JSON: trailing characters"),
        (b'{"name": "caf\xc3\xa9 \xff"}', "1:16 FL001 File is not valid UTF-8 (byte 0xff)"),
        (b"[" * 100_000 + b"]" * 100_000, "1:1 FL001 Invalid JSON: nested too deeply"),
        (b'{"agents": []}', "1:12 FL005 Expected `array` of length >= 1 - at `$.agents`"),
        (b"{}", "1:1 FL003 Object missing required field `agents` - at `$`"),
        (b'{"agents": [], "x": 1e999}', "1:1 FL001 Invalid JSON: number out of range"),
        (b'{"agents": [], "x": NaN}', "1:21 FL001 Invalid JSON: invalid character"),
        (
            b'{"agents": [], "x": "\\ud800"}',
            "1:22 FL001 Invalid JSON: `\\ud800` is half of a surrogate pair",
        ),
    ],
    ids=[
        "empty",
        "blank",
        "array-root",
        "string-root",
        "trailing-comma",
        "truncated",
        "trailing-characters",
        "invalid-utf8",
        "nested-100000",
        "no-agents",
        "empty-object",
        "infinite-number",
        "nan",
        "lone-surrogate",
    ],
)
def test_broken_documents_give_located_findings(data: bytes, finding: str) -> None:
    """Each broken document: exactly one finding, located."""
    assert lint_doc(data) == [finding]


def test_byte_order_mark_is_a_warning_and_the_flow_still_lints() -> None:
    data = b"\xef\xbb\xbf" + json.dumps(minimal(tools=["nope"]), indent=2).encode()
    assert lint_doc(data) == [
        "1:1 FL007 File starts with a UTF-8 byte order mark; save it without one",
        "14:9 FL104 Unknown tool `nope` - at `$.agents[0].tools[0]`",
    ]


def test_every_shape_problem_is_reported_at_once() -> None:
    text = """{
  "agents": [
    {"name": "A", "instuctions": "hi", "tools": 5,
     "edges": [{"name": "e", "action": "hanoff", "target_agent": "B"}]},
    {"name": "", "instructions": "x", "context": "kep"}
  ],
  "tools": [{"kind": "mok", "name": "t"}, {"name": "u"}],
  "tracing": {"sample_rate": 2}
}"""
    assert lint_doc(text) == [
        "3:5 FL003 Object missing required field `instructions` - at `$.agents[0]`",
        "3:19 FL004 Object contains unknown field `instuctions`; did you mean `instructions`? - at `$.agents[0].instuctions`",
        "3:49 FL002 Expected `array`, got `int` - at `$.agents[0].tools`",
        "4:40 FL005 Invalid value `hanoff`: expected one of `action`, `handoff`; did you mean `handoff`? - at `$.agents[0].edges[0].action`",
        "5:14 FL005 Expected `str` of length >= 1 - at `$.agents[1].name`",
        "5:50 FL005 Invalid value `kep`: expected one of `keep`, `reset`, `summary`; did you mean `keep`? - at `$.agents[1].context`",
        "7:22 FL005 Invalid value `mok`: expected one of `builtin`, `python`, `catalog`, `http`, `mock`, `knowledge`; did you mean `mock`? - at `$.tools[0].kind`",
        "7:43 FL003 Object missing required field `kind` - at `$.tools[1]`",
        "8:30 FL005 Expected `float` <= 1 - at `$.tracing.sample_rate`",
    ]


def test_a_number_where_a_list_belongs() -> None:
    assert lint_doc(minimal(edges=3)) == [
        "6:16 FL002 Expected `array`, got `int` - at `$.agents[0].edges`"
    ]


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("context", 3, []),
        ("context", -1, ["6:18 FL005 Expected `int` >= 0 - at `$.agents[0].context`"]),
        (
            "context",
            True,
            ["6:18 FL002 Expected `str | int | object`, got `bool` - at `$.agents[0].context`"],
        ),
        ("end", "yes", ["6:14 FL002 Expected `bool`, got `str` - at `$.agents[0].end`"]),
    ],
)
def test_union_and_scalar_fields(field: str, value: object, expected: list[str]) -> None:
    doc = minimal()
    doc["agents"][0] = {
        "name": "Main",
        "instructions": "Help.",
        field: value,
        "edges": doc["agents"][0]["edges"],
    }
    assert lint_doc(doc) == expected


def test_python_tool_function_must_be_an_import_path() -> None:
    doc = minimal(tools=["lookup"])
    doc["tools"] = [
        {
            "kind": "python",
            "name": "lookup",
            "description": "Look it up for the caller",
            "function": "not a path",
        }
    ]
    assert lint_doc(doc) == [
        "28:19 FL005 Expected `str` matching regex '^[A-Za-z_][\\\\w.]*:[A-Za-z_]\\\\w*$' - at `$.tools[0].function`"
    ]


def test_huge_file_is_refused_without_reading_it(tmp_path: Path) -> None:
    path = tmp_path / "huge.json"
    with path.open("wb") as f:
        f.truncate(MAX_FILE_BYTES + 1)
    loaded = load_path(path)
    assert loaded.flow is None
    assert [f.text for f in loaded.findings] == ["File is 10.0 MiB; flows are limited to 10 MiB"]


def test_unreadable_and_missing_files_raise_a_read_error(tmp_path: Path) -> None:
    with pytest.raises(FlowReadError) as exc:
        load_path(tmp_path / "missing.json")
    assert str(exc.value) == f"Cannot read `{tmp_path / 'missing.json'}`: No such file or directory"
    assert exc.value.exit_code == 2


def test_single_agent_config_type_is_exported() -> None:
    assert SingleAgentConfig.__name__ == "SingleAgentConfig"
