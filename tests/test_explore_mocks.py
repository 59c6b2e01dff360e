"""Explore with mocks: each answer a mocked tool may give is a branch, the generated
scenarios mock what their path assumed (so python tools never run), and every path's
name lists its edges, automatic ones too, and is unique."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from conftest import FIXTURES
from flowkit import compile_doc, compile_file

from flowctl.cli.main import cli
from flowctl.engine import paths
from flowctl.engine.paths import Coverage, Step, cover
from flowctl.engine.scenario import from_paths

LANG = FIXTURES / "lang"
SEQUENCES = LANG / "mock_sequences.json"
TABLE_MOCKS = {
    "check_table": [{"free": False}, {"free": True}],
    "send_confirmation": [{"reference": "T-1"}, {"$error": "the texting service is down"}],
}


def simulate(*args: str) -> tuple[int, str, str]:
    pytest.importorskip("livekit.agents")
    result = CliRunner().invoke(cli, ["simulate", *args])
    return result.exit_code, result.stdout, result.stderr


def names(coverage: Coverage, mocks: dict[str, Any] | None = None) -> list[str]:
    return [s.name for s in from_paths(coverage, mocks)]


def test_explore_without_mocks_cannot_reach_a_failure_branch() -> None:
    coverage = cover(compile_file(SEQUENCES))
    assert coverage.uncovered == ("Unconfirmed.end_call",)


def test_explore_takes_each_mocked_answer_as_a_branch() -> None:
    coverage = cover(compile_file(SEQUENCES), TABLE_MOCKS)
    assert coverage.uncovered == ()
    assert "Booked.send_confirmation:failed" in coverage.covered
    assert names(coverage, TABLE_MOCKS) == [
        "1. explore check_time",
        "2. explore check_time > free > end_call",
        "3. explore check_time > free > send_confirmation:failed > end_call",
    ]


def test_a_generated_scenario_mocks_the_answers_its_path_assumed() -> None:
    coverage = cover(compile_file(SEQUENCES), TABLE_MOCKS)
    failing = from_paths(coverage, TABLE_MOCKS)[2]
    assert failing.mocks == TABLE_MOCKS
    assert [t.mocks for t in failing.turns] == [
        {
            "check_table": [{"free": True}],
            "send_confirmation": [{"$error": "the texting service is down"}],
        },
        None,
    ]


def test_explore_names_include_automatic_edges() -> None:
    coverage = cover(compile_file(LANG / "on_enter_actions.json"))
    assert names(coverage) == ["1. explore look_up > found > end_call"]


def test_explore_names_never_repeat() -> None:
    def path(size: str, answer: Any = None) -> paths.TestPath:
        answers = (("price", answer),) if answer is not None else ()
        return paths.TestPath((Step("pick", {"size": size}, "Priced", (), answers),))

    coverage = Coverage(
        paths=(path("small"), path("large", {"p": 1}), path("large", {"p": 2}), path("large")),
        covered=frozenset(),
        uncovered=(),
    )
    assert names(coverage) == [
        '1. explore pick {"size":"small"}',
        '2. explore pick {"size":"large"} answered {"price":{"p":1}}',
        '3. explore pick {"size":"large"} answered {"price":{"p":2}}',
        '4. explore pick {"size":"large"}',
    ]
    twice = Coverage(paths=(path("large"), path("large")), covered=frozenset(), uncovered=())
    assert names(twice) == [
        '1. explore pick {"size":"large"}',
        '2. explore pick {"size":"large"} (2)',
    ]


PYTHON_FLOW = {
    "flow_id": "python_tools",
    "variables": {"in_stock": {"type": "bool", "description": "Whether the item is in stock"}},
    "tools": [
        {
            "kind": "python",
            "name": "stock",
            "description": "Check the stock",
            "function": "nowhere_to_be_found:stock",
            "sets": {"in_stock": "in_stock"},
        },
        {"kind": "builtin", "name": "end_call", "description": "End the call"},
    ],
    "agents": [
        {
            "name": "Ask",
            "instructions": "Ask what the caller wants and check the stock.",
            "on_enter_prompt": "Hello!",
            "edges": [
                {"name": "check", "action": "action", "tool": "stock", "description": "Check"},
                {"name": "have_it", "when": "in_stock == true", "target_agent": "Sell"},
                {"name": "sold_out", "when": "in_stock == false", "target_agent": "Sorry"},
            ],
        },
        {
            "name": "Sell",
            "instructions": "Sell it.",
            "edges": [{"name": "end_call", "action": "action", "description": "Goodbye"}],
        },
        {
            "name": "Sorry",
            "instructions": "Apologise.",
            "edges": [{"name": "end_call", "action": "action", "description": "Goodbye"}],
        },
    ],
}


def test_explore_mocks_python_tools_with_the_answers_it_assumed(tmp_path: Path) -> None:
    compile_doc(PYTHON_FLOW)
    flow = tmp_path / "python_tools.json"
    flow.write_text(json.dumps(PYTHON_FLOW))
    code, out, err = simulate(str(flow), "--explore", "--coverage")
    assert code == 0, out
    assert "coverage: states 3/3, edges 5/5" in out.splitlines()
    assert err.endswith("2 scenarios: 2 passed, 0 failed\n")


def test_simulate_explore_takes_a_mocks_file(tmp_path: Path) -> None:
    mocks = tmp_path / "mocks.json"
    mocks.write_text(json.dumps(TABLE_MOCKS))
    code, out, _ = simulate(str(SEQUENCES), "--explore", "--mocks", str(mocks), "--coverage")
    assert code == 0, out
    assert "coverage: states 3/3, edges 4/4" in out.splitlines()
    assert "PASS  3. explore check_time > free > send_confirmation:failed > end_call" in out


def test_simulate_explore_takes_the_mocks_of_the_scenario_file() -> None:
    scenarios = LANG / "mock_sequences.scenarios.json"
    code, out, err = simulate("--scenario", str(scenarios), "--explore", "--coverage")
    assert code == 0, out
    assert "coverage: states 3/3, edges 4/4" in out.splitlines()
    assert err.endswith("5 scenarios: 5 passed, 0 failed\n")


@pytest.mark.parametrize(
    ("content", "args", "message"),
    [
        ("{}", (), "flowctl: error: --mocks gives explore its answers: add --explore\n"),
        (
            "[1]",
            ("--explore",),
            "flowctl: error: {mocks}: expected an object of tool mocks, got list\n",
        ),
    ],
    ids=["without-explore", "not-an-object"],
)
def test_a_bad_mocks_option_is_a_usage_error(
    tmp_path: Path, content: str, args: tuple[str, ...], message: str
) -> None:
    mocks = tmp_path / "mocks.json"
    mocks.write_text(content)
    code, _, err = simulate(str(SEQUENCES), "--mocks", str(mocks), *args)
    assert (code, err) == (2, message.format(mocks=mocks))
