"""State writes on edges (FL310): ``set``, ``unset`` and ``append`` name declared
variables and write values of their types.

The runtime stores what an edge writes without converting it (``flowctl.engine.writes``):
the constants are the author's and checked here, once, rather than on every call.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from flowctl.engine.lint.context import FlowContext
from flowctl.engine.lint.registry import Violation, rule, violation
from flowctl.engine.lint.variables import variable_types
from flowctl.engine.source import Path
from flowctl.engine.spec import Edge, fits

if TYPE_CHECKING:
    from flowctl.engine.conditions import Types


def _item_fits(source: str, target: str) -> bool:
    """Whether a value of type ``source`` may be added to a list of type ``target``:
    one item of its type, or a list of them."""
    item = target[5:-1]
    plain = {"enum": "str"}.get(source, source)
    return plain in (item, target)


@rule("invalid-state-write")
def invalid_state_write(ctx: FlowContext) -> Iterator[Violation]:
    """
    ## What it does
    Checks each edge's `set`, `unset` and `append`: every variable they name is
    declared (in `variables`, or set by some edge's parameter), a `set` constant has
    the variable's type (and is one of its `enum` values), `append` adds to a list
    variable a parameter of the edge or a variable whose type is the list's item type
    (or the list's own type: its items are added), and no variable is written twice by
    one edge.

    ## Why it matters
    Writes are stored as written, without a model to blame: `"checked_out": "yes"` in
    a `bool` variable makes `checked_out == true` false for the rest of the call.

    ## Example
    ```json
    {"name": "check_out", "description": "...", "set": {"checked_out": "yes"}}
    ```
    ``Edge `check_out` sets `checked_out` to `"yes"`, which is not of its type `bool```

    ## Instead
    ```json
    {"name": "check_out", "description": "...", "set": {"checked_out": true}}
    ```
    """
    types = variable_types(ctx)
    for _, edge, path in ctx.edges():
        yield from _edge_problems(ctx, edge, path, types)


def _edge_problems(ctx: FlowContext, edge: Edge, path: Path, types: Types) -> Iterator[Violation]:
    written = Counter([*edge.set, *edge.unset, *edge.append])
    named: list[tuple[str, tuple[str, str | int], bool]] = [(k, ("set", k), True) for k in edge.set]
    named += [(k, ("unset", i), False) for i, k in enumerate(edge.unset)]
    named += [(k, ("append", k), True) for k in edge.append]
    for name, key, at_key in named:
        where = (*path, *key)
        if name not in types:
            hint = ctx.suggest(name, types)
            yield violation(
                where, "undeclared", at_key=at_key, edge=edge.name, variable=name, hint=hint
            )
        elif written[name] > 1:
            written[name] = 0  # once per variable
            yield violation(where, "twice", at_key=at_key, edge=edge.name, variable=name)
    for name, value in edge.set.items():
        if name not in types:
            continue
        kind, enum = types[name]
        fields: dict[str, Any] = {
            "edge": edge.name,
            "variable": name,
            "value": json.dumps(value),
            "type": kind,
        }
        if value is None or not fits(value, kind):
            yield violation((*path, "set", name), "set_type", **fields)
        elif enum and value not in enum:
            yield violation((*path, "set", name), "set_enum", **fields)
    for name, source in edge.append.items():
        if name not in types:
            continue
        kind = types[name][0]
        fields = {"edge": edge.name, "variable": name, "type": kind, "source": source}
        param = edge.parameters.get(source)
        source_type = param.type if param is not None else types.get(source, (None,))[0]
        if not kind.startswith("list["):
            yield violation((*path, "append", name), "not_list", **fields)
        elif source_type is None:
            yield violation((*path, "append", name), "no_source", **fields)
        elif not _item_fits(source_type, kind):
            yield violation((*path, "append", name), "item_type", **fields, source_type=source_type)
