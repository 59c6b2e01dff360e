"""``flowctl simulate --record``: dry-run sessions recorded in a tenant's store as the
worker records a call, so ``sessions show`` and ``simulate --replay`` work with no
LiveKit (``flowctl.cli.simulate_store``)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

pytest.importorskip("livekit.agents")

from click.testing import CliRunner
from conftest import FLOWS

from flowctl.cli.main import cli

SCENARIOS = FLOWS / "clinic.scenarios.json"


def flowctl(*args: str, stdin: str | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), input=stdin)
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def store(tmp_path: Path) -> str:
    """A store whose tenant ``acme`` has the clinic flow published as v1."""
    url = f"sqlite:///{tmp_path / 'flowctl.db'}"
    for command in (
        ["store", "init"],
        ["tenants", "create", "acme"],
        ["tenants", "policy", "acme", "--allow-transfer", "tel:+15555550100"],
        ["store", "push", str(FLOWS / "clinic.json"), "-t", "acme", "--publish"],
    ):
        assert flowctl(*command, "--store", url)[0] == 0, command
    return url


@pytest.fixture
def one_scenario(tmp_path: Path) -> Path:
    """The clinic's first scenario alone: two turns, a handoff to the specialist."""
    doc = json.loads(SCENARIOS.read_text())
    path = tmp_path / "one.scenarios.json"
    path.write_text(
        json.dumps({"flow": str(FLOWS / "clinic.json"), "scenarios": doc["scenarios"][:1]})
    )
    return path


def recorded_id(err: str) -> str:
    match = re.match(r"recorded: ([0-9a-f]{32})\n", err)
    assert match, err
    return match[1]


def test_simulate_record_a_scenario_shows_and_replays(store: str, one_scenario: Path) -> None:
    code, _, err = flowctl(
        "simulate", "--scenario", str(one_scenario), "--record", "--store", store, "-t", "acme",
    )  # fmt: skip
    assert code == 0
    session = recorded_id(err)
    assert err == f"recorded: {session}\n1 scenario: 1 passed, 0 failed\n"
    code, out, _ = flowctl("sessions", "show", session, "--store", store, "-t", "acme")
    assert code == 0
    lines = out.splitlines()
    assert lines[:2] == [f"session  {session}", "flow     clinic v1"]
    assert lines[3].endswith(" (hangup)") and lines[5] == "events   9"
    assert lines[4] == (
        "summary  IntakeAgent -> SpecialistAgent; ended in SpecialistAgent (hangup); "
        "caller_name: Ana Ruiz, specialist_question: ibuprofen with blood pressure medication"
    )
    assert [line.split(None, 2)[1:] for line in lines[7:9]] == [
        ["entered", "IntakeAgent"],
        ["agent", lines[8].split("agent    ", 1)[1]],
    ]
    assert lines[9].endswith("user     Hi, I have a question about my prescription.")
    assert flowctl("simulate", "--replay", session, "--store", store, "-t", "acme") == (
        0,
        f"same path: 2 turns of {session} replayed on clinic v1 (recorded on v1)\n",
        "",
    )


def test_simulate_record_the_repl_session(store: str) -> None:
    code, out, err = flowctl(
        "simulate", str(FLOWS / "clinic.json"), "--record", "--store", store, "-t", "acme",
        stdin="hello\n/quit\n",
    )  # fmt: skip
    assert code == 0 and "user: hello" in out.splitlines()
    session = recorded_id(err)
    assert err == f"recorded: {session}\n"
    code, out, _ = flowctl("sessions", "show", session, "--store", store, "-t", "acme")
    assert code == 0
    assert any(line.endswith("user     hello") for line in out.splitlines()), out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            [str(FLOWS / "clinic.json"), "--record"],
            "--record needs --tenant (or FLOWCTL_TENANT)",
        ),
        (
            [str(FLOWS / "interview.json"), "--record", "-t", "acme"],
            "--record: flow `interview` is not published for tenant `acme`; publish it with "
            "`flowctl store push FLOW -t acme --publish --store {store}`",
        ),
        (
            [str(FLOWS / "clinic.json"), "--record", "-t", "nobody"],
            "Unknown tenant `nobody`; create it with `flowctl tenants create nobody --store "
            "{store}`",
        ),
        (
            ["--replay", "call-1", "--record", "-t", "acme"],
            "--replay runs a recorded session again: it is not recorded",
        ),
    ],
    ids=["no-tenant", "unpublished", "unknown-tenant", "with-replay"],
)
def test_simulate_record_refuses(store: str, args: list[str], message: str) -> None:
    code, out, err = flowctl("simulate", *args, "--store", store, stdin="")
    assert (code, out, err) == (2, "", f"flowctl: error: {message.format(store=store)}\n")
