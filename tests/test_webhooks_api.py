"""Webhooks through the API and the CLI: who may subscribe (admins), who may read
(viewers) and replay (developers), the secret shown once, deliveries listed."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from apikit import App, in_process
from click.testing import CliRunner
from storekit import flow_doc

from flowctl.cli.main import cli
from flowctl.engine.boundary import TenantPolicy
from flowctl.engine.store import open_store
from flowctl.engine.store.documents import push_document

URL = "https://hooks.acme.example/calls"


@pytest.fixture
def api(tmp_path: Path) -> Iterator[App]:
    yield from in_process(tmp_path)


def _grant(url: str) -> None:
    async def grant() -> None:
        async with await open_store(url) as s:
            acme = s.tenant("acme")
            await acme.set_policy(TenantPolicy(egress_hosts=["hooks.acme.example"]), actor="t")
            await push_document(acme, flow_doc(), actor="t")
            await acme.publish("clinic", 1, actor="t")

    asyncio.run(grant())


def _start(url: str, session_id: str) -> None:
    async def start() -> None:
        async with await open_store(url) as s:
            await s.tenant("acme").start_session("clinic", session_id=session_id)

    asyncio.run(start())


def test_admins_subscribe_viewers_read_developers_replay(api: App) -> None:
    _grant(api.url)
    with api.client("acme-developer") as dev:
        refused = dev.post("/api/v1/webhooks", json={"url": URL})
        assert refused.status_code == 403
    with api.client("acme-admin") as admin:
        made = admin.post("/api/v1/webhooks", json={"url": URL, "events": ["call.started"]})
        assert made.status_code == 201, made.text
        body = made.json()
        assert body["secret"].startswith("whsec_")
        hook = body["webhook"]
        assert (hook["url"], hook["events"]) == (URL, ["call.started"])
        bad = admin.post("/api/v1/webhooks", json={"url": "https://x.example/", "events": ["*"]})
        assert bad.status_code == 400
        assert bad.json()["error"]["message"] == (
            "Webhook URL `https://x.example/` cannot be reached: not on this tenant's egress "
            "allowlist. The operator grants hosts with `flowctl tenants policy acme "
            "--allow-host HOST`"
        )
    _start(api.url, "s1")
    with api.client("acme-viewer") as viewer:
        listed = viewer.get("/api/v1/webhooks").json()
        assert [h["webhook_id"] for h in listed] == [hook["webhook_id"]]
        assert "secret" not in listed[0]
        [delivery] = viewer.get("/api/v1/webhooks/deliveries").json()
        assert (delivery["event"], delivery["status"], delivery["session_id"]) == (
            "call.started",
            "pending",
            "s1",
        )
        assert (
            viewer.post(f"/api/v1/webhooks/deliveries/{delivery['delivery_id']}/replay").status_code
            == 403
        )
    with api.client("acme-developer") as dev:
        replayed = dev.post(f"/api/v1/webhooks/deliveries/{delivery['delivery_id']}/replay")
        assert (replayed.status_code, replayed.json()["attempts"]) == (200, 0)
    with api.client("globex-admin") as other:  # another tenant's ids are unknown to it
        assert other.post(f"/api/v1/webhooks/{hook['webhook_id']}/delete").status_code == 404
        assert other.get("/api/v1/webhooks/deliveries").json() == []
    with api.client("acme-admin") as admin:
        gone = admin.post(f"/api/v1/webhooks/{hook['webhook_id']}/delete")
        assert gone.status_code == 200
        [dead] = admin.get("/api/v1/webhooks/deliveries?status=dead").json()
        assert dead["last_error"] == "the webhook was deleted"


def test_the_cli_subscribes_lists_and_deletes(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'flowctl.db'}"

    def run(*args: str) -> tuple[int, str, str]:
        result = CliRunner().invoke(
            cli, [*args, "--store", url], env={"FLOWCTL_TENANT": "acme", "FLOWCTL_USER": "ana"}
        )
        return result.exit_code, result.stdout, result.stderr

    assert run("store", "init")[0] == 0
    assert run("tenants", "create", "acme")[0] == 0
    assert run("webhooks", "list") == (0, "", "No webhooks for tenant `acme`\n")
    assert run("webhooks", "create", URL) == (
        2,
        "",
        f"flowctl: error: Webhook URL `{URL}` cannot be reached: not on this tenant's egress "
        "allowlist. The operator grants hosts with `flowctl tenants policy acme --allow-host "
        f"HOST --store {url}`\n",
    )
    assert run("tenants", "policy", "acme", "--allow-host", "hooks.acme.example")[0] == 0
    code, out, err = run("webhooks", "create", URL, "--event", "call.ended")
    assert code == 0, err
    first, second = out.splitlines()
    hook_id = first.split()[2]
    assert first == f"Created webhook {hook_id} for {URL}: call.ended"
    assert second.startswith("Signing secret (shown once): whsec_")
    code, out, _ = run("webhooks", "list")
    assert out.splitlines()[0].split() == ["ID", "URL", "EVENTS", "BY", "CREATED"]
    assert out.splitlines()[1].split()[:4] == [hook_id, URL, "call.ended", "ana"]
    assert run("webhooks", "create", URL, "--event", "call.end") == (
        2,
        "",
        "flowctl: error: Unknown webhook event `call.end`; did you mean `call.ended`?\n",
    )
    assert run("webhooks", "delete", hook_id) == (0, f"Deleted webhook {hook_id} ({URL})\n", "")
    assert run("webhooks", "deliveries") == (0, "", "No deliveries for tenant `acme`\n")
    assert run("webhooks", "deliver", "--once") == (0, "", "0 deliveries attempted\n")
