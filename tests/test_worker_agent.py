"""The adapter in a real, text-only AgentSession: the scripted model's calls move the
engine's conversation, and the session follows it."""

from __future__ import annotations

import pytest

pytest.importorskip("livekit.agents")

from flowkit import compile_example
from livekit.agents import AgentSession

from flowctl.engine.runtime import Conversation, Entered, Fired, RefusedEvent
from flowctl.worker.agent import FlowAgent
from flowctl.worker.llm import ScriptedLLM, Step


@pytest.fixture(scope="module")
def clinic():  # type: ignore[no-untyped-def]
    return compile_example("clinic")


async def test_a_handoff_moves_the_session_to_the_next_state(clinic) -> None:  # type: ignore[no-untyped-def]
    conv = Conversation(clinic)
    model = ScriptedLLM()
    async with AgentSession(llm=model) as session:
        await session.start(FlowAgent(conv))
        args = {"caller_name": "Ana", "specialist_question": "Can I take ibuprofen?"}
        model.plan([Step.call("transfer_to_specialist", args), Step.say("Let me check that.")])
        result = await session.run(user_input="Can I take ibuprofen with my prescription?")
        assert conv.state == "SpecialistAgent"
        assert isinstance(session.current_agent, FlowAgent)
        assert session.current_agent.instructions == conv.render_instructions()
        assert [e.edge for e in conv.history if isinstance(e, Fired)] == ["transfer_to_specialist"]
        assert conv.history[-1] == Entered(
            at=conv.history[-1].at, state="SpecialistAgent", via="transfer_to_specialist"
        )
        names = [type(e).__name__ for e in result.events]
        assert names[:3] == ["FunctionCallEvent", "FunctionCallOutputEvent", "AgentHandoffEvent"]


async def test_a_refusal_goes_back_to_the_model_and_changes_nothing(clinic) -> None:  # type: ignore[no-untyped-def]
    conv = Conversation(clinic)
    model = ScriptedLLM()
    async with AgentSession(llm=model) as session:
        await session.start(FlowAgent(conv))
        model.plan(
            [Step.call("transfer_to_specialist", {}), Step.say("Could I have your name first?")]
        )
        result = await session.run(user_input="I have a medication question")
        assert conv.state == "IntakeAgent"
        refused = [e for e in conv.history if isinstance(e, RefusedEvent)]
        assert [r.reason for r in refused] == [
            "Invalid arguments for `transfer_to_specialist`: Object missing required field `caller_name`"
        ]
        outputs = [e for e in result.events if type(e).__name__ == "FunctionCallOutputEvent"]
        assert outputs[0].item.is_error
        assert refused[0].reason in outputs[0].item.output
