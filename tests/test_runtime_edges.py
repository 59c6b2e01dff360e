"""How a conversation fires its edges: a guard is checked once, before the tool it
guards; a parameter is checked against its variable before anything changes; an
automatic edge fires once per chain and a handoff names where the chain ended;
`requires` asks the caller for what nothing here sets; an ending edge says its words."""

from __future__ import annotations

from flowkit import END, compile_doc

from flowctl.engine.runtime import Action, Conversation, Handoff, Refused, ToolCalled


async def test_a_guard_checked_before_a_tool_is_not_rechecked_after_it() -> None:
    flow = compile_doc(
        {
            "variables": {"n": {"type": "int", "default": 1}},
            "tools": [
                {
                    "kind": "mock",
                    "name": "bump",
                    "description": "Bump the counter for the caller",
                    "result": {"n": 9},
                    "sets": {"n": "n"},
                }
            ],
            "agents": [
                {
                    "name": "A",
                    "instructions": "x",
                    "edges": [
                        {
                            "name": "bump",
                            "action": "action",
                            "description": "Bump the counter and go on",
                            "when": "n < 5",
                            "target_agent": "End",
                        }
                    ],
                },
                END,
            ],
        }
    )
    conv = Conversation(flow)
    outcome = await conv.fire("bump")
    assert isinstance(outcome, Action) and outcome.target == "End" and outcome.ended
    assert conv.variables["n"] == 9


async def test_a_parameter_outside_its_variables_enum_is_refused_before_anything_changes() -> None:
    flow = compile_doc(
        {
            "variables": {
                "plan": {"type": "enum", "enum": ["basic", "pro"], "description": "Plan"}
            },
            "agents": [
                {
                    "name": "A",
                    "instructions": "x",
                    "edges": [
                        {
                            "name": "pick",
                            "description": "The caller picks a plan to buy",
                            "target_agent": "End",
                            "parameters": {
                                "plan": {
                                    "type": "enum",
                                    "enum": ["basic", "pro", "gold"],
                                    "description": "Plan",
                                }
                            },
                        }
                    ],
                },
                END,
            ],
        }
    )
    causes: list[str | None] = []
    conv = Conversation(flow, observer=lambda _, cause: causes.append(cause))
    outcome = await conv.fire("pick", {"plan": "gold"})
    assert outcome == Refused(
        name="pick", reason="Value for variable `plan` is invalid: Invalid enum value 'gold'"
    )
    assert conv.state == "A" and "plan" not in conv.variables
    assert causes == [None, None, "invalid_value"]  # entered, called, refused


async def test_an_automatic_edge_fires_once_per_chain() -> None:
    flow = compile_doc(
        {
            "variables": {
                "angry": {"type": "bool", "default": False},
                "x": {"type": "int", "default": 1},
            },
            "tools": [
                {
                    "kind": "mock",
                    "name": "ping",
                    "description": "Ping the supervisor dashboard",
                    "result": {},
                }
            ],
            "global_edges": [{"name": "escalate", "when": "angry", "target_agent": "Human"}],
            "agents": [
                {
                    "name": "A",
                    "instructions": "x",
                    "edges": [
                        {"name": "notify", "action": "action", "tool": "ping", "when": "x > 0"},
                        {
                            "name": "done",
                            "description": "The caller is finished and says goodbye",
                            "target_agent": "End",
                        },
                    ],
                },
                {
                    "name": "Human",
                    "instructions": "x",
                    "edges": [
                        {
                            "name": "back",
                            "description": "The person hands the caller back to the bot",
                            "target_agent": "End",
                        }
                    ],
                },
                END,
            ],
        }
    )
    conv = Conversation(flow)
    assert await conv.start() == ("notify",)
    assert sum(isinstance(e, ToolCalled) for e in conv.history) == 1


async def test_handoff_reports_where_the_chain_ended() -> None:
    flow = compile_doc(
        {
            "variables": {"vip": {"type": "bool", "default": True}},
            "agents": [
                {
                    "name": "A",
                    "instructions": "x",
                    "edges": [
                        {
                            "name": "go",
                            "description": "Go on to the next step of the call",
                            "target_agent": "B",
                        }
                    ],
                },
                {
                    "name": "B",
                    "instructions": "x",
                    "edges": [{"name": "fast", "when": "vip", "target_agent": "End"}],
                },
                END,
            ],
        }
    )
    outcome = await Conversation(flow).fire("go")
    assert outcome == Handoff(name="go", source="A", target="End", automatic=("fast",), ended=True)


async def test_requires_asks_the_caller_when_nothing_here_sets_it_and_ending_edges_say_their_words() -> (
    None
):
    flow = compile_doc(
        {
            "variables": {"order": {"type": "str", "description": "Order number"}},
            "tools": [{"kind": "builtin", "name": "end_call", "description": "End the call now"}],
            "agents": [
                {
                    "name": "A",
                    "instructions": "x",
                    "edges": [
                        {
                            "name": "track",
                            "description": "The caller wants to track an order",
                            "requires": ["order"],
                            "target_agent": "End",
                        },
                        {
                            "name": "bye",
                            "action": "action",
                            "tool": "end_call",
                            "description": "The caller says goodbye",
                            "say": "Thanks for calling, goodbye!",
                        },
                    ],
                },
                END,
            ],
        }
    )
    conv = Conversation(flow)
    assert await conv.fire("track") == Refused(
        name="track", reason="`track` needs `order` first; ask the caller for it."
    )
    outcome = await conv.fire("bye")
    assert isinstance(outcome, Action) and outcome.ended
    assert outcome.say == "Thanks for calling, goodbye!"


async def test_a_refusal_names_what_sets_each_missing_variable() -> None:
    def save(name: str, *variables: str) -> dict[str, object]:
        return {
            "kind": "builtin",
            "name": name,
            "builtin": "set_variables",
            "description": "Save what the caller said",
            "variables": list(variables),
        }

    flow = compile_doc(
        {
            "variables": {v: {"type": "str"} for v in ("name", "phone", "email", "city")},
            "tools": [save("save_contact", "name", "phone"), save("save_email", "email")],
            "agents": [
                {
                    "name": "A",
                    "instructions": "x",
                    "tools": ["save_contact", "save_email"],
                    "edges": [
                        {
                            "name": "book",
                            "description": "Book it",
                            "target_agent": "End",
                            "requires": ["name", "phone", "email", "city"],
                        },
                        {
                            "name": "call",
                            "description": "Call back",
                            "target_agent": "End",
                            "requires": ["email"],
                        },
                    ],
                },
                END,
            ],
        }
    )
    conv = Conversation(flow)
    assert await conv.fire("book") == Refused(
        name="book",
        reason="`book` needs `name`, `phone`, `email`, `city` first; `save_contact` sets "
        "`name` and `phone`; `save_email` sets `email`; ask the caller for `city`.",
    )
    assert await conv.fire("call") == Refused(
        name="call", reason="`call` needs `email` first; `save_email` sets it."
    )
