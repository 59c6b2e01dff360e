"""Paths that fire every edge: model-based test generation (as XState's test paths).

A breadth-first search over the conversation's abstract states — the current state
and the values of the variables that some guard reads — replaying the engine's own
rules: arguments are chosen to satisfy the parameter types and, where a condition
compares a variable with a literal, values on each side of it; ``requires`` and
``when`` are checked as the runtime checks them; action edges and actions on entry
apply their tool's ``sets``, one branch per answer worth trying (the given mocks',
failures included: ``flowctl.engine.answers``); automatic edges fire on arrival. The
shortest path to each edge's first firing is kept, paths that are prefixes of others
are dropped, and edges no path can fire are reported.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

import msgspec

from flowctl.engine.answers import Outcome, outcomes, placeholder
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
from flowctl.engine.entry_actions import arguments, failed
from flowctl.engine.parameters import accepted
from flowctl.engine.spec import Edge, Parameter
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
    answers: tuple[tuple[str, Any], ...] = ()  # (tool, answer) of each call, in order


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


def _candidates(
    name: str, p: Parameter, literals: dict[str, list[Any]], written: str | None = None
) -> list[Any]:
    """Values worth trying for parameter ``name``. ``written``: the free text to pass
    when no guard names one: the edge's own example's, so a `say` that quotes it reads
    as it will on a call; without one, the parameter's name as a marked stand-in
    (``<call_summary>``), never a word that reads as part of the sentence."""
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
    return [*strings, written if written is not None else f"<{name}>"]


def _argument_sets(ce: CompiledEdge, literals: dict[str, list[Any]]) -> list[dict[str, Any]]:
    """A first set with the first candidate of each required parameter, then sets that
    vary one parameter at a time."""
    params = dict(ce.tool.parameters) if ce.tool is not None else {}
    params.update(ce.edge.parameters)
    written = {  # the first example's text for each parameter an example gives
        n: v for x in reversed(ce.edge.phrases()) for n, v in x.args.items() if isinstance(v, str)
    }
    options = {
        n: accepted(p, _candidates(n, p, literals, written.get(n)))
        for n, p in params.items()
        if p.required
    }
    if not options:
        return [{}]
    base = {n: values[0] for n, values in options.items()}
    sets = [base]
    for n, values in options.items():
        for v in values[1:]:
            sets.append({**base, n: v})
    unique = list({json.dumps(s, sort_keys=True): s for s in sets}.values())
    return unique[:MAX_ARGUMENT_SETS]


class _Walker:
    def __init__(self, compiled: CompiledFlow, mocks: Mapping[str, Any]) -> None:
        self.compiled = compiled
        self.mocks = mocks
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
        """A state's listed tool as a nameless action edge that stays, with the tool's
        examples (their text is what its free-text arguments are tried with)."""
        cached = self._tool_edges.get((state, name))
        if cached is None:
            tool = self.compiled.tools[name]
            edge = Edge(name=name, action="action", tool=name, examples=tool.examples)
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
        with the arguments over them, then parameters are stored and the tool runs; a
        tool that fails leaves the conversation where it was."""
        checked = {**variables, **args}
        if not self.allowed(ce, checked):
            return []
        variables = {**variables, **argument_writes(ce.edge, args)}
        answered = self._tool(ce, args, variables) if ce.tool is not None else [Outcome(variables)]
        arrivals = []
        for out in answered:
            if out.ended or out.failed:
                arrivals.append(Arrival(state, out.variables, out.ended, (), (), out.answers))
                continue
            after = {**out.variables, **edge_writes(ce.edge, {**out.variables, **args})}
            target = ce.target if ce.target is not None else state
            arrivals += self._chain(_Chain(target, after, ce.target is not None, out.answers))
        return arrivals

    def arrive(self, state: int, variables: dict[str, Any]) -> list[Arrival]:
        """Entering ``state``: its actions on entry run, then its automatic edges fire
        while their guards hold, each once per chain (as the runtime fires them); one
        arrival per way the tools involved may answer."""
        return self._chain(_Chain(state, variables, True))

    def _chain(self, at: _Chain, budget: int = 32) -> list[Arrival]:
        here = self.compiled.states[at.state]
        if here.end or budget == 0:
            return [at.arrival(here.end)]
        if at.entering:
            return self._enter(at, 0, budget)
        ready = next(
            (
                a
                for a in here.automatic
                if (a.source, a.name) not in at.done and self.allowed(a, at.variables)
            ),
            None,
        )
        if ready is None:
            return [at.arrival(False)]
        done = at.done | {(ready.source, ready.name)}
        answered = self._tool(ready, {}, at.variables) if ready.tool else [Outcome(at.variables)]
        arrivals = []
        for out in answered:
            said = at.answers + out.answers
            if out.ended or out.failed:  # the chain stops where it is
                stopped = at._replace(variables=out.variables, answers=said)
                arrivals.append(stopped.arrival(out.ended))
                continue
            after = {**out.variables, **edge_writes(ready.edge, out.variables)}
            target = ready.target if ready.target is not None else at.state
            step = at.fired(ready.name, f"{here.name}.{ready.name}")
            arrivals += self._chain(
                step._replace(
                    state=target,
                    variables=after,
                    entering=ready.target is not None,
                    done=done,
                    answers=said,
                ),
                budget - 1,
            )
        return arrivals

    def _enter(self, at: _Chain, first: int, budget: int) -> list[Arrival]:
        """The state's actions on entry from the ``first``-th on, each answer a branch:
        a failed one sets its ``default``, or takes its ``on_error``, or is passed over."""
        here = self.compiled.states[at.state]
        actions = here.spec.on_enter_actions
        if first == len(actions):
            return self._chain(at._replace(entering=False), budget)
        action = actions[first]
        entry = self.tool_edge(here.index, action.tool)
        arrivals = []
        for out in self._tool(entry, arguments(action, at.variables), at.variables):
            now = at._replace(answers=at.answers + out.answers)
            if out.ended:
                arrivals.append(now._replace(variables=out.variables).arrival(True))
            elif not out.failed:
                arrivals += self._enter(now._replace(variables=out.variables), first + 1, budget)
            elif action.default is not None:
                defaults = {**at.variables, **action.default}
                arrivals += self._enter(now._replace(variables=defaults), first + 1, budget)
            elif action.on_error is not None:
                trigger = failed(action)
                moved = now.fired(trigger, f"{here.name}.{trigger}")
                target = self.compiled.state_index[action.on_error]
                arrivals += self._chain(moved._replace(state=target), budget - 1)
            else:
                arrivals += self._enter(now, first + 1, budget)
        return arrivals

    def _tool(
        self, ce: CompiledEdge, args: dict[str, Any], variables: dict[str, Any]
    ) -> list[Outcome]:
        assert ce.tool is not None
        return outcomes(
            ce.tool,
            args,
            variables,
            mocks=self.mocks,
            literals=self.literals,
            kinds=self.var_kinds,
        )


