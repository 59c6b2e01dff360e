"""The variable rules (FL3xx): declared, typed, set before they are read, used.

"Read before set" is a reachability question asked once per variable: can the
conversation reach a state that reads ``v`` along edges none of which sets ``v``? One
breadth-first search per read variable, so the cost is linear in states + edges for
each variable, never a walk over paths.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import TYPE_CHECKING

from flowctl.engine.lint.context import FLOW_INSTRUCTIONS, SET_VARIABLE_BUILTINS, FlowContext
from flowctl.engine.lint.registry import Violation, rule, violation
from flowctl.engine.source import Path
from flowctl.engine.spec import BuiltinTool, Edge, Parameter, Variable, fits

if TYPE_CHECKING:
    from flowctl.engine.conditions import Condition, Types


def _condition(edge: Edge) -> Condition | None:
    """An edge's `when`, parsed (None without one, or when it does not parse: FL308
    reports that)."""
    if edge.when is None:
        return None
    from flowctl.engine.conditions import ConditionError, parse_condition

    try:
        return parse_condition(edge.when)
    except ConditionError:
        return None


def _condition_names(edge: Edge) -> set[str]:
    """Variables a `when` reads."""
    condition = _condition(edge)
    return set() if condition is None else set(condition.names)


def _ensured(edge: Edge) -> frozenset[str]:
    """Variables an edge's `when` guarantees are set when it fires (so an automatic
    edge after an action that stays carries what the action stored)."""
    from flowctl.engine.conditions import ensured

    condition = _condition(edge)
    return frozenset() if condition is None else ensured(condition.tree)


def _declared(ctx: FlowContext) -> dict[str, Path]:
    """Declared variable names: ``variables`` entries and edge parameters."""
    names: dict[str, Path] = {name: ("variables", name) for name in ctx.flow.variables}
    for _, edge, path in ctx.edges():
        for p, param in edge.parameters.items():
            names.setdefault(p, (*path, "parameters", p))
            target = param.target(p)
            if target is not None:
                names.setdefault(target, (*path, "parameters", p))
    return names


def _always_set(ctx: FlowContext) -> set[str]:
    return {
        name for name, var in ctx.flow.variables.items() if var.input or var.default is not None
    }


def _setters(ctx: FlowContext) -> set[str]:
    """Variables that something in the flow can set (``requires`` only checks), a
    session's overrides included."""
    names: set[str] = set()
    for _, edge, _ in ctx.edges():
        names |= {t for n, p in edge.parameters.items() if (t := p.target(n)) is not None}
        names |= set(edge.set) | set(edge.append)
    for tool in ctx.flow.tools:
        names |= set(tool.sets)
        if isinstance(tool, BuiltinTool) and ctx.builtin_of(tool) in SET_VARIABLE_BUILTINS:
            names |= set(tool.variables)
    if ctx.flow.overridable is not None:  # a session's overrides (flowctl.engine.overrides)
        names |= set(ctx.flow.overridable.variables)
    return names


@rule("undeclared-variable")
def undeclared_variable(ctx: FlowContext) -> Iterator[Violation]:
    """
    ## What it does
    Reports a `{{name}}` placeholder, an edge's `requires`, a tool's `sets` or a
    `set_variables` tool's `variables` naming a variable that is neither declared in
    `variables` nor a parameter of some edge.

    ## Why it matters
    Usually a typo: the placeholder would render empty on every call.

    ## Example
    ```json
    {"variables": {"caller_name": {"type": "str", "input": true}},
     "agents": [{"name": "Intake", "instructions": "Greet {{caller_nme}}."}]}
    ```
    ``Undeclared variable `caller_nme`; did you mean `caller_name`? - at
    `$.agents[0].instructions` ``

    ## Instead
    Fix the name, or declare the variable with its type.
    """
    declared = _declared(ctx)
    for name, path, at_key in _variable_uses(ctx):
        if name not in declared:
            hint = ctx.suggest(name, declared)
            yield violation(path, at_key=at_key, variable=name, hint=hint)


def _variable_uses(ctx: FlowContext) -> Iterator[tuple[str, Path, bool]]:
    """``(name, path, at_key)`` of each place that names a variable, in document order:
    placeholders, conditions, ``requires``, tools' ``sets`` and ``variables``."""
    for use in ctx.templates:
        yield use.placeholder.name, use.path, False
    for _, edge, path in ctx.edges():
        tool = ctx.edge_tool(edge)
        own = set(tool.parameters) if tool is not None else set()  # the call's arguments
        for name in sorted(_condition_names(edge) - own):
            yield name, (*path, "when"), False
        for k, name in enumerate(edge.requires):
            yield name, (*path, "requires", k), False
    for k, tool in enumerate(ctx.flow.tools):
        for name in tool.sets:
            yield name, ("tools", k, "sets", name), True
        if isinstance(tool, BuiltinTool):
            for j, name in enumerate(tool.variables):
                yield name, ("tools", k, "variables", j), False


