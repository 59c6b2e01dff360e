"""Entering a state through the real LiveKit ``AgentSession`` (text only): the model's
entry turn (one scripted step), automatic edges' words, the flow's instructions, the
prompt refreshed in place, and the history a context object carries (a summary the
session's model writes, the last items plus the variables)."""

from __future__ import annotations

from typing import Any

import pytest

pytest.importorskip("livekit.agents")

from flowkit import END, compile_doc
from livekit.agents import AgentSession

from flowctl.engine.runtime import Conversation
from flowctl.worker.agent import FlowAgent
from flowctl.worker.llm import ScriptedLLM, Step
from flowctl.worker.transcript import said_in


def _to(name: str, target: str, **more: Any) -> dict[str, Any]:
    return {"name": name, "description": f"Go to {target} now", "target_agent": target, **more}


FLOW = {
    "instructions": "You work at the bakery.",
    "variables": {
        "caller": {"type": "str", "description": "The caller's name"},
        "open": {"type": "bool", "description": "Whether the shop is open"},
    },
    "tools": [{"kind": "mock", "name": "menu", "description": "Today's menu", "result": "bread"}],
    "agents": [
        {
            "name": "Front",
            "instructions": "Serve {{caller | the caller}}.",
            "on_enter_prompt": "Bakery, hello.",
            "edges": [
                _to("to_orders", "Orders", say="Sure."),
                _to("to_menu", "Menu"),
                _to("to_summary", "Summary"),
                _to("to_recent", "Recent"),
                _to("to_check", "Check"),
                {
                    "name": "name",
                    "description": "Note the caller's name",
                    "action": "action",
                    "tool": "set_variables",
                    "parameters": {"caller": {"type": "str"}},
                },
            ],
        },
        {
            "name": "Orders",
            "instructions": "Take the order.",
            "on_enter": {"task": "Ask {{caller | them}} what they would like."},
            "edges": [_to("done", "End")],
        },
        {
            "name": "Menu",
            "instructions": "Read the menu.",
            "on_enter": {},
            "tools": ["menu"],
            "edges": [_to("done", "End")],
        },
        {
            "name": "Summary",
            "instructions": "Carry on.",
            "on_enter_prompt": "Summary here.",
            "context": {"summary": True, "prompt": "Summarise for {{caller | nobody}}."},
            "edges": [_to("done", "End")],
        },
        {
            "name": "Recent",
            "instructions": "Carry on.",
            "on_enter_prompt": "Recent here.",
            "context": {"last": 2, "variables": True},
            "edges": [_to("done", "End")],
        },
        {
            "name": "Check",
            "instructions": "Check.",
            "edges": [
                {"name": "auto_open", "when": "open", "target_agent": "Front", "say": "We're open."}
            ],
        },
        END,
    ],
}


@pytest.fixture(scope="module")
def compiled():  # type: ignore[no-untyped-def]
    return compile_doc(FLOW)


async def _session(compiled, turns, variables=None):  # type: ignore[no-untyped-def]
    """Run the turns; the conversation, the model, the agent at the end, the opening
    words and each turn's words."""
    conv = Conversation(compiled, variables=variables)
    model = ScriptedLLM()
    words = []
    async with AgentSession(llm=model, max_tool_steps=compiled.max_tool_steps) as session:
        start = await session.start(await FlowAgent.open(conv), capture_run=True)
        for user, steps in turns:
            model.plan(steps)
            words.append(said_in(await session.run(user_input=user)))
        agent = session.current_agent
    conv.close()
    return conv, model, agent, said_in(start), words


def _system(ctx) -> list[str]:  # type: ignore[no-untyped-def]
    return [i.text_content for i in ctx.items if i.type == "message" and i.role == "system"]


async def test_the_flow_instructions_open_the_agents_prompt(compiled) -> None:  # type: ignore[no-untyped-def]
    _, _, agent, _, _ = await _session(compiled, [])
    assert agent.instructions == "You work at the bakery.\n\nServe the caller."


