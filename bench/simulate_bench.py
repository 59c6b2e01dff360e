"""Simulation performance against the targets of the simulate issue.

    .venv/bin/python bench/simulate_bench.py [--quick]

1. Scripted turns per second, every turn changing state (target: at least 150/s after
   warm-up), through a text-only AgentSession with the FlowAgent adapter.
2. Engine overhead: the same 10-turn conversation with 4 handoffs, written by hand as
   LiveKit Agents with function_tool handoffs vs run from a flow through the
   adapter, same scripted model, side by side (target: median ratio at most 1.10).
"""

from __future__ import annotations

import asyncio
import logging
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import msgspec  # noqa: E402
from genflow import generate  # noqa: E402
from livekit.agents import Agent, AgentSession, function_tool  # noqa: E402

from flowctl.engine.compile import compile_flow  # noqa: E402
from flowctl.engine.runtime import Conversation  # noqa: E402
from flowctl.engine.spec import Flow  # noqa: E402
from flowctl.worker.agent import FlowAgent  # noqa: E402
from flowctl.worker.llm import ScriptedLLM, Step  # noqa: E402

logging.getLogger("livekit").setLevel(logging.ERROR)


def _voiced(doc: dict[str, Any]) -> dict[str, Any]:
    """Every state speaks with a voice of its own, so every handoff needs a new Agent."""
    for i, state in enumerate(doc["agents"]):
        state["tts"] = {"provider": "openai", "voice": f"voice-{i % 2}"}
    return doc


async def turns_per_second(turns: int, *, new_agents: bool) -> float:
    doc = generate(40)
    compiled = compile_flow(msgspec.convert(_voiced(doc) if new_agents else doc, Flow))
    model = ScriptedLLM()
    done = 0
    elapsed = 0.0
    while done < turns:
        conv = Conversation(compiled, variables={"customer": "Ana"})
        async with AgentSession(llm=model, max_tool_steps=compiled.max_tool_steps) as session:
            await session.start(await FlowAgent.open(conv))
            for i in range(38):
                if done >= turns:
                    break
                model.plan([Step.call(f"advance_{i}", {f"note_{i}": "ok"})])
                start = time.perf_counter()
                await session.run(user_input="next please")
                elapsed += time.perf_counter() - start
                assert conv.state == f"Step{i + 1}", conv.state
                done += 1
            agent = session.current_agent
            assert isinstance(agent, FlowAgent)
            assert (agent.switches == 0) == new_agents, agent.switches
        conv.close()
        model.requests.clear()
        model.contexts.clear()
    return done / elapsed


# --- the same conversation, by hand and from a flow ------------------------------------

STATES = ["Welcome", "Billing", "Payments", "Refunds", "Wrapup"]
HANDOFFS = ["to_billing", "to_payments", "to_refunds", "to_wrapup"]


def _flow(voiced: bool = False) -> Flow:
    agents: list[dict[str, Any]] = []
    for i, name in enumerate(STATES[:-1]):
        agents.append(
            {
                "name": name,
                "instructions": f"You are the {name} desk. Help the caller, briefly.",
                "on_enter_prompt": f"This is {name}.",
                "edges": [
                    {
                        "name": HANDOFFS[i],
                        "description": f"The caller needs the {STATES[i + 1]} desk now",
                        "target_agent": STATES[i + 1],
                    }
                ],
            }
        )
    agents.append(
        {
            "name": "Wrapup",
            "instructions": "Wrap up the call.",
            "on_enter_prompt": "Anything else?",
            "tools": ["end_call"],
        }
    )
    doc = {"agents": agents}
    return msgspec.convert(_voiced(doc) if voiced else doc, Flow)


def _hand_written() -> Agent:
    """The flow above written as LiveKit agents, the way the LiveKit examples do it: an
    Agent per desk that says who it is on entering and hands the caller on with a
    function tool; the last desk's tool ends the call."""

    class Wrapup(Agent):
        def __init__(self) -> None:
            super().__init__(instructions="Wrap up the call.")

        async def on_enter(self) -> None:
            self.session.say("Anything else?")

        @function_tool
        async def end_call(self) -> None:
            """End the call"""
            self.session.shutdown()

    class Desk(Agent):
        def __init__(self, i: int) -> None:
            self.desk, onward = STATES[i], STATES[i + 1]

            async def hand_on() -> Agent:
                return Desk(i + 1) if onward != "Wrapup" else Wrapup()

            handoff = function_tool(
                hand_on, name=HANDOFFS[i], description=f"The caller needs the {onward} desk now"
            )
            super().__init__(
                instructions=f"You are the {self.desk} desk. Help the caller, briefly.",
                tools=[handoff],
            )

        async def on_enter(self) -> None:
            self.session.say(f"This is {self.desk}.")

    return Desk(0)


# 10 turns: a plain reply and a handoff, alternating, then two plain replies.
SCRIPT: list[list[Step]] = []
for name in HANDOFFS:
    SCRIPT.append([Step.say("Sure, tell me more.")])
    SCRIPT.append([Step.call(name)])
SCRIPT += [[Step.say("Happy to help.")], [Step.say("Take care.")]]


async def _conversation(make_agent: Any) -> float:
    model = ScriptedLLM()
    async with AgentSession(llm=model) as session:
        await session.start(make_agent())
        start = time.perf_counter()
        for steps in SCRIPT:
            model.plan(steps)
            await session.run(user_input="hello")
        return time.perf_counter() - start


async def overhead(repeat: int, *, voiced: bool = False) -> tuple[float, float]:
    compiled = compile_flow(_flow(voiced))
    hand: list[float] = []
    flow: list[float] = []
    await _conversation(_hand_written)  # warm-up: lazy imports, first-session costs
    await _conversation(lambda: FlowAgent(Conversation(compiled)))
    for _ in range(repeat):  # interleaved, so drift of the machine hits both alike
        hand.append(await _conversation(_hand_written))
        flow.append(await _conversation(lambda: FlowAgent(Conversation(compiled))))
    return statistics.median(hand), statistics.median(flow)


def main() -> None:
    quick = "--quick" in sys.argv
    turns = 200 if quick else 1000
    asyncio.run(turns_per_second(40, new_agents=False))  # warm-up
    asyncio.run(turns_per_second(40, new_agents=True))
    rate = asyncio.run(turns_per_second(turns, new_agents=False))
    handoff = asyncio.run(turns_per_second(turns, new_agents=True))
    print("1. scripted turns, every one moving to a new state")
    print(
        f"   same voice, switched in place: {rate:.0f} turns/s   target >= 150/s   "
        f"{'OK' if rate >= 150 else 'MISS'}"
    )
    print(f"   another voice, a new Agent per state: {handoff:.0f} turns/s (for comparison)")
    print("2. the same 10-turn conversation with 4 handoffs (medians)")
    for voiced, label in ((False, "switching in place"), (True, "a new Agent per state too")):
        hand, flow = asyncio.run(overhead(5 if quick else 21, voiced=voiced))
        ratio = flow / hand
        print(
            f"   flow {label}: hand-written LiveKit agents {hand * 1000:.1f} ms, "
            f"from a flow {flow * 1000:.1f} ms, ratio {ratio:.3f}   target <= 1.10   "
            f"{'OK' if ratio <= 1.10 else 'MISS'}"
        )


if __name__ == "__main__":
    main()
