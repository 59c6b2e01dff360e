"""Where one function call can leave a conversation, known before it is made.

A call of a function in a state lands in the edge's target (or stays, for a tool or an
action that failed), and from there automatic edges and failed entry actions may carry
it on. :func:`landings` is that set of states, a superset of where any one call ends
up. The LiveKit adapter reads it to follow a call within the reply that made it: only
when every state the call may land in is one it switches to in place, and then that
reply must already be able to run the functions of those states' entry turns.
"""

from __future__ import annotations

from flowctl.engine.compile import CompiledEdge, CompiledFlow, CompiledState

__all__ = ["landings"]


def _carried_on(compiled: CompiledFlow, state: CompiledState) -> list[int]:
    """Where arriving in (or staying in) ``state`` may move on by itself."""
    onward = [ce.target for ce in state.automatic if ce.target is not None]
    onward.extend(
        compiled.state_index[action.on_error]
        for action in state.spec.on_enter_actions
        if action.on_error is not None
    )
    return onward


def landings(compiled: CompiledFlow, state: int, function: str) -> frozenset[int]:
    """The states a call of ``function`` in ``state`` may leave the conversation in
    (the state itself included: a tool, or an action that failed, stays)."""
    current = compiled.states[state]
    found = current.by_function.get(function)
    start = {state}
    if isinstance(found, CompiledEdge) and found.target is not None:
        start.add(found.target)
    seen: set[int] = set()
    todo = list(start)
    while todo:
        index = todo.pop()
        if index in seen:
            continue
        seen.add(index)
        todo.extend(_carried_on(compiled, compiled.states[index]))
    return frozenset(seen)
