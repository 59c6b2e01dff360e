"""``Flow`` → ``CompiledFlow``: built once per flow version, shared by every session.

A compiled flow holds everything a session needs ready-made: its states with their
edges and the functions they offer (each with a JSON Schema for the LLM and a msgspec
type that validates the arguments), parsed conditions and templates, structured output
types (seed 001's "dynamic schema generation"), the transition table as plain data, and
a ``transitions`` machine built from that table. A session is a model added to the
shared machine: starting one builds nothing.
"""

from __future__ import annotations

import copy
import functools
import gc
import hashlib
import math
from collections.abc import Callable, Mapping
from typing import Annotated, Any

import msgspec
from msgspec import Meta

from flowctl.engine.boundary import OPERATOR, Boundary
from flowctl.engine.builtins import BUILTIN_TOOLS
from flowctl.engine.conditions import Condition, parse_condition
from flowctl.engine.entry_actions import failed
from flowctl.engine.errors import FlowInvalidError
from flowctl.engine.findings import Finding, Severity
from flowctl.engine.functions import FunctionSpec, tool_parameters, value_type
from flowctl.engine.machine import STATE_ATTRIBUTE, FlowMachine, Transition, build_machine
from flowctl.engine.parameters import walk_parameters
from flowctl.engine.patterns import pattern_input_limit, pattern_problem
from flowctl.engine.spec import (
    BuiltinTool,
    Edge,
    Flow,
    GlobalEdge,
    Output,
    State,
    Tool,
)

__all__ = [
    "MAX_TOOL_STEPS",
    "STATE_ATTRIBUTE",
    "CompiledEdge",
    "CompiledFlow",
    "CompiledState",
    "FlowMachine",
    "FunctionSpec",
    "OutputSpec",
    "Transition",
    "compile_flow",
    "value_type",
]


class OutputSpec(msgspec.Struct, frozen=True):
    """A state's structured output: the generated struct type, its JSON Schema, the
    field that is spoken and the ones hidden from the frontend."""

    type: Any
    schema: dict[str, Any]
    spoken: str
    hidden: frozenset[str]
    voice: str | None  # the field steering the voice (tts `instruction_field`)

    def validate(self, data: Mapping[str, Any]) -> dict[str, Any]:
        """The model's answer as a dict; raises ``msgspec.ValidationError``."""
        return msgspec.structs.asdict(msgspec.convert(dict(data), self.type))


def _check_pattern(state: str, field: str, pattern: str, max_length: int | None) -> None:
    """Refuse a pattern that could take long on the model's answers, whether or not the
    flow silences FL604, which reports it: the worker checks every answer with it."""
    from flowctl.engine.lint.registry import RULES, code_of, violation

    problem = pattern_problem(pattern, max_length)
    if problem is not None:
        slow = violation((), "slow_pattern", field=field, problem=problem)
        finding = RULES[code_of("contradictory-constraints")].finding(slow)
        raise FlowInvalidError(
            f"The output of state `{state}` cannot be compiled: {finding.message}", [finding]
        )


def _check_parameter_patterns(flow: Flow) -> None:
    """Refuse a parameter's pattern that could take long on the model's arguments,
    whether or not the flow silences FL408, which reports it: the engine checks every
    argument with it."""
    from flowctl.engine.lint.registry import RULES, code_of, violation

    owners = [tool.parameters for tool in flow.tools] + [e.parameters for e in flow.global_edges]
    owners += [e.parameters for state in flow.agents for e in state.edges]
    for params in owners:
        for name, p, _ in walk_parameters(params):
            problem = pattern_problem(p.pattern, p.max_length) if p.pattern else None
            if problem is not None:
                slow = violation((), "slow_pattern", parameter=name, problem=problem)
                finding = RULES[code_of("invalid-parameter-constraints")].finding(slow)
                raise FlowInvalidError(f"The flow cannot be compiled: {finding.message}", [finding])


