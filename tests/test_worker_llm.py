"""The scripted model drives a real, text-only LiveKit AgentSession (no room, no audio)."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

livekit = pytest.importorskip("livekit.agents")

from livekit.agents import Agent, AgentSession  # noqa: E402
from livekit.agents.llm import function_tool  # noqa: E402

from flowctl.worker.fakes import ScriptedSTT, SilentTTS  # noqa: E402
from flowctl.worker.llm import OfflineLLM, ScriptedLLM, StandIn, Step  # noqa: E402

SCHEMA = {
    "name": "take_booking",
    "description": "The caller wants to book a table",
    "parameters": {
        "type": "object",
        "properties": {"party_size": {"type": "integer"}},
        "required": ["party_size"],
        "additionalProperties": False,
    },
}


async def test_scripted_model_calls_a_raw_schema_tool_then_replies() -> None:
    seen: list[dict[str, object]] = []

    async def take_booking(raw_arguments: dict[str, object]) -> str:
        seen.append(raw_arguments)
        return "booked"

    model = ScriptedLLM()
    agent = Agent(
        instructions="You take bookings.", tools=[function_tool(take_booking, raw_schema=SCHEMA)]
    )
    async with AgentSession(llm=model) as session:
        await session.start(agent)
        model.plan([Step.call("take_booking", {"party_size": 4}), Step.say("Booked for four.")])
        result = await session.run(user_input="A table for four, please")
    assert seen == [{"party_size": 4}]
    kinds = [type(e).__name__ for e in result.events]
    assert kinds == ["FunctionCallEvent", "FunctionCallOutputEvent", "ChatMessageEvent"]
    assert result.events[-1].item.content == ["Booked for four."]
    assert model.requests[0] == ["take_booking"]
    assert model.pending == []


@pytest.mark.parametrize(
    ("make", "model"),
    [
        (ScriptedLLM, "scripted"),
        (lambda: OfflineLLM(lambda words: None), "offline"),
        (ScriptedSTT, "scripted"),
        (SilentTTS, "silent"),
    ],
    ids=["scripted-llm", "offline-llm", "scripted-stt", "silent-tts"],
)
def test_stand_in_names_itself_flowctls(make: Callable[[], StandIn], model: str) -> None:
    stand_in = make()
    assert (stand_in.provider, stand_in.model) == ("flowctl", model)


async def test_scripted_model_answers_after_its_latency() -> None:
    # The one test that waits: the latency is the feature (a benchmark's model over the
    # network). Only the lower bound is checked, which a busy machine cannot break.
    model = ScriptedLLM(latency=0.02)
    async with AgentSession(llm=model) as session:
        await session.start(Agent(instructions="You take bookings."))
        model.plan([Step.say("Hello.")])
        start = time.perf_counter()
        result = await session.run(user_input="Hi")
        elapsed = time.perf_counter() - start
    assert result.events[-1].item.content == ["Hello."]
    assert elapsed >= 0.02
    assert (model.latency, ScriptedLLM().latency) == (0.02, 0.0)
