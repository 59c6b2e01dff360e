"""What explore assumes a tool answers, and the answer a generated scenario mocks.

Explore (``flowctl.engine.paths``) cannot run tools: a python function may need a
database, a webhook the network. So each call is given the answers worth trying, and
every branch they lead to is walked:

- a tool the explore's ``mocks`` name (``--mocks``, or the mocks of a scenario file):
  each distinct answer of its mock (a sequence gives several; ``{"$error": ...}`` is a
  failure, which takes an entry action's ``on_error`` or leaves an action edge unfired),
  and a ``mock`` tool's own result too (it answers wherever a scenario does not mock it);
- a ``mock`` tool: its own result;
- any other tool: a typed placeholder for each variable it sets, and each literal a
  guard compares that variable with (the real answer decides at run time).

Every outcome carries the raw answer that produces it, so the scenario made from a path
mocks exactly that answer in its turn: a generated run never calls a python function or
the network, and takes the branch the path expects.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, NamedTuple

from flowctl.engine.builtins import builtin_of
from flowctl.engine.mocks import answers, failure
from flowctl.engine.spec import BuiltinTool, MockTool, Tool
from flowctl.engine.tools import mapped

__all__ = ["MAX_ANSWERS", "Outcome", "outcomes", "placeholder"]

# Answers tried per call: literals a guard compares with, or a mock's sequence.
MAX_ANSWERS = 8


class Outcome(NamedTuple):
    """The variables after one answer; whether it ended the call or failed; and the
    ``(tool, answer)`` a scenario mocks to get it (none for builtins)."""

    variables: dict[str, Any]
    ended: bool = False
    failed: bool = False
    answers: tuple[tuple[str, Any], ...] = ()


def placeholder(kind: str) -> Any:
    """A value of the variable type ``kind`` (explore's stand-in for an unknown one)."""
    return {"int": 1, "float": 1.0, "bool": True, "list[str]": [], "list[int]": []}.get(kind, "x")


def outcomes(
    tool: Tool,
    args: dict[str, Any],
    variables: dict[str, Any],
    *,
    mocks: Mapping[str, Any],
    literals: Mapping[str, list[Any]],
    kinds: Mapping[str, str],
) -> list[Outcome]:
    """One outcome per answer of ``tool`` worth trying (see the module's docstring)."""
    if isinstance(tool, BuiltinTool):
        builtin = builtin_of(tool)
        if builtin is None:
            return [Outcome(variables)]
        if builtin.ends is not None:
            return [Outcome(variables, ended=True)]
        return [Outcome({**variables, **builtin.run(tool, args).save})]
    if tool.name in mocks:
        given = answers(mocks[tool.name])
        if isinstance(tool, MockTool):  # its own result answers wherever it is not mocked
            given.append(tool.result)
        distinct = {json.dumps(a, sort_keys=True): a for a in given}.values()
        return [_answered(tool, a, variables) for a in list(distinct)[:MAX_ANSWERS]]
    if isinstance(tool, MockTool):
        return [_answered(tool, tool.result, variables)]
    base = {var: placeholder(kinds.get(var, "str")) for var in tool.sets}
    tried = [base] + [
        {**base, var: literal}
        for var in tool.sets
        for literal in literals.get(var, [])[:MAX_ANSWERS]
    ]
    return [
        Outcome({**variables, **values}, answers=((tool.name, _answer(tool, values)),))
        for values in tried
    ]


def _answered(tool: Tool, answer: Any, variables: dict[str, Any]) -> Outcome:
    said = ((tool.name, answer),)
    if failure(answer) is not None:
        return Outcome(variables, failed=True, answers=said)
    result = mapped(tool, answer)
    if not result.ok:
        return Outcome(variables, failed=True, answers=said)
    return Outcome({**variables, **result.sets}, answers=said)


def _answer(tool: Tool, values: dict[str, Any]) -> dict[str, Any]:
    """The result ``tool`` would return for its ``sets`` to take ``values``: each
    variable's value at its field's path (``{"slot": {"time": ...}}`` for
    ``slot.time``)."""
    answer: dict[str, Any] = {}
    for var, field in tool.sets.items():
        *parents, last = field.split(".")
        here = answer
        for step in parents:
            here = here.setdefault(step, {})
        here[last] = values[var]
    return answer