def _adjacency(ctx: FlowContext) -> list[list[tuple[int, Edge | None]]]:
    """``(target, edge)`` out of each state, then out of the hub of the global edges
    (as in ``ctx.successors``: each non-terminal state leads to the hub, by no edge)."""
    index = ctx.state_index
    globals_: list[tuple[int, Edge | None]] = [
        (index[e.target_agent], e)
        for e in ctx.flow.global_edges
        if e.target_agent in index and not ctx.is_scoped(e)  # scoped ones: from their states
    ]
    to_hub: list[tuple[int, Edge | None]] = [(ctx.hub, None)] if globals_ else []
    own: list[list[tuple[int, Edge | None]]] = [
        []
        if state.end
        else [
            (index[e.target_agent], e)
            for e in [*state.edges, *ctx.scoped_global_edges(i)]
            if e.target_agent in index
        ]
        + [(t, None) for t in ctx.entry_failures(i)]
        + to_hub
        for i, state in enumerate(ctx.flow.agents)
    ]
    return [*own, globals_]


def _set_on_entry(ctx: FlowContext, names: list[str]) -> list[int | None]:
    """For each state, a bitset (bit k for ``names[k]``) of the variables set on *every*
    path from the start into it; None for states no path reaches.

    A must-analysis solved to its greatest fixed point with a worklist: a state's set
    only ever shrinks, so each state is revisited only when a predecessor's set shrank.
    Python integers are the bitsets, so a step costs one AND and one OR whatever the
    number of variables: linear in states + edges in practice. The global edges leave
    from one hub (whose set is what every state leading to it has in common), not from
    every state.
    """
    bit = {name: 1 << k for k, name in enumerate(names)}
    edge_bits: dict[int, int] = {}
    tool_bits: dict[int, int] = {}  # a tool called by many edges: once
    cleared = {id(e): sum(bit[v] for v in e.unset if v in bit) for _, e, _ in ctx.edges()}

    def bits(edge: Edge | None) -> int:
        if edge is None:
            return 0
        key = id(edge)
        if key not in edge_bits:
            tool = ctx.edge_tool(edge)
            if id(tool) not in tool_bits:
                tool_bits[id(tool)] = sum(bit[v] for v in ctx.tool_sets(tool) if v in bit)
            own = sum(bit[v] for v in ctx.own_sets(edge) | _ensured(edge) if v in bit)
            edge_bits[key] = own | tool_bits[id(tool)]
        return edge_bits[key]

    entry: list[int | None] = [None] * (ctx.hub + 1)
    if ctx.start is None:
        return entry[:-1]
    always = _always_set(ctx)
    entry[ctx.start] = sum(bit[v] for v in names if v in always)
    adjacency = _adjacency(ctx)
    work = [ctx.start]
    queued = {ctx.start}
    while work:
        s = work.pop()
        queued.discard(s)
        here = entry[s]
        assert here is not None
        for t, edge in adjacency[s]:
            incoming = (here & ~cleared.get(id(edge), 0)) | bits(edge)
            old = entry[t]
            new = incoming if old is None else old & incoming
            if new != old:
                entry[t] = new
                if t not in queued:
                    queued.add(t)
                    work.append(t)
    return entry[:-1]


