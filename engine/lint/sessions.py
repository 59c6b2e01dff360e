"""The rules of what a flow says of its sessions (FL114, FL115): the ``evaluation`` run
when a call ends names states, variables and output fields the flow has, and
``overridable`` lets a session set only variables the flow declares."""

from __future__ import annotations

from collections.abc import Collection, Iterator

from flowctl.engine.lint.context import FlowContext
from flowctl.engine.lint.registry import Violation, rule, violation


@rule("invalid-evaluation")
def invalid_evaluation(ctx: FlowContext) -> Iterator[Violation]:
    """
    ## What it does
    Reports a goal of the flow's `evaluation` that names a state, a variable or an
    output field the flow does not have, a goal that names none of the three (or more
    than one), two goals of one name, and a `required` variable that is not declared.

    ## Why it matters
    The evaluation runs when each call ends, with no one watching: a goal naming a
    renamed state is never met, and every call is reported as failed.

    ## Example
    ```json
    {"evaluation": {"goals": [{"name": "booked", "state": "Confirmd"}]},
     "agents": [..., {"name": "Confirmed", "instructions": "...", "end": true}]}
    ```
    ``Goal `booked` names unknown state `Confirmd`; did you mean `Confirmed`? - at
    `$.evaluation.goals[0].state` ``

    ## Instead
    Name the state, variable or output field as the flow writes it, one per goal.
    """
    spec = ctx.flow.evaluation
    if spec is None:
        return
    variables = ctx.flow.variables
    fields = {f.field_name for _, output in ctx.outputs() for f in output.fields}
    seen: set[str] = set()
    for j, goal in enumerate(spec.goals):
        path = ("evaluation", "goals", j)
        if goal.name in seen:
            yield violation((*path, "name"), "duplicate", goal=goal.name)
        seen.add(goal.name)
        named = [k for k in ("state", "variable", "output") if getattr(goal, k) is not None]
        if len(named) != 1:
            found = ", ".join(f"`{k}`" for k in named) or "none"
            yield violation(path, "shape", goal=goal.name, found=found)
            continue
        kind = named[0]
        name: str = getattr(goal, kind)
        known: Collection[str] = {
            "state": ctx.state_index.keys(),
            "variable": variables.keys(),
            "output": fields,
        }[kind]
        if name not in known:
            hint = ctx.suggest(name, known)
            yield violation((*path, kind), kind, goal=goal.name, name=name, hint=hint)
    for k, name in enumerate(spec.required):
        if name not in variables:
            hint = ctx.suggest(name, variables)
            yield violation(("evaluation", "required", k), "required", name=name, hint=hint)


@rule("invalid-overridable")
def invalid_overridable(ctx: FlowContext) -> Iterator[Violation]:
    """
    ## What it does
    Reports a name in `overridable.variables` that is not a declared variable, and a
    variable, voice or language listed twice.

    ## Why it matters
    A session's overrides are checked against this list, and a variable the flow does
    not declare can never be set: every job overriding it would be refused. A name
    listed twice is usually a typo of another one.

    ## Example
    ```json
    {"variables": {"caller_name": {"type": "str"}},
     "overridable": {"variables": ["caller_nme"]}}
    ```
    ``` `overridable.variables` names undeclared variable `caller_nme`; did you mean
    `caller_name`? - at `$.overridable.variables[0]` ```

    ## Instead
    ```json
    {"overridable": {"variables": ["caller_name"], "voices": ["nova", "shimmer"]}}
    ```
    """
    spec = ctx.flow.overridable
    if spec is None:
        return
    variables = ctx.flow.variables
    for field in ("variables", "voices", "languages"):
        seen: set[str] = set()
        for k, name in enumerate(getattr(spec, field)):
            path = ("overridable", field, k)
            if name in seen:
                yield violation(path, "duplicate", field=field, name=name)
            seen.add(name)
            if field == "variables" and name not in variables:
                yield violation(path, "variable", name=name, hint=ctx.suggest(name, variables))
