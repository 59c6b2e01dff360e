"""Actions on entry, scoped global edges and hang-up ends through the adapter in a real,
text-only AgentSession (the engine's side is tests/test_lang_actions.py)."""

from __future__ import annotations

from typing import Any

import pytest

pytest.importorskip("livekit.agents")

from conftest import FIXTURES
from flowkit import compile_file
from livekit.agents import AgentSession

from flowctl.engine.runtime import Conversation, Fired, ToolCalled
from flowctl.engine.tools import ToolRegistry
from flowctl.worker.agent import FlowAgent
from flowctl.worker.llm import ScriptedLLM, Step
from flowctl.worker.transcript import said_in

LANG = FIXTURES / "lang"
Turns = list[tuple[str, list[Step]]]


async def session(
    flow: str, turns: Turns, mocks: dict[str, Any] | None = None
) -> tuple[Conversation, ScriptedLLM, list[list[str]]]:
    """Play ``turns`` on the flow's session; the conversation, the model (its
    ``requests`` hold the functions offered on each call) and each turn's words."""
    compiled = compile_file(LANG / f"{flow}.json")
    tools = ToolRegistry(compiled.tools, mocks=mocks, allow_network=False)
    conv = Conversation(compiled, tools=tools)
    model = ScriptedLLM()
    words = []
    async with AgentSession(llm=model, max_tool_steps=compiled.max_tool_steps) as s:
        await s.start(await FlowAgent.open(conv))
        for user, steps in turns:
            model.plan(steps)
            words.append(said_in(await s.run(user_input=user)))
    await conv.aclose()
    return conv, model, words


# A handoff ends the model's turn: the next turn shows what the new state offers.
LOOK_UP: Turns = [
    ("It's order 42", [Step.call("look_up", {"order_id": "42"})]),
    ("And?", [Step.say("It has shipped.")]),
]


async def test_an_entry_action_runs_on_entering_through_the_session() -> None:
    conv, model, words = await session("on_enter_actions", LOOK_UP)
    assert conv.state == "Status"
    calls = [e for e in conv.history if isinstance(e, ToolCalled)]
    assert [(c.tool, c.args) for c in calls] == [("find_order", {"region": "eu", "order_id": "42"})]
    assert words == [["One moment while I look that up. Found it."], ["It has shipped."]]
    assert model.requests == [["look_up"], ["end_call"]]


async def test_a_failed_entry_action_takes_its_on_error_through_the_session() -> None:
    conv, model, _ = await session("on_enter_actions", LOOK_UP, mocks={"find_order": {}})
    assert (conv.state, conv.ended) == ("Apology", None)
    fired = [e.edge for e in conv.history if isinstance(e, Fired)]
    assert fired == ["look_up", "find_order:failed"]
    assert model.requests == [["look_up"], ["end_call"]]


@pytest.mark.parametrize(
    ("flow", "turns", "offered", "state"),
    [
        (
            "edge_groups",
            [
                ("I'd like to order", Step.call("to_orders")),
                ("Actually, go back", Step.call("to_greeter")),
                ("Hello?", Step.say("Welcome back.")),
            ],
            # `to_greeter` is everywhere but the greeter
            [
                ["end_call", "to_orders", "to_reservations"],
                ["end_call", "to_greeter"],
                ["end_call", "to_orders", "to_reservations"],
            ],
            "Greeter",
        ),
        (
            "ends_on_hangup",
            [
                ("Tell me a story", Step.call("tell_story")),
                ("Go on", Step.say("Once upon a time...")),
                ("Lovely. Let's chat", Step.call("back_to_chat")),
            ],
            # no `end_call` needed: the caller's hang-up ends it
            [["tell_story"], ["back_to_chat"], ["back_to_chat"]],
            "Chat",
        ),
    ],
    ids=["scoped-global-edge", "ends-on-hangup"],
)
async def test_each_state_offers_the_model_its_own_functions(
    flow: str, turns: list[tuple[str, Step]], offered: list[list[str]], state: str
) -> None:
    conv, model, _ = await session(flow, [(user, [step]) for user, step in turns])
    assert (conv.state, conv.ended) == (state, None)  # the session closed: nothing ended it
    assert [sorted(ids) for ids in model.requests] == offered
