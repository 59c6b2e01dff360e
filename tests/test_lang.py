"""The flow language's constructs, each in a small flow under tests/fixtures/lang/ named
after it, with scenarios: every one lints clean, and `flowctl simulate` passes its
scenarios and reaches every state and edge."""

from __future__ import annotations

import pytest

pytest.importorskip("livekit.agents")

from click.testing import CliRunner
from conftest import FIXTURES

from flowctl.cli.main import cli

LANG = FIXTURES / "lang"
CONSTRUCTS = sorted(p.name.removesuffix(".scenarios.json") for p in LANG.glob("*.scenarios.json"))


@pytest.mark.parametrize("construct", CONSTRUCTS)
def test_each_construct_lints_clean_and_its_scenarios_pass(construct: str) -> None:
    flow, scenarios = LANG / f"{construct}.json", LANG / f"{construct}.scenarios.json"
    linted = CliRunner().invoke(cli, ["lint", str(flow)])
    assert (linted.exit_code, linted.stdout) == (0, "")
    ran = CliRunner().invoke(
        cli, ["simulate", str(flow), "--scenario", str(scenarios), "--coverage"]
    )
    assert ran.exit_code == 0, ran.stdout
    coverage = next(line for line in ran.stdout.splitlines() if line.startswith("coverage: "))
    states, edges = coverage.removeprefix("coverage: states ").split(", edges ")
    assert states.split("/")[0] == states.split("/")[1]
    assert edges.split("/")[0] == edges.split("/")[1]


def test_the_entry_constructs_have_their_flows() -> None:
    assert {"on_enter", "instructions", "context"} <= set(CONSTRUCTS)