@rule("variable-maybe-unset")
def variable_maybe_unset(ctx: FlowContext) -> Iterator[Violation]:
    """
    ## What it does
    Reports a `{{name}}` (without a fallback) in a state's instructions or greeting,
    or in an edge's `say`, when some path from the start reaches that point along
    edges none of which sets the variable. An edge sets a variable through its
    `parameters`, its `set`, its tool's `sets`, a `set_variables` tool, or guarantees
    it through `requires`; its `unset` clears it. Variables with a `default` or marked
    `input` are set from the start.

    ## Why it matters
    The placeholder renders empty: "Thanks, , your visit is booked."

    ## Example
    ```json
    {"variables": {"caller_name": {"type": "str"}},
     "agents": [{"name": "Intake", "instructions": "...", "edges": [
        {"name": "book", "description": "...", "target_agent": "Booking"}]},
      {"name": "Booking", "instructions": "Book a visit for {{caller_name}}."}]}
    ```

    ## Instead
    Collect it on the way (`"parameters": {"caller_name": {"type": "str"}}` on `book`),
    require it (`"requires": ["caller_name"]`), or give a fallback:
    `{{caller_name | the caller}}`.
    """
    never = ctx.cached(_never_set)
    declared = _declared(ctx)
    uses = [
        u
        for u in ctx.templates
        if not u.placeholder.optional
        and u.placeholder.name in declared
        and u.placeholder.name not in never
        and not (u.edge is not None and ctx.sets_variable(u.edge, u.placeholder.name))
    ]
    if not uses:
        return
    names = sorted({u.placeholder.name for u in uses})
    bit = {name: 1 << k for k, name in enumerate(names)}
    entry = _set_on_entry(ctx, names)
    # What is set in every reachable, non-terminal state: where a global edge may fire.
    everywhere: int | None = None
    for i, e in enumerate(entry):
        if e is not None and not ctx.flow.agents[i].end:
            everywhere = e if everywhere is None else everywhere & e
    reported: set[tuple[Path, str]] = set()
    for use in uses:
        var = use.placeholder.name
        if (use.path, var) in reported:
            continue
        if use.path == FLOW_INSTRUCTIONS:  # in every state's prompt: the first lacking it
            lacking = (i for i, e in enumerate(entry) if e is not None and not e & bit[var])
            first = next(lacking, None)
            if first is not None:
                reported.add((use.path, var))
                yield violation(use.path, "state", variable=var, state=ctx.flow.agents[first].name)
            continue
        if use.state is not None:
            state_entry = entry[use.state]
            hit = state_entry is not None and not state_entry & bit[var]
        else:  # a global edge's say: offered in every reachable, non-terminal state
            hit = use.edge is not None and everywhere is not None and not everywhere & bit[var]
        if not hit:
            continue
        reported.add((use.path, var))
        if use.edge is not None:
            yield violation(use.path, "edge", variable=var, edge=use.edge.name)
        elif use.state is not None:  # always, when there is no edge (hit says so)
            state = ctx.flow.agents[use.state].name
            yield violation(use.path, "state", variable=var, state=state)


def _never_set(ctx: FlowContext) -> set[str]:
    """Declared variables read without fallback that nothing ever sets."""
    read = {u.placeholder.name for u in ctx.templates if not u.placeholder.optional}
    settable = _setters(ctx) | _always_set(ctx)
    return {name for name in ctx.flow.variables if name in read and name not in settable}


@rule("unused-variable")
def unused_variable(ctx: FlowContext) -> Iterator[Violation]:
    """
    ## What it does
    Reports a variable in `variables` that nothing reads (no placeholder, no
    `requires`), nothing sets (no edge parameter, tool `sets` or `set_variables`) and
    the flow's `memory` does not remember.

    ## Why it matters
    Dead declarations make a flow harder to read and hide typos.

    ## Instead
    Remove it, or use it.
    """
    used = {u.placeholder.name for u in ctx.templates} | _setters(ctx)
    if ctx.flow.memory is not None:  # kept for the caller's next call
        used |= set(ctx.flow.memory.remember)
    for _, edge, _ in ctx.edges():
        used |= set(edge.requires) | _condition_names(edge) | set(edge.append.values())
    for name in ctx.flow.variables:
        if name not in used:
            yield violation(("variables", name), at_key=True, variable=name)


@rule("variable-type-mismatch")
def variable_type_mismatch(ctx: FlowContext) -> Iterator[Violation]:
    """
    ## What it does
    Reports an edge parameter whose type differs from the declared variable it sets
    (the one of its name, or its `variable`), and a variable whose `default` does not
    have the declared type (or is not among its `enum` values).

    ## Why it matters
    Parameters become variables: an `int` parameter written into a `str` variable
    breaks every condition and template that relies on the declaration.

    ## Example
    ```json
    {"variables": {"party_size": {"type": "int", "default": "two"}}}
    ```
    ``Default `"two"` of variable `party_size` is not a `int` - at
    `$.variables.party_size.default` ``
    """
    variables = ctx.flow.variables
    for name, var in variables.items():
        if var.default is None:
            continue
        if not fits(var.default, var.type):
            kind = "default_type"
        elif var.type == "enum" and var.enum and var.default not in var.enum:
            kind = "default_enum"
        else:
            continue
        shown = json.dumps(var.default)
        path: Path = ("variables", name, "default")
        yield violation(path, kind, value=shown, variable=name, type=var.type)
    for _, edge, path in ctx.edges():
        for pname, param in edge.parameters.items():
            target = param.target(pname)
            declared = variables.get(target) if target is not None else None
            if declared is not None and declared.type != param.type:
                where = (*path, "parameters", pname, "type")
                yield violation(
                    where,
                    "parameter",
                    parameter=pname,
                    variable=target,
                    type=param.type,
                    declared=declared.type,
                )


