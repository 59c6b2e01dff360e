"""The admin HTTP API, in this process with a store of its own per test (Litestar's
test client, tests/apikit.py): keys and roles, tenant isolation, every kind of bad
input, the flow lifecycle, sessions, routing and tokens. Each test asserts the exact
status and error message."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from apikit import App, error, in_process
from click.testing import CliRunner
from conftest import FLOWS
from storekit import EXAMPLE_POLICY, T0, broken_doc, flow_doc

from flowctl.cli.main import cli
from flowctl.engine.runtime import Entered, Fired
from flowctl.engine.store import Turn, open_store
from flowctl.engine.store.documents import push_document
from flowctl.engine.store.keys import key_id_of


@pytest.fixture
def api(tmp_path: Path) -> Iterator[App]:
    yield from in_process(tmp_path)


def kid(api: App, name: str) -> str:
    key_id = key_id_of(api.keys[name])
    assert key_id is not None
    return key_id


# --- public endpoints -----------------------------------------------------------------


def test_api_health_readiness_and_docs_need_no_key(api: App) -> None:
    with api.client() as c:
        health = c.get("/health")
        assert (health.status_code, health.json()) == (200, {"status": "ok", "version": "0.1.0"})
        assert c.get("/ready").json() == {"status": "ready", "version": "0.1.0"}
        document = c.get("/openapi.json")
        assert document.status_code == 200
        assert document.json()["openapi"] == "3.1.0"
        assert "/api/v1/flows/{flow_id}/publish" in document.json()["paths"]
        page = c.get("/docs")
        assert (page.status_code, page.headers["content-type"]) == (200, "text/html; charset=utf-8")
        assert "SwaggerUIBundle" in page.text


def test_api_unknown_endpoints_and_methods(api: App) -> None:
    with api.client("acme-viewer") as c:
        missing = c.get("/api/v2/flows")
        assert (missing.status_code, missing.json()) == (
            404,
            error("not_found", "No endpoint GET /api/v2/flows; see /docs"),
        )
        wrong = c.patch("/api/v1/flows")
        assert (wrong.status_code, wrong.json()) == (
            405,
            error("method_not_allowed", "PATCH is not allowed on /api/v1/flows"),
        )


# --- keys and roles -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({}, "Missing API key: send `Authorization: Bearer <key>`"),
        (
            {"Authorization": "Basic YWxhZGRpbjpvcGVuc2VzYW1l"},
            "Malformed Authorization header: send `Authorization: Bearer <key>`",
        ),
        ({"Authorization": "Bearer fk_0123456789ab_" + "x" * 43}, "Invalid API key"),
        ({"Authorization": "Bearer not-a-key"}, "Invalid API key"),
    ],
    ids=["missing", "basic", "unknown", "malformed"],
)
def test_api_refuses_requests_without_a_valid_key(
    api: App, headers: dict[str, str], message: str
) -> None:
    with api.client(headers=headers) as c:
        r = c.get("/api/v1/flows")
    assert (r.status_code, r.json()) == (401, error("unauthorized", message))
    assert r.headers["www-authenticate"] == "Bearer"


def test_api_refuses_a_revoked_key_and_a_wrong_secret(api: App) -> None:
    with api.client("acme-revoked") as c:
        r = c.get("/api/v1/flows")
    assert (r.status_code, r.json()) == (
        401,
        error("unauthorized", f"API key `{kid(api, 'acme-revoked')}` has been revoked"),
    )
    forged = api.keys["acme-admin"][:-4] + "AAAA"
    with api.client(forged) as c:
        assert c.get("/api/v1/flows").json() == error("unauthorized", "Invalid API key")


def test_api_viewer_may_read_but_not_write(api: App) -> None:
    with api.client("acme-viewer") as c:
        assert c.get("/api/v1/flows").status_code == 200
        r = c.post("/api/v1/flows", content=flow_doc("viewer-flow"))
        assert (r.status_code, r.json()) == (
            403,
            error(
                "forbidden",
                f"This needs a developer key; key `{kid(api, 'acme-viewer')}` is a viewer key",
                {"required": "developer", "role": "viewer"},
            ),
        )
        assert c.get("/api/v1/flows/viewer-flow/versions").status_code == 404  # nothing made


def test_api_developer_may_not_change_routing_or_keys(api: App) -> None:
    with api.client("acme-developer") as c:
        for r in (c.put("/api/v1/routing", json={"default": "x"}), c.get("/api/v1/keys")):
            assert r.status_code == 403
            assert r.json()["error"]["message"] == (
                f"This needs a admin key; key `{kid(api, 'acme-developer')}` is a developer key"
            )


def test_api_only_platform_admins_manage_tenants(api: App) -> None:
    for name in ("acme-admin", "platform-developer"):
        tenant, role = name.split("-")
        with api.client(name) as c:
            r = c.get("/api/v1/tenants")
        assert (r.status_code, r.json()) == (
            403,
            error(
                "forbidden",
                "Managing tenants needs an admin key of the platform tenant `platform`; key "
                f"`{kid(api, name)}` is a {role} key of tenant `{tenant}`",
                {"required": "platform admin", "role": role},
            ),
        )


def test_api_whoami(api: App) -> None:
    with api.client("platform-admin") as c:
        assert c.get("/api/v1/whoami").json() == {
            "key_id": kid(api, "platform-admin"),
            "tenant_id": "platform",
            "role": "admin",
            "platform": True,
        }


# --- bad input ------------------------------------------------------------------------


def test_api_malformed_json_is_400_with_its_line_and_column(api: App) -> None:
    with api.client("acme-developer") as c:
        r = c.post("/api/v1/flows", content=b'{\n  "flow_id": "x",\n  "agents": [1,]\n}')
        assert (r.status_code, r.json()) == (
            400,
            error(
                "malformed_json",
                "Request body is not valid JSON: trailing comma in array at line 3, column 16",
                {"line": 3, "column": 16},
            ),
        )
        empty = c.post("/api/v1/flows/clinic/publish", content=b"")
        assert (empty.status_code, empty.json()) == (
            400,
            error("malformed_json", "Request body is empty: send a JSON document"),
        )


@pytest.mark.parametrize(
    ("body", "message", "path"),
    [
        ({"version": "2"}, "Expected `int`, got `str` - at `$.version`", "$.version"),
        ({"versoin": 2}, "Object contains unknown field `versoin`", "$"),
        ({}, "Object missing required field `version`", "$"),
        ({"version": 0}, "Expected `int` >= 1 - at `$.version`", "$.version"),
        ([2], "Expected `object`, got `array`", "$"),
    ],
    ids=["type", "unknown", "missing", "range", "array"],
)
def test_api_body_of_the_wrong_shape_is_400(api: App, body: Any, message: str, path: str) -> None:
    with api.client("acme-developer") as c:
        r = c.post("/api/v1/flows/clinic/publish", json=body)
    assert (r.status_code, r.json()) == (
        400,
        error("invalid_body", f"Request body is invalid: {message}", {"path": path}),
    )


def test_api_query_parameter_of_the_wrong_type_is_400(api: App) -> None:
    with api.client("acme-viewer") as c:
        r = c.get("/api/v1/sessions", params={"limit": "lots"})
    assert (r.status_code, r.json()) == (
        400,
        error(
            "invalid_request",
            "Invalid query parameter `limit`: Expected `int`, got `str`",
            [{"message": "Expected `int`, got `str`", "key": "limit", "source": "query"}],
        ),
    )


def test_api_oversized_bodies_are_413(api: App) -> None:
    too_big = b'{"flow_id": "big", "pad": "' + b"x" * (1024 * 1024) + b'"}'
    expected = error("too_large", "Request body is over the 1 MiB limit (1,048,576 bytes)")
    with api.client("acme-developer") as c:
        r = c.post("/api/v1/flows", content=too_big)
        assert (r.status_code, r.json()) == (413, expected)

        def chunks() -> Any:  # no Content-Length: counted as it arrives
            for i in range(0, len(too_big), 65536):
                yield too_big[i : i + 65536]

        r = c.post("/api/v1/flows", content=chunks())
        assert (r.status_code, r.json()) == (413, expected)
        # no key: 401 before the body is even read
    with api.client() as c:
        assert c.post("/api/v1/flows", content=too_big).status_code == 401


def test_api_a_flow_with_lint_errors_is_422_with_its_findings(api: App) -> None:
    with api.client("acme-developer") as c:
        r = c.post("/api/v1/flows", content=broken_doc("broken"))
        assert (r.status_code, r.json()) == (
            422,
            error(
                "lint_errors",
                "`broken` has 1 lint error: 15:9: FL104 Unknown tool `nosuch` - at "
                "`$.agents[0].tools[0]`. Nothing was stored; fix the document and send it again",
                {
                    "findings": [
                        {
                            "code": "FL104",
                            "severity": "error",
                            "message": "Unknown tool `nosuch` - at `$.agents[0].tools[0]`",
                            "row": 15,
                            "column": 9,
                        }
                    ]
                },
            ),
        )
        gone = c.get("/api/v1/flows/broken/versions")
        assert (gone.status_code, gone.json()) == (
            404,
            error("not_found", "Unknown flow `broken` for tenant `acme`"),
        )


# --- the flow lifecycle ---------------------------------------------------------------


def test_api_flow_lifecycle(api: App) -> None:
    dev = kid(api, "acme-developer")
    with api.client("acme-developer") as c:
        created = c.post("/api/v1/flows", content=flow_doc("lifecycle"))
        assert created.status_code == 201
        body = created.json()
        assert (body["flow_id"], body["version"], body["created"], body["findings"]) == (
            "lifecycle",
            1,
            True,
            [],
        )
        again = c.post("/api/v1/flows", content=flow_doc("lifecycle", note="v2"))
        assert (again.status_code, again.json()) == (
            409,
            error(
                "conflict",
                "Flow `lifecycle` exists; add a version with PUT /api/v1/flows/lifecycle",
            ),
        )
        unpublished = c.get("/api/v1/flows/lifecycle")
        assert (unpublished.status_code, unpublished.json()) == (
            404,
            error(
                "not_found",
                "Flow `lifecycle` has no published version; ask for one with ?version=N, or "
                "publish one with POST /api/v1/flows/lifecycle/publish",
            ),
        )
        published = c.post("/api/v1/flows/lifecycle/publish", json={"version": 1})
        assert published.status_code == 200
        assert {
            k: published.json()[k] for k in ("seq", "version", "previous", "action", "actor")
        } == {
            "seq": 1,
            "version": 1,
            "previous": None,
            "action": "publish",
            "actor": f"key:{dev}",
        }
        got = c.get("/api/v1/flows/lifecycle").json()
        assert (got["version"], got["published"], got["author"]) == (1, 1, f"key:{dev}")
        assert got["document"] == json.loads(flow_doc("lifecycle"))
        # a new version, unchanged content, a given version
        put = c.put("/api/v1/flows/lifecycle", content=flow_doc("lifecycle", note="v2"))
        assert (put.status_code, put.json()["version"], put.json()["created"]) == (200, 2, True)
        same = c.put("/api/v1/flows/lifecycle", content=flow_doc("lifecycle", note="v2"))
        assert (same.json()["version"], same.json()["created"]) == (2, False)
        assert c.get("/api/v1/flows/lifecycle", params={"version": 2}).json()["published"] == 1
        assert [v["version"] for v in c.get("/api/v1/flows/lifecycle/versions").json()] == [1, 2]
        diff = c.get("/api/v1/flows/lifecycle/diff", params={"old": 1}).json()
        assert (diff["old"], diff["new"]) == (1, 2)
        assert diff["diff"].splitlines()[:2] == ["--- lifecycle@v1", "+++ lifecycle@v2"]
        assert '+      "instructions": "Help the caller with their question. v2",' in diff["diff"]
        # publish, roll back, take out of service, bring back
        assert (
            c.post(
                "/api/v1/flows/lifecycle/publish", json={"version": 2, "expected_current": 1}
            ).status_code
            == 200
        )
        back = c.post("/api/v1/flows/lifecycle/rollback", json={})
        assert (back.json()["version"], back.json()["action"]) == (1, "rollback")
        gone = c.delete("/api/v1/flows/lifecycle", params={"expected_current": 1})
        assert (gone.status_code, gone.json()["action"], gone.json()["version"]) == (
            200,
            "unpublish",
            None,
        )
        again = c.delete("/api/v1/flows/lifecycle")
        assert (again.status_code, again.json()) == (
            409,
            error("conflict", "`lifecycle` is not published; nothing to unpublish"),
        )
        stuck = c.post("/api/v1/flows/lifecycle/rollback", json={})
        assert (stuck.status_code, stuck.json()) == (
            409,
            error("conflict", "`lifecycle` is unpublished; publish a version to serve it again"),
        )
        assert (
            c.post(
                "/api/v1/flows/lifecycle/publish", json={"version": 2, "expected_current": None}
            ).status_code
            == 200
        )
        history = c.get("/api/v1/flows/lifecycle/history").json()
        assert [(h["action"], h["version"]) for h in history] == [
            ("publish", 1),
            ("publish", 2),
            ("rollback", 1),
            ("unpublish", None),
            ("publish", 2),
        ]
        listed = {f["flow_id"]: f for f in c.get("/api/v1/flows").json()}
        assert (listed["lifecycle"]["latest"], listed["lifecycle"]["published"]) == (2, 2)
    with api.client("acme-admin") as c:
        audit = [
            (e["actor"], e["action"])
            for e in c.get("/api/v1/audit", params={"limit": 50}).json()
            if e["subject"] == "lifecycle"
        ]
    assert audit[:3] == [
        (f"key:{dev}", "flow.publish"),
        (f"key:{dev}", "flow.unpublish"),
        (f"key:{dev}", "flow.rollback"),
    ]
    assert (f"key:{dev}", "flow.push") in audit


def test_api_publish_refuses_a_version_with_errors_and_stale_bases(api: App) -> None:
    with api.client("acme-developer") as c:
        c.post("/api/v1/flows", content=flow_doc("stale"))
        c.put("/api/v1/flows/stale", content=flow_doc("stale", note="v2"))
        c.post("/api/v1/flows/stale/publish", json={"version": 2})
        r = c.post("/api/v1/flows/stale/publish", json={"version": 1, "expected_current": None})
        assert (r.status_code, r.json()) == (
            409,
            error(
                "conflict",
                "Cannot publish `stale` v1: expected no version to be published, but v2 is "
                "(someone changed it in between); read the flow again and retry",
                {"expected_current": None, "published": 2},
            ),
        )
        missing = c.post("/api/v1/flows/stale/publish", json={"version": 9})
        assert (missing.status_code, missing.json()) == (
            404,
            error("not_found", "Flow `stale` of tenant `acme` has no version 9"),
        )


def test_api_seed001_edits_each_make_a_version(api: App) -> None:
    seed = {
        "agent_id": "interview",
        "prompt_config": {"instructions": "Interview the candidate, one question at a time."},
        "schema_config": {
            "fields": [
                {"field_name": "system_response", "field_type": "str", "description": "Reply"}
            ]
        },
        "llm_config": {"provider": "openai", "model": "gpt-5-nano", "temperature": 0.7},
        "tracing_config": {"enabled": True, "provider": "langfuse"},
    }
    url = "/api/v1/flows/interview"
    with api.client("acme-developer") as c:
        assert c.post("/api/v1/flows", json=seed).json()["version"] == 1
        field = {"field_name": "score", "field_type": "int", "required": False, "default": 0}
        added = c.post(f"{url}/output/fields", json=field)
        assert (added.status_code, added.json()["version"], added.json()["base"]) == (200, 2, 1)
        twice = c.post(f"{url}/output/fields", json=field)
        assert (twice.status_code, twice.json()) == (
            409,
            error("conflict", "Output field `score` already exists in `schema_config`"),
        )
        off = c.put(f"{url}/tracing", json={"enabled": False})
        assert off.json()["version"] == 3
        warmer = c.patch(f"{url}/llm", json={"temperature": 0.9, "model": None})
        assert warmer.json()["version"] == 4
        doc = c.get(url, params={"version": 4}).json()["document"]
        assert doc["tracing_config"] == {"enabled": False, "provider": "langfuse"}
        assert doc["llm_config"] == {"provider": "openai", "temperature": 0.9}
        assert [f["field_name"] for f in doc["schema_config"]["fields"]] == [
            "system_response",
            "score",
        ]
        removed = c.delete(f"{url}/output/fields/score")
        assert (removed.status_code, removed.json()["version"]) == (200, 5)
        gone = c.delete(f"{url}/output/fields/score", params={"base": 1})
        assert (gone.status_code, gone.json()) == (
            404,
            error(
                "not_found",
                "No output field `score` in `schema_config`; its fields: `system_response`",
            ),
        )
        hot = c.patch(f"{url}/llm", json={"temperature": 3})
        assert hot.status_code == 422
        assert [(f["code"], f["message"]) for f in hot.json()["error"]["details"]["findings"]] == [
            ("FL005", "Expected `float` <= 2 - at `$.llm_config.temperature`")
        ]
        state = c.patch(f"{url}/llm", params={"state": "Main"}, json={"model": "x"})
        assert (state.status_code, state.json()) == (
            404,
            error(
                "not_found",
                "Unknown state `Main`: a single-agent config has one state, `interview`",
            ),
        )
        assert [v["version"] for v in c.get(f"{url}/versions").json()] == [1, 2, 3, 4, 5]


# --- tenant isolation -----------------------------------------------------------------


def test_api_another_tenants_flow_session_and_routing_are_404(api: App) -> None:
    async def globex_data() -> None:
        async with await open_store(api.url) as s:
            g = s.tenant("globex")
            await push_document(g, flow_doc("secret"), actor="setup")
            await g.publish("secret", 1, actor="setup")
            await g.start_session("secret", session_id="globex-call")

    asyncio.run(globex_data())
    with api.client("globex-viewer") as c:
        assert c.get("/api/v1/flows/secret").status_code == 200
    with api.client("acme-admin") as c:
        for asked, absent in ((("secret", "nosuch")),):
            for url in (
                "/api/v1/flows/{}",
                "/api/v1/flows/{}/versions",
                "/api/v1/flows/{}/history",
            ):
                a, b = c.get(url.format(asked)), c.get(url.format(absent))
                assert (a.status_code, b.status_code) == (404, 404)
                assert a.json()["error"]["message"] == b.json()["error"]["message"].replace(
                    absent, asked
                )
                assert a.json() == error("not_found", f"Unknown flow `{asked}` for tenant `acme`")
        assert c.post("/api/v1/flows/secret/publish", json={"version": 1}).json() == error(
            "not_found", "Unknown flow `secret` for tenant `acme`"
        )
        assert c.delete("/api/v1/flows/secret").json() == error(
            "not_found", "Unknown flow `secret` for tenant `acme`"
        )
        for session in ("globex-call", "no-call"):
            r = c.get(f"/api/v1/sessions/{session}")
            assert (r.status_code, r.json()) == (
                404,
                error("not_found", f"Unknown session `{session}` for tenant `acme`"),
            )
        for tenant in ("globex", "nosuch"):
            r = c.post("/api/v1/routing/dry-run", json={"metadata": {"tenant_id": tenant}})
            assert (r.status_code, r.json()) == (
                404,
                error("not_found", f"Unknown tenant `{tenant}`"),
            )
        explicit = c.post(
            "/api/v1/routing/dry-run",
            json={"metadata": {"tenant_id": "acme", "flow_id": "secret"}},
        )
        assert explicit.json()["reason"] == "Unknown flow `secret` (tenant `acme`)"
        assert "globex-call" not in {s["session_id"] for s in c.get("/api/v1/sessions").json()}


# --- sessions ---------------------------------------------------------------------------


def test_api_sessions_list_get_with_events_and_active_count(api: App) -> None:
    async def record() -> None:
        async with await open_store(api.url) as s:
            t = s.tenant("acme")
            await push_document(t, flow_doc("calls"), actor="setup")
            await t.publish("calls", 1, actor="setup")
            await t.start_session("calls", session_id="call-1", routing={"rule": "default"})
            await t.append_events(
                "call-1",
                [
                    Entered(at=T0, state="Main"),
                    Turn(at=T0 + 1, role="user", text="bye"),
                    Fired(at=T0 + 2, edge="finish", source="Main", target="Goodbye"),
                ],
            )
            await t.start_session("calls", session_id="call-2")
            await t.end_session("call-2", reason="hangup", summary={"text": "Main; ended"})
            await t.record_evaluation("call-2", {"passed": False, "text": "failed: goals 0/1"})

    asyncio.run(record())
    with api.client("acme-viewer") as c:
        listed = c.get("/api/v1/sessions", params={"flow_id": "calls"}).json()
        assert {s["session_id"] for s in listed} == {"call-1", "call-2"}
        running = c.get("/api/v1/sessions", params={"flow_id": "calls", "running": "true"}).json()
        assert [s["session_id"] for s in running] == ["call-1"]
        one = c.get("/api/v1/sessions/call-1").json()
        assert (one["session"]["routing"], one["session"]["events"]) == ({"rule": "default"}, 3)
        assert one["events"] == [
            {"kind": "entered", "at": T0, "state": "Main", "via": None, "variables": {}},
            {"kind": "turn", "at": T0 + 1, "role": "user", "text": "bye"},
            {
                "kind": "fired",
                "at": T0 + 2,
                "edge": "finish",
                "source": "Main",
                "target": "Goodbye",
                "args": {},
                "automatic": False,
            },
        ]
        ended = c.get("/api/v1/sessions/call-2").json()["session"]
        assert (ended["summary"], ended["evaluation"]) == (
            {"text": "Main; ended"},
            {"passed": False, "text": "failed: goals 0/1"},
        )
        assert one["session"]["evaluation"] is None  # not evaluated: it has not ended
        count = c.get("/api/v1/sessions/active/count").json()
        assert count == {
            "tenant_id": "acme",
            "active": count["active"],
            "max_concurrent_sessions": None,
        }
        assert count["active"] >= 1


# --- routing --------------------------------------------------------------------------


def test_api_routing_dry_run_answers_as_flowctl_route(api: App) -> None:
    """A tenant made through the platform endpoints, its flows pushed and its routing
    set through the API, routes every example as `flowctl route` does from the files."""
    tenant = json.loads((FLOWS / "tenants" / "dynamic-co.json").read_text())
    with api.client("platform-admin") as c:
        grants = {"transfer_to": EXAMPLE_POLICY.transfer_to}  # what its flows transfer to
        made = c.post(
            "/api/v1/tenants",
            json={"tenant_id": "dynamic-co", "name": tenant["name"], "policy": grants},
        )
        assert (made.status_code, made.json()["tenant_id"]) == (201, "dynamic-co")
        key = c.post("/api/v1/tenants/dynamic-co/keys", json={"role": "admin", "name": "owner"})
        assert key.status_code == 201
        secret = key.json()["secret"]
    with api.client(secret) as c:
        for flow in tenant["flows"]:
            assert (
                c.post("/api/v1/flows", content=(FLOWS / f"{flow}.json").read_bytes()).status_code
                == 201
            )
            assert c.post(f"/api/v1/flows/{flow}/publish", json={"version": 1}).status_code == 200
        routing = {k: tenant[k] for k in ("purposes", "rules", "default")}
        assert c.put("/api/v1/routing", json=routing).json() == {
            "tenant_id": "dynamic-co",
            "routing": routing,
        }
        for metadata in (
            {"tenant_id": "dynamic-co", "agent_id": "interview", "purpose": "sales"},
            {"tenant_id": "dynamic-co", "user_details": {"is_new_user": True, "tier": "premium"}},
            {"tenant_id": "dynamic-co", "purpose": "billing", "user_details": {"tier": "premium"}},
            {"tenant_id": "dynamic-co", "purpose": "trial", "user_id": "user-1"},
            {"tenant_id": "dynamic-co"},
            {"tenant_id": "dynamic-co", "flow_id": "sales", "agent_id": "support"},
        ):
            text = json.dumps(metadata)
            result = CliRunner().invoke(cli, ["route", "--metadata", text, "--format", "json"])
            expected = json.loads(result.stdout)
            if expected["decision"] == "routed":
                expected["version"] = "1"  # the file's `version` is the store's v1
            for body in ({"metadata": metadata}, {"metadata": text}):
                answer = c.post("/api/v1/routing/dry-run", json=body)
                assert (answer.status_code, answer.json()) == (200, expected)
        broken = c.post("/api/v1/routing/dry-run", json={"metadata": '{"tenant_id": '})
        assert broken.json() == {
            "decision": "rejected",
            "reason": "Job metadata is not valid JSON: input data was truncated",
            "origin": "job metadata",
            "tenant_id": None,
            "flow_id": None,
            "version": None,
        }
        bad = c.put("/api/v1/routing", json={"rules": [{"when": "tier =", "flow": "sales"}]})
        assert (bad.status_code, bad.json()) == (
            422,
            error(
                "invalid_routing",
                "Invalid routing: Invalid condition: unexpected `=` at column 6 - at "
                "`$.rules[0].when`",
            ),
        )
        for document, message in (
            (
                {"purposes": {"x": "sale"}, "default": "sales"},
                "Unknown flow `sale` (tenant `dynamic-co`); did you mean `sales`? - at "
                "`$.purposes.x`",
            ),
            (
                {"rules": [{"when": "tier", "flow": "nosuch"}]},
                "Unknown flow `nosuch` (tenant `dynamic-co`); push it first - at `$.rules[0].flow`",
            ),
        ):
            unknown = c.put("/api/v1/routing", json=document)
            assert (unknown.status_code, unknown.json()) == (
                422,
                error("invalid_routing", f"Invalid routing: {message}"),
            )
        assert c.get("/api/v1/routing").json()["routing"] == routing


# --- tokens ---------------------------------------------------------------------------


def test_api_token_dispatches_the_agent_with_the_routed_metadata(api: App) -> None:
    from livekit.api import TokenVerifier

    with api.client("acme-developer") as c:
        c.post("/api/v1/flows", content=flow_doc("frontdesk"))
        c.post("/api/v1/flows/frontdesk/publish", json={"version": 1})
        r = c.post(
            "/api/v1/tokens",
            json={
                "room": "call-42",
                "identity": "caller-7",
                "metadata": {"flow_id": "frontdesk", "user_id": "u7"},
            },
        )
        assert r.status_code == 201
        body = r.json()
        # the room is put in the tenant's namespace
        assert (body["url"], body["room"], body["identity"], body["agent_name"]) == (
            "ws://127.0.0.1:7880",
            "acme:call-42",
            "caller-7",
            "flowctl",
        )
        assert (body["routing"]["flow_id"], body["routing"]["version"]) == ("frontdesk", "1")
        claims = TokenVerifier("devkey", "secret-of-at-least-32-characters-long").verify(
            body["token"]
        )
        assert (claims.identity, claims.video.room, claims.video.room_join) == (
            "caller-7",
            "acme:call-42",
            True,
        )
        agents = claims.room_config.agents
        assert [a.agent_name for a in agents] == ["flowctl"]
        assert json.loads(agents[0].metadata) == {
            "flow_id": "frontdesk",
            "user_id": "u7",
            "tenant_id": "acme",
        }
        refused = c.post(
            "/api/v1/tokens", json={"room": "r", "identity": "i", "metadata": {"flow_id": "nosuch"}}
        )
        assert (refused.status_code, refused.json()) == (
            422,
            error("routing_rejected", "Unknown flow `nosuch` (tenant `acme`)"),
        )
        other = c.post(
            "/api/v1/tokens",
            json={"room": "r", "identity": "i", "metadata": {"tenant_id": "globex"}},
        )
        assert (other.status_code, other.json()) == (
            404,
            error("not_found", "Unknown tenant `globex`"),
        )


def test_api_token_carries_overrides_the_routed_flow_allows(api: App) -> None:
    from livekit.api import TokenVerifier

    doc = json.loads(flow_doc("frontdesk"))
    doc["overridable"] = {"voices": ["nova"], "languages": ["es"]}
    with api.client("acme-developer") as c:
        c.post("/api/v1/flows", content=json.dumps(doc))
        c.post("/api/v1/flows/frontdesk/publish", json={"version": 1})
        r = c.post(
            "/api/v1/tokens",
            json={
                "room": "call-42",
                "identity": "caller-7",
                "metadata": {"flow_id": "frontdesk"},
                "overrides": {"voice": "nova", "language": "es"},
            },
        )
        assert r.status_code == 201
        assert r.json()["routing"]["overrides"] == {"voice": "nova", "language": "es"}
        claims = TokenVerifier("devkey", "secret-of-at-least-32-characters-long").verify(
            r.json()["token"]
        )
        assert json.loads(claims.room_config.agents[0].metadata) == {
            "flow_id": "frontdesk",
            "tenant_id": "acme",
            "overrides": {"voice": "nova", "language": "es"},
        }
        for overrides, message in (
            (
                {"voice": "alloy"},
                "Voice `alloy` may not be picked: the flow's `overridable.voices` allows `nova`",
            ),
            (
                {"tracing": {"enabled": True}},
                "`tracing` may not be overridden: the flow's `overridable.tracing` is not true",
            ),
        ):
            refused = c.post(
                "/api/v1/tokens",
                json={
                    "room": "r",
                    "identity": "i",
                    "metadata": {"flow_id": "frontdesk", "overrides": overrides},
                },
            )
            assert (refused.status_code, refused.json()) == (
                422,
                error("overrides_refused", message),
            )


def test_api_token_without_livekit_credentials_is_503(tmp_path: Path) -> None:
    server = App(tmp_path, livekit=False)
    try:
        with server.client("acme-developer") as c:
            r = c.post("/api/v1/tokens", json={"room": "r", "identity": "i"})
        assert (r.status_code, r.json()) == (
            503,
            error(
                "livekit_not_configured",
                "Minting tokens needs LIVEKIT_API_KEY and LIVEKIT_API_SECRET in the "
                "environment of `flowctl serve`; set both and restart it",
            ),
        )
    finally:
        server.close()


# --- keys and tenants over HTTP ---------------------------------------------------------


def test_api_keys_made_used_and_revoked_over_http(api: App) -> None:
    with api.client("globex-admin") as admin:
        made = admin.post("/api/v1/keys", json={"role": "viewer", "name": "dashboard"})
        assert made.status_code == 201
        key, record = made.json()["secret"], made.json()["key"]
        assert (record["tenant_id"], record["role"], record["created_by"]) == (
            "globex",
            "viewer",
            f"key:{kid(api, 'globex-admin')}",
        )
        with api.client(key) as viewer:
            assert viewer.get("/api/v1/whoami").json()["role"] == "viewer"
            revoked = admin.delete(f"/api/v1/keys/{record['key_id']}")
            assert (revoked.status_code, revoked.json()["revoked_by"]) == (
                200,
                f"key:{kid(api, 'globex-admin')}",
            )
            r = viewer.get("/api/v1/whoami")
            assert (r.status_code, r.json()) == (
                401,
                error("unauthorized", f"API key `{record['key_id']}` has been revoked"),
            )
        listed = {k["key_id"]: k for k in admin.get("/api/v1/keys").json()}
        assert listed[record["key_id"]]["revoked_at"] is not None
        assert "secret" not in json.dumps(list(listed.values()))
        foreign = admin.delete(f"/api/v1/keys/{kid(api, 'acme-admin')}")
        assert (foreign.status_code, foreign.json()) == (
            404,
            error("not_found", f"Unknown key `{kid(api, 'acme-admin')}` for tenant `globex`"),
        )


def test_api_platform_manages_tenants(api: App) -> None:
    with api.client("platform-admin") as c:
        made = c.post(
            "/api/v1/tenants", json={"tenant_id": "initech", "max_concurrent_sessions": 2}
        )
        assert (made.status_code, made.json()["max_concurrent_sessions"]) == (201, 2)
        dup = c.post("/api/v1/tenants", json={"tenant_id": "initech"})
        assert (dup.status_code, dup.json()) == (
            409,
            error("conflict", "Tenant `initech` already exists"),
        )
        changed = c.patch(
            "/api/v1/tenants/initech",
            json={"max_concurrent_sessions": None, "routing": {"default": "x"}},
        )
        assert (changed.json()["max_concurrent_sessions"], changed.json()["routing"]) == (
            None,
            {"default": "x"},
        )
        assert c.get("/api/v1/tenants/initech").json()["routing"] == {"default": "x"}
        assert "initech" in {t["tenant_id"] for t in c.get("/api/v1/tenants").json()}
        missing = c.get("/api/v1/tenants/nosuch")
        assert (missing.status_code, missing.json()) == (
            404,
            error(
                "not_found",
                "Unknown tenant `nosuch`; create it with `flowctl tenants create nosuch`",
            ),
        )
        bad = c.post("/api/v1/tenants", json={"tenant_id": "-bad"})
        assert bad.status_code == 400
        assert bad.json()["error"]["code"] == "invalid_body"

    async def audit() -> list[tuple[str, str]]:
        async with await open_store(api.url) as s:
            return [(e.actor, e.action) for e in await s.tenant("initech").audit()]

    platform = f"key:{kid(api, 'platform-admin')}"
    assert asyncio.run(audit()) == [
        (platform, "tenant.limits"),
        (platform, "tenant.routing"),
        (platform, "tenant.create"),
    ]


def test_api_disable_and_enable_a_flow_and_a_seed001_config_that_says_enabled_false(
    api: App,
) -> None:
    dev = kid(api, "acme-developer")
    seed = {
        "agent_id": "closed",
        "enabled": False,
        "prompt_config": {"instructions": "Tell the caller the line is closed today."},
    }
    with api.client("acme-developer") as c:
        for document in (flow_doc("lifecycle"), json.dumps(seed).encode()):
            flow_id = c.post("/api/v1/flows", content=document).json()["flow_id"]
            assert c.post(f"/api/v1/flows/{flow_id}/publish", json={"version": 1}).is_success
        listed = {
            f["flow_id"]: (f["enabled"], f["disabled_at"]) for f in c.get("/api/v1/flows").json()
        }
        assert listed == {"closed": (False, None), "lifecycle": (True, None)}
        disabled = c.post("/api/v1/flows/lifecycle/disable")
        assert disabled.status_code == 200
        body = disabled.json()
        assert isinstance(body.pop("disabled_at"), float)
        assert {k: body[k] for k in ("flow_id", "published", "enabled")} == {
            "flow_id": "lifecycle",
            "published": 1,
            "enabled": False,
        }
        for flow_id in ("lifecycle", "closed"):
            job = {"tenant_id": "acme", "flow_id": flow_id}
            dry = c.post("/api/v1/routing/dry-run", json={"metadata": job})
            assert dry.json() == {
                "decision": "rejected",
                "reason": f"Flow `{flow_id}` is disabled (tenant `acme`)",
                "origin": "job metadata",
                "tenant_id": "acme",
                "flow_id": flow_id,
                "version": "1",
            }
        token = c.post(
            "/api/v1/tokens",
            json={"room": "call-9", "identity": "ana", "metadata": {"flow_id": "lifecycle"}},
        )
        assert (token.status_code, token.json()) == (
            422,
            error("routing_rejected", "Flow `lifecycle` is disabled (tenant `acme`)"),
        )
        enabled = c.post("/api/v1/flows/lifecycle/enable").json()
        assert (enabled["enabled"], enabled["disabled_at"]) == (True, None)
        # the flag cannot enable what the published document disables
        assert c.post("/api/v1/flows/closed/enable").json()["enabled"] is False
        missing = c.post("/api/v1/flows/nosuch/disable")
        assert (missing.status_code, missing.json()) == (
            404,
            error("not_found", "Unknown flow `nosuch` for tenant `acme`"),
        )
    with api.client("acme-viewer") as viewer:
        refused = viewer.post("/api/v1/flows/lifecycle/disable")
        assert refused.status_code == 403
    with api.client("acme-admin") as admin:
        audit = admin.get("/api/v1/audit", params={"limit": 2}).json()
        assert [(e["actor"], e["action"], e["subject"]) for e in audit] == [
            (f"key:{dev}", "flow.enable", "lifecycle"),
            (f"key:{dev}", "flow.disable", "lifecycle"),
        ]  # enabling `closed`, which was not disabled, changed nothing
