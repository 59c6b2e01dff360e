"""`flowctl simulate FLOW --scenario FILE`: scripted dry runs through the real agent."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any, cast

import pytest

pytest.importorskip("livekit.agents")

from click.testing import CliRunner
from conftest import EXAMPLES, FLOWS, ROOT, quiet_handoff
from workerkit import assert_covers_everything

from flowctl.cli.main import cli

SCENARIOS = FLOWS / "clinic.scenarios.json"


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


def first_scenario(tmp_path: Path) -> Path:
    """The clinic file's first scenario alone, in a file of its own."""
    doc = json.loads(SCENARIOS.read_text())
    doc["flow"] = str(FLOWS / "clinic.json")
    doc["knowledge"] = {"clinic": [str(FLOWS / "knowledge" / "clinic")]}
    doc["scenarios"] = doc["scenarios"][:1]
    path = tmp_path / "first.scenarios.json"
    path.write_text(json.dumps(doc))
    return path


def test_the_clinic_scenarios_pass(tmp_path: Path) -> None:
    code, out, err = run(
        "simulate", str(FLOWS / "clinic.json"), "--scenario", str(first_scenario(tmp_path))
    )
    assert code == 0
    assert out.splitlines()[0] == "PASS  a medication question goes to the specialist"
    assert "      transfer_to_specialist: IntakeAgent -> SpecialistAgent" in out.splitlines()
    assert err == "1 scenario: 1 passed, 0 failed\n"


def test_a_scenario_shows_the_silence_after_a_handoff_with_nothing_to_say(
    tmp_path: Path,
) -> None:
    turn = {"user": "The front desk, please.", "model": [{"call": "to_desk"}]}
    scenario = {"name": "the desk takes over in silence", "turns": [turn]}
    path = tmp_path / "quiet.scenarios.json"
    path.write_text(json.dumps({"flow": "quiet.json", "scenarios": [scenario]}))
    code, out, err = run("simulate", str(quiet_handoff(tmp_path)), "--scenario", str(path))
    assert (code, err) == (0, "1 scenario: 1 passed, 0 failed\n")
    assert out.splitlines() == [
        "PASS  the desk takes over in silence",
        "    user: The front desk, please.",
        "      to_desk: Main -> Desk",
        "    agent: (silence)",
        "    summary: Main -> Desk; ended in Desk (hangup)",
    ]


def test_the_demo_says_each_sentence_once_after_an_edge_that_speaks() -> None:
    """``make demo``: an edge's ``say`` is the agent's answer; the scripted model follows
    it with what comes next, never the same sentence again."""
    code, out, _ = run("simulate", str(FLOWS / "clinic.json"), "--scenario", str(SCENARIOS))
    assert code == 0
    lines = out.splitlines()
    staff = lines.index("    user: Yes, the one for my February visit, I was charged twice.")
    assert lines[staff + 1 : staff + 4] == [
        "      tool transfer_call -> ok",
        "    agent: Of course. I'm connecting you with a member of our staff now; please stay "
        "on the line.",
        "      call ended (transfer)",
    ]
    callback = lines.index(
        "    user: I'm at work right now. Can someone call me back after five on 555 014 2277?"
    )
    assert lines[callback + 1 : callback + 4] == [
        "      tool schedule_callback -> ok",
        "    agent: No problem. Someone from our front desk will call you back at 5550142277, "
        "today after 5 PM.",
        "    agent: Is there anything else I can help you with today?",
    ]


@pytest.mark.parametrize("flow", [p.stem for p in EXAMPLES])
def test_every_example_has_scenarios_that_pass_and_fire_every_edge(flow: str) -> None:
    path = FLOWS / f"{flow}.scenarios.json"
    code, out, err = run(
        "simulate", str(FLOWS / f"{flow}.json"), "--scenario", str(path), "--coverage"
    )
    assert code == 0, out
    assert err.endswith(" passed, 0 failed\n")
    assert_covers_everything(out)


def test_a_wrong_expectation_fails_with_a_diff_naming_the_turn(tmp_path: Path) -> None:
    doc = json.loads(first_scenario(tmp_path).read_text())
    doc["scenarios"][0]["turns"][1]["expect"]["state"] = "IntakeAgent"
    path = tmp_path / "wrong.scenarios.json"
    path.write_text(json.dumps(doc))
    code, out, err = run("simulate", str(FLOWS / "clinic.json"), "--scenario", str(path))
    assert code == 1
    assert out.splitlines()[0] == "FAIL  a medication question goes to the specialist"
    assert '    ✗ turn 2: state: expected "IntakeAgent", got "SpecialistAgent"' in out.splitlines()
    assert err == "1 scenario: 0 passed, 1 failed\n"


