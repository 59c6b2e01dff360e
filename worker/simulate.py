"""Scenario runs: each scenario in a fresh text-only ``AgentSession`` (no room, no
audio), the scripted model playing its ``model`` steps through the same ``FlowAgent``
adapter the voice worker uses. What each turn did is read from the engine's history and
checked against the turn's ``expect``."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

import msgspec
from livekit.agents import AgentSession

from engine.compile import CompiledFlow
from engine.runtime import Conversation, Fired, RefusedEvent, ToolCalled, ToolReturned
from engine.scenario import Scenario, TurnResult, check_turn
from engine.tools import ToolRegistry
from worker.agent import FlowAgent
from worker.llm import ScriptedLLM, Step

__all__ = ["ScenarioResult", "TurnReport", "run_scenario", "run_scenarios"]

logger = logging.getLogger(__name__)

# A turn of a scripted model takes milliseconds; one that takes this long is stuck.
TURN_TIMEOUT = 10.0
NO_REPLY = "[scripted model: no reply planned for this turn]"


class TurnReport(msgspec.Struct, frozen=True, kw_only=True):
    number: int
    user: str
    result: TurnResult
    lines: list[str]  # the transcript of the turn, for people
    problems: list[str]


class ScenarioResult(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    passed: bool
    turns: list[TurnReport]
    error: str | None = None
    edges: list[str] = []  # "State.edge" for every edge fired, for coverage
    opening: list[str] = []  # what the agent said when the call started


def _steps(turn_model: Sequence[object] | None) -> list[Step]:
    if not turn_model:
        return [Step.say(NO_REPLY)]
    steps = []
    for step in turn_model:
        call = getattr(step, "call", None)
        if call is not None:
            steps.append(Step.call(call, dict(getattr(step, "args", {}) or {})))
        else:
            steps.append(Step.say(getattr(step, "say", "") or ""))
    return steps


async def run_scenario(compiled: CompiledFlow, scenario: Scenario) -> ScenarioResult:
    tools = ToolRegistry(compiled.tools, mocks=scenario.mocks, allow_network=False)
    try:
        conv = Conversation(compiled, variables=scenario.variables, tools=tools)
    except (ValueError, msgspec.ValidationError) as exc:
        return ScenarioResult(name=scenario.name, passed=False, turns=[], error=str(exc))
    model = ScriptedLLM()
    reports: list[TurnReport] = []
    fired: list[str] = []
    opening: list[str] = []
    error: str | None = None
    try:
        async with AgentSession(llm=model) as session:
            start = await session.start(FlowAgent(conv), capture_run=True)
            opening = [
                f"agent: {text}"
                for event in (start.events if start is not None else [])
                if type(event).__name__ == "ChatMessageEvent"
                for text in getattr(event.item, "content", [])
                if isinstance(text, str)
            ]
            for number, turn in enumerate(scenario.turns, start=1):
                if conv.ended is not None:
                    error = f"turn {number}: the call already ended in state `{conv.state}`"
                    break
                mark = len(conv.history)
                model.plan(_steps(turn.model))
                try:
                    run = await asyncio.wait_for(session.run(user_input=turn.user), TURN_TIMEOUT)
                except TimeoutError:
                    error = f"turn {number}: no answer within {TURN_TIMEOUT:g} s"
                    break
                said = [
                    text
                    for event in run.events
                    if type(event).__name__ == "ChatMessageEvent"
                    for text in getattr(event.item, "content", [])
                    if isinstance(text, str)
                ]
                events = conv.history[mark:]
                edges = [e for e in events if isinstance(e, Fired)]
                fired.extend(f"{e.source}.{e.edge}" for e in edges)
                result = TurnResult(
                    state=conv.state,
                    edges=[e.edge for e in edges],
                    tool_calls=[e.tool for e in events if isinstance(e, ToolCalled)],
                    variables=dict(conv.variables),
                    said=" ".join(said),
                    ended=conv.ended is not None,
                    refused=[e.name for e in events if isinstance(e, RefusedEvent)],
                )
                problems = check_turn(turn.expect, result)
                lines = [f"user: {turn.user}"]
                for event in events:
                    if isinstance(event, ToolReturned):
                        status = "ok" if event.ok else f"error: {event.error}"
                        lines.append(f"  tool {event.tool} -> {status}")
                    elif isinstance(event, RefusedEvent):
                        lines.append(f"  refused {event.name}: {event.reason}")
                    elif isinstance(event, Fired) and event.target is not None:
                        lines.append(f"  {event.edge}: {event.source} -> {event.target}")
                lines.extend(f"agent: {text}" for text in said)
                if conv.ended is not None:
                    lines.append(f"  call ended ({conv.ended.reason})")
                reports.append(
                    TurnReport(
                        number=number, user=turn.user, result=result, lines=lines, problems=problems
                    )
                )
    finally:
        conv.close()
        await tools.close()
    passed = error is None and all(not r.problems for r in reports)
    return ScenarioResult(
        name=scenario.name, passed=passed, turns=reports, error=error, edges=fired, opening=opening
    )


async def run_scenarios(
    compiled: CompiledFlow, scenarios: Sequence[Scenario]
) -> list[ScenarioResult]:
    return [await run_scenario(compiled, s) for s in scenarios]
