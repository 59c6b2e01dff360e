"""Talking to a flow by hand: ``flowctl simulate FLOW`` without a scenario file.

Each line is a user turn, answered by the offline model (it takes the offered edge whose
``examples`` best match the words, or says plainly that none does), or a command:

    /go EDGE {json}   fire an edge (or call a tool) with these arguments
    /state            the current state        /vars     the variables
    /edges            the functions offered    /history  the engine's events
    /quit             end the session

On a terminal it prompts; with piped input it reads one line per line and prints the
transcript, so scripts can drive it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

import msgspec
from livekit.agents import AgentSession

from engine.compile import CompiledEdge, CompiledFlow
from engine.lint.text import jaccard, words
from engine.runtime import (
    Action,
    Conversation,
    Fired,
    Handoff,
    Outcome,
    Refused,
    RefusedEvent,
    ToolReturned,
)
from engine.tools import ToolRegistry
from worker.agent import FlowAgent
from worker.llm import ScriptedLLM, Step

__all__ = ["OFFLINE_REPLY", "best_edge", "run_lines"]

# The least share of words an example must have in common with what the user said.
MATCH = 0.3
OFFLINE_REPLY = "[offline model: no edge's examples match; /go EDGE {json} fires one by hand]"


def best_edge(conv: Conversation, text: str) -> CompiledEdge | None:
    """The offered edge whose examples best match ``text``, if one matches well enough
    and needs no arguments the offline model could not make up."""
    said = words(text)
    best: tuple[float, CompiledEdge] | None = None
    for ce in conv.current.edges:
        if ce.automatic or not ce.edge.examples:
            continue
        score = max(jaccard(said, words(example)) for example in ce.edge.examples)
        if score >= MATCH and (best is None or score > best[0]):
            best = (score, ce)
    if best is None:
        return None
    ce = best[1]
    required = ce.function.schema["parameters"]["required"] if ce.function else []
    return None if required else ce


def _describe(outcome: Outcome) -> list[str]:
    if isinstance(outcome, Refused):
        return [f"  refused {outcome.name}: {outcome.reason}"]
    lines = []
    if isinstance(outcome, Action):
        status = "ok" if outcome.result.ok else f"error: {outcome.result.error}"
        lines.append(f"  tool {outcome.tool} -> {status}")
    if isinstance(outcome, Handoff | Action) and outcome.target is not None:
        lines.append(f"  {outcome.name}: {outcome.source} -> {outcome.target}")
    return lines


async def run_lines(
    compiled: CompiledFlow,
    lines: Iterable[str],
    out: Callable[[str], None],
    *,
    variables: dict[str, Any] | None = None,
) -> Conversation:
    """Drive a text-only session from ``lines`` and print the transcript with ``out``."""
    tools = ToolRegistry(compiled.tools, allow_network=False)
    conv = Conversation(compiled, variables=variables, tools=tools)
    model = ScriptedLLM()
    try:
        async with AgentSession(llm=model) as session:
            start = await session.start(FlowAgent(conv), capture_run=True)
            _said(start, out)
            for raw in lines:
                line = raw.strip()
                if not line:
                    continue
                if conv.ended is not None:
                    out(f"(the call has ended in {conv.state}; /history shows what happened)")
                    if line.startswith("/") and line.split()[0] in ("/history", "/vars", "/state"):
                        _command(conv, line, out)
                    continue
                if line.startswith("/"):
                    if line.split()[0] == "/quit":
                        break
                    if line.split()[0] == "/go":
                        await _go(conv, session, line, out)
                    else:
                        _command(conv, line, out)
                    continue
                out(f"user: {line}")
                mark = len(conv.history)
                ce = best_edge(conv, line)
                model.plan([Step.call(ce.name)] if ce else [Step.say(OFFLINE_REPLY)])
                run = await session.run(user_input=line)
                for event in conv.history[mark:]:
                    if isinstance(event, RefusedEvent):
                        out(f"  refused {event.name}: {event.reason}")
                    elif isinstance(event, ToolReturned):
                        status = "ok" if event.ok else f"error: {event.error}"
                        out(f"  tool {event.tool} -> {status}")
                    elif isinstance(event, Fired) and event.target is not None:
                        out(f"  {event.edge}: {event.source} -> {event.target}")
                _said(run, out)
                if conv.ended is not None:
                    out(f"  call ended ({conv.ended.reason})")
    finally:
        conv.close()
        await tools.close()
    return conv


def _said(run: Any, out: Callable[[str], None]) -> None:
    for event in run.events if run is not None else []:
        if type(event).__name__ == "ChatMessageEvent":
            for text in getattr(event.item, "content", []):
                if isinstance(text, str) and text:
                    out(f"agent: {text}")


async def _go(
    conv: Conversation, session: AgentSession, line: str, out: Callable[[str], None]
) -> None:
    parts = line.split(maxsplit=2)
    if len(parts) < 2:
        out("usage: /go EDGE {json arguments}")
        return
    try:
        args = json.loads(parts[2]) if len(parts) > 2 else {}
    except json.JSONDecodeError as exc:
        out(f"  arguments are not JSON: {exc.msg} at column {exc.colno}")
        return
    if not isinstance(args, dict):
        out("  arguments must be a JSON object")
        return
    out(f"/go {parts[1]} {json.dumps(args)}")
    outcome = await conv.fire(parts[1], args)
    for text in _describe(outcome):
        out(text)
    if isinstance(outcome, Handoff) or (isinstance(outcome, Action) and outcome.target):
        words_said = " ".join(w for w in (outcome.say, conv.greeting()) if w)
        if words_said:
            out(f"agent: {words_said}")
        if conv.ended is None:  # the session follows the conversation into its new state
            session.update_agent(FlowAgent(conv))
    if conv.ended is not None:
        out(f"  call ended ({conv.ended.reason})")


def _command(conv: Conversation, line: str, out: Callable[[str], None]) -> None:
    name = line.split()[0]
    if name == "/state":
        out(f"state: {conv.state}")
    elif name == "/vars":
        out(f"variables: {json.dumps(conv.variables, sort_keys=True, default=str)}")
    elif name == "/edges":
        for fn in conv.functions():
            params = ", ".join(fn.schema["parameters"]["properties"])
            out(f"  {fn.name}({params}) [{fn.kind}]: {fn.description}")
    elif name == "/history":
        for event in conv.history:
            out(f"  {msgspec.json.encode(event).decode()}")
    else:
        out(f"unknown command `{name}`: /go, /state, /vars, /edges, /history, /quit")
