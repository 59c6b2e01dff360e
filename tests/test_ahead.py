"""Where one function call can leave a conversation (``flowctl.engine.ahead``): an
edge's target, the state itself, and wherever automatic edges and failed entry actions
carry on from there (not two calls away)."""

from __future__ import annotations

from typing import Any

from flowkit import compile_doc

from flowctl.engine.ahead import landings


def _to(name: str, target: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "description": f"Go to {target}", "target_agent": target, **extra}


FLOW = {
    "variables": {"vip": {"type": "bool", "description": "A member"}},
    "tools": [{"kind": "mock", "name": "lookup", "description": "Look it up", "result": {}}],
    "agents": [
        {
            "name": "Front",
            "instructions": "Front.",
            "edges": [
                _to("to_sort", "Sort"),
                _to("to_fetch", "Fetch"),
                {"name": "vip_now", "when": "vip", "target_agent": "Lounge"},
            ],
            "tools": ["lookup"],
        },
        {
            "name": "Sort",
            "instructions": "Sort.",
            "edges": [
                {"name": "member", "when": "vip", "target_agent": "Lounge"},
                _to("ask", "Desk"),
            ],
        },
        {
            "name": "Fetch",
            "instructions": "Fetch.",
            "on_enter_actions": [{"tool": "lookup", "on_error": "Sorry"}],
            "edges": [_to("ask", "Desk")],
        },
        {"name": "Lounge", "instructions": "Lounge.", "edges": [_to("leave", "Front")]},
        {
            "name": "Desk",
            "instructions": "Desk.",
            "edges": [_to("leave", "Front"), _to("bye", "End")],
        },
        {"name": "End", "instructions": "Bye.", "end": True},
        {"name": "Sorry", "instructions": "Sorry.", "edges": [_to("leave", "Front")]},
    ],
}


def _names(compiled: Any, indexes: frozenset[int]) -> set[str]:
    return {compiled.states[i].name for i in indexes}


def test_a_call_lands_in_the_target_and_wherever_it_is_carried_on() -> None:
    compiled = compile_doc(FLOW)
    front = compiled.state_index["Front"]
    # Sort's automatic edge may go on to the lounge; Front's own may fire on staying.
    assert _names(compiled, landings(compiled, front, "to_sort")) == {"Front", "Lounge", "Sort"}
    # Fetch's entry action may fail over to Sorry.
    assert _names(compiled, landings(compiled, front, "to_fetch")) == {
        "Front",
        "Lounge",
        "Fetch",
        "Sorry",
    }
    # A tool stays, or Front's automatic edge moves on.
    assert _names(compiled, landings(compiled, front, "lookup")) == {"Front", "Lounge"}