def _output(name: str, output: Output, voice: str | None) -> OutputSpec:
    fields: list[tuple[Any, ...]] = []
    for f in output.fields:
        t: Any = value_type(f.field_type, f.enum)
        c = f.constraints
        if c is not None:
            meta = {
                k: getattr(c, k)
                for k in ("ge", "gt", "le", "lt", "min_length", "max_length", "pattern")
                if getattr(c, k) is not None
            }
            if f.field_type == "int":  # an int's bounds must be ints: round inwards
                rounding = {"ge": math.ceil, "gt": math.floor, "le": math.floor, "lt": math.ceil}
                meta.update({k: rounding[k](v) for k, v in meta.items() if k in rounding})
            if c.pattern is not None:  # matched by a backtracking `re`: see engine.patterns
                _check_pattern(name, f.field_name, c.pattern, c.max_length)
                meta["max_length"] = pattern_input_limit(c.max_length)
            if meta:
                t = Annotated[t, Meta(**meta)]
        if f.description:
            t = Annotated[t, Meta(description=f.description)]
        if f.required:
            fields.append((f.field_name, t))
        elif isinstance(f.default, list | dict):  # mutable: a fresh copy for each answer
            factory = msgspec.field(default_factory=functools.partial(copy.deepcopy, f.default))
            fields.append((f.field_name, t | None, factory))
        else:
            fields.append((f.field_name, t | None, f.default))
    fields.sort(key=lambda f: len(f))
    struct = msgspec.defstruct(f"{name}Output", fields, kw_only=True, forbid_unknown_fields=True)
    marked = [f.field_name for f in output.fields if f.metadata and f.metadata.use_in_tts]
    hidden = frozenset(f.field_name for f in output.fields if f.metadata and f.metadata.hidden)
    return OutputSpec(
        struct,
        msgspec.json.schema(struct),
        marked[0] if marked else "system_response",
        hidden,
        voice,
    )


class CompiledEdge(msgspec.Struct, frozen=True):
    edge: Edge
    source: int | None  # None: a global edge
    target: int | None
    tool: Tool | None
    function: FunctionSpec | None  # None for automatic edges (not offered)
    when: Condition | None
    requires: tuple[str, ...]
    automatic: bool

    @property
    def name(self) -> str:
        return self.edge.name


class CompiledState(msgspec.Struct, frozen=True):
    index: int
    name: str
    spec: State
    edges: tuple[CompiledEdge, ...]  # own, then global edges
    functions: tuple[FunctionSpec, ...]  # offered to the model, in order
    by_function: dict[str, CompiledEdge | Tool]
    automatic: tuple[CompiledEdge, ...]
    output: OutputSpec | None

    @property
    def end(self) -> bool:
        return self.spec.end

    @property
    def tool_steps(self) -> int:
        """Function calls one user turn may need in this state: every function that
        keeps the conversation here (a staying action, a tool) once, one call the
        engine refuses and the model then corrects, and the call that moves on."""
        staying = sum(
            1
            for target in self.by_function.values()
            if not isinstance(target, CompiledEdge) or target.target is None
        )
        return staying + 2


# A model that keeps calling functions within one turn past this many is looping; the
# session then makes it answer in words.
MAX_TOOL_STEPS = 24


class CompiledFlow(msgspec.Struct, frozen=True, eq=False, kw_only=True):
    """One flow version, compiled: built in one step by :func:`compile_flow`, then
    immutable, and shared by every session of the version."""

    flow: Flow
    digest: str  # sha256 of the flow as compiled
    flow_id: str
    version: str  # the flow's `version`, or the digest's first 12 characters
    tools: dict[str, Tool]  # by name: the flow's, then the builtins it did not define
    variable_types: dict[str, Any]
    defaults: dict[str, Any]
    state_index: dict[str, int]  # by name: the first state of that name
    start: int
    states: tuple[CompiledState, ...]
    table: tuple[Transition, ...]
    machine: FlowMachine

    def state(self, name: str) -> CompiledState:
        return self.states[self.state_index[name]]

    @property
    def max_tool_steps(self) -> int:
        """The function calls a session must allow in one turn so that no state's
        chain of calls is cut short (LiveKit's ``max_tool_steps`` defaults to 3 and then
        forces a spoken reply). At least 3, at most ``MAX_TOOL_STEPS``."""
        # LiveKit runs max_tool_steps + 1 rounds of calls before it forces words.
        needed = max((s.tool_steps for s in self.states), default=0) - 1
        return min(max(needed, 3), MAX_TOOL_STEPS)

    def __repr__(self) -> str:
        return (
            f"CompiledFlow({self.flow_id!r}, version={self.version!r}, states={len(self.states)})"
        )


