"""Talking to a flow by hand: ``flowctl simulate FLOW`` without a scenario file.

Each line is a user turn, answered by the offline model (it calls the offered edge or
tool whose ``examples`` best match the words, or says plainly that none does), or a
command:

    /go EDGE {json}   fire an edge (or call a tool) with these arguments
    /state            the current state        /vars     the variables
    /edges            the functions offered,   /history  the engine's events
                      with their guards
    /quit             end the session (it works after the call has ended too)

On a terminal it prompts; with piped input it reads one line per line and prints the
transcript, so scripts can drive it. Ctrl-C during a turn cancels that turn (the session
goes on); at the prompt it is the reader's to handle (``flowctl simulate`` leaves).
When the session ends, its summary is printed on one line, and the flow's evaluation
on another when it declares one.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import threading
from collections.abc import Awaitable, Callable, Iterable, Iterator
from typing import Any, TypeVar

from livekit.agents import AgentSession, RunResult, llm

from flowctl.engine.compile import CompiledEdge, CompiledFlow
from flowctl.engine.describe import describe
from flowctl.engine.egress import EgressPolicy
from flowctl.engine.evaluation import CallEvaluation, evaluate
from flowctl.engine.functions import FunctionSpec
from flowctl.engine.knowledge.retrieval import Retriever
from flowctl.engine.matching import best_function
from flowctl.engine.runtime import Action, Conversation, Handoff
from flowctl.engine.summary import CallSummary, summarize
from flowctl.engine.tools import ToolRegistry
from flowctl.worker.agent import FlowAgent
from flowctl.worker.grading import grade as grade_rubric
from flowctl.worker.llm import OFFLINE_REPLY, OfflineLLM, Step
from flowctl.worker.recording import Record, attach, end_reason, transcript_line
from flowctl.worker.transcript import Line, said, said_in, transcript

__all__ = ["OFFLINE_REPLY", "offered", "offline_choice", "run_lines"]

Out = Callable[[Line], None]
T = TypeVar("T")


def offline_model(conv: Conversation) -> OfflineLLM:
    """The offline model for ``conv``: it calls the edge or tool whose examples match,
    with the matching example's arguments, or names the arguments it would need."""
    return OfflineLLM(offline_choice(conv))


def offline_choice(conv: Conversation) -> Callable[[str], Step | None]:
    """What the offline model does when the user says ``text`` in ``conv`` (None: it
    answers that nothing matches); the console's chat asks it too."""

    def choose(text: str) -> Step | None:
        match = best_function(conv, text)
        if match is None:
            return None
        name = match.name
        if match.missing:
            return Step.say(
                f"[offline model: `{name}` needs {', '.join(match.missing)}; give its "
                f"examples `args`, or /go {name} {{json}} calls it by hand]"
            )
        return Step.call(name, match.args)

    return choose


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
    record: Record | None = None,
    echo: bool = True,
    retriever: Retriever | None = None,
    no_knowledge: str = "",
    grade: bool = False,
) -> Conversation:
    """Drive a text-only session from ``lines`` and print the transcript with ``out``
    (each line with its kind: an event's, or ``note`` for the session's own words);
    ``model`` makes the session's model for the conversation (None: the offline one);
    ``egress``: where http tools may connect (None: anywhere); ``record``: starts the
    session's record, kept as the worker keeps a call's. ``echo``: print each user line
    as ``user: ...``; a terminal has already shown what was typed at its prompt, so
    there it would be said twice. ``retriever``: where knowledge tools search
    (``no_knowledge``: how to give them bases, when there is none). ``grade``: the
    session's model grades the flow's rubric at the end (a real model's job; otherwise
    it is not graded)."""
    tools = ToolRegistry(
        compiled.tools,
        allow_network=allow_network,
        egress=egress,
        retriever=retriever,
        no_knowledge=no_knowledge,
    )
    conv = Conversation(compiled, variables=variables, tools=tools)
    answering = (model or offline_model)(conv)
    recorder = None
    dialogue: list[tuple[str, str]] = []  # the transcript, as the worker keeps a call's
    summary: CallSummary | None = None
    evaluation: CallEvaluation | None = None

    def heard(event: Any) -> None:
        line = transcript_line(event)
        if line is not None:
            dialogue.append(line)

    try:
        recorder = await record(conv) if record is not None else None
        async with AgentSession(llm=answering, max_tool_steps=compiled.max_tool_steps) as session:
            session.on("conversation_item_added", heard)
            if recorder is not None:
                attach(session, recorder)
            start = await session.start(await FlowAgent.open(conv), capture_run=True)
            for text in said_in(start):
                out(said("agent", text))
            for raw in lines:
                line = raw.strip()
                if not line:
                    continue
                command = line.split()[0] if line.startswith("/") else None
                if command == "/quit":
                    break
                if conv.ended is not None:
                    _note(
                        out, f"(the call has ended in {conv.state}; /history shows what happened)"
                    )
                    if command in ("/history", "/vars", "/state"):
                        _command(conv, line, out)
                    continue
                if command == "/go":
                    await _turn(_go(conv, session, line, out), session, out)
                    continue
                if command is not None:
                    _command(conv, line, out)
                    continue
                if echo:
                    out(said("user", line))
                mark = len(conv.history)
                try:
                    run: RunResult[None] | None = await _turn(
                        asyncio.wait_for(session.run(user_input=line), timeout), session, out
                    )
                except TimeoutError:
                    _note(out, f"  (no answer within {timeout:g} s; the session stops here)")
                    break
                if run is None:
                    continue
                spoken = conv.current.output.spoken if conv.current.output else None
                words = said_in(run)
                # What a tool returned is shown when the agent said nothing after it (the
                # offline model never does) and the call goes on: the answer the caller
                # waits for would otherwise go unseen.
                values = not words and conv.ended is None
                for printed in transcript(conv.history[mark:], words, spoken, values=values):
                    out(printed)
        outcome = end_reason(conv)
        summary = summarize(conv, outcome=outcome, turns=len(dialogue))
        out(Line("summary", f"summary: {summary.text}"))
        spec = compiled.flow.evaluation
        rubric = None
        if grade and spec is not None and spec.rubric:
            rubric = await grade_rubric(answering, spec.rubric, dialogue, timeout=timeout)
        evaluation = evaluate(conv, outcome=outcome, rubric=rubric)
        if evaluation is not None:
            out(Line("summary", f"evaluation: {evaluation.text}"))
    finally:
        if recorder is not None:
            await recorder.close(end_reason(conv), summary=summary)
            if evaluation is not None:
                await recorder.evaluated(evaluation)
        await conv.aclose()  # and its tools
        await answering.aclose()  # a real model's HTTP client
    return conv


