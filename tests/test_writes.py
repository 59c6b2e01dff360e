"""State writes on edges (set, unset, append) and guards (len, is empty, a refusal in
the author's words): the engine, lint (FL310, FL409), the adapter in a real
AgentSession, and the language scenarios through `flowctl simulate`."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import FIXTURES, lint_doc, minimal
from flowkit import compile_file

from flowctl.engine.conditions import parse_condition
from flowctl.engine.runtime import Action, Conversation, Handoff, Refused
from flowctl.engine.spec import Edge
from flowctl.engine.writes import edge_writes

LANG = FIXTURES / "lang"


@pytest.fixture(scope="module")
def bakery():  # type: ignore[no-untyped-def]
    return compile_file(LANG / "state_writes.json")


@pytest.fixture(scope="module")
def vault():  # type: ignore[no-untyped-def]
    return compile_file(LANG / "guards.json")


async def test_append_adds_items_unset_clears_and_set_writes_a_constant(bakery) -> None:  # type: ignore[no-untyped-def]
    conv = Conversation(bakery)
    assert isinstance(await conv.fire("add_item", {"item": "croissant"}), Action)
    await conv.fire("add_item", {"item": "eclair"})
    assert conv.variables == {"checked_out": False, "order": ["croissant", "eclair"]}
    assert "item" not in conv.variables  # local: it set nothing
    await conv.fire("start_over")
    assert conv.variables == {"checked_out": False, "order": None}
    await conv.fire("add_item", {"item": "baguette"})
    outcome = await conv.fire("check_out")
    assert isinstance(outcome, Handoff) and outcome.target == "Paid"
    assert conv.variables == {"checked_out": True, "order": ["baguette"]}
    assert "checked_out" not in conv.untrusted and "order" in conv.untrusted


async def test_a_guard_refuses_in_the_authors_words(bakery) -> None:  # type: ignore[no-untyped-def]
    conv = Conversation(bakery)
    assert await conv.fire("check_out") == Refused(
        name="check_out",
        reason="`check_out` does not apply now: the order is empty; ask what the caller "
        "would like first.",
    )
    assert conv.variables == {"checked_out": False}


async def test_a_refusal_never_reveals_the_literal_the_guard_compares_with(vault) -> None:  # type: ignore[no-untyped-def]
    conv = Conversation(vault)
    refused = await conv.fire("unlock", {"pin": "1234"})
    assert isinstance(refused, Refused) and "4821" not in refused.reason
    assert isinstance(await conv.fire("unlock", {"pin": "4821"}), Handoff)


def test_edge_writes_apply_in_order_and_add_a_lists_items() -> None:
    edge = Edge(name="e", set={"a": 1}, unset=["b"], append={"c": "new", "d": "missing"})
    values = {"b": 2, "c": ["x"], "new": ["y", "z"]}
    assert edge_writes(edge, values) == {"a": 1, "b": None, "c": ["x", "y", "z"]}


@pytest.mark.parametrize(
    ("source", "values", "holds"),
    [
        ("len(order) > 0", {"order": ["a"]}, True),
        ("len(order) > 0", {"order": []}, False),
        ("len(order) > 0", {}, False),
        ("len(name) == 3", {"name": "Ana"}, True),
        ("order is empty", {}, True),
        ("order is empty", {"order": []}, True),
        ("order is not empty", {"order": ["a"]}, True),
        ("note is not empty", {"note": ""}, False),
        ("order != []", {"order": ["a"]}, True),
        ("len > 2 and empty", {"len": 3, "empty": True}, True),
    ],
)
def test_length_and_emptiness_guards(source: str, values: dict[str, Any], holds: bool) -> None:
    assert parse_condition(source).holds(values) is holds


def test_length_and_emptiness_are_type_checked() -> None:
    types = {"n": ("int", None), "order": ("list[str]", None)}
    assert list(parse_condition("len(n) > 1 or n is empty or order == []").type_errors(types)) == [
        "`len(n)` needs text or a list, but `n` is `int`",
        "`n is empty` needs text or a list, but `n` is `int`",
    ]


STAY = {"name": "note_it", "description": "The caller mentions something worth noting down"}


@pytest.mark.parametrize(
    ("writes", "finding"),
    [
        (
            {"set": {"checkd_out": True}},
            "FL310 Edge `note_it` writes undeclared variable `checkd_out`; did you mean "
            "`checked_out`? - at `$.agents[0].edges[1].set.checkd_out`",
        ),
        (
            {"append": {"checked_out": "tags"}},
            "FL310 Edge `note_it` appends to `checked_out`, which is `bool`, not a list - at "
            "`$.agents[0].edges[1].append.checked_out`",
        ),
        (
            {"append": {"tags": "nothing"}},
            "FL310 Edge `note_it` appends `nothing`, which is neither a parameter of the edge "
            "nor a variable - at `$.agents[0].edges[1].append.tags`",
        ),
        (
            {"append": {"tags": "count"}},
            "FL310 Edge `note_it` appends `count` (`int`) to `tags` (`list[str]`) - at "
            "`$.agents[0].edges[1].append.tags`",
        ),
        (
            {"set": {"checked_out": True}, "unset": ["checked_out"]},
            "FL310 Edge `note_it` writes `checked_out` more than once - at "
            "`$.agents[0].edges[1].set.checked_out`",
        ),
    ],
    ids=["undeclared", "not-list", "no-source", "item-type", "twice"],
)
def test_fl310_reports_each_invalid_write(writes: dict[str, Any], finding: str) -> None:
    doc = minimal(
        edges=[{"name": "finish", **_finish()}, {**STAY, **writes, "target_agent": "Main"}]
    )
    doc["variables"] = {
        "checked_out": {"type": "bool", "default": False},
        "tags": {"type": "list[str]", "default": []},
        "count": {"type": "int", "default": 0},
    }
    found = [f.split(" ", 1)[1] for f in lint_doc(doc)]
    assert [f for f in found if f.startswith("FL310")] == [finding]


def _finish() -> dict[str, Any]:
    return {
        "description": "The caller has no more questions and says goodbye",
        "target_agent": "Goodbye",
    }


def test_fl409_is_silenced_by_a_refusal_and_ignores_enums() -> None:
    base = {
        "name": "unlock",
        "description": "The caller gives the account PIN",
        "target_agent": "Goodbye",
    }
    secret = {**base, "parameters": {"pin": {"type": "str"}}, "when": 'pin == "4821"'}
    assert [f.split(" ", 2)[1] for f in lint_doc(minimal(edges=[secret]))] == ["FL409"]
    assert lint_doc(minimal(edges=[{**secret, "refusal": "wrong PIN; ask again"}])) == []
    plan = {"type": "enum", "enum": ["gold", "basic"]}
    public = {**base, "parameters": {"plan": plan}, "when": 'plan == "gold"'}
    assert lint_doc(minimal(edges=[public])) == []
