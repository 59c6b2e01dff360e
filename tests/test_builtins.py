"""The builtins table: every layer reads one row per builtin, so they agree."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from conftest import lint_doc

from flowctl.engine.builtins import BUILTIN_TOOLS, BUILTINS
from flowctl.engine.compile import compile_flow
from flowctl.engine.paths import cover
from flowctl.engine.runtime import Action, Conversation, Ended, ToolReturned
from flowctl.engine.spec import BuiltinTool, Flow

# What each builtin is called with in the cases below, and the flow's definition of it.
ARGS: dict[str, dict[str, Any]] = {
    "set_variables": {"note": "call back"},
    "save_data": {"note": "call back"},
    "schedule_callback": {"when": "after 5pm"},
    "handle_is_busy": {"when": "after 5pm"},
}
DEFINED: dict[str, dict[str, Any]] = {
    "transfer_call": {"transfer_to": "+15550100"},
    "set_variables": {"variables": ["note"]},
    "save_data": {"variables": ["note"]},
}


def desk(name: str) -> dict[str, Any]:
    """A flow whose start state `Desk` has one function, `go`: run builtin ``name``
    (defined by name), then move on to `Next`, a state with no way out."""
    tool = {"kind": "builtin", "name": name, "description": "Do it", **DEFINED.get(name, {})}
    go = {"name": "go", "action": "action", "tool": name, "target_agent": "Next"}
    return {
        "variables": {"note": {"type": "str", "description": "A note for the team"}},
        "tools": [tool],
        "agents": [
            {"name": "Desk", "instructions": "Help.", "edges": [{**go, "description": "Go"}]},
            {"name": "Next", "instructions": "Chat."},
        ],
    }


def test_builtins_table_has_a_row_per_name_the_spec_accepts() -> None:
    assert tuple(BUILTINS) == BUILTIN_TOOLS
    assert all(name == row.name for name, row in BUILTINS.items())
    schema = msgspec.json.schema(BuiltinTool)["$defs"]["BuiltinTool"]["properties"]["builtin"]
    assert schema["anyOf"][0]["enum"] == sorted(BUILTIN_TOOLS)


def test_builtins_table_says_which_end_the_call_and_how() -> None:
    ends = {name: row.ends for name, row in BUILTINS.items() if row.ends is not None}
    assert ends == {"end_call": "end_call", "transfer_call": "transfer", "handle_is_busy": "busy"}
    stores = {name: row.stores for name, row in BUILTINS.items() if row.stores is not None}
    assert stores == {
        "set_variables": "variables",
        "save_data": "variables",
        "schedule_callback": "callback",
        "handle_is_busy": "callback",
    }


@pytest.mark.parametrize("name", BUILTIN_TOOLS)
async def test_builtins_lint_runtime_and_paths_agree_on_ending(name: str) -> None:
    ends = BUILTINS[name].ends
    doc = desk(name)
    assert any(" FL203 " in f for f in lint_doc(doc)) == (ends is None)
    compiled = compile_flow(msgspec.convert(doc, Flow), check=False)
    conv = Conversation(compiled, clock=lambda: 1000.0)
    await conv.fire("go", ARGS.get(name, {}))
    assert (conv.ended.reason if conv.ended else None) == ends
    # A builtin that ends the call keeps it where it was; any other lets it move on.
    expected = "Desk" if ends else "Next"
    assert conv.state == expected
    assert [s.state for s in cover(compiled).paths[0].steps] == [expected]


async def test_a_flow_whose_only_exit_is_handle_is_busy_compiles_and_ends() -> None:
    desk = {"name": "Desk", "instructions": "Offer a callback.", "tools": ["handle_is_busy"]}
    compiled = compile_flow(msgspec.convert({"agents": [desk]}, Flow))  # lint: no FL203
    conv = Conversation(compiled, clock=lambda: 1000.0)
    outcome = await conv.fire("handle_is_busy", {"when": "after 5pm"})
    assert isinstance(outcome, Action) and outcome.ended and outcome.target is None
    assert conv.history[-2:] == [
        Ended(at=1000.0, reason="busy", state="Desk", detail="after 5pm"),
        ToolReturned(
            at=1000.0,
            tool="handle_is_busy",
            ok=True,
            value={"scheduled": True, "when": "after 5pm"},
        ),
    ]
    assert conv.offered() == []
