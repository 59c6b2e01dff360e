"""The reference rules (FL1xx): duplicates, unknown targets, tools and builtins."""

from __future__ import annotations

from collections.abc import Iterator

from flowctl.engine.lint.context import FlowContext
from flowctl.engine.lint.registry import Violation, rule, violation
from flowctl.engine.spec import BUILTIN_TOOLS, BuiltinTool


@rule("duplicate-state")
def duplicate_state(ctx: FlowContext) -> Iterator[Violation]:
    """
    ## What it does
    Reports a state whose `name` is already used by an earlier state.

    ## Why it matters
    Edges target states by name: with two `Billing` states, a handoff can only ever
    reach the first, and the second is dead configuration that looks alive.

    ## Example
    ```json
    {"agents": [{"name": "Billing", "instructions": "..."},
                {"name": "Billing", "instructions": "..."}]}
    ```

    ## Instead
    Give every state a unique name, or merge the two.
    """
    for i, state in enumerate(ctx.flow.agents):
        first = ctx.state_index[state.name]
        if first != i:
            yield violation(("agents", i, "name"), state=state.name, first=first)


@rule("unknown-target")
def unknown_target(ctx: FlowContext) -> Iterator[Violation]:
    """
    ## What it does
    Reports an edge whose `target_agent` names no state of the flow.

    ## Why it matters
    The model would call the edge and the conversation would have nowhere to go: on a
    live call, the caller hears an error or silence.

    ## Example
    ```json
    {"name": "to_billing", "description": "...", "target_agent": "Biling"}
    ```
    ``Unknown agent `Biling`; did you mean `Billing`? - at
    `$.agents[0].edges[0].target_agent` ``

    ## Instead
    ```json
    {"name": "to_billing", "description": "...", "target_agent": "Billing"}
    ```
    """
    for _, edge, path in ctx.edges():
        target = edge.target_agent
        if target is not None and target not in ctx.state_index:
            hint = ctx.suggest(target, ctx.state_index)
            yield violation((*path, "target_agent"), target=target, hint=hint)
    for i, state in enumerate(ctx.flow.agents):
        for k, action in enumerate(state.on_enter_actions):
            target = action.on_error
            if target is not None and target not in ctx.state_index:
                hint = ctx.suggest(target, ctx.state_index)
                yield violation(
                    ("agents", i, "on_enter_actions", k, "on_error"), target=target, hint=hint
                )


@rule("duplicate-edge")
def duplicate_edge(ctx: FlowContext) -> Iterator[Violation]:
    """
    ## What it does
    Reports an edge whose name is already used by another edge of the same state, or
    by a global edge (global edges are offered in every state).

    ## Why it matters
    The edge name is the function name the model calls: two functions with one name
    are rejected by LLM APIs, or one silently shadows the other.

    ## Example
    ```json
    {"global_edges": [{"name": "end_call", "...": "..."}],
     "agents": [{"name": "Intake", "edges": [{"name": "end_call", "...": "..."}]}]}
    ```

    ## Instead
    Rename one of them, or drop the state's copy and rely on the global edge.
    """
    global_names: dict[str, int] = {}
    for j, shared in enumerate(ctx.flow.global_edges):
        if shared.name in global_names:
            yield violation(("global_edges", j, "name"), "global", edge=shared.name)
        global_names.setdefault(shared.name, j)
    for i, state in enumerate(ctx.flow.agents):
        seen: set[str] = set()
        for j, edge in enumerate(state.edges):
            if edge.name in seen:
                kind = "in_state"
            elif edge.name in global_names and not state.end:
                kind = "repeats_global"
            else:
                seen.add(edge.name)
                continue
            yield violation(
                ("agents", i, "edges", j, "name"), kind, edge=edge.name, state=state.name
            )


@rule("unknown-tool")
def unknown_tool(ctx: FlowContext) -> Iterator[Violation]:
    """
    ## What it does
    Reports a name in a state's `tools`, or the tool of an `action` edge (its `tool`,
    by default the edge's name), that no entry of the flow's `tools` defines. The
    builtins (`end_call`, `transfer_call`, `set_variables`, `save_data`,
    `schedule_callback`, `handle_is_busy`) need no definition.

    ## Why it matters
    The model would be offered a function that cannot run.

    ## Example
    ```json
    {"agents": [{"name": "Intake", "instructions": "...",
                 "tools": ["appointment_booking"]}]}
    ```
    ``Unknown tool `appointment_booking` - at `$.agents[0].tools[0]` ``

    ## Instead
    ```json
    {"tools": [{"kind": "http", "name": "appointment_booking",
                "description": "Book a visit", "url": "https://clinic.example/book"}],
     "agents": [{"name": "Intake", "instructions": "...",
                 "tools": ["appointment_booking"]}]}
    ```
    """
    known = ctx.tool_index
    for i, state in enumerate(ctx.flow.agents):
        for k, name in enumerate(state.tools):
            if name not in known:
                yield violation(("agents", i, "tools", k), tool=name, hint=ctx.suggest(name, known))
    for i, state in enumerate(ctx.flow.agents):
        for k, action in enumerate(state.on_enter_actions):
            if action.tool not in known:
                at = ("agents", i, "on_enter_actions", k, "tool")
                yield violation(at, tool=action.tool, hint=ctx.suggest(action.tool, known))
    for _, edge, path in ctx.edges():
        if edge.action != "action":
            continue
        name = edge.tool or edge.name
        if name not in known:
            where = (*path, "tool") if edge.tool else (*path, "name")
            yield violation(where, tool=name, hint=ctx.suggest(name, known))


