"""Callers end to end: the clinic's two-call example recorded in a store (`flowctl
simulate --record`), what it left remembered read with `flowctl callers` and
`/api/v1/callers`, kept across runs, and forgotten on request (roles, tenants, the audit
entry, the refusal while a call runs); retention set by the CLI and both APIs."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("livekit.agents")

from apikit import App, error
from click.testing import CliRunner
from conftest import FLOWS

from flowctl.cli.main import cli
from flowctl.engine.store import Lease, open_store
from flowctl.engine.store.sql.memory import caller_digest

MEMORY = FLOWS / "clinic.memory.scenarios.json"
DANIEL = "+15555550142"
OTHER = "+15555550177"
TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")


def flowctl(url: str, *args: str, actor: str = "ana") -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, [*args, "--store", url], env={"FLOWCTL_USER": actor})
    return result.exit_code, TIME.sub("<time>", result.stdout), result.stderr


@pytest.fixture
def api(tmp_path: Path) -> Iterator[App]:
    app = App(tmp_path)
    for tenant in ("acme", "globex"):
        code, _, err = flowctl(app.url, "store", "push", str(FLOWS / "clinic.json"), "-t", tenant, "--publish")  # fmt: skip
        assert code == 0, err
    yield app
    app.close()


def _simulate(api: App) -> tuple[int, str, str]:
    return flowctl(api.url, "simulate", str(MEMORY), "--record", "-t", "acme")


def test_the_two_call_example_is_remembered_in_the_store_and_forgotten(api: App) -> None:
    code, _, err = _simulate(api)
    assert code == 0, err
    assert err.splitlines()[-1] == "4 scenarios: 4 passed, 0 failed"
    code, out, _ = flowctl(api.url, "callers", "list", "-t", "acme")
    assert (code, out) == (
        0,
        "CALLER        CALLS  LAST CALL             FLOW    OUTCOME   EXPIRES               "
        "REMEMBERED\n"
        f"{OTHER}  1      <time>  clinic  end_call  <time>  -\n"
        f"{DANIEL}  3      <time>  clinic  end_call  <time>  patient_name, "
        "appointment_time, appointment_id\n",
    )
    code, out, _ = flowctl(api.url, "callers", "show", DANIEL, "-t", "acme")
    session = re.search(r"session ([0-9a-f]{32})", out)
    assert session is not None
    assert (code, out) == (
        0,
        f"caller     {DANIEL}\n"
        "calls      3 (first <time>, last <time>)\n"
        f"last call  clinic (session {session[1]}), end_call\n"
        "expires    <time>\n"
        "summary    Daniel Okafor booked his annual physical with Dr. Marsh for Tuesday, "
        "March 11 at 10:30 AM.\n"
        "remembered\n"
        '  patient_name      "Daniel Okafor"\n'
        '  appointment_time  "Thursday, March 13 at 9:00 AM"\n'
        '  appointment_id    "APT-48213"\n',
    )
    # the store keeps it across runs: Daniel's "first" call now finds him known
    code, out, _ = _simulate(api)
    assert code == 1
    assert '    ✗ start: variables.patient_name: expected null, got "Daniel Okafor"\n' in out

    with api.client("acme-viewer") as viewer:
        found = viewer.get(f"/api/v1/callers/{DANIEL}")
        assert found.status_code == 200
        assert found.json()["variables"]["patient_name"] == "Daniel Okafor"
        assert found.json()["calls"] == 6
        assert [c["caller"] for c in viewer.get("/api/v1/callers").json()] == [OTHER, DANIEL]
        assert viewer.delete(f"/api/v1/callers/{DANIEL}").status_code == 403
    with api.client("globex-viewer") as globex:  # another tenant's caller is unknown here
        assert globex.get(f"/api/v1/callers/{DANIEL}").json() == error(
            "not_found", f"Nothing is remembered about caller `{DANIEL}` for tenant `globex`"
        )
    with api.client("acme-admin") as admin:
        gone = admin.delete(f"/api/v1/callers/{DANIEL}")
        assert (gone.status_code, gone.json()) == (
            200,
            {"caller": DANIEL, "memory": True, "sessions": 6, "callbacks": 0, "deliveries": 0},
        )
        assert admin.get(f"/api/v1/callers/{DANIEL}").status_code == 404
        left = admin.get("/api/v1/sessions").json()
        assert len(left) == 2  # the other caller's call, in each run
        entry = admin.get("/api/v1/audit", params={"limit": 1}).json()[0]
        assert (entry["action"], entry["subject"], entry["detail"]) == (
            "caller.forget",
            caller_digest("acme", DANIEL),
            {"memory": True, "sessions": 6, "callbacks": 0, "deliveries": 0},
        )
        # (the tenant's policy grants a transfer to a number that happens to be Daniel's)
        logged = [e for e in admin.get("/api/v1/audit").json() if e["action"] != "tenant.create"]
        assert DANIEL not in str(logged)
    code, out, _ = flowctl(api.url, "callers", "forget", OTHER, "-t", "acme", actor="dpo")
    assert (code, out) == (0, f"Forgot caller {OTHER}: deleted their memory and 2 sessions\n")
    code, out, _ = flowctl(api.url, "callers", "forget", OTHER, "-t", "acme", actor="dpo")
    assert (code, out) == (
        0,
        f"Nothing was held about caller {OTHER}; the request is noted in the audit log\n",
    )
    code, _, err = flowctl(api.url, "callers", "show", OTHER, "-t", "acme")
    assert (code, err) == (
        2,
        f"flowctl: error: Nothing is remembered about caller `{OTHER}` for tenant `acme`\n",
    )
    code, _, err = flowctl(api.url, "callers", "list", "-t", "acme")
    assert (code, err) == (0, "No callers remembered for tenant `acme`\n")


def test_a_caller_on_a_call_is_not_forgotten(api: App) -> None:
    async def on_a_call() -> None:
        async with await open_store(api.url) as store:
            lease = Lease(holder="worker-1", seconds=300)
            await store.tenant("acme").start_session("clinic", caller=DANIEL, lease=lease)

    asyncio.run(on_a_call())
    refused = (
        f"Caller `{DANIEL}` of tenant `acme` is on a call now (session `<id>`); forget them "
        "once it has ended"
    )
    with api.client("acme-admin") as admin:
        answer = admin.delete(f"/api/v1/callers/{DANIEL}")
        assert answer.status_code == 409
        message = re.sub(r"`[0-9a-f]{32}`", "`<id>`", answer.json()["error"]["message"])
        assert message == refused
    code, _, err = flowctl(api.url, "callers", "forget", DANIEL, "-t", "acme")
    assert code == 1
    assert re.sub(r"`[0-9a-f]{32}`", "`<id>`", err) == f"flowctl: error: {refused}\n"


def test_retention_is_set_by_the_tenant_and_by_the_platform(api: App) -> None:
    code, out, _ = flowctl(api.url, "tenants", "set-retention", "acme", "--memory-days", "30")
    assert (code, out) == (0, "Tenant acme: callers' memory kept 30 days at most\n")
    code, out, _ = flowctl(api.url, "tenants", "show", "acme")
    assert "\nmemory days   30\n" in out
    code, _, err = flowctl(api.url, "tenants", "set-retention", "acme", "--memory-days", "0")
    assert (code, err) == (
        2,
        "flowctl: error: `--memory-days 0`: give a whole number from 1, or `none`\n",
    )
    with api.client("acme-admin") as admin:
        put = admin.put("/api/v1/callers/retention", json={"memory_days": 7})
        assert (put.status_code, put.json()["memory_days"]) == (200, 7)
        assert admin.post("/api/v1/callers/purge").json() == {"memories": 0}
    with api.client("acme-developer") as developer:
        assert (
            developer.put("/api/v1/callers/retention", json={"memory_days": 1}).status_code == 403
        )
    with api.client("platform-admin") as platform:
        patched = platform.patch("/api/v1/tenants/acme", json={"memory_days": None})
        assert (patched.status_code, patched.json()["memory_days"]) == (200, None)
    code, out, _ = flowctl(api.url, "tenants", "set-retention", "acme", "--memory-days", "none")
    assert (code, out) == (0, "Tenant acme: callers' memory kept as long as its flows say\n")
    code, out, _ = flowctl(api.url, "callers", "purge", "-t", "acme")
    assert (code, out) == (0, "Purged 0 expired memories of tenant acme\n")
