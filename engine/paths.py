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
from typing import Any

import msgspec

from engine.compile import CompiledEdge, CompiledFlow
from engine.spec import BuiltinTool, Edge, MockTool, Parameter

__all__ = ["Coverage", "Step", "TestPath", "cover"]

# Bounds that keep a pathological flow from running away: abstract states visited,
# and argument sets tried per edge.
MAX_NODES = 50_000
MAX_ARGUMENT_SETS = 8


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


def _key(source: str, ce: CompiledEdge) -> str:
    return f"{source}.{ce.name}"


def _literals(compiled: CompiledFlow) -> dict[str, list[Any]]:
    """For each variable, the literals conditions compare it with."""
    found: dict[str, list[Any]] = {}

    def walk(node: tuple) -> None:
        tag = node[0]
        if tag in ("and", "or"):
            for child in node[1]:
                walk(child)
        elif tag == "not":
            walk(node[1])
        elif tag == "cmp":
            left, right = node[2], node[3]
            for var, lit in ((left, right), (right, left)):
                if var[0] == "var" and lit[0] == "lit":
                    found.setdefault(var[1], []).append(lit[1])
        elif tag == "in":
            left, right = node[1], node[2]
            if left[0] == "var" and right[0] == "list":
                found.setdefault(left[1], []).extend(item[1] for item in right[1])

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
        return [[]]
    strings = [v for v in seen if isinstance(v, str)]
    return [*strings, "example"]


def _argument_sets(ce: CompiledEdge, literals: dict[str, list[Any]]) -> list[dict[str, Any]]:
    """A first set with the first candidate of each required parameter, then sets that
    vary one parameter at a time."""
    params = dict(ce.tool.parameters) if ce.tool is not None else {}
    params.update(ce.edge.parameters)
    options = {n: _candidates(n, p, literals) for n, p in params.items() if p.required}
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
    ) -> tuple[int, dict[str, Any], bool, tuple[str, ...]] | None:
        """The abstract step: ``(state, variables, ended, automatic edges)``, or None
        when the engine would refuse it."""
        variables = {**variables, **{k: v for k, v in args.items() if k in ce.edge.parameters}}
        if not self.allowed(ce, {**variables, **args}):
            return None
        ended = False
        if ce.tool is not None:
            outcome = self._tool(ce, args, variables)
            if outcome is None:
                return None
            variables, ended = outcome
        if ended:
            return state, variables, True, ()
        if ce.target is not None:
            state = ce.target
        return self.arrive(state, variables)

    def arrive(
        self, state: int, variables: dict[str, Any]
    ) -> tuple[int, dict[str, Any], bool, tuple[str, ...]]:
        """Entering ``state``: its automatic edges fire while their guards hold."""
        if self.compiled.states[state].end:
            return state, variables, True, ()
        ended = False
        automatic: list[str] = []
        for _ in range(32):
            ready = next(
                (a for a in self.compiled.states[state].automatic if self.allowed(a, variables)),
                None,
            )
            if ready is None:
                break
            automatic.append(ready.name)
            if ready.tool is not None:
                outcome = self._tool(ready, {}, variables)
                if outcome is None:
                    break
                variables, ended = outcome
                if ended:
                    break
            if ready.target is not None:
                state = ready.target
            if self.compiled.states[state].end:
                ended = True
                break
        return state, variables, ended, tuple(automatic)

    def _tool(
        self, ce: CompiledEdge, args: dict[str, Any], variables: dict[str, Any]
    ) -> tuple[dict[str, Any], bool] | None:
        tool = ce.tool
        assert tool is not None
        if isinstance(tool, BuiltinTool):
            kind = tool.builtin or tool.name
            if kind in ("end_call", "transfer_call", "handle_is_busy"):
                return variables, True
            if kind in ("set_variables", "save_data"):
                return {
                    **variables,
                    **{k: v for k, v in args.items() if k in tool.variables},
                }, False
            return variables, False
        value = tool.result if isinstance(tool, MockTool) else None
        updates: dict[str, Any] = {}
        for var, field in tool.sets.items():
            got: Any = value
            for step in field.split("."):
                got = got.get(step) if isinstance(got, dict) else None
            updates[var] = got if got is not None else _placeholder(self.var_kinds.get(var, "str"))
        return {**variables, **updates}, False


def cover(compiled: CompiledFlow) -> Coverage:
    """Paths from the start that together fire every edge that can fire."""
    walker = _Walker(compiled)
    start = compiled.start
    variables = dict(compiled.defaults)
    for name, var in compiled.flow.variables.items():  # inputs: assume the session has them
        if var.input and name not in variables:
            literal = walker.literals.get(name)
            variables[name] = literal[0] if literal else _placeholder(var.type)
    targets = {
        _key(state.name, ce) for state in compiled.states if not state.end for ce in state.edges
    }
    first: dict[str, tuple[Step, ...]] = {}
    queue: deque[tuple[int, dict[str, Any], tuple[Step, ...]]] = deque()
    # Automatic edges of the start state fire before the model says anything.
    start, variables, ended, automatic = walker.arrive(start, variables)
    opening: tuple[Step, ...] = ()
    if automatic:
        opening = (Step("", {}, compiled.states[start].name, automatic),)
        for name in automatic:
            auto = next(a for s in compiled.states for a in s.automatic if a.name == name)
            first.setdefault(_key(_state_of(compiled, auto, ""), auto), opening)
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
                result = walker.fire(state, variables, tool_edge, args)
                if result is None:
                    continue
                new_state, new_vars, ended, automatic = result
                node = walker.key(new_state, new_vars, ended)
                if not ended and node not in seen:
                    seen.add(node)
                    step = Step(name, args, compiled.states[new_state].name, automatic)
                    queue.append((new_state, new_vars, (*path, step)))
        for ce in spec.edges:
            if ce.automatic:
                continue
            for args in _argument_sets(ce, walker.literals):
                result = walker.fire(state, variables, ce, args)
                if result is None:
                    continue
                new_state, new_vars, ended, automatic = result
                step = Step(ce.name, args, compiled.states[new_state].name, automatic)
                new_path = (*path, step)
                key = _key(spec.name, ce)
                first.setdefault(key, new_path)
                here = spec.name
                for name in automatic:  # automatic edges count as covered where they fired
                    auto = next(a for s in compiled.states for a in s.automatic if a.name == name)
                    first.setdefault(_key(_state_of(compiled, auto, here), auto), new_path)
                if ended:
                    continue
                node = walker.key(new_state, new_vars, ended)
                if node not in seen:
                    seen.add(node)
                    queue.append((new_state, new_vars, new_path))
    paths = _minimal([first[k] for k in sorted(first, key=lambda k: len(first[k]))])
    covered = frozenset(first)
    uncovered = tuple(sorted(targets - covered))
    return Coverage(tuple(TestPath(p) for p in paths), covered, uncovered)


def _state_of(compiled: CompiledFlow, ce: CompiledEdge, fallback: str) -> str:
    return compiled.flow.agents[ce.source].name if ce.source is not None else fallback


def _minimal(paths: list[tuple[Step, ...]]) -> list[tuple[Step, ...]]:
    """Drop paths that are a prefix of another kept path (longest first)."""
    kept: list[tuple[Step, ...]] = []
    for p in sorted(paths, key=len, reverse=True):
        if not any(k[: len(p)] == p for k in kept):
            kept.append(p)
    return sorted(kept, key=lambda p: [s.edge for s in p])