def test_json_output_and_a_refusal_the_scenario_expects(tmp_path: Path) -> None:
    doc = {
        "flow": str(FLOWS / "clinic.json"),
        "scenarios": [
            {
                "name": "no name yet",
                "turns": [
                    {
                        "user": "Transfer me to the specialist",
                        "model": [
                            {"call": "transfer_to_specialist"},
                            {"say": "May I have your name first?"},
                        ],
                        "expect": {
                            "state": "IntakeAgent",
                            "refused": ["transfer_to_specialist"],
                            "say_contains": "your name",
                        },
                    }
                ],
            }
        ],
    }
    path = tmp_path / "refused.scenarios.json"
    path.write_text(json.dumps(doc))
    code, out, _ = run(
        "simulate", str(FLOWS / "clinic.json"), "--scenario", str(path), "--format", "json"
    )
    assert code == 0
    result = json.loads(out)[0]
    assert result["passed"] is True
    assert result["turns"][0]["result"]["refused"] == ["transfer_to_specialist"]


def test_bad_scenario_files_are_usage_errors(tmp_path: Path) -> None:
    path = tmp_path / "bad.scenarios.json"
    path.write_text('{"flow": "clinic.json", "scenarios": [{"turns": []}]}')
    code, out, err = run("simulate", str(FLOWS / "clinic.json"), "--scenario", str(path))
    assert (code, out) == (2, "")
    assert (
        err
        == f"flowctl: error: {path}:1:39: Object missing required field `name` - at `$.scenarios[0]`\n"
    )


@pytest.mark.parametrize("flow", [p.stem for p in EXAMPLES])
def test_explore_reaches_every_edge_of_every_example(flow: str) -> None:
    code, out, err = run("simulate", str(FLOWS / f"{flow}.json"), "--explore", "--coverage")
    assert code == 0, out
    assert_covers_everything(out)
    assert err.endswith(" failed\n") and ", 0 failed" in err


@pytest.mark.parametrize(
    ("flow", "line"),
    [
        (
            "clinic",
            "    agent: To recap, you're booked with Dr. Marsh on Tuesday, March 11 at 10:30 AM. "
            "Thank you for calling Maple Grove Family Clinic. If your symptoms get worse or you "
            "have an emergency, please call 911. Take care, and goodbye!",
        ),
        (
            "support",
            "    agent: Great. Just to recap, <resolution_summary> Is there anything else I can "
            "help you with today?",
        ),
    ],
    ids=["the-edges-example", "a-marked-stand-in"],
)
def test_explore_passes_free_text_an_edge_can_quote(flow: str, line: str) -> None:
    code, out, _ = run("simulate", str(FLOWS / f"{flow}.json"), "--explore")
    assert code == 0
    assert line in out.splitlines()


def test_coverage_names_what_never_ran(tmp_path: Path) -> None:
    path = first_scenario(tmp_path)
    code, out, _ = run(
        "simulate", str(FLOWS / "clinic.json"), "--scenario", str(path), "--coverage"
    )
    assert code == 0
    lines = out.splitlines()
    assert "coverage: states 2/3, edges 1/10" in lines
    assert "  state never entered: Goodbye" in lines
    assert "  edge never fired: IntakeAgent.wrap_up_call" in lines


def talk(text: str, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["simulate", str(FLOWS / "clinic.json"), *args], input=text)
    return result.exit_code, result.stdout, result.stderr


GREETING = (
    "agent: You're speaking with the Maple Grove Family Clinic front-desk assistant. I can book, "
    "change or cancel an appointment, check your insurance, or connect you with our clinical "
    "team. How can I help you?"
)


def test_piped_lines_and_go_commands() -> None:
    code, out, err = talk("hi\n/go transfer_to_specialist\n")
    assert (code, err) == (0, "")
    assert out.splitlines() == [
        GREETING,
        "user: hi",
        "agent: [offline model: no edge's or tool's examples match; /go NAME {json} calls one by hand]",
        "/go transfer_to_specialist {}",
        "  refused transfer_to_specialist: Invalid arguments for `transfer_to_specialist`: "
        "Object missing required field `caller_name`",
        "summary: IntakeAgent; ended in IntakeAgent (hangup)",
    ]


