"""Guards that would give away what they compare with (FL409).

When a model-called edge's ``when`` is false, the model is told why, and by default the
reason quotes the condition. That helps it recover from ``party_size > 4``; it hands
over the answer of ``pin == "4821"``. An edge's ``refusal`` replaces the quote.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

from flowctl.engine.lint.context import FlowContext
from flowctl.engine.lint.registry import Violation, rule, violation
from flowctl.engine.lint.variables import variable_types


@rule("guard-reveals-literal")
def guard_reveals_literal(ctx: FlowContext) -> Iterator[Violation]:
    """
    ## What it does
    Reports an edge the model calls (it has a `description`) whose `when` compares a
    free-text variable (`str` or `list[str]`, not an `enum`) with a text literal, and
    which has no `refusal`.

    ## Why it matters
    A refused call tells the model "its condition `pin == "4821"` is false": the model,
    and through it the caller, learns the value the guard was there to check. An
    `enum`'s values are in the function's schema already, and numbers are limits rather
    than secrets, so neither is reported.

    ## Example
    ```json
    {"name": "unlock", "description": "The caller gives the account PIN",
     "parameters": {"pin": {"type": "str"}}, "when": "pin == \\"4821\\"",
     "target_agent": "Account"}
    ```

    ## Instead
    ```json
    {"name": "unlock", "description": "The caller gives the account PIN",
     "parameters": {"pin": {"type": "str"}}, "when": "pin == \\"4821\\"",
     "refusal": "that PIN is not right; ask the caller to try again",
     "target_agent": "Account"}
    ```
    """
    from flowctl.engine.conditions import ConditionError, parse_condition

    types = variable_types(ctx)
    for _, edge, path in ctx.edges():
        if edge.when is None or edge.refusal is not None or not edge.description.strip():
            continue
        try:
            condition = parse_condition(edge.when)
        except ConditionError:
            continue  # FL308's
        own = {n: (p.type, None) for n, p in edge.parameters.items()}
        literals = condition.hidden_literals({**types, **own})
        if literals:
            shown = ", ".join(f"`{json.dumps(v)}`" for v in literals)
            yield violation((*path, "when"), edge=edge.name, literals=shown)
