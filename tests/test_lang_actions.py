"""Issue 14's constructs for acting and ending: a flow that ends when the caller hangs
up, edge groups, actions on entry, and branching on a tool's result. Each is linted,
run on the engine, and played through the LiveKit adapter by `flowctl simulate` on its
scenario in tests/fixtures/lang/."""

from __future__ import annotations

import json
from typing import Any

import pytest
from click.testing import CliRunner
from conftest import FIXTURES, lint_doc
from flowkit import compile_doc

from flowctl.cli.main import cli
from flowctl.engine.runtime import Conversation, Handoff, ToolCalled
from flowctl.engine.tools import ToolRegistry

LANG = FIXTURES / "lang"


def load(name: str) -> dict[str, Any]:
    return json.loads((LANG / f"{name}.json").read_text())  # type: ignore[no-any-return]


@pytest.mark.parametrize("name", ["ends_on_hangup", "edge_groups", "on_enter_actions"])
def test_lang_scenarios_pass_and_explore_covers_every_edge(name: str) -> None:
    pytest.importorskip("livekit.agents")
    path = LANG / f"{name}.scenarios.json"
    result = CliRunner().invoke(
        cli, ["simulate", "--scenario", str(path), "--explore", "--coverage"]
    )
    assert result.exit_code == 0, result.stdout
    assert ", 0 failed" in result.stderr
    assert "never" not in result.stdout


@pytest.mark.parametrize("name", ["ends_on_hangup", "edge_groups", "on_enter_actions"])
def test_lang_flows_lint_clean(name: str) -> None:
    assert lint_doc(load(name)) == []


# --- ends ------------------------------------------------------------------------------


def test_hangup_ending_flow_has_no_trap_and_compiles() -> None:
    doc = load("ends_on_hangup")
    trapped = {**doc, "ends_on_hangup": False}
    assert lint_doc(trapped) == [
        '5:13 FL203 No state ends the conversation: mark one `"end": true` or offer '
        "`end_call` - at `$.agents`",
        "7:15 FL204 States `Chat`, `Story` form a cycle with no exit: none of them can reach "
        "an end - at `$.agents[0].name`",
    ]
    story_ends = {
        **trapped,
        "agents": [doc["agents"][0], {**doc["agents"][1], "ends_on_hangup": True}],
    }
    assert lint_doc(story_ends) == []


async def test_hangup_ending_flow_runs_its_cycle() -> None:
    conv = Conversation(compile_doc(load("ends_on_hangup")))
    outcome = await conv.fire("tell_story")
    assert outcome == Handoff(name="tell_story", source="Chat", target="Story", say="Here is one.")
    await conv.fire("back_to_chat")
    assert (conv.state, conv.ended) == ("Chat", None)


# --- edge groups -----------------------------------------------------------------------


def test_scoped_global_edge_is_offered_only_where_its_list_says() -> None:
    flow = compile_doc(load("edge_groups"))
    offered = {s.name: [fn.name for fn in s.functions] for s in flow.states}
    assert offered == {
        "Greeter": ["to_orders", "to_reservations", "end_call"],
        "Orders": ["to_greeter", "end_call"],
        "Reservations": ["to_greeter", "end_call"],
    }
    assert [(r.source, r.trigger) for r in flow.table if r.trigger == "to_greeter"] == [
        ("Orders", "to_greeter"),
        ("Reservations", "to_greeter"),
    ]


def test_scoped_global_edges_are_not_exits_where_they_are_left_out() -> None:
    doc = load("edge_groups")
    back, end = doc["global_edges"]
    narrowed = [{**back, "except_in": [], "only_in": ["Orders"]}, {**end, "only_in": ["Greeter"]}]
    findings = lint_doc({**doc, "global_edges": narrowed})
    assert [line.split(" ", 1)[1].split(" - ")[0] for line in findings] == [
        "FL202 State `Reservations` cannot reach an end: no path leads to a terminal "
        "state or to `end_call`/`transfer_call`"
    ]


# --- actions on entry ------------------------------------------------------------------


async def test_entry_action_runs_with_literal_and_variable_arguments() -> None:
    conv = Conversation(compile_doc(load("on_enter_actions")))
    outcome = await conv.fire("look_up", {"order_id": "42"})
    said = "One moment while I look that up. Found it."  # the two edges' words, in order
    assert outcome == Handoff(
        name="look_up", source="Ask", target="Status", say=said, automatic=("found",)
    )
    calls = [e for e in conv.history if isinstance(e, ToolCalled)]
    assert calls == [
        ToolCalled(at=calls[0].at, tool="find_order", args={"region": "eu", "order_id": "42"})
    ]
    assert conv.variables["order_status"] == "shipped"


async def test_entry_action_failure_takes_on_error_or_sets_the_default() -> None:
    doc = load("on_enter_actions")
    conv = Conversation(compile_doc(doc), tools=ToolRegistry({}, mocks={"find_order": {}}))
    outcome = await conv.fire("look_up", {"order_id": "42"})
    assert (outcome.target, outcome.automatic) == ("Apology", ("find_order:failed",))  # type: ignore[union-attr]
    lookup = doc["agents"][1]
    action = {**lookup["on_enter_actions"][0], "default": {"order_status": "unknown"}}
    del action["on_error"]
    defaulted = {
        **doc,
        "agents": [doc["agents"][0], {**lookup, "on_enter_actions": [action]}, *doc["agents"][2:]],
    }
    conv = Conversation(compile_doc(defaulted), tools=ToolRegistry({}, mocks={"find_order": {}}))
    await conv.fire("look_up", {"order_id": "42"})
    assert (conv.state, conv.variables["order_status"]) == ("Status", "unknown")


def test_entry_action_that_can_fail_in_a_state_offering_nothing_is_fl207() -> None:
    doc = load("on_enter_actions")
    lookup = doc["agents"][1]
    action = {k: v for k, v in lookup["on_enter_actions"][0].items() if k != "on_error"}
    stuck = {
        **doc,
        "agents": [doc["agents"][0], {**lookup, "on_enter_actions": [action]}, doc["agents"][2]],
    }
    assert [line.split(" - ")[0] for line in lint_doc(stuck)] == [
        "64:9 FL207 Action `find_order` on entering `Lookup` has no `on_error` or `default`, "
        "and `Lookup` offers the model nothing and no automatic edge that can fire without "
        "its result: if it fails, the call is stuck"
    ]
