"""The tools a conversation calls, with the arguments each needs: builtins take only
theirs, a transfer goes only where the flow declares, a python tool gets only its own
parameters, an http tool's URL needs its variables set."""

from __future__ import annotations

from typing import Any

from flowkit import END, compile_doc

from flowctl.engine.compile import CompiledFlow
from flowctl.engine.runtime import Action, Conversation, Refused
from flowctl.engine.tools import ToolRegistry, ToolResult


async def test_builtins_take_the_arguments_they_need() -> None:
    flow = compile_doc(
        {
            "variables": {"name": {"type": "str", "description": "Name"}},
            "tools": [
                {
                    "kind": "builtin",
                    "name": "save",
                    "builtin": "save_data",
                    "description": "Save the caller's name",
                    "variables": ["name"],
                },
                {
                    "kind": "builtin",
                    "name": "transfer_call",
                    "description": "Transfer to the front desk or billing",
                    "transfer_to": ["+15550100", "sip:billing@pbx.example"],
                },
            ],
            "agents": [
                {
                    "name": "A",
                    "instructions": "Hi {{name | there}}",
                    "tools": ["save", "transfer_call", "schedule_callback"],
                }
            ],
        }
    )
    conv = Conversation(flow)
    functions = {f["name"]: f["parameters"] for f in conv.offered()}
    assert functions["save"]["properties"] == {"name": {"type": "string", "description": "Name"}}
    assert functions["transfer_call"]["required"] == ["to"]
    assert functions["transfer_call"]["properties"]["to"]["enum"] == [
        "+15550100",
        "sip:billing@pbx.example",
    ]
    assert functions["schedule_callback"]["required"] == ["when"]
    outcome = await conv.fire("save", {"name": "Ana"})
    assert isinstance(outcome, Action) and outcome.result.ok and conv.variables["name"] == "Ana"
    outcome = await conv.fire("transfer_call", {"to": "+15550100"})
    assert conv.ended is not None and conv.ended.detail == "+15550100"


async def test_transfer_goes_only_where_the_flow_declares() -> None:
    def flow_with(transfer: dict[str, Any], check: bool = True) -> Any:
        doc = {
            "tools": [
                {
                    "kind": "builtin",
                    "name": "transfer_call",
                    "description": "Transfer the call to the desk",
                    **transfer,
                }
            ],
            "agents": [{"name": "A", "instructions": "Hi", "tools": ["transfer_call"]}],
        }
        return compile_doc(doc, check=check)

    one = Conversation(flow_with({"transfer_to": "+15550100"}))
    assert one.offered()[0]["parameters"]["properties"] == {}
    outcome = await one.fire("transfer_call", {"to": "+19005550199"})
    assert outcome == Refused(
        reason="Invalid arguments for `transfer_call`: Object contains unknown field `to`",
        name="transfer_call",
    )
    assert one.ended is None
    await one.fire("transfer_call", {})
    assert one.ended is not None and one.ended.detail == "+15550100"

    two = Conversation(flow_with({"transfer_to": ["+15550100", "+15550101"]}))
    outcome = await two.fire("transfer_call", {"to": "+19005550199"})
    assert outcome == Refused(
        reason="Invalid arguments for `transfer_call`: Invalid enum value '+19005550199' - "
        "at `$.to`",
        name="transfer_call",
    )
    assert two.ended is None

    # Lint refuses a transfer with nowhere to go (FL512); compiled anyway, it stays put.
    nowhere = Conversation(flow_with({}, check=False))
    outcome = await nowhere.fire("transfer_call", {})
    assert isinstance(outcome, Action) and nowhere.ended is None
    assert outcome.result.error == (
        "Tool `transfer_call` has no destination (`transfer_to`); the call cannot be transferred"
    )


def _with_tool(tool: dict[str, Any], *states: dict[str, Any], **doc: Any) -> CompiledFlow:
    """A flow of ``states`` that defines one ``tool``."""
    return compile_doc({"tools": [tool], "agents": list(states), **doc})


async def test_a_python_tool_gets_only_its_own_parameters() -> None:
    find = {
        "name": "find",
        "action": "action",
        "tool": "lookup",
        "description": "Look the caller up by phone",
        "parameters": {"note": {"type": "str", "description": "Why"}},
        "target_agent": "End",
    }
    flow = _with_tool(
        {
            "kind": "python",
            "name": "lookup",
            "function": "toolbox:lookup_patient",
            "description": "Find the patient by phone",
            "parameters": {"phone": {"type": "str", "description": "Phone"}},
        },
        {"name": "A", "instructions": "x", "edges": [find]},
        END,
    )
    conv = Conversation(flow)
    outcome = await conv.fire("find", {"phone": "555", "note": "new patient"})
    assert isinstance(outcome, Action) and outcome.result.ok
    assert conv.variables == {"note": "new patient"}


async def test_http_url_needs_its_variables() -> None:
    flow = _with_tool(
        {
            "kind": "http",
            "name": "items",
            "method": "GET",
            "url": "https://shop.example/orders/{{order_id}}/items",
            "description": "List the items of an order",
        },
        {"name": "A", "instructions": "x", "tools": ["items", "end_call"]},
        variables={"order_id": {"type": "str", "description": "Order"}},
        lint={"ignore": ["FL302"]},
    )
    conv = Conversation(flow, tools=ToolRegistry(flow.tools))
    outcome = await conv.fire("items")
    assert isinstance(outcome, Action)
    assert outcome.result == ToolResult(
        ok=False, error="Tool `items` needs `order_id` for its URL; it is not set"
    )
