"""The rules of scoped global edges (FL111, FL112): an edge group is a global edge with
``only_in`` or ``except_in``; its lists must name states, and leave it somewhere."""

from __future__ import annotations

from collections.abc import Iterator

from flowctl.engine.lint.context import FlowContext
from flowctl.engine.lint.registry import Violation, rule, violation


@rule("unknown-scope-state")
def unknown_scope_state(ctx: FlowContext) -> Iterator[Violation]:
    """
    ## What it does
    Reports a name in a global edge's `only_in` or `except_in` that is not the name of
    a state.

    ## Why it matters
    Usually a typo or a renamed state: with `only_in`, the edge is missing from the
    state the author meant; with `except_in`, it is offered where it should not be
    (a "back to the greeter" edge offered in the greeter itself).

    ## Example
    ```json
    {"global_edges": [{"name": "to_greeter", "description": "...",
                       "target_agent": "Greeter", "except_in": ["Greter"]}]}
    ```
    ``Global edge `to_greeter` lists unknown state `Greter` in `except_in`; did you
    mean `Greeter`? - at `$.global_edges[0].except_in[0]` ``

    ## Instead
    Name the state as it is written in `agents`.
    """
    for j, edge in enumerate(ctx.flow.global_edges):
        for field in ("only_in", "except_in"):
            for k, state in enumerate(getattr(edge, field) or []):
                if state not in ctx.state_index:
                    hint = ctx.suggest(state, ctx.state_index)
                    path = ("global_edges", j, field, k)
                    yield violation(path, edge=edge.name, state=state, field=field, hint=hint)


@rule("edge-offered-nowhere")
def edge_offered_nowhere(ctx: FlowContext) -> Iterator[Violation]:
    """
    ## What it does
    Reports a global edge with both `only_in` and `except_in` (one list says it all),
    and one whose list leaves it out of every state that is not an end.

    ## Why it matters
    Two lists make the reader work out their intersection; an edge offered nowhere is
    dead configuration that looks live.

    ## Example
    ```json
    {"global_edges": [{"name": "to_greeter", "description": "...",
                       "target_agent": "Greeter", "only_in": ["Goodbye"]}]}
    ```
    (where `Goodbye` is `"end": true`) ``Global edge `to_greeter` is offered in no
    state: its `only_in` leaves out every state that is not an end``

    ## Instead
    Give one list, naming the states that should offer the edge (or that should not).
    """
    open_states = [s.name for s in ctx.flow.agents if not s.end]
    for j, edge in enumerate(ctx.flow.global_edges):
        if edge.only_in is not None and edge.except_in:
            yield violation(("global_edges", j, "except_in"), "both", edge=edge.name)
        elif edge.scoped and not any(edge.offered_in(name) for name in open_states):
            field = "only_in" if edge.only_in is not None else "except_in"
            yield violation(("global_edges", j, field), "nowhere", edge=edge.name, field=field)
