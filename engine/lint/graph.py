"""The graph rules (FL2xx): the state graph — reachability, ends, traps. Every analysis is linear in
states + edges (breadth-first searches and one strongly-connected-components pass)."""

from __future__ import annotations

from collections.abc import Iterator

from flowctl.engine.lint.context import FlowContext
from flowctl.engine.lint.registry import Violation, rule, violation


@rule("unreachable-state")
def unreachable_state(ctx: FlowContext) -> Iterator[Violation]:
    """
    ## What it does
    Reports a state that no sequence of edges from the start state reaches.

    ## Why it matters
    Its prompt is never used: either an edge into it is missing, or it is leftover
    configuration that misleads whoever maintains the flow.

    ## Example
    ```json
    {"agents": [{"name": "Intake", "instructions": "...", "end": true},
                {"name": "Billing", "instructions": "..."}]}
    ```
    ``State `Billing` is unreachable from the start state `Intake` - at
    `$.agents[1].name` ``

    ## Instead
    Add an edge into `Billing`, or remove it.
    """
    if ctx.start is None:
        return
    start = ctx.flow.agents[ctx.start].name
    for i, seen in enumerate(ctx.reachable):
        if not seen and ctx.state_index[ctx.flow.agents[i].name] == i:
            yield violation(("agents", i, "name"), state=ctx.flow.agents[i].name, start=start)


def _can_end(ctx: FlowContext) -> list[bool]:
    """Which nodes of ``ctx.successors`` (states, then the hub of the global edges)
    have a path to a state where the session can end."""
    n = len(ctx.successors)
    preds: list[list[int]] = [[] for _ in range(n)]
    for s, targets in enumerate(ctx.successors):
        for t in targets:
            preds[t].append(s)
    ok = [ctx.ends_session(i) for i in range(ctx.hub)] + [False]
    stack = [i for i in range(n) if ok[i]]
    while stack:
        for p in preds[stack.pop()]:
            if not ok[p]:
                ok[p] = True
                stack.append(p)
    return ok


def _traps(ctx: FlowContext, can_end: list[bool]) -> list[list[int]]:
    """Cycles no edge leaves and no end is in: strongly connected components (Tarjan,
    iterative) of reachable states that contain a cycle and cannot end. The hub of the
    global edges joins a component as any state would, and is left out of it after."""
    succ = ctx.successors
    n = len(succ)
    index = [-1] * n
    low = [0] * n
    on_stack = [False] * n
    stack: list[int] = []
    comps: list[list[int]] = []
    counter = 0
    for root in range(ctx.hub):
        if index[root] != -1 or not ctx.reachable[root]:
            continue
        work = [(root, 0)]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack[root] = True
        while work:
            v, k = work[-1]
            if k < len(succ[v]):
                work[-1] = (v, k + 1)
                w = succ[v][k]
                if index[w] == -1:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on_stack[w] = True
                    work.append((w, 0))
                elif on_stack[w]:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on_stack[w] = False
                    comp.append(w)
                    if w == v:
                        break
                comps.append(comp)
    traps = []
    for comp in comps:
        members = set(comp)
        cyclic = len(comp) > 1 or comp[0] in succ[comp[0]]
        closed = all(t in members for v in comp for t in succ[v])
        if cyclic and closed and not any(can_end[v] for v in comp):
            traps.append(sorted(v for v in comp if v != ctx.hub))
    return traps


def _compute(ctx: FlowContext) -> tuple[list[bool], list[list[int]]]:
    """Of each state, whether it can reach an end; and the traps."""
    can_end = _can_end(ctx)
    return can_end[: ctx.hub], _traps(ctx, can_end)


def _analysis(ctx: FlowContext) -> tuple[list[bool], list[list[int]]]:
    return ctx.cached(_compute)


def _has_end(ctx: FlowContext) -> bool:
    return any(ctx.ends_session(i) for i in range(len(ctx.flow.agents)))


