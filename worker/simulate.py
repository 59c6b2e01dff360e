"""Scenario runs: each scenario in a fresh text-only ``AgentSession`` (no room, no
audio), through the same ``FlowAgent`` adapter the voice worker uses. What each turn did
is read from the engine's history and checked against the turn's ``expect``.

The model is the scripted one by default (it plays each turn's ``model`` steps); any
other ``livekit.agents.llm.LLM`` can stand in — the offline example matcher, or a real
model through an OpenAI-compatible endpoint — and then the steps are ignored and only
the expectations are checked.

Given a keeper of memory (``memory``: a tenant's store, or an in-process one), a
scenario that names its ``caller`` is that caller's call: a flow with ``memory`` starts
it with what the caller's earlier calls left, and keeps what this one adds when it is
over (the summary, when the flow asks, is the scenario's ``summary`` in scripted runs),
as the worker does (``worker/memory.py``).

When the session ends, what it came to is summed up as a call's is
(``flowctl.engine.summary``), and checked against the flow's ``evaluation`` (its rubric
graded by the session's model when asked: a real model; the stand-ins cannot), which
the scenario's ``evaluation`` may expect.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import Any

import msgspec
from livekit.agents import AgentSession, RunResult, llm

from flowctl.engine.compile import CompiledFlow
from flowctl.engine.egress import EgressPolicy
from flowctl.engine.evaluation import CallEvaluation, evaluate
from flowctl.engine.knowledge.retrieval import Retriever, answer_in
from flowctl.engine.memory import MemoryBank
from flowctl.engine.runtime import (
    Conversation,
    Fired,
    OutputRecorded,
    RefusedEvent,
    ToolCalled,
    ToolReturned,
)
from flowctl.engine.scenario import (
    Scenario,
    TurnResult,
    check_against,
    check_evaluation,
    check_turn,
)
from flowctl.engine.store.errors import StoreError
from flowctl.engine.summary import CallSummary, summarize
from flowctl.engine.tools import ToolRegistry
from flowctl.worker.agent import FlowAgent
from flowctl.worker.grading import grade as grade_rubric
from flowctl.worker.llm import ScriptedLLM, Step
from flowctl.worker.memory import remember_call
from flowctl.worker.recording import Record, attach, end_reason, transcript_line
from flowctl.worker.transcript import Line, said, said_in, transcript

__all__ = ["ScenarioResult", "TurnReport", "run_scenario", "run_scenarios"]

logger = logging.getLogger(__name__)

# A scripted turn takes milliseconds; one that takes this long is stuck (a real model
# over the network gets longer: see run_scenario's ``timeout``).
TURN_TIMEOUT = 10.0
NO_REPLY = "[scripted model: no reply planned for this turn]"

ModelFactory = Callable[[Conversation], llm.LLM[Any]]


class TurnReport(msgspec.Struct, frozen=True, kw_only=True):
    number: int
    user: str
    result: TurnResult
    lines: list[str]  # the transcript of the turn, for people
    problems: list[str]
    kinds: list[str] = []  # each line's kind (``engine/describe.py``), what colours it

    @classmethod
    def of(
        cls, number: int, user: str, result: TurnResult, lines: list[Line], problems: list[str]
    ) -> TurnReport:
        return cls(
            number=number,
            user=user,
            result=result,
            lines=[line.text for line in lines],
            problems=problems,
            kinds=[line.kind for line in lines],
        )

    def transcript(self) -> list[Line]:
        """The turn's lines, each with its kind."""
        return [Line(kind, text) for kind, text in zip(self.kinds, self.lines, strict=True)]