async def test_the_entry_turn_is_the_models_next_step_with_the_task(compiled) -> None:  # type: ignore[no-untyped-def]
    steps = [Step.call("to_orders"), Step.say("What would you like?")]
    conv, model, agent, _, words = await _session(compiled, [("order", steps)])
    assert conv.state == "Orders" and agent.switches == 1
    # the edge's words, then the model's entry turn, in the reply that made the call
    assert words[0] == ["Sure. What would you like?"]
    assert model.pending == [] and len(model.requests) == 2  # one model turn for the entry
    assert "Ask them what they would like." in _system(model.contexts[-1])[-1]


async def test_the_entry_turn_may_call_a_function(compiled) -> None:  # type: ignore[no-untyped-def]
    steps = [Step.call("to_menu"), Step.call("menu"), Step.say("We have bread.")]
    conv, model, _, _, words = await _session(compiled, [("menu?", steps)])
    assert conv.state == "Menu" and model.pending == []
    assert [e.tool for e in conv.history if type(e).__name__ == "ToolCalled"] == ["menu"]
    assert words[0] == ["We have bread."]


async def test_the_start_states_automatic_edge_says_its_words_first(compiled) -> None:  # type: ignore[no-untyped-def]
    doc = {**FLOW, "start": "Check"}
    conv, _, _, opening, _ = await _session(compile_doc(doc), [], variables={"open": True})
    assert conv.state == "Front"
    assert opening == ["We're open. Bakery, hello."]


async def test_a_stayed_action_refreshes_the_prompt_in_place(compiled) -> None:  # type: ignore[no-untyped-def]
    steps = [Step.call("name", {"caller": "Ana"}), Step.say("Hi Ana.")]
    _, model, agent, _, _ = await _session(compiled, [("I'm Ana", steps)])
    assert agent.instructions == 'You work at the bakery.\n\nServe "Ana".'
    assert 'Serve "Ana".' in _system(model.contexts[-1])[0]  # the model's answer saw it


async def test_a_summary_context_is_written_by_the_sessions_model(compiled) -> None:  # type: ignore[no-untyped-def]
    turns = [
        ("I'm Ana", [Step.call("name", {"caller": "Ana"}), Step.say("Hi Ana.")]),
        ("go on", [Step.call("to_summary"), Step.say("Ana wants bread.")]),
        ("and?", []),
    ]
    _, model, _, _, words = await _session(compiled, turns)
    assert words[1] == ["Summary here."]  # the summary is for the model, not said
    assert model.contexts[-2].items[-1].text_content == 'Summarise for "Ana".'
    seen = model.contexts[-1]
    assert "Ana wants bread." in _system(seen)
    assert [i.text_content for i in seen.items if i.type == "message" and i.role == "user"] == [
        "and?"
    ]


async def test_a_summary_the_model_leaves_empty_falls_back_on_the_recap(compiled) -> None:  # type: ignore[no-untyped-def]
    _, model, _, _, _ = await _session(
        compiled, [("go on", [Step.call("to_summary")]), ("and?", [])]
    )
    assert "Summary of the call so far: it went Front -> Summary." in _system(model.contexts[-1])


async def test_the_last_items_plus_the_variables(compiled) -> None:  # type: ignore[no-untyped-def]
    turns = [
        ("I'm Ana", [Step.call("name", {"caller": "Ana"}), Step.say("Hi Ana.")]),
        ("go on", [Step.call("to_recent")]),
        ("and?", []),
    ]
    _, model, _, _, _ = await _session(compiled, turns)
    seen = model.contexts[-1]
    assert 'Variables known so far: {"caller":"Ana"}.' in _system(seen)
    texts = [i.text_content for i in seen.items if i.type == "message" and i.role != "system"]
    # the last two items when the edge fired: the reply before, and the request
    assert texts == ["Hi Ana.", "go on", "Recent here.", "and?"]
