"""Callbacks end to end: a dry run of the clinic flow (`flowctl simulate --record`) where
the caller asks to be called back, the callback that recording books in the store, then
worked through with `flowctl callbacks` and `/api/v1/callbacks` (roles, a claim that is
one key's, refusals with their exit codes and statuses)."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("livekit.agents")

from apikit import App, error
from click.testing import CliRunner
from conftest import FLOWS

from flowctl.cli.main import cli
from flowctl.engine.store.keys import key_id_of

SCENARIOS = FLOWS / "clinic.scenarios.json"
CALLBACK_SCENARIO = (
    "no slot is free so the booking fails, and the caller asks for a callback instead"
)
DETAILS = {"callback_number": "5550142277", "callback_window": "today after 5 PM"}


def flowctl(url: str, *args: str, actor: str = "ana") -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, [*args, "--store", url], env={"FLOWCTL_USER": actor})
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def api(tmp_path: Path) -> Iterator[App]:
    app = App(tmp_path)
    code, _, err = flowctl(app.url, "store", "push", str(FLOWS / "clinic.json"), "-t", "acme", "--publish")  # fmt: skip
    assert code == 0, err
    yield app
    app.close()


@pytest.fixture
def recorded(api: App, tmp_path: Path) -> tuple[str, float, float]:
    """The session id of the recorded dry run, and the times around it."""
    doc = json.loads(SCENARIOS.read_text())
    [scenario] = [s for s in doc["scenarios"] if s["name"] == CALLBACK_SCENARIO]
    path = tmp_path / "callback.scenarios.json"
    path.write_text(json.dumps({"flow": str(FLOWS / "clinic.json"), "scenarios": [scenario]}))
    before = time.time()
    code, _, err = flowctl(api.url, "simulate", "--scenario", str(path), "--record", "-t", "acme")
    after = time.time()
    assert code == 0, err
    match = re.match(r"recorded: ([0-9a-f]{32})\n", err)
    assert match, err
    return match[1], before, after


def kid(api: App, name: str) -> str:
    key_id = key_id_of(api.keys[name])
    assert key_id is not None
    return f"key:{key_id}"


def test_a_recorded_dry_run_books_its_callback_and_the_cli_lists_it(
    api: App, recorded: tuple[str, float, float]
) -> None:
    session, before, after = recorded
    code, out, err = flowctl(api.url, "callbacks", "list", "-t", "acme", "--format", "json")
    assert (code, err) == (0, "")
    [booked] = json.loads(out)
    assert before <= booked.pop("requested_at") <= after
    assert booked == {
        "callback_id": 1,
        "session_id": session,
        "caller": None,  # a dry run has no caller to name
        "when": None,  # the clinic's tool names its own parameters: they are the details
        "reason": None,
        "details": DETAILS,
        "busy": False,
        "status": "pending",
        "claimed_by": None,
        "claimed_at": None,
        "closed_by": None,
        "closed_at": None,
    }
    code, out, _ = flowctl(api.url, "callbacks", "list", "-t", "acme")
    assert code == 0
    header, row = out.splitlines()
    assert header.split() == [
        "ID", "STATUS", "BY", "CALLER", "WHEN", "REASON", "DETAILS", "SESSION", "REQUESTED",
    ]  # fmt: skip
    assert re.fullmatch(
        r"1   pending  -   -       -     -       callback_number=5550142277 "
        rf"callback_window=today after 5 PM  {session}  \d{{4}}-\d\d-\d\dT\d\d:\d\d:\d\dZ",
        row,
    ), row
    # the session's timeline shows the promise where it was made
    code, out, _ = flowctl(api.url, "sessions", "show", session, "-t", "acme")
    promised = [line for line in out.splitlines() if " callback " in line]
    assert [line.split(None, 1)[1] for line in promised] == [
        'callback schedule_callback {"callback_number": "5550142277", "callback_window": '
        '"today after 5 PM"}'
    ]
    assert flowctl(api.url, "callbacks", "list", "-t", "acme", "--status", "done") == (
        0,
        "",
        "No done callbacks for tenant `acme`\n",
    )


def test_callbacks_are_claimed_and_completed_through_the_api(
    api: App, recorded: tuple[str, float, float]
) -> None:
    session, _, _ = recorded
    developer = kid(api, "acme-developer")
    with api.client("acme-viewer") as viewer:
        listed = viewer.get("/api/v1/callbacks")
        assert listed.status_code == 200
        [shown] = listed.json()
        assert (shown["callback_id"], shown["session_id"], shown["details"]) == (
            1,
            session,
            DETAILS,
        )
        refused = viewer.post("/api/v1/callbacks/1/claim")
        assert (refused.status_code, refused.json()) == (
            403,
            error(
                "forbidden",
                f"This needs a developer key; key `{kid(api, 'acme-viewer')[4:]}` is a viewer key",
                {"required": "developer", "role": "viewer"},
            ),
        )
    with api.client("acme-developer") as dev:
        claimed = dev.post("/api/v1/callbacks/1/claim")
        assert claimed.status_code == 200
        body: dict[str, Any] = claimed.json()
        assert isinstance(body.pop("claimed_at"), float)
        assert body == {
            **{k: v for k, v in shown.items() if k != "claimed_at"},
            "status": "claimed",
            "claimed_by": developer,
        }
        assert dev.post("/api/v1/callbacks/1/claim").json()["claimed_by"] == developer  # again
    with api.client("acme-admin") as other:
        taken = other.post("/api/v1/callbacks/1/claim")
        assert (taken.status_code, taken.json()) == (
            409,
            error("conflict", f"Callback 1 is already claimed by `{developer}`"),
        )
        not_theirs = other.post("/api/v1/callbacks/1/complete")
        assert (not_theirs.status_code, not_theirs.json()) == (
            409,
            error("conflict", f"Callback 1 is claimed by `{developer}`; only they can complete it"),
        )
        assert other.get("/api/v1/callbacks", params={"status": "claimed"}).json()[0]["status"] == (
            "claimed"
        )
    with api.client("globex-developer") as stranger:
        missing = stranger.post("/api/v1/callbacks/1/complete")
        assert (missing.status_code, missing.json()) == (
            404,
            error("not_found", "Unknown callback 1 for tenant `globex`"),
        )
        assert stranger.get("/api/v1/callbacks", params={"status": "all"}).json() == []
    with api.client("acme-developer") as dev:
        done = dev.post("/api/v1/callbacks/1/complete")
        assert done.status_code == 200
        assert (done.json()["status"], done.json()["closed_by"]) == ("done", developer)
        assert dev.get("/api/v1/callbacks").json() == []  # nothing pending
        assert dev.get("/api/v1/callbacks/1").json() == done.json()
        bad = dev.get("/api/v1/callbacks", params={"status": "later"})
        assert bad.status_code == 400
    with api.client("acme-admin") as auditor:
        audit = auditor.get("/api/v1/audit", params={"limit": 2}).json()
        assert [(e["actor"], e["action"], e["subject"]) for e in audit] == [
            (developer, "callback.complete", "1"),
            (developer, "callback.claim", "1"),
        ]


def test_callbacks_are_worked_through_with_the_cli(
    api: App, recorded: tuple[str, float, float]
) -> None:
    url = api.url
    assert flowctl(url, "callbacks", "claim", "1", "-t", "acme", actor="bo") == (
        0,
        "Callback 1 claimed by bo\n",
        "",
    )
    assert flowctl(url, "callbacks", "claim", "1", "-t", "acme", actor="cy") == (
        1,
        "",
        "flowctl: error: Callback 1 is already claimed by `bo`\n",
    )
    assert flowctl(url, "callbacks", "complete", "1", "-t", "acme", actor="cy") == (
        1,
        "",
        "flowctl: error: Callback 1 is claimed by `bo`; only they can complete it\n",
    )
    code, out, _ = flowctl(url, "callbacks", "list", "-t", "acme", "--status", "claimed")
    assert (code, out.splitlines()[1].split()[:3]) == (0, ["1", "claimed", "bo"])
    assert flowctl(url, "callbacks", "cancel", "1", "-t", "acme", actor="cy") == (
        0,
        "Callback 1 cancelled\n",
        "",
    )
    assert flowctl(url, "callbacks", "complete", "1", "-t", "acme", actor="bo") == (
        1,
        "",
        "flowctl: error: Callback 1 is already cancelled\n",
    )
    assert flowctl(url, "callbacks", "claim", "7", "-t", "acme") == (
        2,
        "",
        "flowctl: error: Unknown callback 7 for tenant `acme`\n",
    )
    code, out, _ = flowctl(url, "callbacks", "list", "-t", "acme", "--status", "all")
    assert (code, out.splitlines()[1].split()[:3]) == (0, ["1", "cancelled", "cy"])
