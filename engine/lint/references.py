"""FL1xx: names and references — duplicates, unknown targets, tools and builtins."""

from __future__ import annotations

from collections.abc import Iterator

from flowctl.engine.findings import Finding, Severity
from flowctl.engine.lint.context import FlowContext
from flowctl.engine.lint.registry import rule
from flowctl.engine.spec import BUILTIN_TOOLS, BuiltinTool

ERROR, WARNING = Severity.ERROR, Severity.WARNING


@rule("FL101", "duplicate-state", ERROR, "Two states share a name")
def duplicate_state(ctx: FlowContext) -> Iterator[Finding]:
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
            yield Finding(
                "FL101",
                f"Duplicate state `{state.name}` (first defined at `$.agents[{first}]`)",
                ("agents", i, "name"),
            )


@rule("FL102", "unknown-target", ERROR, "An edge targets a state that does not exist")
def unknown_target(ctx: FlowContext) -> Iterator[Finding]:
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
            yield Finding(
                "FL102",
                f"Unknown agent `{target}`{ctx.suggest(target, ctx.state_index)}",
                (*path, "target_agent"),
            )


@rule("FL103", "duplicate-edge", ERROR, "Two edges offered in one state share a name")
def duplicate_edge(ctx: FlowContext) -> Iterator[Finding]:
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
    for j, edge in enumerate(ctx.flow.global_edges):
        if edge.name in global_names:
            yield Finding(
                "FL103",
                f"Duplicate global edge `{edge.name}`",
                ("global_edges", j, "name"),
            )
        global_names.setdefault(edge.name, j)
    for i, state in enumerate(ctx.flow.agents):
        seen: set[str] = set()
        for j, edge in enumerate(state.edges):
            if edge.name in seen:
                message = f"Duplicate edge `{edge.name}` in state `{state.name}`"
            elif edge.name in global_names and not state.end:
                message = f"Edge `{edge.name}` of state `{state.name}` repeats a global edge"
            else:
                seen.add(edge.name)
                continue
            yield Finding("FL103", message, ("agents", i, "edges", j, "name"))


@rule("FL104", "unknown-tool", ERROR, "A tool is referenced but never defined")
def unknown_tool(ctx: FlowContext) -> Iterator[Finding]:
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
                yield Finding(
                    "FL104",
                    f"Unknown tool `{name}`{ctx.suggest(name, known)}",
                    ("agents", i, "tools", k),
                )
    for _, edge, path in ctx.edges():
        if edge.action != "action":
            continue
        name = edge.tool or edge.name
        if name not in known:
            where = (*path, "tool") if edge.tool else (*path, "name")
            yield Finding("FL104", f"Unknown tool `{name}`{ctx.suggest(name, known)}", where)


@rule("FL105", "unknown-start", ERROR, "`start` names no state")
def unknown_start(ctx: FlowContext) -> Iterator[Finding]:
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
        yield Finding(
            "FL105",
            f"Unknown start state `{start}`{ctx.suggest(start, ctx.state_index)}",
            ("start",),
        )


@rule("FL106", "duplicate-tool", ERROR, "Two tool definitions share a name")
def duplicate_tool(ctx: FlowContext) -> Iterator[Finding]:
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
            yield Finding("FL106", f"Duplicate tool `{tool.name}`", ("tools", k, "name"))
        seen.add(tool.name)


@rule("FL107", "name-collision", ERROR, "Two functions of one state share a name")
def name_collision(ctx: FlowContext) -> Iterator[Finding]:
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
                message = f"Tool `{name}` has the name of an edge of state `{state.name}`"
            elif name in listed:
                message = f"Tool `{name}` is listed twice in state `{state.name}`"
            else:
                listed.add(name)
                continue
            yield Finding("FL107", message, ("agents", i, "tools", k))


@rule("FL108", "missing-target", ERROR, "A handoff edge has no `target_agent`")
def missing_target(ctx: FlowContext) -> Iterator[Finding]:
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
            yield Finding("FL108", f"Handoff edge `{edge.name}` has no `target_agent`", path)


@rule("FL109", "unknown-builtin", ERROR, "A builtin tool names no builtin")
def unknown_builtin(ctx: FlowContext) -> Iterator[Finding]:
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
            yield Finding(
                "FL109",
                f"Tool `{tool.name}` is not a builtin; set `builtin` to one of {allowed}",
                ("tools", k),
            )
