"""``flowctl simulate`` ends each session as the worker ends a call: its summary in one
line, then (for a flow that declares one) its evaluation, which a scenario may
``expect``; a real model grades the rubric, the stand-ins leave it not graded; a
recorded session keeps both, and ``sessions show`` prints them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("livekit.agents")

from click.testing import CliRunner
from flowkit import compile_doc

from flowctl.cli.main import cli
from flowctl.engine.evaluation import RUBRIC_INSTRUCTIONS, Criterion, RubricGrade
from flowctl.engine.scenario import Scenario, Turn
from flowctl.worker.llm import ScriptedLLM, Step
from flowctl.worker.simulate import run_scenario

RUBRIC = "The agent confirmed the day back to the caller."
DESK: dict[str, Any] = {
    "flow_id": "desk",
    "variables": {"day": {"type": "str", "description": "The day booked"}},
    "evaluation": {
        "goals": [{"name": "booked", "state": "Booked"}],
        "required": ["day"],
        "rubric": [RUBRIC],
    },
    "agents": [
        {
            "name": "Main",
            "instructions": "Help the caller book a day.",
            "on_enter_prompt": "Hello.",
            "edges": [
                {
                    "name": "book",
                    "description": "The caller picked a day",
                    "target_agent": "Booked",
                    "parameters": {"day": {"type": "str", "description": "The day"}},
                    "examples": [{"text": "Tuesday works for me", "args": {"day": "Tuesday"}}],
                }
            ],
        },
        {
            "name": "Booked",
            "instructions": "Say goodbye.",
            "on_enter_prompt": "Booked for {{day}}.",
            "end": True,
        },
    ],
}
BOOK = {
    "user": "Tuesday, please.",
    "model": [{"call": "book", "args": {"day": "Tuesday"}}],
    "expect": {"state": "Booked", "ended": True},
}


def flowctl(*args: str, stdin: str | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), input=stdin)
    return result.exit_code, result.stdout, result.stderr


def files(tmp_path: Path, *scenarios: dict[str, Any]) -> Path:
    (tmp_path / "desk.json").write_text(json.dumps(DESK))
    path = tmp_path / "desk.scenarios.json"
    path.write_text(json.dumps({"flow": "desk.json", "scenarios": list(scenarios)}))
    return path


def test_each_scenario_ends_with_its_summary_and_evaluation(tmp_path: Path) -> None:
    booked = {"name": "books Tuesday", "turns": [BOOK], "evaluation": {"passed": True}}
    hello = {
        "name": "hangs up at once",
        "turns": [{"user": "Hello?", "model": [{"say": "Hi! Which day suits you?"}]}],
        "evaluation": {"passed": True, "goals": {"booked": True}, "missing": []},
    }
    code, out, err = flowctl("simulate", "--scenario", str(files(tmp_path, booked, hello)))
    assert (code, err) == (1, "2 scenarios: 1 passed, 1 failed\n")
    assert out.splitlines() == [
        "PASS  books Tuesday",
        "    agent: Hello.",
        "    user: Tuesday, please.",
        "      book: Main -> Booked",
        "    agent: Booked for Tuesday.",
        "      call ended (end_state)",
        "    summary: Main -> Booked; ended in Booked (end_state); day: Tuesday",
        "    evaluation: passed: goals 1/1, variables 1/1, rubric not graded",
        "FAIL  hangs up at once",
        "    agent: Hello.",
        "    user: Hello?",
        "    agent: Hi! Which day suits you?",
        "    summary: Main; ended in Main (hangup)",
        "    evaluation: failed: goals 0/1 (not met: booked), variables 0/1 (missing: day), "
        "rubric not graded",
        "    ✗ evaluation.passed: expected true, got false",
        "    ✗ evaluation.goals.booked: expected true, got false",
        '    ✗ evaluation.missing: expected [], got ["day"]',
    ]


def test_json_output_carries_the_summary_and_the_evaluation(tmp_path: Path) -> None:
    path = files(tmp_path, {"name": "books Tuesday", "turns": [BOOK]})
    code, out, _ = flowctl("simulate", "--scenario", str(path), "--format", "json")
    assert code == 0
    [result] = json.loads(out)
    assert result["summary"] == "Main -> Booked; ended in Booked (end_state); day: Tuesday"
    assert result["problems"] == []
    assert result["evaluation"] == {
        "flow_id": "desk",
        "passed": True,
        "outcome": "end_state",
        "goals": [{"name": "booked", "met": True, "detail": "entered `Booked`"}],
        "collected": {"day": "Tuesday"},
        "missing": [],
        "visited": ["Main", "Booked"],
        "rubric": {"criteria": [], "error": "not graded"},
        "text": "passed: goals 1/1, variables 1/1, rubric not graded",
    }


def test_an_expected_goal_the_flow_does_not_have_is_a_scenario_error(tmp_path: Path) -> None:
    scenario = {"name": "x", "turns": [BOOK], "evaluation": {"goals": {"bookd": True}}}
    code, out, _ = flowctl("simulate", "--scenario", str(files(tmp_path, scenario)))
    assert code == 1
    assert out.splitlines() == [
        "FAIL  x",
        "    ✗ `evaluation` expects unknown goal `bookd`; did you mean `booked`?",
    ]


async def test_a_real_model_grades_the_rubric_with_our_prompt() -> None:
    """A model that is not the scripted stand-in (its steps are not the scenario's):
    it books, then answers the rubric's request, our prompt, with its grades."""
    grades = {"grades": [{"met": False, "reason": "It never said the day."}]}
    answering = ScriptedLLM()
    answering.plan([Step.call("book", {"day": "Tuesday"}), Step.say(json.dumps(grades))])
    scenario = Scenario(name="graded", turns=[Turn(user="Tuesday works")])
    result = await run_scenario(
        compile_doc(DESK), scenario, model=lambda conv: answering, grade=True
    )
    assert result.evaluation is not None
    assert result.evaluation.rubric == RubricGrade(
        criteria=[Criterion(criterion=RUBRIC, met=False, reason="It never said the day.")]
    )
    assert result.evaluation.text == "failed: goals 1/1, variables 1/1, rubric 0/1 (not met: 1)"
    system, user = answering.contexts[-1].items
    assert system.text_content == RUBRIC_INSTRUCTIONS
    assert json.loads(user.text_content or "") == {
        "criteria": [{"number": 1, "criterion": RUBRIC}],
        "transcript": [
            {"speaker": "agent", "text": "Hello."},
            {"speaker": "caller", "text": "Tuesday works"},
            {"speaker": "agent", "text": "Booked for Tuesday."},
        ],
    }


def test_a_recorded_dry_run_keeps_its_evaluation_for_sessions_show(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'flowctl.db'}"
    path = files(tmp_path, {"name": "books Tuesday", "turns": [BOOK]})
    for command in (
        ["store", "init"],
        ["tenants", "create", "acme"],
        ["store", "push", str(tmp_path / "desk.json"), "-t", "acme", "--publish"],
    ):
        assert flowctl(*command, "--store", url)[0] == 0, command
    code, _, err = flowctl(
        "simulate", "--scenario", str(path), "--record", "--store", url, "-t", "acme"
    )
    assert code == 0
    session = err.split()[1]
    code, out, _ = flowctl("sessions", "show", session, "--store", url, "-t", "acme")
    assert code == 0
    assert out.splitlines()[3:6] == [
        out.splitlines()[3],  # ended <time> (end_state)
        "summary  Main -> Booked; ended in Booked (end_state); day: Tuesday",
        "evaluation passed: goals 1/1, variables 1/1, rubric not graded",
    ]
    assert out.splitlines()[3].endswith(" (end_state)")