async def _turn(work: Awaitable[T], session: AgentSession[Any], out: Out) -> T | None:
    """``work``, which Ctrl-C cancels: the model stops (the session is interrupted), the
    REPL says so and waits for the next line (None). Only the main thread can take the
    signal; elsewhere (a test's thread, an embedding) the turn just runs."""
    task = asyncio.ensure_future(work)
    with _on_interrupt(task.cancel):
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            if not task.cancelled():  # the REPL itself is being cancelled: pass it on
                raise
    with contextlib.suppress(RuntimeError):  # nothing to interrupt once the turn is over
        await session.interrupt()
    _note(out, "  (turn cancelled)")
    return None


@contextlib.contextmanager
def _on_interrupt(callback: Callable[[], Any]) -> Iterator[None]:
    """SIGINT calls ``callback`` on the event loop while the block runs, then raises
    ``KeyboardInterrupt`` again, so a prompt between turns can take Ctrl-C itself."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGINT, callback)
    try:
        yield
    finally:
        loop.remove_signal_handler(signal.SIGINT)  # back to signal.default_int_handler


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
    for printed in transcript(conv.history[mark:], [w for w in words if w], None, values=True):
        out(printed)


def offered(fn: FunctionSpec, target: object) -> str:
    """One line of ``/edges``: the function, its parameters and kind, the guards that
    decide whether firing it succeeds (``requires``, ``when``), its description."""
    params = ", ".join(fn.schema["parameters"]["properties"])
    guards = ""
    if isinstance(target, CompiledEdge):
        held = [f"requires {', '.join(target.requires)}"] if target.requires else []
        held += [f"when {target.when.source}"] if target.when is not None else []
        guards = f" [{'; '.join(held)}]" if held else ""
    return f"  {fn.name}({params}) [{fn.kind}]{guards}: {fn.description}"


def _command(conv: Conversation, line: str, out: Out) -> None:
    name = line.split()[0]
    if name == "/state":
        _note(out, f"state: {conv.state}")
    elif name == "/vars":
        _note(out, f"variables: {json.dumps(conv.variables, sort_keys=True, default=str)}")
    elif name == "/edges":
        for fn in conv.functions():
            _note(out, offered(fn, conv.current.by_function.get(fn.name)))
    elif name == "/history":  # each event in the engine's words, as `flowctl sessions show`
        for event in conv.history:
            kind, text, _ = describe(event)
            out(Line(kind, f"  {kind:<8} {text}"))
    else:
        _note(out, f"unknown command `{name}`: /go, /state, /vars, /edges, /history, /quit")