class Arrival(msgspec.Struct, frozen=True):
    state: int
    variables: dict[str, Any]
    ended: bool
    automatic: tuple[str, ...]  # names of the automatic edges that fired, in order
    keys: tuple[str, ...]  # the same as "State.edge", for coverage
    answers: tuple[tuple[str, Any], ...] = ()  # (tool, answer) of each call, in order


class _Chain(NamedTuple):
    """A chain of automatic steps under way: where it is, what fired, what answered."""

    state: int
    variables: dict[str, Any]
    entering: bool
    answers: tuple[tuple[str, Any], ...] = ()
    done: frozenset[tuple[int | None, str]] = frozenset()
    names: tuple[str, ...] = ()
    keys: tuple[str, ...] = ()

    def fired(self, name: str, key: str) -> _Chain:
        return self._replace(names=(*self.names, name), keys=(*self.keys, key))

    def arrival(self, ended: bool) -> Arrival:
        return Arrival(self.state, self.variables, ended, self.names, self.keys, self.answers)


def cover(compiled: CompiledFlow, mocks: Mapping[str, Any] | None = None) -> Coverage:
    """Paths from the start that together fire every edge that can fire. ``mocks``: the
    answers to try for the tools they name (a scenario's ``mocks``; each answer of a
    sequence, or a failure, is a branch: ``flowctl.engine.answers``)."""
    walker = _Walker(compiled, mocks or {})
    variables = dict(compiled.defaults)
    inputs: dict[str, Any] = {}
    for name, var in compiled.flow.variables.items():  # inputs: assume the session has them
        if var.input and name not in variables:
            literal = walker.literals.get(name)
            inputs[name] = literal[0] if literal else placeholder(var.type)
    variables.update(inputs)
    targets = {
        _key(state.name, ce) for state in compiled.states if not state.end for ce in state.edges
    }
    first: dict[str, tuple[Step, ...]] = {}
    queue: deque[tuple[int, dict[str, Any], tuple[Step, ...]]] = deque()
    seen: set[tuple[Any, ...]] = set()

    def reach(arrival: Arrival, path: tuple[Step, ...], fired: Iterable[str]) -> None:
        for key in fired:  # the edge, and the automatic edges that fired after it
            first.setdefault(key, path)
        node = walker.key(arrival.state, arrival.variables, arrival.ended)
        if node not in seen:
            seen.add(node)
            if not arrival.ended:
                queue.append((arrival.state, arrival.variables, path))

    # Actions on entry and automatic edges of the start state run before the model says
    # anything: each way they may go is a starting point.
    for arrival in walker.arrive(compiled.start, variables):
        opening: tuple[Step, ...] = ()
        if arrival.automatic or arrival.answers:
            where = compiled.states[arrival.state].name
            opening = (Step("", {}, where, arrival.automatic, arrival.answers),)
        reach(arrival, opening, arrival.keys)
    while queue and len(seen) < MAX_NODES and not targets <= first.keys():
        state, variables, path = queue.popleft()
        spec = compiled.states[state]
        # The state's tools run too (they may set what a guard needs), as stays.
        offered: list[tuple[CompiledEdge, tuple[str, ...]]]
        offered = [(walker.tool_edge(spec.index, name), ()) for name in spec.spec.tools]
        offered += [(ce, (_key(spec.name, ce),)) for ce in spec.edges if not ce.automatic]
        for ce, keys in offered:
            for args in _argument_sets(ce, walker.literals):
                for arrival in walker.fire(state, variables, ce, args):
                    where = compiled.states[arrival.state].name
                    step = Step(ce.name, args, where, arrival.automatic, arrival.answers)
                    reach(arrival, (*path, step), (*keys, *arrival.keys))
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
