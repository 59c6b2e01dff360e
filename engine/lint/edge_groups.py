"""The rules of scoped global edges (FL111, FL112, FL113): an edge group is a global
edge with ``only_in`` or ``except_in``; its lists must name states, leave it somewhere,
and a flow has no more of them than a state can offer."""

from __future__ import annotations

from collections.abc import Iterator, Set

from flowctl.engine.lint.context import MAX_SCOPED_EDGES, FlowContext
from flowctl.engine.lint.registry import Violation, rule, violation
from flowctl.engine.spec import GlobalEdge


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
    open_states = {s.name for s in ctx.flow.agents if not s.end}
    for j, edge in enumerate(ctx.flow.global_edges):
        if edge.only_in is not None and edge.except_in:
            yield violation(("global_edges", j, "except_in"), "both", edge=edge.name)
        elif edge.scoped and not _offered_somewhere(edge, open_states):
            field = "only_in" if edge.only_in is not None else "except_in"
            yield violation(("global_edges", j, field), "nowhere", edge=edge.name, field=field)


def _offered_somewhere(edge: GlobalEdge, open_states: Set[str]) -> bool:
    """Whether ``edge`` is offered in one of ``open_states`` (in the length of its
    lists, not the number of states)."""
    if edge.only_in is not None:
        return any(name in open_states for name in edge.only_in)
    return len(open_states - set(edge.except_in)) > 0


@rule("too-many-scoped-edges")
def too_many_scoped_edges(ctx: FlowContext) -> Iterator[Violation]:
    """
    ## What it does
    Reports a flow with more than 128 global edges scoped by `only_in` or `except_in`.

    ## Why it matters
    A state offers the model at most 128 functions (FL402), so a flow that needs more
    scoped edges than that cannot be served as written. Lint analyses a scoped edge
    state by state; past this many, it takes them as offered everywhere, so a flow
    (a tenant's, say) cannot make lint's work the product of its states and edges.

    ## Instead
    Split the flow, or give the edges that belong everywhere no scope.
    """
    scoped = [j for j, e in enumerate(ctx.flow.global_edges) if e.scoped]
    if len(scoped) > MAX_SCOPED_EDGES:
        yield violation(
            ("global_edges", scoped[MAX_SCOPED_EDGES]), count=len(scoped), limit=MAX_SCOPED_EDGES
        )
