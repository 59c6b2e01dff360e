"""`flowctl simulate` with other models than the scripted one, and the scenario runner's
answers to bad input: a missing flow, an unknown mock, steps a turn never reaches, a
model that never answers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("livekit.agents")

from click.testing import CliRunner
from conftest import FLOWS
from flowkit import compile_file
from livekit.agents import llm
from openai_fake import FakeOpenAI

from flowctl.cli.main import cli
from flowctl.cli.simulate import styled
from flowctl.engine.scenario import Scenario, Turn
from flowctl.worker.simulate import run_scenario
from flowctl.worker.transcript import Line

CLINIC = FLOWS / "clinic.json"
SPECIALIST = {"caller_name": "Ana", "specialist_question": "Can I take ibuprofen?"}


def run(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), env=env)
    return result.exit_code, result.stdout, result.stderr


def scenario_file(tmp_path: Path, scenarios: list[dict[str, Any]], flow: str = str(CLINIC)) -> Path:
    path = tmp_path / "s.scenarios.json"
    path.write_text(json.dumps({"flow": flow, "scenarios": scenarios}))
    return path


TO_SPECIALIST = {
    "name": "to the specialist",
    "turns": [
        {
            "user": "I'm Ana; can I take ibuprofen?",
            "expect": {"state": "SpecialistAgent", "edges": ["transfer_to_specialist"]},
        }
    ],
}


def test_a_real_model_behind_an_openai_compatible_endpoint(tmp_path: Path) -> None:
    path = scenario_file(tmp_path, [TO_SPECIALIST])
    replies = {
        "I'm Ana; can I take ibuprofen?": [{"call": "transfer_to_specialist", "args": SPECIALIST}]
    }
    with FakeOpenAI(replies) as server:
        code, out, err = run(
            "simulate",
            "--scenario",
            str(path),
            "--llm",
            "openai:local-model",
            "--base-url",
            server.url,
            env={"OPENAI_API_KEY": ""},
        )
    assert (code, err) == (0, "1 scenario: 1 passed, 0 failed\n"), out
    assert "      transfer_to_specialist: IntakeAgent -> SpecialistAgent" in out.splitlines()
    first = server.requests[0]
    assert first["model"] == "local-model"
    assert [t["function"]["name"] for t in first["tools"]][:2] == [
        "transfer_to_specialist",
        "wrap_up_call",
    ]
    assert first["messages"][0]["role"] == "system"


def test_a_real_model_that_goes_astray_fails_the_expectation(tmp_path: Path) -> None:
    path = scenario_file(tmp_path, [TO_SPECIALIST])
    with FakeOpenAI({"I'm Ana; can I take ibuprofen?": [{"say": "Sure, no problem!"}]}) as server:
        code, out, _ = run(
            "simulate", "--scenario", str(path), "--llm", "openai:m", "--base-url", server.url
        )
    assert code == 1
    assert '    ✗ turn 1: state: expected "SpecialistAgent", got "IntakeAgent"' in out.splitlines()


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (
            ["--llm", "openai:gpt-4.1"],
            {"OPENAI_API_KEY": ""},
            "flowctl: error: --llm openai:gpt-4.1 needs OPENAI_API_KEY in the environment "
            "(or --base-url URL for a local OpenAI-compatible server)\n",
        ),
        (
            ["--llm", "gemini:pro"],
            {},
            "flowctl: error: --llm `gemini:pro`: use scripted, offline or openai:MODEL "
            "(e.g. openai:gpt-4.1-mini)\n",
        ),
        (
            ["--base-url", "http://x"],
            {},
            "flowctl: error: --base-url goes with --llm openai:MODEL, not `scripted`\n",
        ),
    ],
    ids=["no-key", "unknown-provider", "base-url-alone"],
)
def test_model_choices_that_cannot_work_are_usage_errors(
    tmp_path: Path, args: list[str], env: dict[str, str], message: str
) -> None:
    path = scenario_file(tmp_path, [TO_SPECIALIST])
    code, _, err = run("simulate", "--scenario", str(path), *args, env=env)
    assert (code, err) == (2, message)


def test_the_offline_model_runs_scenarios_by_the_edges_examples(tmp_path: Path) -> None:
    scenarios = [
        {
            "name": "wrong number",
            "turns": [{"user": "Sorry, wrong number", "expect": {"ended": True}}],
        },
        {
            "name": "no match",
            "turns": [
                {
                    "user": "What's the weather?",
                    "expect": {"state": "IntakeAgent", "say_contains": "offline model"},
                }
            ],
        },
    ]
    code, out, err = run(
        "simulate", "--scenario", str(scenario_file(tmp_path, scenarios)), "--llm", "offline"
    )
    assert (code, err) == (0, "2 scenarios: 2 passed, 0 failed\n"), out


def test_flow_defaults_to_the_one_the_scenario_file_names(tmp_path: Path) -> None:
    scenarios = [{"name": "hello", "turns": [{"user": "hi", "expect": {"state": "IntakeAgent"}}]}]
    code, _, err = run("simulate", "--scenario", str(scenario_file(tmp_path, scenarios)))
    assert (code, err) == (0, "1 scenario: 1 passed, 0 failed\n")
    missing = scenario_file(tmp_path, scenarios, flow="nowhere.json")
    code, _, err = run("simulate", "--scenario", str(missing))
    assert code == 2
    assert err == (
        f"flowctl: error: {missing}: `flow` names `nowhere.json`, but there is no file "
        f"`{tmp_path / 'nowhere.json'}`\n"
    )
    code, _, err = run("simulate")
    assert (code, err) == (2, "flowctl: error: give a FLOW file, or --scenario FILE naming one\n")


def test_an_unknown_mock_and_unplayed_steps_are_named(tmp_path: Path) -> None:
    scenarios = [
        {"name": "bad mock", "mocks": {"apointment_booking": {}}, "turns": [{"user": "hi"}]},
        {"name": "bad turn mock", "turns": [{"user": "hi", "mocks": {"appointment_bookin": {}}}]},
        {
            "name": "steps after a handoff",
            "turns": [
                {
                    "user": "ibuprofen?",
                    "model": [
                        {"call": "transfer_to_specialist", "args": SPECIALIST},
                        {"say": "Connecting you now."},
                    ],
                }
            ],
        },
    ]
    code, out, _ = run("simulate", "--scenario", str(scenario_file(tmp_path, scenarios)))
    assert code == 1
    lines = out.splitlines()
    assert (
        "    ✗ `mocks` names no tool of the flow: `apointment_booking`; "
        "did you mean `appointment_booking`?"
    ) in lines
    assert (
        "    ✗ turn 1: `mocks` names no tool of the flow: `appointment_bookin`; "
        "did you mean `appointment_booking`?"
    ) in lines
    assert (
        "    ✗ turn 1: the turn ended before the script's last 1 step(s): say \"Connecting you "
        'now." (a handoff or the end of the call ends a turn; put later steps in the next turn)'
    ) in lines


class _Silent(llm.LLM):
    """A model that never answers."""

    def chat(self, **_: Any) -> llm.LLMStream:
        return _Never(self, chat_ctx=llm.ChatContext.empty(), tools=[], conn_options=_OPTIONS)


from livekit.agents.types import DEFAULT_API_CONNECT_OPTIONS as _OPTIONS  # noqa: E402


class _Never(llm.LLMStream):
    async def _run(self) -> None:
        import asyncio

        await asyncio.Event().wait()


async def test_a_turn_that_never_ends_times_out() -> None:
    compiled = compile_file(CLINIC)
    scenario = Scenario(name="stuck", turns=[Turn(user="hello"), Turn(user="again")])
    result = await run_scenario(compiled, scenario, model=lambda conv: _Silent(), timeout=0.3)
    assert result.passed is False
    assert result.error == "turn 1: no answer within 0.3 s"
    assert result.turns == []


def test_transcript_lines_are_coloured_by_kind() -> None:
    assert styled(Line("agent", "agent: hi"), True) == "\x1b[36magent: hi\x1b[0m"
    assert styled(Line("refused", "  refused x: no"), True) == "\x1b[33m  refused x: no\x1b[0m"
    assert styled(Line("fired", "  a: B -> C"), True) == "\x1b[32m  a: B -> C\x1b[0m"
    assert styled(Line("agent", "agent: hi"), False) == "agent: hi"


def test_names_the_flow_does_not_have_are_reported_before_running(tmp_path: Path) -> None:
    scenarios = [
        {
            "name": "typos",
            "turns": [
                {"user": "hi", "model": [{"call": "trasfer_to_specialist"}]},
                {"user": "and", "expect": {"state": "Specialist", "edges": ["wrap_up"]}},
            ],
        }
    ]
    code, out, _ = run("simulate", "--scenario", str(scenario_file(tmp_path, scenarios)))
    assert code == 1
    assert out.splitlines()[:2] == [
        "FAIL  typos",
        "    ✗ turn 1: unknown function `trasfer_to_specialist`; did you mean "
        "`transfer_to_specialist`?; turn 2: unknown state `Specialist`; did you mean "
        "`SpecialistAgent`?; turn 2: unknown edge `wrap_up`; did you mean `wrap_up_call`?",
    ]


def test_a_made_up_function_is_a_refusal_a_turn_may_expect(tmp_path: Path) -> None:
    hallucinated = {"user": "hi", "model": [{"call": "teleport"}, {"say": "Sorry."}]}
    expected = {**hallucinated, "expect": {"refused": ["teleport"], "state": "IntakeAgent"}}
    code, out, _ = run(
        "simulate",
        "--scenario",
        str(
            scenario_file(
                tmp_path,
                [
                    {"name": "expected", "turns": [expected]},
                    {"name": "unexpected", "turns": [hallucinated]},
                ],
            )
        ),
    )
    assert code == 1
    lines = out.splitlines()
    assert lines[0] == "PASS  expected"
    assert "      refused teleport: `teleport` is not available in this step. " in lines[3]
    # Said once, as a function (a name to refuse is not also an unknown edge).
    assert lines[-1] == (
        "    ✗ turn 1: unknown function `teleport`; no function of the flow has that name"
    )


UNREACHABLE = "http://127.0.0.1:9/v1"  # the discard port: nothing listens on loopback


@pytest.mark.parametrize("scenario", [False, True], ids=["repl", "scenario"])
def test_an_unreachable_model_is_one_line_naming_the_url(tmp_path: Path, scenario: bool) -> None:
    given = ["--scenario", str(scenario_file(tmp_path, [TO_SPECIALIST]))] if scenario else []
    result = CliRunner().invoke(
        cli,
        ["simulate", str(CLINIC), *given, "--llm", "openai:qwen2.5", "--base-url", UNREACHABLE],
        input="hello\n",
    )
    assert result.exit_code == 2
    assert result.stderr == (
        "flowctl: error: --llm openai:qwen2.5: cannot reach http://127.0.0.1:9/v1: "
        "All connection attempts failed\n"
    )
