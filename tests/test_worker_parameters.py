"""Parameters, state writes and guards through the adapter in a real, text-only
AgentSession, and the language scenarios that use them through `flowctl simulate`."""

from __future__ import annotations

import pytest

pytest.importorskip("livekit.agents")

from click.testing import CliRunner
from conftest import FIXTURES
from flowkit import compile_file
from livekit.agents import AgentSession
from workerkit import assert_covers_everything

from flowctl.cli.main import cli
from flowctl.engine.runtime import Conversation, RefusedEvent
from flowctl.worker.agent import FlowAgent
from flowctl.worker.llm import ScriptedLLM, Step

LANG = FIXTURES / "lang"
MEDS = [{"name": "ibuprofen", "dosage_mg": 200}, {"name": "lisinopril", "dosage_mg": 10}]
RECORD = {"email": "ana@example.com", "birth_date": "1990-03-03", "age": 34, "medications": MEDS}


async def test_nested_arguments_reach_the_engine_and_a_bad_one_is_refused_to_the_model() -> None:
    conv = Conversation(compile_file(LANG / "parameters.json"))
    model = ScriptedLLM()
    async with AgentSession(llm=model) as session:
        await session.start(FlowAgent(conv))
        model.plan(
            [
                Step.call("record_patient", {**RECORD, "email": "ana"}),
                Step.call("record_patient", RECORD),
                Step.say("Thank you."),
            ]
        )
        result = await session.run(user_input="ana@example.com, 1990-03-03, 34, ibuprofen")
        assert conv.state == "Review"
        assert conv.variables["medications"] == [
            {"name": "ibuprofen", "dosage_mg": 200.0, "times_per_day": 1},
            {"name": "lisinopril", "dosage_mg": 10.0, "times_per_day": 1},
        ]
        refused = [e.reason for e in conv.history if isinstance(e, RefusedEvent)]
        assert refused == [
            "Invalid arguments for `record_patient`: Expected an email address, got `ana` - "
            "at `$.email`"
        ]
        outputs = [e for e in result.events if type(e).__name__ == "FunctionCallOutputEvent"]
        assert outputs[0].item.is_error and refused[0] in outputs[0].item.output


async def test_writes_and_a_guards_own_refusal_through_the_session() -> None:
    conv = Conversation(compile_file(LANG / "state_writes.json"))
    model = ScriptedLLM()
    async with AgentSession(llm=model) as session:
        await session.start(FlowAgent(conv))
        model.plan([Step.call("check_out", {}), Step.say("What would you like?")])
        result = await session.run(user_input="I'll pay.")
        outputs = [e for e in result.events if type(e).__name__ == "FunctionCallOutputEvent"]
        assert "the order is empty" in outputs[0].item.output
        assert "len(order)" not in outputs[0].item.output
        model.plan(
            [
                Step.call("add_item", {"item": "eclair"}),
                Step.call("check_out", {}),
                Step.say("Done"),
            ]
        )
        await session.run(user_input="An eclair, and that's all.")
        assert conv.state == "Paid"
        assert conv.variables == {"order": ["eclair"], "checked_out": True}


@pytest.mark.parametrize("flow", ["parameters", "state_writes", "guards"])
def test_the_language_scenarios_pass_and_cover_their_flow(flow: str) -> None:
    scenarios = LANG / f"{flow}.scenarios.json"
    result = CliRunner().invoke(
        cli, ["simulate", str(LANG / f"{flow}.json"), "--scenario", str(scenarios), "--coverage"]
    )
    assert result.exit_code == 0, result.stdout
    assert result.stderr.endswith(" passed, 0 failed\n")
    assert_covers_everything(result.stdout)


@pytest.mark.parametrize("flow", ["parameters", "state_writes", "guards"])
def test_the_language_flows_lint_clean(flow: str) -> None:
    result = CliRunner().invoke(cli, ["lint", str(LANG / f"{flow}.json")])
    assert result.exit_code == 0, result.stdout
    assert result.stdout == ""