def compile_flow(flow: Flow, *, check: bool = True, boundary: Boundary = OPERATOR) -> CompiledFlow:
    """Compile ``flow``. With ``check`` (the default), lint's error-level rules run
    first and any finding raises :class:`FlowInvalidError` listing them all.
    ``boundary``: whose flow it is; its catalog tools become the python tools they
    stand for, and a tenant's flow is held to its policy."""
    # Compiling allocates thousands of small objects in a burst; a cyclic collection
    # in the middle of it would walk every live object for nothing. Collection
    # resumes afterwards.
    enabled = gc.isenabled()
    gc.disable()
    try:
        return _compile(flow, check, boundary)
    finally:
        if enabled:
            gc.enable()


def _compile(flow: Flow, check: bool, boundary: Boundary) -> CompiledFlow:
    encoded = msgspec.json.encode(flow)
    if check:
        _refuse_errors(flow, encoded, boundary)
    resolved = boundary.resolve(flow)
    if resolved is not flow:
        flow, encoded = resolved, msgspec.json.encode(resolved)
    if b'"pattern"' in encoded:  # a cheap test: most flows have no pattern at all
        _check_parameter_patterns(flow)
    digest = hashlib.sha256(encoded).hexdigest()
    tools: dict[str, Tool] = {}
    for tool in flow.tools:
        tools.setdefault(tool.name, tool)
    for name in BUILTIN_TOOLS:
        tools.setdefault(name, BuiltinTool(name=name))
    index: dict[str, int] = {}
    for i, state in enumerate(flow.agents):
        index.setdefault(state.name, i)
    start = index[flow.start] if flow.start else 0
    states, table = _states(flow, index, tools)
    return CompiledFlow(
        flow=flow,
        digest=digest,
        flow_id=flow.flow_id or "",
        version=flow.version or digest[:12],
        tools=tools,
        variable_types={name: value_type(v.type, v.enum) for name, v in flow.variables.items()},
        defaults={name: v.default for name, v in flow.variables.items() if v.default is not None},
        state_index=index,
        start=start,
        states=states,
        table=table,
        machine=build_machine(index, flow.agents[start].name, table),
    )