def test_the_offline_model_takes_the_edge_whose_examples_match() -> None:
    code, out, _ = talk("Sorry, wrong number\n/state\n")
    assert code == 0
    lines = out.splitlines()
    assert lines[1:3] == ["user: Sorry, wrong number", "  tool end_call -> ok"]
    assert "  call ended (end_call)" in lines
    assert lines[-2:] == [
        "state: IntakeAgent",
        "summary: IntakeAgent; ended in IntakeAgent (end_call)",  # as the session ends
    ]


def test_go_moves_the_session_and_commands_show_the_conversation() -> None:
    code, out, _ = talk(
        '/go transfer_to_specialist {"caller_name": "Ana", "specialist_question": "ibuprofen"}\n'
        "/state\n/vars\n/edges\n/go nope\n/go x {oops\n/frobnicate\n/quit\nnever read\n",
        "--var",
        "clinic_name=Maple",
    )
    assert code == 0
    lines = out.splitlines()
    assert "  transfer_to_specialist: IntakeAgent -> SpecialistAgent" in lines
    assert "state: SpecialistAgent" in lines
    assert any(line.startswith('variables: {"caller_name": "Ana"') for line in lines)
    assert any(line.startswith("  return_to_intake(") for line in lines)
    assert "  refused nope: `nope` is not available in this step. Available: " in "\n".join(lines)
    assert (
        "  arguments are not JSON: Expecting property name enclosed in double quotes at column 2"
        in lines
    )
    assert "unknown command `/frobnicate`: /go, /state, /vars, /edges, /history, /quit" in lines
    assert "user: never read" not in lines


def test_a_bad_var_is_a_usage_error() -> None:
    code, out, err = talk("", "--var", "nope=1")
    assert (code, out) == (2, "")
    assert err == "flowctl: error: Unknown variable `nope` in the session's input\n"
    code, _, err = talk("", "--var", "novalue")
    assert (code, err) == (2, "flowctl: error: `--var novalue`: write NAME=VALUE\n")


def test_history_says_each_event_in_the_describers_words() -> None:
    code, out, err = talk("Sorry, wrong number\n/history\n")
    assert (code, err) == (0, "")
    assert out.splitlines()[1:] == [
        "user: Sorry, wrong number",
        "  tool end_call -> ok",
        "  call ended (end_call)",
        "(the call has ended in IntakeAgent; /history shows what happened)",
        "  entered  IntakeAgent",
        "  called   hang_up",
        "  tool     end_call",
        "  ended    end_call in IntakeAgent",
        '  result   end_call ok {"ended": true}',
        "  fired    hang_up: stayed in IntakeAgent",
        "summary: IntakeAgent; ended in IntakeAgent (end_call)",
    ]


def test_json_output_gives_each_transcript_line_its_kind(tmp_path: Path) -> None:
    code, out, _ = run("simulate", "--scenario", str(first_scenario(tmp_path)), "--format", "json")
    assert code == 0
    turn = json.loads(out)[0]["turns"][0]
    assert turn["lines"] == [
        "user: Hi, I have a question about my prescription.",
        "agent: Of course. May I have your name, please?",
    ]
    assert turn["kinds"] == ["user", "agent"]


def test_a_scenario_file_given_as_flow_runs_as_scenario(tmp_path: Path) -> None:
    path = first_scenario(tmp_path)
    code, out, err = run("simulate", str(path))
    assert code == 0
    assert (out, err) == run("simulate", "--scenario", str(path))[1:]
    assert err == "1 scenario: 1 passed, 0 failed\n"


def test_a_scenario_for_another_flow_is_refused_unless_overridden(tmp_path: Path) -> None:
    path = first_scenario(tmp_path)
    other = tmp_path / "copy.json"
    other.write_text((FLOWS / "clinic.json").read_text())
    code, out, err = run("simulate", str(other), "--scenario", str(path))
    assert (code, out) == (2, "")
    assert err == (
        f"flowctl: error: {path} is written for `{FLOWS / 'clinic.json'}`, not `{other}`: "
        f"give no FLOW to run it on its own, or add --override-flow to run it on `{other}`\n"
    )
    code, _, err = run("simulate", str(other), "--scenario", str(path), "--override-flow")
    assert (code, err) == (0, "1 scenario: 1 passed, 0 failed\n")
    code, _, err = run("simulate", str(other), "--override-flow")
    assert (code, err) == (
        2,
        "flowctl: error: --override-flow runs a --scenario file on FLOW: add --scenario\n",
    )


