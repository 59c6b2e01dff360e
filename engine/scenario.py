"""Scenario files: conversations to replay against a flow, and the checks of each turn.

The format is design.md's::

    {"flow": "clinic.json",
     "knowledge": {"clinic": ["knowledge/clinic"]},
     "scenarios": [{"name": "...", "variables": {...}, "mocks": {...},
                    "caller": "+15555550142", "summary": "...", "start": {...},
                    "turns": [{"user": "...", "mocks": {...},
                               "model": [{"call": "edge", "args": {...}}, {"say": "..."}],
                               "expect": {"state": "...", "edges": [...], ...}}]}]}

``knowledge`` gives the flow's knowledge tools their bases: each base's documents, as
files or folders relative to the scenario file, indexed in memory with the store's own
embedded index (``flowctl.engine.knowledge.files``) so its passages are found as a
store would find them; a knowledge tool can also be mocked, as any tool can, with an
answer of passages (``{"passages": [{"source": ..., "score": 1.0, "text": ...}]}``).

Loading reports problems the way lint does (path and row:col); :func:`check_turn`
compares what a turn did with what it was expected to do and returns readable
differences. Running scenarios needs a model and a session: that is the worker's.
"""

from __future__ import annotations

from pathlib import Path as FsPath
from typing import Any

import msgspec

from flowctl.engine.errors import FlowReadError
from flowctl.engine.findings import did_you_mean
from flowctl.engine.load import check_shape
from flowctl.engine.source import Path, Source

__all__ = [
    "Expect",
    "ExpectEvaluation",
    "ModelStep",
    "Scenario",
    "ScenarioError",
    "ScenarioFile",
    "Turn",
    "TurnResult",
    "check_against",
    "check_evaluation",
    "check_turn",
    "from_paths",
    "knowledge_paths",
    "load_scenarios",
]


