"""LiveKit can run the functions of a state one call away that has an entry turn (a
reply that moved there takes it, and it may call them), but the engine decides which
state a call is for: a model that calls a later state's function early is refused with
the engine's reason, and the function's tool (here one that would reach the network)
never runs."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

pytest.importorskip("livekit.agents")

from flowkit import compile_doc
from listener import Listener, json_answer
from livekit.agents import AgentSession

from flowctl.engine.runtime import Conversation, RefusedEvent, ToolCalled
from flowctl.worker.agent import FlowAgent
from flowctl.worker.llm import ScriptedLLM, Step


@pytest.fixture
async def listener() -> AsyncIterator[Listener]:
    async with Listener({"/open": json_answer({"opened": True})}) as server:
        yield server


def _flow(url: str) -> dict[str, object]:
    return {
        "variables": {
            "verified": {"type": "bool", "description": "The caller proved who they are"}
        },
        "tools": [{"kind": "http", "name": "open", "description": "Open the vault", "url": url}],
        "agents": [
            {
                "name": "Front",
                "instructions": "Check who the caller is.",
                "edges": [
                    {
                        "name": "to_vault",
                        "description": "The caller is verified",
                        "target_agent": "Vault",
                        "requires": ["verified"],
                    },
                    {"name": "bye", "description": "The caller is done", "target_agent": "End"},
                ],
            },
            {
                "name": "Vault",
                "instructions": "Open the vault.",
                "on_enter": {"task": "Ask which box to open."},
                "edges": [
                    {
                        "name": "open_vault",
                        "description": "Open the vault",
                        "action": "action",
                        "tool": "open",
                    },
                    {"name": "bye", "description": "The caller is done", "target_agent": "End"},
                ],
            },
            {"name": "End", "instructions": "Goodbye.", "end": True},
        ],
    }


async def test_a_later_states_function_called_early_is_refused_and_runs_nothing(
    listener: Listener,
) -> None:
    compiled = compile_doc(_flow(listener.url("/open")))
    conv = Conversation(compiled)
    model = ScriptedLLM()
    async with AgentSession(llm=model, max_tool_steps=compiled.max_tool_steps) as session:
        agent = FlowAgent(conv)
        await session.start(agent)
        runnable = {tool.id for tool in agent.tools}
        # LiveKit could run it: Vault, one call away, has an entry turn
        assert "open_vault" in runnable
        model.plan([Step.call("open_vault"), Step.say("I can't do that yet.")])
        await session.run(user_input="open the vault")
    await conv.aclose()
    assert model.requests[0] == ["to_vault", "bye"]  # the model is offered Front's only
    refused = [(e.name, e.reason) for e in conv.history if isinstance(e, RefusedEvent)]
    assert refused == [
        ("open_vault", "`open_vault` is not available in this step. Available: `to_vault`, `bye`.")
    ]
    assert not [e for e in conv.history if isinstance(e, ToolCalled)]
    assert listener.connections == 0
    assert conv.state == "Front"
