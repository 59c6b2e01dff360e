"""Structured answers, the recap a `summary` state starts from, the tool steps a flow
needs and the coverage of runs: engine parts the adapter and the simulator rely on."""

from __future__ import annotations

import pytest
from flowkit import compile_doc, compile_example

from flowctl.engine.compile import MAX_TOOL_STEPS
from flowctl.engine.paths import RunCoverage, ran
from flowctl.engine.runtime import Conversation, OutputInvalid, OutputRecorded


def _flow(**state: object) -> dict[str, object]:
    main = {"name": "Main", "instructions": "Help.", "tools": ["end_call"], **state}
    return {"agents": [main]}


SURVEY = {
    "fields": [
        {"field_name": "system_response", "metadata": {"use_in_tts": True}},
        {"field_name": "score", "field_type": "int"},
    ]
}


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("Just words.", "not JSON: JSON is malformed: invalid character (byte 0)"),
        ("[1, 2]", "Expected `object`, got `array`"),
        ('{"system_response": "Hi"}', "Object missing required field `score`"),
        ('{"system_response": "Hi", "score": "7"}', "Expected `int`, got `str` - at `$.score`"),
    ],
    ids=["words", "array", "missing", "wrong-type"],
)
def test_an_answer_that_does_not_fit_is_recorded_as_invalid(text: str, error: str) -> None:
    conv = Conversation(compile_doc(_flow(output=SURVEY)), clock=lambda: 5.0)
    assert conv.record_answer(text) is None
    assert conv.history[-1] == OutputInvalid(at=5.0, state="Main", error=error, text=text)
    conv.close()


def test_an_answer_that_fits_is_recorded_as_output() -> None:
    conv = Conversation(compile_doc(_flow(output=SURVEY)), clock=lambda: 5.0)
    fields = conv.record_answer('{"score": 3, "system_response": "Three."}')
    assert fields == {"score": 3, "system_response": "Three."}
    assert conv.history[-1] == OutputRecorded(at=5.0, state="Main", fields=fields)
    conv.close()


def test_recap_names_the_path_and_what_is_known() -> None:
    compiled = compile_example("clinic")
    conv = Conversation(compiled)
    assert conv.recap() == "Summary of the call so far: it went IntakeAgent."
    conv.variables["caller_name"] = 'Ana "the" Tester'
    assert conv.recap() == (
        'Summary of the call so far: it went IntakeAgent. Known: {"caller_name":"Ana \\"the\\" Tester"}.'
    )
    conv.close()


def _with_tools(n: int) -> dict[str, object]:
    """One state offering ``n`` mock tools and ``end_call``."""
    tools = [{"kind": "mock", "name": f"t{i}", "description": "A tool"} for i in range(n)]
    return {**_flow(tools=[t["name"] for t in tools] + ["end_call"]), "tools": tools}


def test_max_tool_steps_fits_the_longest_chain_within_bounds() -> None:
    assert compile_doc(_flow()).max_tool_steps == 3  # never below LiveKit's default
    compiled = compile_doc(_with_tools(6))
    assert compiled.states[0].tool_steps == 9  # 7 staying functions, a refusal, a move
    assert compiled.max_tool_steps == 8  # LiveKit runs max_tool_steps + 1 rounds
    assert compile_doc(_with_tools(40)).max_tool_steps == MAX_TOOL_STEPS


def test_ran_reports_states_and_edges_that_never_ran() -> None:
    compiled = compile_example("clinic")
    report = ran(compiled, ["IntakeAgent.transfer_to_specialist"])
    assert isinstance(report, RunCoverage)
    assert (report.states_entered, report.states_total) == (2, 3)
    assert report.states_missed == ("Goodbye",)
    assert report.edges_fired == 1
    assert "IntakeAgent.wrap_up_call" in report.edges_missed
    assert "IntakeAgent.transfer_to_specialist" not in report.edges_missed