@rule("unknown-start")
def unknown_start(ctx: FlowContext) -> Iterator[Violation]:
    """
    ## What it does
    Reports a flow whose `start` names no state.

    ## Why it matters
    Every session begins in the start state; without one no call can be answered.

    ## Example
    ```json
    {"start": "Welcom", "agents": [{"name": "Welcome", "instructions": "..."}]}
    ```

    ## Instead
    Fix the name, or leave `start` out: the first agent is the start state.
    """
    start = ctx.flow.start
    if start is not None and start not in ctx.state_index:
        yield violation(("start",), start=start, hint=ctx.suggest(start, ctx.state_index))


@rule("duplicate-tool")
def duplicate_tool(ctx: FlowContext) -> Iterator[Violation]:
    """
    ## What it does
    Reports a tool definition whose `name` an earlier definition already uses.

    ## Why it matters
    States reference tools by name; the second definition would never run.

    ## Instead
    Rename or remove one of them.
    """
    seen: set[str] = set()
    for k, tool in enumerate(ctx.flow.tools):
        if tool.name in seen:
            yield violation(("tools", k, "name"), tool=tool.name)
        seen.add(tool.name)


@rule("name-collision")
def name_collision(ctx: FlowContext) -> Iterator[Violation]:
    """
    ## What it does
    Reports a state that lists a tool in `tools` under the name of one of its edges
    (its own or a global edge), or lists the same tool twice.

    ## Why it matters
    Edges and tools are both functions for the model; two functions with one name
    make the call ambiguous, and LLM APIs reject duplicate function names.

    ## Example
    ```json
    {"name": "Intake", "tools": ["book"],
     "edges": [{"name": "book", "action": "action", "description": "..."}]}
    ```

    ## Instead
    Keep the action edge and drop the tool from `tools` (the edge already runs it), or
    rename one of them.
    """
    global_names = {e.name for e in ctx.flow.global_edges}
    for i, state in enumerate(ctx.flow.agents):
        edge_names = {e.name for e in state.edges}  # the global ones are not copied in
        listed: set[str] = set()
        for k, name in enumerate(state.tools):
            if name in edge_names or (name in global_names and not state.end):
                kind = "edge_name"
            elif name in listed:
                kind = "listed_twice"
            else:
                listed.add(name)
                continue
            yield violation(("agents", i, "tools", k), kind, tool=name, state=state.name)


@rule("missing-target")
def missing_target(ctx: FlowContext) -> Iterator[Violation]:
    """
    ## What it does
    Reports a `handoff` edge (the default `action`) without a `target_agent`.

    ## Why it matters
    A handoff moves to another state; without a target it can only fail when the
    model calls it. An edge that runs a tool and stays is an `action` edge.

    ## Example
    ```json
    {"name": "to_billing", "description": "The caller asks about an invoice"}
    ```

    ## Instead
    ```json
    {"name": "to_billing", "description": "The caller asks about an invoice",
     "target_agent": "Billing"}
    ```
    """
    for _, edge, path in ctx.edges():
        if edge.action == "handoff" and edge.target_agent is None:
            yield violation(path, edge=edge.name)


@rule("unknown-builtin")
def unknown_builtin(ctx: FlowContext) -> Iterator[Violation]:
    """
    ## What it does
    Reports a `"kind": "builtin"` tool that sets no `builtin` and whose name is not
    one of the builtins.

    ## Example
    ```json
    {"kind": "builtin", "name": "hang_up"}
    ```

    ## Instead
    ```json
    {"kind": "builtin", "name": "hang_up", "builtin": "end_call"}
    ```
    """
    allowed = ", ".join(f"`{b}`" for b in BUILTIN_TOOLS)
    for k, tool in enumerate(ctx.flow.tools):
        if (
            isinstance(tool, BuiltinTool)
            and tool.builtin is None
            and tool.name not in BUILTIN_TOOLS
        ):
            yield violation(("tools", k), tool=tool.name, allowed=allowed)
