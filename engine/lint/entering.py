"""The rules about entering a state (FL206): what the caller hears when a transition
lands. Linear in edges."""

from __future__ import annotations

from collections.abc import Iterator

from flowctl.engine.lint.context import FlowContext
from flowctl.engine.lint.registry import Violation, rule, violation
from flowctl.engine.spec import State


def _speaks_on_entry(state: State) -> bool:
    """Whether entering ``state`` makes the agent say something: its greeting, or the
    model's entry turn. A terminal state ends the call, which is not dead air."""
    on_enter = state.on_enter
    return state.end or bool(state.on_enter_prompt) or (on_enter is not None and on_enter.respond)


@rule("dead-air")
def dead_air(ctx: FlowContext) -> Iterator[Violation]:
    """
    ## What it does
    Reports an edge into a state when nothing is said on the way in: the edge has no
    `say`, and the state has no `on_enter_prompt` and no `on_enter` turn for the model.
    Terminal states are left out (entering one ends the call), and so are their edges
    (never offered).

    ## Why it matters
    A handoff answers the caller's turn with the new state's words, and the model is
    not asked to reply to it. With no words, the caller hears silence and waits for the
    agent, while the agent waits for the caller: dead air on a phone line, which
    callers take for a dropped call.

    ## Example
    ```json
    {"agents": [{"name": "Greeter", "instructions": "...", "edges": [
                   {"name": "to_orders", "description": "...", "target_agent": "Orders"}]},
                {"name": "Orders", "instructions": "Take the caller's order."}]}
    ```
    ``"`to_orders` enters `Orders` in silence: ..." - at
    `$.agents[0].edges[0].target_agent` ``

    ## Instead
    Let the model speak first in `Orders` (`"on_enter": {"task": "Ask what they would
    like."}`), give it a greeting (`"on_enter_prompt": "What can I get you?"`), or say
    something on the edge (`"say": "Let me take your order."`).
    """
    agents = ctx.flow.agents
    for source, edge, path in ctx.edges():
        if source is not None and agents[source].end:
            continue  # never offered (FL205)
        target = ctx.state_index.get(edge.target_agent) if edge.target_agent else None
        if target is None or edge.say or _speaks_on_entry(agents[target]):
            continue
        yield violation((*path, "target_agent"), edge=edge.name, state=agents[target].name)
