"""The rules of caller memory (FL312, FL313): the `memory` block remembers variables the
flow sets, and what it keeps reaches the next call."""

from __future__ import annotations

from collections.abc import Iterator

from flowctl.engine.lint.context import FlowContext
from flowctl.engine.lint.registry import Violation, rule, violation
from flowctl.engine.lint.variables import _declared, _setters


@rule("invalid-memory")
def invalid_memory(ctx: FlowContext) -> Iterator[Violation]:
    """
    ## What it does
    Reports a name in `memory.remember` that is not a declared variable (or an edge
    parameter), one listed twice, and one nothing in the flow ever sets: no edge
    parameter, `set` or `append`, tool `sets`, `set_variables` tool, and not `input`.

    ## Why it matters
    What is remembered is the variable's value when the call ends. A name that is not a
    variable is a typo, and a variable nothing sets only ever holds its default, which
    is never kept: the next call would find nothing.

    ## Example
    ```json
    {"variables": {"caller_name": {"type": "str"}},
     "memory": {"remember": ["caller_nme"]}}
    ```
    `` `memory.remember` names undeclared variable `caller_nme`; did you mean
    `caller_name`? - at `$.memory.remember[0]` ``

    ## Instead
    Remember the variables the conversation collects:
    ```json
    {"memory": {"remember": ["caller_name", "appointment_time"]}}
    ```
    """
    memory = ctx.flow.memory
    if memory is None:
        return
    declared = _declared(ctx)
    settable = _setters(ctx) | {n for n, v in ctx.flow.variables.items() if v.input}
    seen: set[str] = set()
    for k, name in enumerate(memory.remember):
        path = ("memory", "remember", k)
        if name in seen:
            yield violation(path, "twice", variable=name)
        elif name not in declared:
            yield violation(path, "undeclared", variable=name, hint=ctx.suggest(name, declared))
        elif name not in settable:
            yield violation(path, "never_set", variable=name)
        seen.add(name)


@rule("memory-never-shown")
def memory_never_shown(ctx: FlowContext) -> Iterator[Violation]:
    """
    ## What it does
    Reports a `memory` block that keeps nothing (no `remember`, no `summary`), and a
    `summary` written when the call ends that no later call shows the model (without
    `into_instructions`, the summary is kept but never put in a prompt).

    ## Why it matters
    Each call with a summary asks the model for one more answer when it ends; one that
    nothing reads costs that call and tells no one anything.

    ## Example
    ```json
    {"memory": {"remember": ["caller_name"], "summary": {"prompt": "Summarise the call."}}}
    ```

    ## Instead
    ```json
    {"memory": {"remember": ["caller_name"], "summary": {"prompt": "Summarise the call."},
                "into_instructions": true}}
    ```
    """
    memory = ctx.flow.memory
    if memory is None:
        return
    summary = memory.summary is not None and memory.summary.enabled
    if not memory.remember and not summary:
        yield violation(("memory",), "empty", at_key=True)
    elif summary and not memory.into_instructions:
        yield violation(("memory", "summary"), "summary", at_key=True)