@rule("no-path-to-end")
def no_path_to_end(ctx: FlowContext) -> Iterator[Violation]:
    """
    ## What it does
    Reports a reachable state from which no path leads to an end: a state with
    `"end": true`, or one that can call a builtin that ends the call (`end_call`,
    `transfer_call`, `handle_is_busy`). Cycles with no
    exit are reported once, as FL204, instead.

    ## Why it matters
    A conversation that enters the state can only end by the caller hanging up. That
    is sometimes intended (an open-ended specialist), usually a missing edge.

    ## Example
    ```json
    {"agents": [{"name": "Intake", "instructions": "...", "edges": [
                   {"name": "to_help", "description": "...", "target_agent": "Help"},
                   {"name": "done", "description": "...", "target_agent": "Goodbye"}]},
                {"name": "Help", "instructions": "..."},
                {"name": "Goodbye", "instructions": "...", "end": true}]}
    ```
    ``State `Help` cannot reach an end ... - at `$.agents[1].name` ``

    ## Instead
    Give `Help` an edge back to `Intake` or on to `Goodbye`, or a global `end_call`
    edge.
    """
    if ctx.start is None or not _has_end(ctx):
        return
    can_end, traps = _analysis(ctx)
    trapped = {v for comp in traps for v in comp}
    for i, ok in enumerate(can_end):
        if not ok and ctx.reachable[i] and i not in trapped:
            yield violation(("agents", i, "name"), state=ctx.flow.agents[i].name)


@rule("no-terminal-state")
def no_terminal_state(ctx: FlowContext) -> Iterator[Violation]:
    """
    ## What it does
    Reports a flow in which no state can end the session: none has `"end": true` and
    none can call a builtin that ends the call (`end_call`, `transfer_call`,
    `handle_is_busy`).

    ## Why it matters
    The agent can never hang up or hand the caller to a person; every call ends when
    the caller gives up.

    ## Instead
    ```json
    {"tools": [{"kind": "builtin", "name": "end_call",
                "description": "End the call after saying goodbye"}],
     "global_edges": [{"name": "end_call", "action": "action",
                       "description": "The caller says goodbye or has nothing else"}]}
    ```
    """
    if ctx.flow.agents and not _has_end(ctx):
        yield violation(("agents",))


@rule("cycle-without-exit")
def cycle_without_exit(ctx: FlowContext) -> Iterator[Violation]:
    """
    ## What it does
    Reports reachable states that lead only to each other: once the conversation
    enters the cycle, no edge leaves it and none of its states can end the call.

    ## Why it matters
    The caller is trapped: the agent can only hand the conversation around the loop.

    ## Example
    ```json
    {"agents": [{"name": "Ask", "edges": [{"name": "confirm", "target_agent": "Confirm"}]},
                {"name": "Confirm", "edges": [{"name": "retry", "target_agent": "Ask"}]}]}
    ```

    ## Instead
    Add an edge out of the cycle (to a closing state), or a global `end_call` edge.
    """
    if ctx.start is None:
        return
    _, traps = _analysis(ctx)
    for comp in traps:
        names = ", ".join(f"`{ctx.flow.agents[v].name}`" for v in comp)
        kind = "loop" if len(comp) == 1 else "cycle"
        yield violation(("agents", comp[0], "name"), kind, states=names)


@rule("terminal-with-edges")
def terminal_with_edges(ctx: FlowContext) -> Iterator[Violation]:
    """
    ## What it does
    Reports a state with `"end": true` that also declares edges or tools.

    ## Why it matters
    A terminal state says its greeting and ends the session: its edges and tools are
    never offered. Either the state should not be terminal, or they are dead weight.

    ## Instead
    Remove `edges`/`tools` from the terminal state, or drop `"end": true`.
    """
    for i, state in enumerate(ctx.flow.agents):
        if state.end and (state.edges or state.tools):
            what = "edges" if state.edges else "tools"
            yield violation(("agents", i, what), state=state.name, what=what)
