"""Parameter rules: constraints that cannot hold (FL408), one variable set with two
types (FL309), and examples whose arguments the function would refuse (FL410).

A parameter's constraints are offered to the model and enforced on its arguments
(``flowctl.engine.parameters``); one that contradicts itself refuses every call, and a
``pattern`` runs on text the caller steers, so both are errors.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import msgspec

from flowctl.engine.functions import tool_parameters
from flowctl.engine.lint.context import FlowContext
from flowctl.engine.lint.registry import Violation, rule, violation
from flowctl.engine.parameters import arguments_type, check_formats, walk_parameters
from flowctl.engine.patterns import pattern_problem
from flowctl.engine.source import Path
from flowctl.engine.spec import CatalogTool, Example, Parameter

# Which constraints fit which types (lists: `min_length`/`max_length` count items).
_NUMBERS = ("int", "float")
_OBJECTS = ("object", "list[object]")


def _owners(ctx: FlowContext) -> Iterator[tuple[str | None, dict[str, Parameter], Path]]:
    """``(tool name or None for an edge, parameters, path of the mapping)``."""
    for _, edge, path in ctx.edges():
        yield None, edge.parameters, (*path, "parameters")
    for k, tool in enumerate(ctx.flow.tools):
        yield tool.name, tool.parameters, ("tools", k, "parameters")


def _misplaced(p: Parameter) -> Iterator[str]:
    """The constraints ``p``'s type cannot have, by name."""
    sized = p.type == "str" or p.type.startswith("list[")
    checks = (
        ("minimum", p.minimum is not None and p.type not in _NUMBERS),
        ("maximum", p.maximum is not None and p.type not in _NUMBERS),
        ("min_length", p.min_length is not None and not sized),
        ("max_length", p.max_length is not None and not sized),
        ("pattern", p.pattern is not None and p.type != "str"),
        ("format", p.format is not None and p.type != "str"),
        ("properties", bool(p.properties) and p.type not in _OBJECTS),
    )
    return (name for name, wrong in checks if wrong)


def _problems(p: Parameter, tool: str | None, nested: bool) -> Iterator[tuple[str, str, Any]]:
    """``(key, kind of FL408 message, its fields)`` for each problem of one parameter."""
    for constraint in _misplaced(p):
        yield constraint, "cannot_have", {"type": p.type, "constraint": constraint}
    if tool is not None or nested:
        for constraint in ("variable", "local"):
            if getattr(p, constraint) not in (None, False):
                yield constraint, "not_edge", {"tool": tool or "?", "constraint": constraint}
    if p.local and p.variable is not None:
        yield "variable", "local_variable", {"variable": p.variable}
    if p.minimum is not None and p.maximum is not None and p.minimum > p.maximum:
        yield "minimum", "empty_range", {"minimum": p.minimum, "maximum": p.maximum}
    if p.min_length is not None and p.max_length is not None and p.min_length > p.max_length:
        lengths = {"min_length": p.min_length, "max_length": p.max_length}
        yield "min_length", "empty_length", lengths
    if p.type in _OBJECTS and not p.properties:
        yield "type", "no_properties", {"type": p.type}
    if p.pattern is not None and p.type == "str":
        try:
            re.compile(p.pattern)
        except re.error as exc:
            yield "pattern", "bad_pattern", {"error": exc}
        else:
            slow = pattern_problem(p.pattern, p.max_length)
            if slow is not None:
                yield "pattern", "slow_pattern", {"problem": slow}
    if p.default is not None and p.required:
        yield "default", "required_default", {}


def _value_error(p: Parameter, value: Any) -> str | None:
    """Why ``value`` (a default, an example's argument) is not one parameter ``p``
    accepts, in the words the engine refuses a model's argument with; or None."""
    try:
        values = msgspec.to_builtins(msgspec.convert({"v": value}, arguments_type({"v": p})))
        check_formats({"v": p}, values)
    except msgspec.ValidationError as exc:
        return str(exc).replace(" - at `$.v`", "")
    return None


@rule("invalid-parameter-constraints")
def invalid_parameter_constraints(ctx: FlowContext) -> Iterator[Violation]:
    """
    ## What it does
    Reports a parameter (of an edge or a tool, nested ones included) whose constraints
    cannot hold or do not fit its type: `minimum` above `maximum`, `min_length` above
    `max_length`, `minimum`/`maximum` on a non-number, `min_length`/`max_length` on
    neither text nor a list, `pattern`/`format` on a non-string, an `object` without
    `properties`, an invalid `pattern` or one that could backtrack for long (as FL604
    says for output fields), a `default` on a required parameter or one the
    parameter's own constraints refuse, and `variable`/`local` where no variable is
    set (a tool's or a nested parameter) or both at once.

    ## Why it matters
    The model is offered the constraints and every argument is checked against them:
    a parameter no value satisfies refuses every call, and a slow `pattern` runs on
    text the caller dictates in the worker all tenants share.

    ## Example
    ```json
    {"name": "book", "parameters": {"party_size": {"type": "int", "minimum": 12,
      "maximum": 2}}}
    ```
    ``Parameter `party_size` can hold no value: `minimum` 12 is above `maximum` 2``

    ## Instead
    Fix the bounds; put text constraints on `str` parameters.
    """
    for tool, params, base in _owners(ctx):
        for name, p, path in walk_parameters(params):
            found = False
            for key, kind, fields in _problems(p, tool, nested=len(path) > 1):
                found = True
                yield violation((*base, *path, key), kind, parameter=name, **fields)
            if not found and p.default is not None and not p.required:
                error = _value_error(p, p.default)
                if error is not None:
                    shown = json.dumps(p.default)
                    where = (*base, *path, "default")
                    yield violation(where, "default", parameter=name, value=shown, error=error)