class _Spec(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Same policy as the flow format: a typo in a scenario is an error, not ignored."""


class ModelStep(_Spec, frozen=True):
    """What the scripted model does: ``call`` a function (with ``args``), ``say``
    something, or answer with a structured ``output`` (a state with output fields)."""

    call: str | None = None
    args: dict[str, Any] = {}
    say: str | None = None
    output: dict[str, Any] | None = None


class Expect(_Spec, frozen=True):
    """What must hold after the turn; every key is optional."""

    state: str | None = None
    edges: list[str] | None = None  # fired in this turn, in order
    tool_calls: list[str] | None = None  # called, whatever they answered
    # Of those, the ones that answered (a result) and the ones that failed (an error):
    # `tool_calls` alone cannot tell a booking that worked from one that did not.
    tools_ok: list[str] | None = None
    tools_failed: list[str] | None = None
    variables: dict[str, Any] | None = None  # a subset
    say_contains: str | None = None
    output: dict[str, Any] | None = None  # a subset of the structured output
    ended: bool | None = None
    refused: list[str] | None = None  # calls the engine refused in this turn
    # The sources of the passages knowledge tools found in this turn, in order (each
    # search's best first): which documents the model was given to answer from.
    retrieved: list[str] | None = None


class Turn(_Spec, frozen=True):
    user: str
    model: list[ModelStep] | None = None
    expect: Expect | None = None
    # This turn's answers of the tools it names, in place of the scenario's (same forms:
    # flowctl.engine.mocks).
    mocks: dict[str, Any] | None = None


class ExpectEvaluation(_Spec, frozen=True):
    """What the flow's evaluation must say once the scenario's session ends (every key
    optional): whether it passed, whether each goal named was met, the required
    variables missing."""

    passed: bool | None = None
    goals: dict[str, bool] | None = None
    missing: list[str] | None = None


class Scenario(_Spec, kw_only=True, frozen=True):
    """One call. Scenarios run in order, each in a fresh session; those that give the
    same ``caller`` are calls of one caller, so a flow with ``memory`` starts each with
    what the ones before left."""

    name: str
    variables: dict[str, Any] = {}
    mocks: dict[str, Any] = {}
    caller: str | None = None  # who calls: a phone number or a user id
    # What the scripted model writes when the call is over and the flow's memory asks
    # for a summary (with a real model: ignored).
    summary: str | None = None
    start: Expect | None = None  # what holds once the call has started, before turn 1
    turns: list[Turn]
    evaluation: ExpectEvaluation | None = None  # checked when the session ends


class ScenarioFile(_Spec, frozen=True):
    flow: str
    scenarios: list[Scenario]
    # Each knowledge base's documents: files and folders, relative to the scenario file.
    knowledge: dict[str, list[str]] = {}


class ScenarioError(FlowReadError):
    """A scenario file that cannot be used; the message names the place."""


class TurnResult(msgspec.Struct, frozen=True, kw_only=True):
    """What a turn did, as the runner observed it."""

    state: str
    edges: list[str] = []
    tool_calls: list[str] = []
    tools_ok: list[str] = []
    tools_failed: list[str] = []
    variables: dict[str, Any] = {}
    said: str = ""
    output: dict[str, Any] | None = None
    ended: bool = False
    refused: list[str] = []
    retrieved: list[str] = []


def load_scenarios(path: FsPath) -> tuple[ScenarioFile, FsPath]:
    """The scenarios of a file and the path of the flow they name (relative to the
    file). Raises :class:`ScenarioError` naming the file, row and column."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ScenarioError(f"Cannot read `{path}`: {exc.strerror or exc}") from None
    try:
        raw = msgspec.json.decode(data)
    except msgspec.DecodeError as exc:
        raise ScenarioError(f"{path}: invalid JSON: {exc}") from None
    try:
        scenarios = msgspec.convert(raw, ScenarioFile)
    except msgspec.ValidationError:
        problems = check_shape(raw, ScenarioFile)
        source = Source(str(path), data.decode("utf-8", errors="replace"))
        spans = source.locate((p.path, p.at_key) for p in problems)
        lines = [
            f"{path}:{spans[p.path, p.at_key].row}:{spans[p.path, p.at_key].column}: {p.text}"
            for p in problems
        ]
        raise ScenarioError("\n".join(lines) or f"{path}: not a scenario file") from None
    steps: list[tuple[Path, str]] = [
        (("scenarios", i, "turns", t, "model", k), f"scenario `{sc.name}`, turn {t + 1}: {p}")
        for i, sc in enumerate(scenarios.scenarios)
        for t, turn in enumerate(sc.turns)
        for k, step in enumerate(turn.model or [])
        if (p := _step_problem(step, k + 1)) is not None
    ]
    if steps:
        source = Source(str(path), data.decode("utf-8", errors="replace"))
        spans = source.locate((where, False) for where, _ in steps)
        raise ScenarioError(
            "\n".join(
                f"{path}:{spans[where, False].row}:{spans[where, False].column}: {text}"
                for where, text in steps
            )
        )
    return scenarios, path.parent / scenarios.flow


def knowledge_paths(loaded: ScenarioFile, path: FsPath) -> dict[str, list[FsPath]]:
    """The ``knowledge`` of the scenario file at ``path``: each base's files and
    folders, as paths from here."""
    return {base: [path.parent / p for p in paths] for base, paths in loaded.knowledge.items()}


def check_against(scenario: Scenario, compiled: Any, *, scripted: bool = True) -> list[str]:
    """What in ``scenario`` names something ``compiled`` does not have: a model step's
    function (when the steps are ``scripted``, i.e. played), an expected state or edge,
    a mock's tool. Each with its turn and a did-you-mean."""
    functions = {fn.name for s in compiled.states for fn in s.functions}
    edges = {ce.name for s in compiled.states for ce in s.edges}
    edges |= {row.trigger for row in compiled.table}  # and the failures of entry actions
    states = set(compiled.state_index)
    problems = [
        f"{where}`mocks` names no tool of the flow: `{name}`"
        + (did_you_mean(name, compiled.tools) or "; the flow has no tool of that name")
        for where, mocks in [
            ("", scenario.mocks),
            *((f"turn {n}: ", t.mocks or {}) for n, t in enumerate(scenario.turns, start=1)),
        ]
        for name in mocks
        if name not in compiled.tools
    ]

    def unknown(what: str, name: str, known: set[str], number: int) -> None:
        hint = did_you_mean(name, known) or f"; no {what} of the flow has that name"
        where = f"turn {number}" if number else "start"
        problems.append(f"{where}: unknown {what} `{name}`{hint}")

    start = scenario.start or Expect()
    if start.state is not None and start.state not in states:
        unknown("state", start.state, states, 0)
    for edge in start.edges or []:
        if edge not in edges:
            unknown("edge", edge, edges, 0)

    wanted = scenario.evaluation
    if wanted is not None and (wanted.goals or wanted.missing):
        spec = compiled.flow.evaluation
        goals = {g.name for g in spec.goals} if spec is not None else set()
        required = set(spec.required) if spec is not None else set()
        for goal in wanted.goals or {}:
            if goal not in goals:
                hint = did_you_mean(goal, goals) or "; the flow's evaluation has no such goal"
                problems.append(f"`evaluation` expects unknown goal `{goal}`{hint}")
        for name in wanted.missing or []:
            if name not in required:
                problems.append(
                    f"`evaluation` expects `{name}` missing, which the flow's evaluation does "
                    "not require"
                )
    for number, turn in enumerate(scenario.turns, start=1):
        steps = (turn.model or []) if scripted else []
        expect = turn.expect or Expect()
        # A call of a function the flow has nowhere (a model making one up) is a script
        # the engine must refuse: fine when the turn expects that refusal.
        refused = set(expect.refused or [])
        called = [step.call for step in steps if step.call is not None]
        for name in dict.fromkeys(called):
            if name not in functions and name not in refused:
                unknown("function", name, functions, number)
        if expect.state is not None and expect.state not in states:
            unknown("state", expect.state, states, number)
        for edge in expect.edges or []:
            if edge not in edges and edge not in functions:
                unknown("edge", edge, edges | functions, number)
        for name in expect.refused or []:
            if name not in edges and name not in functions and name not in called:
                unknown("edge", name, edges | functions, number)
    return problems


def _step_problem(step: ModelStep, number: int) -> str | None:
    given = [k for k in ("call", "say", "output") if getattr(step, k) is not None]
    if len(given) != 1:
        found = ", ".join(f"`{k}`" for k in given) or "none"
        return (
            f"model step {number}: give exactly one of `call`, `say` and `output` (found {found})"
        )
    if step.args and step.call is None:
        return f"model step {number}: `args` belong to a `call`"
    return None


def from_paths(coverage: Any, mocks: dict[str, Any] | None = None) -> list[Scenario]:
    """The covering paths of ``flowctl.engine.paths.cover`` as scenarios: one turn per step,
    the model calling the step's function, each turn expecting the step's state and
    mocking the answers the step assumed (``mocks``, the explore's own, stand for the
    rest). Names list every edge, automatic ones too, and never repeat."""
    scenarios = []
    names = _path_names(coverage.paths)
    for k, (path, name) in enumerate(zip(coverage.paths, names, strict=True), start=1):
        opening = path.steps[0] if path.steps and not path.steps[0].edge else None
        turns = [
            Turn(
                user=f"(explore) step {n}",
                model=[ModelStep(call=step.edge, args=dict(step.args))],
                expect=Expect(state=step.state),
                mocks=_answered(step.answers) or None,
            )
            for n, step in enumerate((s for s in path.steps if s.edge), start=1)
        ]
        if turns:
            given = {**(mocks or {}), **_answered(opening.answers if opening else ())}
            scenarios.append(
                Scenario(
                    name=f"{k}. {name}",
                    variables=dict(coverage.inputs),
                    mocks=given,
                    turns=turns,
                )
            )
    return scenarios


def _answered(answers: Any) -> dict[str, list[Any]]:
    """Each tool's answers in the order a step assumed them, as a mock sequence."""
    mocks: dict[str, list[Any]] = {}
    for tool, answer in answers:
        mocks.setdefault(tool, []).append(answer)
    return mocks


def _path_names(paths: Any) -> list[str]:
    """``explore a > b > c`` per path (automatic edges included); where two paths fire
    the same edges, the arguments and answers that set them apart are added, and a
    number as the last resort."""

    def plain(path: Any) -> str:
        return " > ".join(e or "(start)" for e in path.edges)

    def detailed(path: Any) -> str:
        parts = []
        for step in path.steps:
            part = step.edge or "(start)"
            if step.args:
                part += " " + _show(step.args)
            if step.answers:
                part += " answered " + _show(dict(step.answers))
            parts.append(" > ".join([part, *step.automatic]))
        return " > ".join(parts)

    names = [plain(p) for p in paths]
    names = [detailed(p) if names.count(n) > 1 else n for p, n in zip(paths, names, strict=True)]
    unique: list[str] = []
    times: dict[str, int] = {}
    for name in names:
        times[name] = times.get(name, 0) + 1
        unique.append(f"explore {name}" + (f" ({times[name]})" if times[name] > 1 else ""))
    return unique


def _show(value: Any) -> str:
    return msgspec.json.encode(value).decode()


def check_turn(expect: Expect | None, actual: TurnResult) -> list[str]:
    """Each unmet expectation as ``field: expected X, got Y``."""
    if expect is None:
        return []
    problems: list[str] = []

    def differ(name: str, expected: Any, got: Any) -> None:
        problems.append(f"{name}: expected {_show(expected)}, got {_show(got)}")

    if expect.state is not None and expect.state != actual.state:
        differ("state", expect.state, actual.state)
    if expect.edges is not None and expect.edges != actual.edges:
        differ("edges", expect.edges, actual.edges)
    if expect.tool_calls is not None and expect.tool_calls != actual.tool_calls:
        differ("tool_calls", expect.tool_calls, actual.tool_calls)
    if expect.tools_ok is not None and expect.tools_ok != actual.tools_ok:
        differ("tools_ok", expect.tools_ok, actual.tools_ok)
    if expect.tools_failed is not None and expect.tools_failed != actual.tools_failed:
        differ("tools_failed", expect.tools_failed, actual.tools_failed)
    if expect.variables is not None:
        for name, value in expect.variables.items():
            got = actual.variables.get(name)
            if got != value:
                differ(f"variables.{name}", value, got)
    if expect.say_contains is not None and expect.say_contains not in actual.said:
        differ("say_contains", expect.say_contains, actual.said)
    if expect.output is not None:
        for name, value in expect.output.items():
            got = (actual.output or {}).get(name)
            if got != value:
                differ(f"output.{name}", value, got)
    if expect.ended is not None and expect.ended != actual.ended:
        differ("ended", expect.ended, actual.ended)
    if expect.refused is not None and expect.refused != actual.refused:
        differ("refused", expect.refused, actual.refused)
    if expect.retrieved is not None and expect.retrieved != actual.retrieved:
        differ("retrieved", expect.retrieved, actual.retrieved)
    return problems


def check_evaluation(expect: ExpectEvaluation | None, actual: Any) -> list[str]:
    """Each unmet expectation of the evaluation (``actual``: the session's
    ``flowctl.engine.evaluation.CallEvaluation``, None when the flow declares none) as
    ``evaluation.field: expected X, got Y``."""
    if expect is None:
        return []
    if actual is None:
        return ["evaluation: expected one, but the flow declares no `evaluation`"]
    problems: list[str] = []

    def differ(name: str, expected: Any, got: Any) -> None:
        problems.append(f"evaluation.{name}: expected {_show(expected)}, got {_show(got)}")

    if expect.passed is not None and expect.passed != actual.passed:
        differ("passed", expect.passed, actual.passed)
    met = {g.name: g.met for g in actual.goals}
    for name, value in (expect.goals or {}).items():
        if met.get(name) != value:
            differ(f"goals.{name}", value, met.get(name))
    if expect.missing is not None and expect.missing != actual.missing:
        differ("missing", expect.missing, actual.missing)
    return problems
