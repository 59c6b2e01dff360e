"""Paths that fire every edge: model-based test generation (as XState's test paths).

A breadth-first search over the conversation's abstract states — the current state
and the values of the variables that some guard reads — replaying the engine's own
rules: arguments are chosen to satisfy the parameter types and, where a condition
compares a variable with a literal, values on each side of it; ``requires`` and
``when`` are checked as the runtime checks them; action edges apply their tool's
``sets`` (mock results where the tool is a mock, a typed placeholder otherwise);
automatic edges fire on arrival. The shortest path to each edge's first firing is
kept, paths that are prefixes of others are dropped, and edges no path can fire are
reported.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Iterable
from typing import Any

import msgspec

from flowctl.engine.builtins import builtin_of
from flowctl.engine.compile import CompiledEdge, CompiledFlow
from flowctl.engine.conditions import (
    And,
    Compare,
    Expr,
    In,
    IsEmpty,
    Len,
    ListLit,
    Lit,
    Not,
    Or,
    Var,
)
from flowctl.engine.entry_actions import arguments
from flowctl.engine.parameters import accepted
from flowctl.engine.spec import BuiltinTool, Edge, MockTool, Parameter
from flowctl.engine.writes import argument_writes, edge_writes

__all__ = ["Coverage", "RunCoverage", "Step", "TestPath", "cover", "ran"]

# Bounds that keep a pathological flow from running away: abstract states visited,
# and argument sets tried per edge.
MAX_NODES = 50_000
MAX_ARGUMENT_SETS = 8

# Recorded for a variable whose length or emptiness a guard tests: a list parameter then
# also tries a list of one item, so `order is not empty` can hold.
_NON_EMPTY = object()


class Step(msgspec.Struct, frozen=True):
    """The model calls ``edge`` with ``args``; the conversation is then in ``state``."""

    edge: str
    args: dict[str, Any]
    state: str
    automatic: tuple[str, ...] = ()


class TestPath(msgspec.Struct, frozen=True):
    steps: tuple[Step, ...]

    @property
    def edges(self) -> list[str]:
        return [name for s in self.steps for name in (s.edge, *s.automatic)]


class Coverage(msgspec.Struct, frozen=True):
    paths: tuple[TestPath, ...]
    covered: frozenset[str]  # "State.edge" keys
    uncovered: tuple[str, ...]
    inputs: dict[str, Any] = {}  # values assumed for the session's `input` variables


def _key(source: str, ce: CompiledEdge) -> str:
    return f"{source}.{ce.name}"


def _literals(compiled: CompiledFlow) -> dict[str, list[Any]]:
    """For each variable, the literals conditions compare it with."""
    found: dict[str, list[Any]] = {}

    def walk(node: Expr) -> None:
        match node:
            case And(operands) | Or(operands):
                for child in operands:
                    walk(child)
            case Not(operand):
                walk(operand)
            case Compare(_, Var(name), Lit(value)) | Compare(_, Lit(value), Var(name)):
                found.setdefault(name, []).append(value)
            case In(Var(name), ListLit(items)):
                found.setdefault(name, []).extend(item.value for item in items)
            case In(Lit(value), Var(name)):  # "vip" in tags
                found.setdefault(name, []).append([value])
            case IsEmpty(name, _) | Compare(_, Len(name), _) | Compare(_, _, Len(name)):
                found.setdefault(name, []).append(_NON_EMPTY)

    for state in compiled.states:
        for ce in state.edges:
            if ce.when is not None:
                walk(ce.when.tree)
    return found


def _candidates(name: str, p: Parameter, literals: dict[str, list[Any]]) -> list[Any]:
    seen = literals.get(name, [])
    if p.type == "enum":
        return list(p.enum or [])
    if p.type == "bool":
        return [True, False]
    if p.type in ("int", "float"):
        numbers = [v for v in seen if isinstance(v, int | float) and not isinstance(v, bool)]
        cast = int if p.type == "int" else float
        out = [cast(v + d) for v in numbers for d in (1, 0, -1)]
        return list(dict.fromkeys(out)) or [cast(1)]
    if p.type.startswith("list["):
        one = [{"list[int]": [1], "list[str]": ["example"]}.get(p.type, [])]
        lists = [v for v in seen if isinstance(v, list)]
        return [[], *lists, *(one if _NON_EMPTY in seen and one[0] else [])]
    strings = [v for v in seen if isinstance(v, str)]
    return [*strings, "example"]


def _argument_sets(ce: CompiledEdge, literals: dict[str, list[Any]]) -> list[dict[str, Any]]:
    """A first set with the first candidate of each required parameter, then sets that
    vary one parameter at a time."""
    params = dict(ce.tool.parameters) if ce.tool is not None else {}
    params.update(ce.edge.parameters)
    options = {n: accepted(p, _candidates(n, p, literals)) for n, p in params.items() if p.required}
    if not options:
        return [{}]
    base = {n: values[0] for n, values in options.items()}
    sets = [base]
    for n, values in options.items():
        for v in values[1:]:
            sets.append({**base, n: v})
    unique = list({json.dumps(s, sort_keys=True): s for s in sets}.values())
    return unique[:MAX_ARGUMENT_SETS]


def _placeholder(kind: str) -> Any:
    return {"int": 1, "float": 1.0, "bool": True, "list[str]": [], "list[int]": []}.get(kind, "x")


class _Walker:
    def __init__(self, compiled: CompiledFlow) -> None:
        self.compiled = compiled
        self.literals = _literals(compiled)
        relevant: set[str] = set()
        for state in compiled.states:
            for ce in state.edges:
                relevant.update(ce.requires)
                if ce.when is not None:
                    relevant.update(ce.when.names)
        self.relevant = relevant
        self.var_kinds = {n: v.type for n, v in compiled.flow.variables.items()}
        self._tool_edges: dict[tuple[int, str], CompiledEdge] = {}

    def tool_edge(self, state: int, name: str) -> CompiledEdge:
        """A state's listed tool as a nameless action edge that stays."""
        cached = self._tool_edges.get((state, name))
        if cached is None:
            tool = self.compiled.tools[name]
            edge = Edge(name=name, action="action", tool=name)
            cached = CompiledEdge(edge, state, None, tool, None, None, (), False)
            self._tool_edges[(state, name)] = cached
        return cached

    def key(self, state: int, variables: dict[str, Any], ended: bool) -> tuple[Any, ...]:
        values = tuple(
            sorted(
                (n, json.dumps(variables[n], sort_keys=True))
                for n in self.relevant
                if n in variables
            )
        )
        return (state, values, ended)

    def allowed(self, ce: CompiledEdge, variables: dict[str, Any]) -> bool:
        if any(variables.get(v) is None for v in ce.requires):
            return False
        return ce.when is None or ce.when.holds(variables)

    def fire(
        self, state: int, variables: dict[str, Any], ce: CompiledEdge, args: dict[str, Any]
    ) -> list[Arrival]:
        """The abstract step, one arrival per way the tools involved may answer; empty
        when the engine would refuse it. As the runtime does: guards see the variables
        with the arguments over them, then parameters are stored and the tool runs."""
        checked = {**variables, **args}
        if not self.allowed(ce, checked):
            return []
        variables = {**variables, **argument_writes(ce.edge, args)}
        outcomes = self._tool(ce, args, variables) if ce.tool is not None else [(variables, False)]
        arrivals = []
        for after, ended in outcomes:
            if ended:
                arrivals.append(Arrival(state, after, True, (), ()))
            else:
                after = {**after, **edge_writes(ce.edge, {**after, **args})}
                arrivals.append(self.arrive(ce.target if ce.target is not None else state, after))
        return arrivals

    def arrive(self, state: int, variables: dict[str, Any]) -> Arrival:
        """Entering ``state``: its automatic edges fire while their guards hold, each
        once per chain (as the runtime fires them)."""
        names: list[str] = []
        keys: list[str] = []
        done: set[tuple[int | None, str]] = set()
        ended = self.compiled.states[state].end
        entering = True
        for _ in range(32):
            if ended:
                break
            here = self.compiled.states[state]
            if entering:  # its actions on entry run first; explore assumes they succeed
                entering = False
                for action in here.spec.on_enter_actions:
                    entry = self.tool_edge(here.index, action.tool)
                    args = arguments(action, variables)
                    variables, ended = self._tool(entry, args, variables)[0]
                    if ended:
                        break
                if ended:
                    break
            ready = next(
                (
                    a
                    for a in here.automatic
                    if (a.source, a.name) not in done and self.allowed(a, variables)
                ),
                None,
            )
            if ready is None:
                break
            done.add((ready.source, ready.name))
            if ready.tool is not None:
                variables, ended = self._tool(ready, {}, variables)[0]
                if ended:
                    break
            variables = {**variables, **edge_writes(ready.edge, variables)}
            names.append(ready.name)
            keys.append(f"{here.name}.{ready.name}")
            if ready.target is not None:
                state = ready.target
                entering = True
            ended = self.compiled.states[state].end
        return Arrival(state, variables, ended, tuple(names), tuple(keys))

    def _tool(
        self, ce: CompiledEdge, args: dict[str, Any], variables: dict[str, Any]
    ) -> list[tuple[dict[str, Any], bool]]:
        """``(variables, ended)`` for each answer worth trying: a mock's result; for
        other tools a typed placeholder, and each literal a guard compares a variable
        it sets with (the tool's real answer decides at run time)."""
        tool = ce.tool
        assert tool is not None
        if isinstance(tool, BuiltinTool):
            builtin = builtin_of(tool)
            if builtin is None:
                return [(variables, False)]
            if builtin.ends is not None:
                return [(variables, True)]
            return [({**variables, **builtin.run(tool, args).save}, False)]
        value = tool.result if isinstance(tool, MockTool) else None
        base: dict[str, Any] = {}
        for var, field in tool.sets.items():
            got: Any = value
            for step in field.split("."):
                got = got.get(step) if isinstance(got, dict) else None
            base[var] = got if got is not None else _placeholder(self.var_kinds.get(var, "str"))
        outcomes = [({**variables, **base}, False)]
        if not isinstance(tool, MockTool):
            for var in tool.sets:
                for literal in self.literals.get(var, [])[:MAX_ARGUMENT_SETS]:
                    outcomes.append(({**variables, **base, var: literal}, False))
        return outcomes