@rule("parameter-type-conflict")
def parameter_type_conflict(ctx: FlowContext) -> Iterator[Violation]:
    """
    ## What it does
    Reports edge parameters, on different edges, that set one undeclared variable with
    different types (or different `enum` values). A parameter sets the variable of its
    name unless it names another (`variable`) or is `local`. (A declared variable is
    checked against each parameter by FL304.)

    ## Why it matters
    Parameters of every edge share the variables: a pizza `type` and a sushi `type`
    write one `type`, and whichever fired last decides what conditions and templates
    see.

    ## Example
    ```json
    {"name": "order_pizza", "parameters": {"type": {"type": "enum", "enum": ["margherita"]}}},
    {"name": "order_sushi", "parameters": {"type": {"type": "enum", "enum": ["nigiri"]}}}
    ```

    ## Instead
    `"variable": "sushi_type"` on one of them, `"local": true` when the value is only
    for the edge's tool, or declare the variable.
    """
    first: dict[str, tuple[str, str, Parameter]] = {}
    for _, edge, path in ctx.edges():
        for pname, p in edge.parameters.items():
            target = p.target(pname)
            if target is None or target in ctx.flow.variables:
                continue
            seen = first.setdefault(target, (edge.name, pname, p))
            other_edge, _, other = seen
            if other is p:
                continue
            fields: dict[str, Any] = {"parameter": pname, "edge": edge.name, "variable": target}
            where = (*path, "parameters", pname, "type")
            if other.type != p.type:
                fields.update(type=p.type, other=other_edge, other_type=other.type)
                yield violation(where, "type", **fields)
            elif p.type == "enum" and set(other.enum or ()) != set(p.enum or ()):
                yield violation(
                    (*path, "parameters", pname, "enum"), "enum", **fields, other=other_edge
                )


def _examples(ctx: FlowContext) -> Iterator[tuple[str, list[Example], dict[str, Parameter], Path]]:
    """``(function name, its examples, the parameters it is called with, path of the
    examples)`` for each edge and tool that lists examples. An action edge takes its
    tool's parameters and its own, as the compiled function does; one whose tool is
    unknown, or a catalog tool with no catalog to read (FL104, FL110 say so), is left
    out: its parameters are not known."""
    for _, edge, path in ctx.edges():
        if not edge.examples:
            continue
        params = {}
        if edge.action == "action":
            tool = ctx.edge_tool(edge)
            if tool is None or isinstance(tool, CatalogTool):
                continue
            params = tool_parameters(tool, ctx.flow)
        yield edge.name, edge.phrases(), {**params, **edge.parameters}, (*path, "examples")
    for k, tool in enumerate(ctx.flow.tools):
        if tool.examples and not isinstance(tool, CatalogTool):
            params = tool_parameters(tool, ctx.flow)
            yield tool.name, tool.phrases(), params, ("tools", k, "examples")


@rule("invalid-example-arguments")
def invalid_example_arguments(ctx: FlowContext) -> Iterator[Violation]:
    """
    ## What it does
    Reports an argument of an edge's or a tool's example (`{"text": ..., "args":
    {...}}`) that names no parameter of that edge or tool, or whose value the parameter
    would refuse: a wrong type, an `enum` value not listed, a broken constraint or
    format. An example may leave arguments out: the offline model then asks for them.

    ## Why it matters
    The offline model (`flowctl simulate` typed at, and `--explore`) calls the function
    with the example's arguments. The engine refuses arguments that do not fit, exactly
    as it refuses a model's, so the phrase that should show the edge or tool at work
    shows a refusal instead.

    ## Example
    ```json
    {"name": "book", "parameters": {"party_size": {"type": "int", "description": "Guests"}},
     "examples": [{"text": "A table for four", "args": {"party_size": "four"}}]}
    ```
    ``Argument `party_size` of an example of `book` is invalid: Expected `int`, got `str```

    ## Instead
    `"args": {"party_size": 4}`: the value the model would pass.
    """
    for function, examples, params, base in _examples(ctx):
        for n, example in enumerate(examples):
            for name, value in example.args.items():
                where = (*base, n, "args", name)
                p = params.get(name)
                if p is None:
                    hint = ctx.suggest(name, params)
                    yield violation(
                        where, "unknown", at_key=True, function=function, argument=name, hint=hint
                    )
                    continue
                error = _value_error(p, value)
                if error is not None:
                    yield violation(where, "invalid", function=function, argument=name, error=error)