def _states(
    flow: Flow, index: Mapping[str, int], tools: Mapping[str, Tool]
) -> tuple[tuple[CompiledState, ...], tuple[Transition, ...]]:
    """The compiled states, and the transition table: each state's own edges, then the
    global edges from every state that is not an end."""

    def compile_edge(edge: Edge, source: int | None) -> CompiledEdge:
        tool = tools.get(edge.tool or edge.name) if edge.action == "action" else None
        automatic = edge.when is not None and not edge.description.strip()
        function = None
        if not automatic:
            params = tool_parameters(tool, flow) if tool is not None else {}
            params.update(edge.parameters)
            kind = "action" if edge.action == "action" else "handoff"
            function = FunctionSpec(edge.name, kind, edge.description, params)
        return CompiledEdge(
            edge,
            source,
            index.get(edge.target_agent) if edge.target_agent is not None else None,
            tool,
            function,
            parse_condition(edge.when) if edge.when is not None else None,
            tuple(edge.requires),
            automatic,
        )

    global_edges = tuple(compile_edge(e, None) for e in flow.global_edges)
    offered = [(ce, _offered(ce)) for ce in global_edges]
    tool_functions: dict[str, FunctionSpec] = {}
    outputs: dict[tuple[int, str | None], OutputSpec] = {}
    states: list[CompiledState] = []
    table: list[Transition] = []
    for i, spec in enumerate(flow.agents):
        own = tuple(compile_edge(e, i) for e in spec.edges)
        shared = tuple(ce for ce, here in offered if here(spec.name))
        edges = own if spec.end else own + shared
        functions: list[FunctionSpec] = []
        by_function: dict[str, CompiledEdge | Tool] = {}
        for ce in edges:
            if ce.function is not None:
                functions.append(ce.function)
                by_function[ce.name] = ce
        if not spec.end:
            for name in spec.tools:
                tool = tools[name]
                fn = tool_functions.get(name)
                if fn is None:
                    fn = tool_functions[name] = FunctionSpec(
                        name, "tool", tool.description, tool_parameters(tool, flow)
                    )
                functions.append(fn)
                by_function[name] = tool
        output_spec = spec.output or flow.output
        output = None
        if output_spec is not None and output_spec.fields:
            tts = spec.tts or flow.tts
            voice = tts.instruction_field if tts else None
            key = (id(output_spec), voice)
            if key not in outputs:
                outputs[key] = _output(spec.name, output_spec, voice)
            output = outputs[key]
        states.append(
            CompiledState(
                i,
                spec.name,
                spec,
                edges,
                tuple(functions),
                by_function,
                tuple(ce for ce in edges if ce.automatic),
                output,
            )
        )
        for ce in own:
            table.append(_row(ce, spec.name, flow))
        for action in spec.on_enter_actions:
            if action.on_error is not None:
                table.append(Transition(failed(action), spec.name, action.on_error, "auto"))
    for ce, here in offered:
        for spec in flow.agents:
            if not spec.end and here(spec.name):
                table.append(_row(ce, spec.name, flow))
    return tuple(states), tuple(table)


def _offered(ce: CompiledEdge) -> Callable[[str], bool]:
    """Whether global edge ``ce`` is offered in a state (by name), in constant time: its
    scope's lists as sets, made once per edge rather than searched once per state."""
    edge = ce.edge
    if not isinstance(edge, GlobalEdge) or not edge.scoped:
        return lambda state: True
    only = None if edge.only_in is None else frozenset(edge.only_in)
    excluded = frozenset(edge.except_in)
    return lambda state: (only is None or state in only) and state not in excluded


def _row(ce: CompiledEdge, source: str, flow: Flow) -> Transition:
    conditions = tuple(f"{name} is set" for name in ce.requires)
    if ce.when is not None:
        conditions += (ce.when.source,)
    kind = "auto" if ce.automatic else ce.edge.action
    dest = flow.agents[ce.target].name if ce.target is not None else None
    return Transition(ce.name, source, dest, kind, conditions)


def _refuse_errors(flow: Flow, encoded: bytes, boundary: Boundary) -> None:
    from flowctl.engine.lint import RULES, FlowContext, Selection
    from flowctl.engine.lint.registry import STRUCTURAL
    from flowctl.engine.lint.runner import flow_ignore
    from flowctl.engine.source import Source

    findings: list[Finding] = []
    ctx = FlowContext(flow, Source(flow.flow_id or "<flow>", encoded.decode()), boundary)
    everything = Selection()
    for r in RULES.values():
        # The flow's own `lint.ignore` holds here too (what lint passes, compile takes),
        # except for what compiling cannot do without, and a tenant's security rules.
        if (
            r.check is not None
            and r.severity is Severity.ERROR
            and (
                r.code in STRUCTURAL
                or everything.wants(r.code, flow_ignore(ctx.config.ignore, r.code, boundary))
            )
        ):
            findings.extend(r.run(ctx))
    if findings:
        lines = "\n".join(f"  {f.code} {f.text}" for f in findings)
        raise FlowInvalidError(
            f"Flow `{flow.flow_id or '?'}` has {len(findings)} error(s):\n{lines}", findings
        )