class Arrival(msgspec.Struct, frozen=True):
    state: int
    variables: dict[str, Any]
    ended: bool
    automatic: tuple[str, ...]  # names of the automatic edges that fired, in order
    keys: tuple[str, ...]  # the same as "State.edge", for coverage


def cover(compiled: CompiledFlow) -> Coverage:
    """Paths from the start that together fire every edge that can fire."""
    walker = _Walker(compiled)
    start = compiled.start
    variables = dict(compiled.defaults)
    inputs: dict[str, Any] = {}
    for name, var in compiled.flow.variables.items():  # inputs: assume the session has them
        if var.input and name not in variables:
            literal = walker.literals.get(name)
            inputs[name] = literal[0] if literal else _placeholder(var.type)
    variables.update(inputs)
    targets = {
        _key(state.name, ce) for state in compiled.states if not state.end for ce in state.edges
    }
    first: dict[str, tuple[Step, ...]] = {}
    queue: deque[tuple[int, dict[str, Any], tuple[Step, ...]]] = deque()
    # Automatic edges of the start state fire before the model says anything.
    arrival = walker.arrive(start, variables)
    start, variables, ended = arrival.state, arrival.variables, arrival.ended
    opening: tuple[Step, ...] = ()
    if arrival.automatic:
        opening = (Step("", {}, compiled.states[start].name, arrival.automatic),)
        for key in arrival.keys:
            first.setdefault(key, opening)
    if not ended:
        queue.append((start, variables, opening))
    seen = {walker.key(start, variables, ended)}
    while queue and len(seen) < MAX_NODES and len(first) < len(targets):
        state, variables, path = queue.popleft()
        spec = compiled.states[state]
        # The state's tools run too (they may set what a guard needs), as stays.
        for name in spec.spec.tools:
            tool_edge = walker.tool_edge(spec.index, name)
            for args in _argument_sets(tool_edge, walker.literals):
                for arrival in walker.fire(state, variables, tool_edge, args):
                    step = Step(name, args, compiled.states[arrival.state].name, arrival.automatic)
                    for key in arrival.keys:
                        first.setdefault(key, (*path, step))
                    node = walker.key(arrival.state, arrival.variables, arrival.ended)
                    if not arrival.ended and node not in seen:
                        seen.add(node)
                        queue.append((arrival.state, arrival.variables, (*path, step)))
        for ce in spec.edges:
            if ce.automatic:
                continue
            for args in _argument_sets(ce, walker.literals):
                for arrival in walker.fire(state, variables, ce, args):
                    step = Step(
                        ce.name, args, compiled.states[arrival.state].name, arrival.automatic
                    )
                    new_path = (*path, step)
                    first.setdefault(_key(spec.name, ce), new_path)
                    for key in arrival.keys:  # automatic edges, where they fired
                        first.setdefault(key, new_path)
                    node = walker.key(arrival.state, arrival.variables, arrival.ended)
                    if not arrival.ended and node not in seen:
                        seen.add(node)
                        queue.append((arrival.state, arrival.variables, new_path))
    paths = _minimal([first[k] for k in sorted(first, key=lambda k: len(first[k]))])
    covered = frozenset(first)
    uncovered = tuple(sorted(targets - covered))
    return Coverage(tuple(TestPath(p) for p in paths), covered, uncovered, inputs)


