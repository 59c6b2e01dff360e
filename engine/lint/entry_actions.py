"""The rule of actions on entry (FL207): a failure must leave the conversation a way on."""

from __future__ import annotations

from collections.abc import Iterator

from flowctl.engine.lint.context import FlowContext
from flowctl.engine.lint.registry import Violation, rule, violation
from flowctl.engine.lint.variables import _condition_names


@rule("entry-action-can-stick")
def entry_action_can_stick(ctx: FlowContext) -> Iterator[Violation]:
    """
    ## What it does
    Reports an action in a state's `on_enter_actions` with neither `on_error` nor
    `default`, in a state that offers the model no function (no edge, global edge or
    tool) and has no automatic edge (`when` without a description) that can fire
    without the action's result.

    ## Why it matters
    Such a state exists to run the action and move on through an automatic edge that
    reads its result. When the tool fails, nothing is set, no automatic edge fires, and
    the model has nothing to call: the caller is stuck until they hang up.

    ## Example
    ```json
    {"name": "Lookup", "instructions": "...",
     "on_enter_actions": [{"tool": "find_order", "args_from": {"order_id": "order_id"}}],
     "edges": [{"name": "found", "when": "order_status is set", "target_agent": "Status"}]}
    ```
    (here `found` is automatic but cannot fire when `find_order` fails)

    ## Instead
    Say where a failure goes, or what to assume:
    ```json
    {"tool": "find_order", "args_from": {"order_id": "order_id"}, "on_error": "Apology"}
    ```
    """
    for i, state in enumerate(ctx.flow.agents):
        if state.end or not state.on_enter_actions:
            continue
        automatic = [e for e in state.edges if e.when is not None and not e.description.strip()]
        shared = ctx.offers_global(i)
        if state.tools or shared or len(automatic) < len(state.edges):
            continue  # the model has something to call
        for k, action in enumerate(state.on_enter_actions):
            if action.on_error is not None or action.default is not None:
                continue
            # An automatic edge that reads what the tool sets cannot fire when it fails.
            result = ctx.tool_sets(ctx.tool_index.get(action.tool))
            if all(result & (_condition_names(e) | set(e.requires)) for e in automatic):
                path = ("agents", i, "on_enter_actions", k)
                yield violation(path, tool=action.tool, state=state.name)
