"""Scenario files: loading with located errors, and the checks of a turn."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from flowctl.engine.scenario import (
    Expect,
    ScenarioError,
    TurnResult,
    check_turn,
    load_scenarios,
)

GOOD = {
    "flow": "clinic.json",
    "scenarios": [
        {
            "name": "medication question goes to the specialist",
            "variables": {"caller_name": "Ana"},
            "mocks": {"appointment_booking": {"status": "booked", "slot": "Tue 10:00"}},
            "turns": [
                {
                    "user": "Hi, I'd like to book a visit on Tuesday",
                    "model": [
                        {"call": "appointment_booking", "args": {"day": "Tuesday"}},
                        {"say": "You're booked."},
                    ],
                    "expect": {
                        "state": "IntakeAgent",
                        "tool_calls": ["appointment_booking"],
                        "say_contains": "booked",
                    },
                }
            ],
        }
    ],
}


def write(tmp_path: Path, doc: object) -> Path:
    path = tmp_path / "clinic.scenarios.json"
    path.write_text(json.dumps(doc, indent=2))
    return path


def test_load_resolves_the_flow_beside_the_file(tmp_path: Path) -> None:
    scenarios, flow = load_scenarios(write(tmp_path, GOOD))
    assert flow == tmp_path / "clinic.json"
    assert scenarios.scenarios[0].turns[0].model[1].say == "You're booked."  # type: ignore[index]


def test_load_reports_every_problem_with_its_place(tmp_path: Path) -> None:
    bad = json.loads(json.dumps(GOOD))
    bad["scenarios"][0]["turns"][0]["expect"]["stat"] = "X"
    del bad["scenarios"][0]["name"]
    path = write(tmp_path, bad)
    with pytest.raises(ScenarioError) as exc:
        load_scenarios(path)
    assert str(exc.value) == (
        f"{path}:4:5: Object missing required field `name` - at `$.scenarios[0]`\n"
        f"{path}:34:13: Object contains unknown field `stat`; did you mean `state`? - at `$.scenarios[0].turns[0].expect.stat`"
    )


@pytest.mark.parametrize(
    ("step", "message"),
    [
        ({}, "give exactly one of `call`, `say` and `output` (found none)"),
        (
            {"call": "a", "say": "b"},
            "give exactly one of `call`, `say` and `output` (found `call`, `say`)",
        ),
        (
            {"say": "b", "output": {"x": 1}},
            "give exactly one of `call`, `say` and `output` (found `say`, `output`)",
        ),
        ({"say": "b", "args": {"x": 1}}, "`args` belong to a `call`"),
    ],
    ids=["none", "call-and-say", "say-and-output", "args-without-call"],
)
def test_a_model_step_is_a_call_a_say_or_an_output(
    tmp_path: Path, step: dict, message: str
) -> None:
    doc = {
        "flow": "f.json",
        "scenarios": [{"name": "s", "turns": [{"user": "hi", "model": [{"say": "ok"}, step]}]}],
    }
    path = write(tmp_path, doc)
    with pytest.raises(ScenarioError) as exc:
        load_scenarios(path)
    assert str(exc.value) == f"{path}:13:13: scenario `s`, turn 1: model step 2: {message}"


def test_every_bad_model_step_is_reported(tmp_path: Path) -> None:
    doc = {
        "flow": "f.json",
        "scenarios": [
            {"name": "a", "turns": [{"user": "hi", "model": [{}]}]},
            {
                "name": "b",
                "turns": [
                    {"user": "x"},
                    {
                        "user": "y",
                        "model": [
                            {"say": "s", "args": {}},
                            {"call": "c", "args": {"k": 1}},
                            {"output": {}, "say": "z"},
                        ],
                    },
                ],
            },
        ],
    }
    path = write(tmp_path, doc)
    with pytest.raises(ScenarioError) as exc:
        load_scenarios(path)
    lines = str(exc.value).splitlines()
    assert [line.split(": ", 1)[1] for line in lines] == [
        "scenario `a`, turn 1: model step 1: give exactly one of `call`, `say` and `output` (found none)",
        "scenario `b`, turn 2: model step 3: give exactly one of `call`, `say` and `output` (found `say`, `output`)",
    ]


def test_unreadable_and_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(
        ScenarioError, match=r"Cannot read `.*missing\.json`: No such file or directory"
    ):
        load_scenarios(tmp_path / "missing.json")
    path = tmp_path / "x.json"
    path.write_text("{")
    with pytest.raises(ScenarioError, match="invalid JSON: Input data was truncated"):
        load_scenarios(path)


def test_check_turn_lists_each_unmet_expectation() -> None:
    expect = Expect(
        state="SpecialistAgent",
        edges=["transfer_to_specialist"],
        tool_calls=[],
        variables={"caller_name": "Ana", "age": 30},
        say_contains="ibuprofen",
        output={"sentiment": "neutral"},
        ended=False,
        refused=[],
    )
    actual = TurnResult(
        state="IntakeAgent",
        edges=[],
        variables={"caller_name": "Ana"},
        said="Let me check.",
        output={"sentiment": "negative"},
        refused=["transfer_to_specialist"],
    )
    assert check_turn(expect, actual) == [
        'state: expected "SpecialistAgent", got "IntakeAgent"',
        'edges: expected ["transfer_to_specialist"], got []',
        "variables.age: expected 30, got null",
        'say_contains: expected "ibuprofen", got "Let me check."',
        'output.sentiment: expected "neutral", got "negative"',
        'refused: expected [], got ["transfer_to_specialist"]',
    ]
    assert check_turn(None, actual) == []
    assert check_turn(Expect(state="IntakeAgent", ended=False), actual) == []


def test_check_turn_tells_tools_that_answered_from_tools_that_failed() -> None:
    actual = TurnResult(
        state="IntakeAgent",
        tool_calls=["check_table", "check_table"],
        tools_ok=["check_table"],
        tools_failed=["check_table"],
    )
    assert check_turn(Expect(tool_calls=["check_table", "check_table"]), actual) == []
    assert check_turn(Expect(tools_ok=["check_table", "check_table"], tools_failed=[]), actual) == [
        'tools_ok: expected ["check_table","check_table"], got ["check_table"]',
        'tools_failed: expected [], got ["check_table"]',
    ]