def _minimal(paths: list[tuple[Step, ...]]) -> list[tuple[Step, ...]]:
    """Drop paths that are a prefix of another kept path (longest first)."""
    kept: list[tuple[Step, ...]] = []
    for p in sorted(paths, key=len, reverse=True):
        if not any(k[: len(p)] == p for k in kept):
            kept.append(p)
    return sorted(kept, key=lambda p: [s.edge for s in p])


class RunCoverage(msgspec.Struct, frozen=True, kw_only=True):
    """What a set of runs exercised: states entered and edges fired, and what never ran
    (``State.edge`` keys, sorted)."""

    states_total: int
    states_entered: int
    states_missed: tuple[str, ...]
    edges_total: int
    edges_fired: int
    edges_missed: tuple[str, ...]


def ran(compiled: CompiledFlow, fired: Iterable[str]) -> RunCoverage:
    """Coverage of runs that fired the ``State.edge`` keys in ``fired``. An edge counts
    for the state it left; the start state and every target of a fired edge count as
    entered."""
    fired_set = set(fired)
    states = {s.name for s in compiled.states}
    entered = {compiled.states[compiled.start].name}
    entered |= {key.split(".", 1)[0] for key in fired_set}
    entered |= {
        row.dest
        for row in compiled.table
        if row.dest and f"{row.source}.{row.trigger}" in fired_set
    }
    offered = sorted(_key(s.name, ce) for s in compiled.states if not s.end for ce in s.edges)
    missed = tuple(key for key in offered if key not in fired_set)
    return RunCoverage(
        states_total=len(states),
        states_entered=len(entered & states),
        states_missed=tuple(sorted(states - entered)),
        edges_total=len(offered),
        edges_fired=len(offered) - len(missed),
        edges_missed=missed,
    )
