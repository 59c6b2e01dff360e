"""Entering a state in the engine: the flow's instructions before the state's, the
model's entry turn, what automatic edges say, the history plan of each ``context``
policy, and FL206 (dead air) with the other rules reading the new texts."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import FINISH, GOODBYE, lint_doc, minimal
from flowkit import END, compile_doc

from flowctl.engine.entering import DEFAULT_SUMMARY_PROMPT, Carry, compose_instructions
from flowctl.engine.runtime import Conversation, Handoff

VARIABLES = {
    "caller": {"type": "str", "description": "The caller's name"},
    "shop": {"type": "str", "default": "Corner Bakery"},
    "checked": {"type": "bool", "description": "Set once the order is checked"},
}


def _flow(**front: Any) -> dict[str, Any]:
    return {
        "instructions": "You work at {{shop}}. Be brief.",
        "variables": VARIABLES,
        "agents": [
            {
                "name": "Front",
                "instructions": "Greet {{caller | the caller}}.",
                "edges": [
                    {
                        "name": "to_orders",
                        "description": "The caller wants to order",
                        "target_agent": "Orders",
                        "say": "Sure.",
                        "parameters": {"caller": {"type": "str"}},
                    },
                    {
                        "name": "check",
                        "description": "Check the order",
                        "action": "action",
                        "tool": "set_variables",
                        "parameters": {"checked": {"type": "bool"}},
                    },
                    {"name": "auto_done", "when": "checked", "target_agent": "End", "say": "Done."},
                ],
                **front,
            },
            {
                "name": "Orders",
                "instructions": "Take the order of {{caller}}.",
                "on_enter": {"task": "Ask {{caller}} what they would like."},
                "edges": [
                    {"name": "auto_back", "when": "caller == 'Bo'", "target_agent": "Front"},
                    {"name": "finish", "description": "All done", "target_agent": "End"},
                ],
            },
            END,
        ],
    }


@pytest.fixture(scope="module")
def compiled():  # type: ignore[no-untyped-def]
    return compile_doc(_flow())


def test_compose_puts_the_flow_instructions_first() -> None:
    assert compose_instructions("Persona.", "Task.") == "Persona.\n\nTask."
    assert compose_instructions("", "Task.") == "Task."
    assert compose_instructions("Persona.", "") == "Persona."


def test_render_instructions_shows_the_flow_instructions_then_the_state(compiled) -> None:  # type: ignore[no-untyped-def]
    conv = Conversation(compiled)
    assert conv.render_instructions() == "You work at Corner Bakery. Be brief.\n\nGreet the caller."


async def test_the_entry_turn_renders_its_task_as_prompt_data(compiled) -> None:  # type: ignore[no-untyped-def]
    conv = Conversation(compiled)
    assert conv.entry_turn() is None
    await conv.fire("to_orders", {"caller": "Ana"})
    turn = conv.entry_turn()
    assert turn is not None and turn.task == 'Ask "Ana" what they would like.'


def test_an_entry_turn_without_a_task_or_with_respond_false() -> None:
    bare = Conversation(compile_doc(minimal(on_enter={})))
    assert bare.entry_turn() is not None and bare.entry_turn().task is None  # type: ignore[union-attr]
    off = Conversation(compile_doc(minimal(on_enter={"respond": False})))
    assert off.entry_turn() is None


async def test_an_automatic_edge_says_its_words_after_the_edge_that_led_there(compiled) -> None:  # type: ignore[no-untyped-def]
    conv = Conversation(compiled)
    outcome = await conv.fire("check", {"checked": True})
    assert outcome.say == "Done." and outcome.automatic == ("auto_done",)  # type: ignore[union-attr]
    conv = Conversation(compiled)
    outcome = await conv.fire("to_orders", {"caller": "Bo"})
    assert isinstance(outcome, Handoff)
    assert (outcome.say, outcome.automatic, conv.state) == ("Sure.", ("auto_back",), "Front")


async def test_automatic_edges_at_the_start_say_their_words_in_the_opening(compiled) -> None:  # type: ignore[no-untyped-def]
    conv = Conversation(compiled, variables={"checked": True})
    assert await conv.start() == ("auto_done",)
    assert conv.opening == "Done."
    quiet = Conversation(compiled)
    assert await quiet.start() == () and quiet.opening is None


@pytest.mark.parametrize(
    ("policy", "plan"),
    [
        ("keep", Carry()),
        ("reset", Carry(keep=0)),
        (0, Carry(keep=0)),
        (3, Carry(keep=3)),
        (
            {"last": 4, "variables": True},
            Carry(
                keep=4, notes=('Variables known so far: {"shop":"Corner Bakery","caller":"Ana"}.',)
            ),
        ),
        (
            {"variables": True},
            Carry(notes=('Variables known so far: {"shop":"Corner Bakery","caller":"Ana"}.',)),
        ),
    ],
    ids=["keep", "reset", "zero", "last-3", "last-4-variables", "all-variables"],
)
async def test_the_plan_of_each_context_policy(policy: Any, plan: Carry) -> None:
    doc = _flow()
    doc["agents"][1]["context"] = policy
    conv = Conversation(compile_doc(doc))
    await conv.fire("to_orders", {"caller": "Ana"})
    assert conv.carried() == plan


async def test_a_summary_plan_asks_the_model_and_falls_back_on_the_recap() -> None:
    doc = _flow()
    doc["agents"][1]["context"] = {"summary": True, "prompt": "Note what {{caller}} wants."}
    conv = Conversation(compile_doc(doc))
    await conv.fire("to_orders", {"caller": "Ana"})
    recap = 'Summary of the call so far: it went Front -> Orders. Known: {"caller":"Ana"}.'
    assert conv.carried() == Carry(keep=0, summarize='Note what "Ana" wants.', fallback=recap)
    doc["agents"][1]["context"] = {"summary": True, "last": 2}
    conv = Conversation(compile_doc(doc))
    await conv.fire("to_orders", {"caller": "Ana"})
    assert conv.carried() == Carry(keep=2, summarize=DEFAULT_SUMMARY_PROMPT, fallback=recap)


async def test_the_legacy_summary_keeps_the_recap_and_the_last_exchange() -> None:
    doc = _flow()
    doc["agents"][1]["context"] = "summary"
    conv = Conversation(compile_doc(doc))
    await conv.fire("to_orders", {"caller": "Ana"})
    recap = 'Summary of the call so far: it went Front -> Orders. Known: {"caller":"Ana"}.'
    assert conv.carried() == Carry(said=2, notes=(recap,))


# --- lint ------------------------------------------------------------------------------

SILENT = {"name": "Help", "instructions": "Help the caller.", "edges": [FINISH]}
TO_HELP = {"name": "to_help", "description": "The caller needs help", "target_agent": "Help"}


def test_fl206_a_silent_handoff_and_a_silent_global_edge() -> None:
    doc = {"global_edges": [TO_HELP], "agents": [minimal()["agents"][0], SILENT, GOODBYE]}
    assert lint_doc(doc) == [
        "6:23 FL206 `to_help` enters `Help` in silence: the edge has no `say`, and `Help` has no `on_enter_prompt` and no `on_enter` turn, so the caller hears nothing - at `$.global_edges[0].target_agent`"
    ]


@pytest.mark.parametrize(
    "fix",
    [
        {"edge": {"say": "Let me help."}},
        {"state": {"on_enter_prompt": "How can I help?"}},
        {"state": {"on_enter": {}}},
        {"state": {"on_enter": {"task": "Ask what they need."}}},
    ],
    ids=["say", "greeting", "entry-turn", "entry-task"],
)
def test_fl206_anything_said_on_the_way_in_is_enough(fix: dict[str, Any]) -> None:
    main = minimal(edges=[{**TO_HELP, **fix.get("edge", {})}, FINISH])["agents"][0]
    help_state = {**SILENT, **fix.get("state", {})}
    assert lint_doc({"agents": [main, help_state, GOODBYE]}) == []


def test_fl206_respond_false_is_silent_and_terminal_states_are_left_out() -> None:
    main = minimal(edges=[TO_HELP, FINISH])["agents"][0]
    help_state = {**SILENT, "on_enter": {"respond": False}}
    assert [line.split()[1] for line in lint_doc({"agents": [main, help_state, GOODBYE]})] == [
        "FL206"
    ]


def test_the_flow_instructions_are_read_by_the_variable_rules() -> None:
    doc = {
        "instructions": "You serve {{caller}} for {{shpo}}.",
        "variables": {"caller": {"type": "str", "description": "Name"}},
        **minimal(edges=[{**FINISH, "parameters": {"caller": {"type": "str"}}}]),
    }
    assert lint_doc(doc) == [
        "2:19 FL301 Undeclared variable `shpo` - at `$.instructions`",
        "2:19 FL302 Variable `caller` may be unset when state `Main` is entered; set it on every edge into the state or list it in their `requires`, or write `{{caller | ...}}` - at `$.instructions`",
    ]


def test_the_entry_task_and_summary_prompt_are_templates_lint_reads() -> None:
    doc = minimal(
        on_enter={"task": "Greet {{nobody}}."}, context={"summary": True, "prompt": "{{nada}}"}
    )
    assert [line.split(" - at ")[1] for line in lint_doc(doc)] == [
        "`$.agents[0].on_enter.task`",
        "`$.agents[0].context.prompt`",
    ]
