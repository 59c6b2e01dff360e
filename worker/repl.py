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

from livekit.agents import AgentSession, RunResult, llm

from flowctl.engine.compile import CompiledFlow
from flowctl.engine.describe import describe
from flowctl.engine.egress import EgressPolicy
from flowctl.engine.matching import best_edge
from flowctl.engine.runtime import Action, Conversation, Handoff
from flowctl.engine.tools import ToolRegistry
from flowctl.worker.agent import FlowAgent
from flowctl.worker.llm import OFFLINE_REPLY, OfflineLLM, Step
from flowctl.worker.transcript import Line, said, said_in, transcript

__all__ = ["OFFLINE_REPLY", "run_lines"]

Out = Callable[[Line], None]


def offline_model(conv: Conversation) -> OfflineLLM:
    """The offline model for ``conv``: it takes the edge whose examples match."""

    def choose(text: str) -> Step | None:
        ce = best_edge(conv, text)
        return Step.call(ce.name) if ce is not None else None

    return OfflineLLM(choose)


async def run_lines(
    compiled: CompiledFlow,
    lines: Iterable[str],
    out: Out,
    *,
    variables: dict[str, Any] | None = None,
    model: Callable[[Conversation], llm.LLM[Any]] | None = None,
    allow_network: bool = False,
    timeout: float = 10.0,
    egress: EgressPolicy | None = None,
) -> Conversation:
    """Drive a text-only session from ``lines`` and print the transcript with ``out``
    (each line with its kind: an event's, or ``note`` for the session's own words);
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
                out(said("agent", text))
            for raw in lines:
                line = raw.strip()
                if not line:
                    continue
                if conv.ended is not None:
                    _note(
                        out, f"(the call has ended in {conv.state}; /history shows what happened)"
                    )
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
                out(said("user", line))
                mark = len(conv.history)
                try:
                    run: RunResult[None] = await asyncio.wait_for(
                        session.run(user_input=line), timeout
                    )
                except TimeoutError:
                    _note(out, f"  (no answer within {timeout:g} s; the session stops here)")
                    break
                spoken = conv.current.output.spoken if conv.current.output else None
                for printed in transcript(conv.history[mark:], said_in(run), spoken):
                    out(printed)
    finally:
        await conv.aclose()  # and its tools
    return conv


def _note(out: Out, text: str) -> None:
    """What the session itself says (help, state, errors in a command): no event's."""
    out(Line("note", text))


async def _go(conv: Conversation, session: AgentSession[Any], line: str, out: Out) -> None:
    parts = line.split(maxsplit=2)
    if len(parts) < 2:
        _note(out, "usage: /go EDGE {json arguments}")
        return
    try:
        args = json.loads(parts[2]) if len(parts) > 2 else {}
    except json.JSONDecodeError as exc:
        _note(out, f"  arguments are not JSON: {exc.msg} at column {exc.colno}")
        return
    if not isinstance(args, dict):
        _note(out, "  arguments must be a JSON object")
        return
    _note(out, f"/go {parts[1]} {json.dumps(args)}")
    mark = len(conv.history)
    outcome = await conv.fire(parts[1], args)
    words: list[str] = []
    if isinstance(outcome, Handoff) or (isinstance(outcome, Action) and outcome.target):
        words = [" ".join(w for w in (outcome.say, conv.greeting()) if w)]
        if conv.ended is None:  # the session follows the conversation into its new state
            session.update_agent(FlowAgent(conv))
    for printed in transcript(conv.history[mark:], [w for w in words if w], None):
        out(printed)


def _command(conv: Conversation, line: str, out: Out) -> None:
    name = line.split()[0]
    if name == "/state":
        _note(out, f"state: {conv.state}")
    elif name == "/vars":
        _note(out, f"variables: {json.dumps(conv.variables, sort_keys=True, default=str)}")
    elif name == "/edges":
        for fn in conv.functions():
            params = ", ".join(fn.schema["parameters"]["properties"])
            _note(out, f"  {fn.name}({params}) [{fn.kind}]: {fn.description}")
    elif name == "/history":  # each event in the engine's words, as `flowctl sessions show`
        for event in conv.history:
            kind, text, _ = describe(event)
            out(Line(kind, f"  {kind:<8} {text}"))
    else:
        _note(out, f"unknown command `{name}`: /go, /state, /vars, /edges, /history, /quit")