class ScenarioResult(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    passed: bool
    turns: list[TurnReport]
    error: str | None = None
    edges: list[str] = []  # "State.edge" for every edge fired, for coverage
    opening: list[str] = []  # what the agent said when the call started
    opening_problems: list[str] = []  # the scenario's `start` expectations unmet
    summary: str | None = None  # what the session came to, in one line
    evaluation: CallEvaluation | None = None  # None: the flow declares no evaluation
    problems: list[str] = []  # the scenario's `evaluation` expectations not met


def _steps(turn_model: Sequence[Any] | None) -> list[Step]:
    if not turn_model:
        return [Step.say(NO_REPLY)]
    steps = []
    for step in turn_model:
        if step.call is not None:
            steps.append(Step.call(step.call, dict(step.args)))
        elif step.output is not None:
            steps.append(Step.output(step.output))
        else:
            steps.append(Step.say(step.say or ""))
    return steps


async def run_scenario(
    compiled: CompiledFlow,
    scenario: Scenario,
    *,
    model: ModelFactory | None = None,
    allow_network: bool = False,
    timeout: float = TURN_TIMEOUT,
    session_options: dict[str, Any] | None = None,
    egress: EgressPolicy | None = None,
    record: Record | None = None,
    retriever: Retriever | None = None,
    no_knowledge: str = "",
    memory: MemoryBank | None = None,
    grade: bool = False,
) -> ScenarioResult:
    """Run ``scenario`` in a fresh session. ``model`` makes the session's model for its
    conversation; None: the scripted model plays the turns' steps. Each turn (and the
    start) must finish within ``timeout`` seconds. ``egress``: where http tools may
    connect, when the network is allowed (None: anywhere). ``record``: starts the
    session's record, kept as the worker keeps a call's. ``retriever``: where knowledge
    tools search (``no_knowledge``: how to give them bases, when there is none).
    ``memory``: where the scenario's caller is remembered, from call to call. ``grade``:
    the session's model grades the flow's rubric (a real model's job; otherwise it is not
    graded)."""
    # A real model's calls are its own: only the script's are checked.
    problems = check_against(scenario, compiled, scripted=model is None)
    if problems:
        return ScenarioResult(name=scenario.name, passed=False, turns=[], error="; ".join(problems))
    tools = ToolRegistry(
        compiled.tools,
        mocks=scenario.mocks,
        allow_network=allow_network,
        egress=egress,
        retriever=retriever,
        no_knowledge=no_knowledge,
    )
    caller = scenario.caller
    bank = memory if caller is not None and compiled.flow.memory is not None else None
    try:
        known = await bank.recall(caller) if bank is not None and caller is not None else None
        conv = Conversation(
            compiled, variables=scenario.variables, tools=tools, caller=caller, memory=known
        )
    except (ValueError, msgspec.ValidationError, StoreError) as exc:
        await tools.close()
        return ScenarioResult(name=scenario.name, passed=False, turns=[], error=str(exc))
    scripted: ScriptedLLM | None = None  # when the session plays the scenario's steps
    answering: llm.LLM[Any]
    if model is None:
        scripted = answering = ScriptedLLM()
    else:
        answering = model(conv)
    options = {"max_tool_steps": compiled.max_tool_steps, **(session_options or {})}
    reports: list[TurnReport] = []
    opening: list[str] = []
    opening_problems: list[str] = []
    error: str | None = None
    spoken = None
    recorder = None
    dialogue: list[tuple[str, str]] = []  # the transcript, as the worker keeps a call's

    def heard(event: Any) -> None:
        line = transcript_line(event)
        if line is not None:
            dialogue.append(line)

    summary: CallSummary | None = None
    evaluation: CallEvaluation | None = None
    try:
        recorder = await record(conv) if record is not None else None
        async with AgentSession(llm=answering, **options) as session:
            session.on("conversation_item_added", heard)
            if recorder is not None:
                attach(session, recorder)
            try:
                agent = await asyncio.wait_for(FlowAgent.open(conv), timeout)
                start = await asyncio.wait_for(session.start(agent, capture_run=True), timeout)
            except TimeoutError:
                error = f"the session did not start within {timeout:g} s"
                start = None
            opening = [said("agent", text).text for text in said_in(start)]
            if start is not None:
                opened = _result(conv, conv.history, said_in(start))
                opening_problems = check_turn(scenario.start, opened)
            for number, turn in enumerate(scenario.turns, start=1):
                if error is not None:
                    break
                if conv.ended is not None:
                    error = f"turn {number}: the call already ended in state `{conv.state}`"
                    break
                mark = len(conv.history)
                tools.answers.for_turn(turn.mocks)
                if scripted is not None:
                    scripted.plan(_steps(turn.model))
                try:
                    run: RunResult[None] = await asyncio.wait_for(
                        session.run(user_input=turn.user), timeout
                    )
                except TimeoutError:
                    error = f"turn {number}: no answer within {timeout:g} s"
                    break
                words = said_in(run)
                events = conv.history[mark:]
                spoken = conv.current.output.spoken if conv.current.output else None
                result = _result(conv, events, words)
                problems = check_turn(turn.expect, result)
                if scripted is not None:
                    problems += _script_problems(scripted, compiled)
                lines = [said("user", turn.user), *transcript(events, words, spoken)]
                reports.append(TurnReport.of(number, turn.user, result, lines, problems))
            if bank is not None and error is None:  # the call is over: what it leaves
                if scripted is not None:
                    scripted.plan([Step.say(scenario.summary or "")])
                try:
                    await remember_call(bank, conv, outcome=end_reason(conv), session=session)
                except StoreError as exc:
                    error = f"the caller's memory was not kept: {exc}"
        outcome = end_reason(conv)
        summary = summarize(conv, outcome=outcome, turns=len(dialogue))
        rubric = None
        spec = compiled.flow.evaluation
        if grade and spec is not None and spec.rubric:
            rubric = await grade_rubric(answering, spec.rubric, dialogue, timeout=timeout)
        evaluation = evaluate(conv, outcome=outcome, rubric=rubric)
    finally:
        if recorder is not None:
            await recorder.close(end_reason(conv), summary=summary)
            if evaluation is not None:
                await recorder.evaluated(evaluation)
        await conv.aclose()  # and its tools
        await answering.aclose()  # a real model's HTTP client
    fired = [f"{e.source}.{e.edge}" for e in conv.history if isinstance(e, Fired)]
    unmet = check_evaluation(scenario.evaluation, evaluation)
    passed = (
        error is None
        and not opening_problems
        and all(not r.problems for r in reports)
        and not unmet
    )
    return ScenarioResult(
        name=scenario.name,
        passed=passed,
        turns=reports,
        error=error,
        edges=fired,
        opening=opening,
        summary=summary.text if summary is not None else None,
        evaluation=evaluation,
        problems=unmet,
        opening_problems=opening_problems,
    )


def _result(conv: Conversation, events: Sequence[Any], words: list[str]) -> TurnResult:
    """What ``events`` (a turn's, or the start's) did, and what was said."""
    outputs = [e for e in events if isinstance(e, OutputRecorded)]
    returned = [e for e in events if isinstance(e, ToolReturned)]
    return TurnResult(
        state=conv.state,
        edges=[e.edge for e in events if isinstance(e, Fired)],
        tool_calls=[e.tool for e in events if isinstance(e, ToolCalled)],
        tools_ok=[e.tool for e in returned if e.ok],
        tools_failed=[e.tool for e in returned if not e.ok],
        variables=dict(conv.variables),
        said=" ".join(words),
        output=outputs[-1].fields if outputs else None,
        ended=conv.ended is not None,
        refused=[e.name for e in events if isinstance(e, RefusedEvent)],
        retrieved=[
            p.source
            for e in returned
            if (answer := answer_in(e.value)) is not None
            for p in answer.passages
        ],
    )


def _script_problems(model: ScriptedLLM, compiled: CompiledFlow) -> list[str]:
    problems = [
        f"the session allowed no more function calls this turn (max_tool_steps="
        f"{compiled.max_tool_steps}), so the script's {step.describe()} was not played"
        for step in model.blocked
    ]
    unused = [s for s in model.pending if s not in model.blocked]
    if unused:
        listed = "; ".join(s.describe() for s in unused)
        problems.append(
            f"the turn ended before the script's last {len(unused)} step(s): {listed}"
            " (a handoff or the end of the call ends a turn; put later steps in the next turn)"
        )
    return problems


async def run_scenarios(
    compiled: CompiledFlow,
    scenarios: Sequence[Scenario],
    *,
    model: ModelFactory | None = None,
    allow_network: bool = False,
    timeout: float = TURN_TIMEOUT,
    egress: EgressPolicy | None = None,
    record: Record | None = None,
    retriever: Retriever | None = None,
    no_knowledge: str = "",
    memory: MemoryBank | None = None,
    grade: bool = False,
) -> list[ScenarioResult]:
    """Each scenario in its own session (each recorded, with ``record``), with a fresh
    model (which grades the flow's rubric, with ``grade``), in order: a caller's later
    scenarios see what ``memory`` kept of the earlier; every session searches the
    same ``retriever``."""
    return [
        await run_scenario(
            compiled,
            s,
            model=model,
            allow_network=allow_network,
            timeout=timeout,
            egress=egress,
            record=record,
            retriever=retriever,
            no_knowledge=no_knowledge,
            memory=memory,
            grade=grade,
        )
        for s in scenarios
    ]