def _typed_items(ctx: FlowContext) -> Iterator[tuple[str, str, Variable | Parameter, Path]]:
    for name, var in ctx.flow.variables.items():
        yield "Variable", name, var, ("variables", name)
    for _, edge, path in ctx.edges():
        for name, p in edge.parameters.items():
            yield "Parameter", name, p, (*path, "parameters", name)
    for k, tool in enumerate(ctx.flow.tools):
        for name, p in tool.parameters.items():
            yield "Parameter", name, p, ("tools", k, "parameters", name)


@rule("enum-without-values")
def enum_without_values(ctx: FlowContext) -> Iterator[Violation]:
    """
    ## What it does
    Reports a variable or parameter of type `enum` with no `enum` values, and one
    with `enum` values whose type is not `enum`.

    ## Why it matters
    An enum without values accepts nothing; values on a `str` are silently ignored.

    ## Example
    ```json
    {"variables": {"visit_type": {"type": "enum"}}}
    ```

    ## Instead
    ```json
    {"variables": {"visit_type": {"type": "enum", "enum": ["checkup", "follow_up"]}}}
    ```
    """
    for kind, name, item, path in _typed_items(ctx):
        if item.type == "enum" and not item.enum:
            yield violation(path, "no_values", item=kind, name=name)
        elif item.type != "enum" and item.enum is not None:
            yield violation((*path, "enum"), "not_enum", item=kind, name=name, type=item.type)


@rule("variable-never-set")
def variable_never_set(ctx: FlowContext) -> Iterator[Violation]:
    """
    ## What it does
    Reports a declared variable that some text reads without a fallback, when it has
    no `default`, is not `input`, and no edge parameter, tool `sets` or
    `set_variables` tool can ever set it.

    ## Why it matters
    The placeholder renders empty on every call. A value supplied when the session
    starts (from the job's metadata) must be marked `"input": true`.

    ## Instead
    ```json
    {"variables": {"caller_name": {"type": "str", "input": true}}}
    ```
    """
    for name in sorted(ctx.cached(_never_set)):
        yield violation(("variables", name), at_key=True, variable=name)


@rule("invalid-template")
def invalid_template(ctx: FlowContext) -> Iterator[Violation]:
    """
    ## What it does
    Reports authored text whose placeholders do not parse: `{{` never closed, `}}`
    with no opening, or a placeholder that does not name a variable. A placeholder is
    `{{name}}` or `{{name | fallback text}}`.

    ## Example
    ```json
    {"instructions": "Greet {{caller name}} warmly."}
    ```
    ``Invalid template: `{{caller name}}` does not name a variable - at
    `$.agents[0].instructions` ``
    """
    for path, message in ctx.template_errors:
        yield violation(path, error=message)


def _enum(values: list[str] | None) -> frozenset[str] | None:
    return None if values is None else frozenset(values)


def variable_types(ctx: FlowContext) -> Types:
    """Declared type (and enum values) of every variable, parameters included."""
    types = {name: (var.type, _enum(var.enum)) for name, var in ctx.flow.variables.items()}
    for _, edge, _ in ctx.edges():
        for name, p in edge.parameters.items():
            if name not in types:
                types[name] = (p.type, _enum(p.enum))
    return types


@rule("invalid-condition")
def invalid_condition(ctx: FlowContext) -> Iterator[Violation]:
    """
    ## What it does
    Parses every edge's `when` and checks it against the declared variable types:
    comparisons between incompatible types, `<`/`>` on non-numbers, `in` without a
    list, an enum compared with a value outside its `enum`. Names that are not declared
    are FL301's.

    ## Why it matters
    A condition that cannot parse cannot run; one that compares `party_size` (an
    `int`) with `"four"` is simply never true, and the edge silently never fires.

    ## Example
    ```json
    {"name": "large_party", "when": "party_size > \\"four\\"", "target_agent": "Events"}
    ```

    ## Instead
    ```json
    {"name": "large_party", "when": "party_size > 4", "target_agent": "Events"}
    ```

    The language: variables, numbers, strings, `true`/`false`, lists of literals,
    `== != < <= > >=`, `in`, `not in`, `is set`, `is not set`, `is empty`, `is not
    empty`, `len(name)`, `and`, `or`, `not`, parentheses.
    """
    from flowctl.engine.conditions import ConditionError, parse_condition

    types = variable_types(ctx)
    for _, edge, path in ctx.edges():
        if edge.when is None:
            continue
        try:
            condition = parse_condition(edge.when)
        except ConditionError as exc:
            yield violation((*path, "when"), "syntax", error=exc)
            continue
        tool = ctx.edge_tool(edge)
        seen = types
        if tool is not None:  # an action's `when` sees its call's arguments over the variables
            arguments = {**tool.parameters, **edge.parameters}
            seen = {**types, **{n: (p.type, _enum(p.enum)) for n, p in arguments.items()}}
        for problem in condition.type_errors(seen):
            yield violation((*path, "when"), "types", edge=edge.name, problem=problem)
            break
