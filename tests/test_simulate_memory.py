"""Callers remembered in dry runs: a scenario file's calls of one caller run in order, the
later ones starting with what the earlier left (in this run's own memory, without a
store), and a scenario's `start` expectations checked before its first turn."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("livekit.agents")

from click.testing import CliRunner
from conftest import FLOWS

from flowctl.cli.main import cli

MEMORY = FLOWS / "clinic.memory.scenarios.json"


def _simulate(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["simulate", *args])
    return result.exit_code, result.stdout, result.stderr


def test_the_second_call_greets_the_caller_by_name_and_knows_their_visit() -> None:
    code, out, err = _simulate(str(MEMORY))
    assert (code, err) == (0, "4 scenarios: 4 passed, 0 failed\n"), out
    second = out.split("PASS  second call")[1]
    assert second.splitlines()[1] == (
        "    agent: Welcome back, Daniel Okafor! I see your visit on Tuesday, March 11 at "
        "10:30 AM. You're speaking with the Maple Grove Family Clinic front-desk assistant. I "
        "can book, change or cancel an appointment, check your insurance, or connect you with "
        "our clinical team. How can I help you?"
    )


def test_a_later_call_alone_finds_nothing_remembered(tmp_path: Path) -> None:
    doc = json.loads(MEMORY.read_text())
    alone = {"flow": str(FLOWS / "clinic.json"), "scenarios": doc["scenarios"][1:2]}
    path = tmp_path / "second.scenarios.json"
    path.write_text(json.dumps(alone))
    code, out, err = _simulate(str(path))
    assert (code, err) == (1, "1 scenario: 0 passed, 1 failed\n")
    problems = [line for line in out.splitlines() if "✗" in line]
    assert problems == [
        '    ✗ start: variables.patient_name: expected "Daniel Okafor", got null',
        '    ✗ start: variables.appointment_id: expected "APT-48213", got null',
        '    ✗ start: variables.appointment_time: expected "Tuesday, March 11 at 10:30 AM", '
        "got null",
        '    ✗ start: say_contains: expected "Welcome back, Daniel Okafor! I see your visit on '
        "Tuesday, March 11 at 10:30 AM. You're speaking with\", got \"You're speaking with the "
        "Maple Grove Family Clinic front-desk assistant. I can book, change or cancel an "
        "appointment, check your insurance, or connect you with our clinical team. How can I "
        'help you?"',
    ]


def test_a_start_expectation_naming_no_state_is_refused(tmp_path: Path) -> None:
    doc = {
        "flow": str(FLOWS / "clinic.json"),
        "scenarios": [
            {"name": "x", "start": {"state": "Intake"}, "turns": [{"user": "Hello"}]},
        ],
    }
    path = tmp_path / "bad.scenarios.json"
    path.write_text(json.dumps(doc))
    code, out, _ = _simulate(str(path))
    assert code == 1
    assert out.splitlines()[1] == (
        "    ✗ start: unknown state `Intake`; did you mean `IntakeAgent`?"
    )
