"""Version-making edits (seed 001's conveniences) on both document shapes: each changes
exactly what it says, leaves the input alone, and refuses what does not fit."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from conftest import lint_doc, minimal

from flowctl.engine.edits import (
    EditConflict,
    EditError,
    EditNotFound,
    add_output_field,
    remove_output_field,
    render,
    set_llm,
    set_tracing,
)
from flowctl.engine.store.documents import unified_diff

SEED001: dict[str, Any] = {
    "agent_id": "interview",
    "prompt_config": {"instructions": "Interview the candidate."},
    "schema_config": {
        "fields": [{"field_name": "system_response", "field_type": "str", "description": "Reply"}]
    },
    "llm_config": {"provider": "openai", "model": "gpt-5-nano", "temperature": 0.7},
    "tracing_config": {"enabled": True, "provider": "langfuse"},
}
SCORE = {"field_name": "score", "field_type": "int", "required": False, "default": 0}


def test_add_output_field_to_the_flow_and_to_a_state() -> None:
    doc = minimal()
    before = copy.deepcopy(doc)
    flow_level = add_output_field(doc, SCORE)
    assert flow_level["output"] == {"fields": [SCORE]}
    in_state = add_output_field(doc, SCORE, state="Main")
    assert in_state["agents"][0]["output"] == {"fields": [SCORE]}
    assert doc == before
    # lint judges the result: an output with nothing to speak is FL606
    assert [line.split()[1] for line in lint_doc(flow_level)] == ["FL606"]


def test_add_output_field_to_a_seed001_config() -> None:
    edited = add_output_field(SEED001, SCORE)
    assert [f["field_name"] for f in edited["schema_config"]["fields"]] == [
        "system_response",
        "score",
    ]
    assert add_output_field(SEED001, SCORE, state="interview") == edited


def test_add_output_field_twice_is_a_conflict() -> None:
    with pytest.raises(EditConflict) as caught:
        add_output_field(SEED001, {"field_name": "system_response"})
    assert str(caught.value) == "Output field `system_response` already exists in `schema_config`"
    assert caught.value.exit_code == 1


def test_remove_output_field() -> None:
    assert remove_output_field(SEED001, "system_response")["schema_config"] == {"fields": []}
    with pytest.raises(EditNotFound) as caught:
        remove_output_field(SEED001, "score")
    assert str(caught.value) == (
        "No output field `score` in `schema_config`; its fields: `system_response`"
    )
    with pytest.raises(EditNotFound) as caught:
        remove_output_field(minimal(), "score", state="Main")
    assert (
        str(caught.value) == "No output field `score` in state `Main`'s `output`; its fields: none"
    )


@pytest.mark.parametrize(
    ("document", "state", "message"),
    [
        (minimal(), "Billing", "Unknown state `Billing`; the flow's states: `Main`, `Goodbye`"),
        (
            SEED001,
            "Main",
            "Unknown state `Main`: a single-agent config has one state, `interview`",
        ),
    ],
    ids=["flow", "seed001"],
)
def test_edits_name_unknown_states(document: dict[str, Any], state: str, message: str) -> None:
    with pytest.raises(EditNotFound) as caught:
        set_llm(document, {"temperature": 0.2}, state=state)
    assert str(caught.value) == message


def test_set_tracing_toggles_and_keeps_the_rest() -> None:
    off = set_tracing(SEED001, {"enabled": False})
    assert off["tracing_config"] == {"enabled": False, "provider": "langfuse"}
    on = set_tracing(minimal(), {"enabled": True, "sample_rate": 0.5})
    assert on["tracing"] == {"enabled": True, "sample_rate": 0.5}
    assert SEED001["tracing_config"]["enabled"] is True


def test_set_llm_merges_and_none_removes() -> None:
    edited = set_llm(SEED001, {"temperature": 0.9, "model": None})
    assert edited["llm_config"] == {"provider": "openai", "temperature": 0.9}
    override = set_llm(minimal(), {"model": "gpt-4o-mini"}, state="Main")
    assert override["agents"][0]["llm"] == {"model": "gpt-4o-mini"}
    assert "llm" not in set_llm(override, {"model": None}, state="Main")["agents"][0]


def test_edits_refuse_a_block_that_is_not_an_object() -> None:
    with pytest.raises(EditError) as caught:
        set_tracing({**minimal(), "tracing": [1]}, {"enabled": True})
    assert str(caught.value) == "`tracing` is not an object; fix the document first"


def test_render_and_unified_diff() -> None:
    old = render(SEED001)
    new = render(set_llm(SEED001, {"temperature": 0.9}))
    assert old.startswith('{\n  "agent_id": "interview",\n')
    assert unified_diff(old, new, "interview@v1", "interview@v2").splitlines()[2:] == [
        "@@ -15,7 +15,7 @@",
        '   "llm_config": {',
        '     "provider": "openai",',
        '     "model": "gpt-5-nano",',
        '-    "temperature": 0.7',
        '+    "temperature": 0.9',
        "   },",
        '   "tracing_config": {',
        '     "enabled": true,',
    ]
