"""The `when` expression language: parsing, evaluation, and lint's checks of it."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import FINISH, lint_doc, minimal

from flowctl.engine.conditions import (
    And,
    Compare,
    ConditionError,
    In,
    IsSet,
    ListLit,
    Lit,
    Not,
    Or,
    Var,
    ensured,
    parse_condition,
)


@pytest.mark.parametrize(
    ("source", "variables", "expected"),
    [
        ("party_size > 4 and not is_member", {"party_size": 5, "is_member": False}, True),
        ("party_size > 4 and not is_member", {"party_size": 4, "is_member": False}, False),
        ('visit_type in ["checkup", "follow_up"]', {"visit_type": "checkup"}, True),
        ("x not in [1, 2]", {"x": 3}, True),
        ("caller_name is set", {}, False),
        ("caller_name is set", {"caller_name": "Ana"}, True),
        ('insurance is not set or plan == "basic"', {"insurance": "x", "plan": "basic"}, True),
        ("(a or b) and c", {"a": True, "c": 1}, True),
        ("flag", {"flag": True}, True),
        ("score >= 2.5", {"score": 2.5}, True),
        ("n >= 2.5", {"n": "text"}, False),
        ("n < 3", {}, False),
        ("not n < 3", {}, True),
        ("'it\\'s' == s", {"s": "it's"}, True),
        ('"vip" in tags', {"tags": ["vip", "new"]}, True),
    ],
)
def test_conditions_evaluate(source: str, variables: dict[str, Any], expected: bool) -> None:
    assert parse_condition(source).holds(variables) is expected


def test_condition_names_the_variables_it_reads() -> None:
    assert parse_condition("a > 1 and (b is set or c in [1])").names == {"a", "b", "c"}


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("", "the condition is empty"),
        ("a >", "expected a value at the end"),
        ("a > > b", "expected a value, found `>` at column 5"),
        ("(a", "expected `)` at the end"),
        ("a is b", "expected `set`, found `b` at column 6"),
        ("[a]", "a list holds literals only, at column 1"),
        ("a @ b", "unexpected `@` at column 3"),
        ('"x" is set', "`is set` needs a variable name, at column 5"),
        ("a b", "unexpected `b` at column 3"),
        ("__import__('os')", "unexpected `(` at column 11"),
    ],
)
def test_malformed_conditions(source: str, message: str) -> None:
    with pytest.raises(ConditionError) as exc:
        parse_condition(source)
    assert str(exc.value) == message


def test_deeply_nested_conditions_are_errors_not_crashes() -> None:
    with pytest.raises(ConditionError, match="nested too deeply"):
        parse_condition("not " * 3000 + "x")


VARS = {
    "variables": {
        "party_size": {"type": "int", "input": True},
        "tier": {"type": "enum", "enum": ["gold", "basic"], "input": True},
        "tags": {"type": "list[str]", "input": True},
    }
}


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        ("party_size > 4", []),
        ('tier in ["gold", "basic"]', []),
        ('"vip" in tags', []),
        ('tags is set and party_size >= 2 or tier != "gold"', []),
        (
            'tier == "silver"',
            ['FL308 Condition of `auto`: `tier` is never `"silver"`: not one of its `enum` values'],
        ),
        (
            "party_size in 4",
            ["FL308 Condition of `auto`: `in` needs a list on its right, but `4` is `int`"],
        ),
        (
            'party_size in ["a"]',
            [
                'FL308 Condition of `auto`: `party_size` (`int`) can never be in `["a"]` (`list[str]`)'
            ],
        ),
        ("tier == 3", ["FL308 Condition of `auto`: `tier` (`enum`) is compared with `3` (`int`)"]),
        ("nope is set", ["FL301 Undeclared variable `nope`"]),
        ("party_size >", ["FL308 Invalid condition: expected a value at the end"]),
    ],
)
def test_lint_checks_conditions(when: str, expected: list[str]) -> None:
    edges = [FINISH, {"name": "auto", "when": when, "target_agent": "Goodbye"}]
    doc = {**VARS, **minimal(edges=edges, instructions="Help {{party_size}} {{tier}} {{tags}}")}
    found = [line.split(" ", 1)[1].split(" - at ")[0] for line in lint_doc(doc)]
    assert found == expected


def test_condition_tree_is_tagged_structs_one_per_production() -> None:
    tree = parse_condition('a > 1 and not (b is set or c not in ["x"])').tree
    assert tree == And(
        (
            Compare(">", Var("a"), Lit(1)),
            Not(Or((IsSet("b", False), In(Var("c"), ListLit((Lit("x"),)), True)))),
        )
    )


def test_condition_type_errors_read_the_declared_types() -> None:
    types = {"n": ("int", None), "tier": ("enum", frozenset({"gold"}))}
    condition = parse_condition('n < "3" or tier == "lead" or n == 2.5')
    assert list(condition.type_errors(types)) == [
        '`<` compares numbers, but `n` is `int` and `"3"` is `str`',
        '`tier` is never `"lead"`: not one of its `enum` values',
    ]


@pytest.mark.parametrize(
    ("source", "names"),
    [
        ("order is not empty", {"order"}),
        ("order is empty", set()),
        ("order is not empty and tip > 0", {"order", "tip"}),
        ("order is not empty or order is set", {"order"}),
    ],
    ids=["not-empty", "empty", "and", "or"],
)
def test_condition_ensures_what_is_not_empty(source: str, names: set[str]) -> None:
    assert ensured(parse_condition(source).tree) == names


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        ("party > 8", []),
        (
            'party > "eight"',
            [
                "FL308 Condition of `check`: `>` compares numbers, but `party` is `int` and "
                '`"eight"` is `str`'
            ],
        ),
    ],
    ids=["typed", "mistyped"],
)
def test_lint_knows_the_types_of_an_actions_tool_arguments(when: str, expected: list[str]) -> None:
    tool = {
        "kind": "mock",
        "name": "check_table",
        "description": "Check for a free table",
        "parameters": {"party": {"type": "int", "description": "How many people"}},
        "result": {},
    }
    check = {"name": "check", "action": "action", "tool": "check_table", "when": when}
    doc = {"tools": [tool], **minimal(edges=[FINISH, check])}
    found = [line.split(" ", 1)[1].split(" - at ")[0] for line in lint_doc(doc)]
    assert found == expected
