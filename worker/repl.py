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

import asyncio
import json
from collections.abc import Callable, Iterable
from typing import Any

import msgspec
from livekit.agents import AgentSession, llm

from flowctl.engine.compile import CompiledFlow
from flowctl.engine.egress import EgressPolicy
from flowctl.engine.matching import best_edge
from flowctl.engine.runtime import Action, Conversation, Handoff
from flowctl.engine.tools import ToolRegistry
from flowctl.worker.agent import FlowAgent
from flowctl.worker.llm import OFFLINE_REPLY, OfflineLLM, Step
from flowctl.worker.simulate import describe_events, said_in

__all__ = ["OFFLINE_REPLY", "run_lines"]


def offline_model(conv: Conversation) -> OfflineLLM:
    """The offline model for ``conv``: it takes the edge whose examples match."""

    def choose(text: str) -> Step | None:
        ce = best_edge(conv, text)
        return Step.call(ce.name) if ce is not None else None

    return OfflineLLM(choose)


async def run_lines(
    compiled: CompiledFlow,
    lines: Iterable[str],
    out: Callable[[str], None],
    *,
    variables: dict[str, Any] | None = None,
    model: Callable[[Conversation], llm.LLM] | None = None,
    allow_network: bool = False,
    timeout: float = 10.0,
    egress: EgressPolicy | None = None,
) -> Conversation:
    """Drive a text-only session from ``lines`` and print the transcript with ``out``;
    ``model`` makes the session's model for the conversation (None: the offline one);
    ``egress``: where http tools may connect (None: anywhere)."""
    tools = ToolRegistry(compiled.tools, allow_network=allow_network, egress=egress)
    conv = Conversation(compiled, variables=variables, tools=tools)
    try:
        async with AgentSession(
            llm=(model or offline_model)(conv), max_tool_steps=compiled.max_tool_steps
        ) as session:
            start = await session.start(await FlowAgent.open(conv), capture_run=True)
            for text in said_in(start):
                out(f"agent: {text}")
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
                try:
                    run = await asyncio.wait_for(session.run(user_input=line), timeout)
                except TimeoutError:
                    out(f"  (no answer within {timeout:g} s; the session stops here)")
                    break
                spoken = conv.current.output.spoken if conv.current.output else None
                for text in describe_events(conv.history[mark:], spoken):
                    out(text)
                for text in said_in(run):
                    out(f"agent: {text}")
                if conv.ended is not None:
                    out(f"  call ended ({conv.ended.reason})")
    finally:
        await conv.aclose()  # and its tools
    return conv


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
    mark = len(conv.history)
    outcome = await conv.fire(parts[1], args)
    for text in describe_events(conv.history[mark:], None):
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