def test_a_var_declared_str_takes_its_text_as_written() -> None:
    code, out, err = talk("/vars\n", "--var", "caller_phone=5551234")
    assert (code, err) == (0, "")
    assert '"caller_phone": "5551234"' in out.splitlines()[-2]
    assert out.splitlines()[-1] == (
        "summary: IntakeAgent; ended in IntakeAgent (hangup); caller_phone: 5551234"
    )


def test_a_var_starts_each_scenario_unless_the_scenario_sets_it(tmp_path: Path) -> None:
    def phone(name: str, expected: str, given: dict[str, str]) -> dict:
        turn = {"user": "hi", "model": [{"say": "Hello."}]}
        turn["expect"] = {"variables": {"caller_phone": expected}}
        return {"name": name, "variables": given, "turns": [turn]}

    path = tmp_path / "phone.scenarios.json"
    doc = {
        "flow": str(FLOWS / "clinic.json"),
        "scenarios": [
            phone("from --var", "5551234", {}),
            phone("its own", "999", {"caller_phone": "999"}),
        ],
    }
    path.write_text(json.dumps(doc))
    code, _, err = run("simulate", str(path), "--var", "caller_phone=5551234")
    assert (code, err) == (0, "2 scenarios: 2 passed, 0 failed\n")
    code, _, err = run("simulate", str(path))
    assert (code, err) == (1, "2 scenarios: 1 passed, 1 failed\n")


def docs_scenario(tmp_path: Path) -> dict[str, Any]:
    """docs/simulation.md's scenario file example, as the doc prints it, next to a copy
    of the clinic flow it names (`"flow": "clinic.json"`)."""
    text = (ROOT / "docs" / "simulation.md").read_text()
    block = text.split("## Scenario files\n\n```json\n", 1)[1].split("```\n", 1)[0]
    shutil.copy(FLOWS / "clinic.json", tmp_path / "clinic.json")
    return cast("dict[str, Any]", json.loads(block))


def test_the_scenario_example_of_the_docs_runs_and_passes(tmp_path: Path) -> None:
    path = tmp_path / "doc.scenarios.json"
    path.write_text(json.dumps(docs_scenario(tmp_path)))
    code, out, err = run("simulate", "--scenario", str(path))
    assert (code, out.splitlines()[0], err) == (
        0,
        "PASS  a caller books a visit for Tuesday",
        "1 scenario: 1 passed, 0 failed\n",
    )


@pytest.mark.parametrize(
    ("answer", "ok", "failed"),
    [
        (
            {"status": "booked", "appointment_id": "APT-1", "slot": "Tue"},
            ["appointment_booking"],
            [],
        ),
        ({"$error": "the calendar is down"}, [], ["appointment_booking"]),
        ({"status": "booked"}, [], ["appointment_booking"]),  # lacks what the tool sets
    ],
)
def test_tools_ok_and_tools_failed_tell_a_tool_that_answered_from_one_that_failed(
    tmp_path: Path, answer: dict[str, Any], ok: list[str], failed: list[str]
) -> None:
    doc = docs_scenario(tmp_path)
    scenario = doc["scenarios"][0]
    scenario["mocks"] = {"appointment_booking": answer}
    scenario["turns"][0]["expect"] = {
        "tool_calls": ["appointment_booking"],
        "tools_ok": ["appointment_booking"],
        "tools_failed": [],
    }
    path = tmp_path / "tools.scenarios.json"
    path.write_text(json.dumps(doc))
    code, out, _ = run("simulate", "--scenario", str(path), "--format", "json")
    result = json.loads(out)[0]["turns"][0]
    assert (result["result"]["tools_ok"], result["result"]["tools_failed"]) == (ok, failed)
    expected_problems = (
        []
        if ok
        else [
            'tools_ok: expected ["appointment_booking"], got []',
            'tools_failed: expected [], got ["appointment_booking"]',
        ]
    )
    assert (code, result["problems"]) == (0 if ok else 1, expected_problems)
