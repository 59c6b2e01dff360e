"""docs/api.md's walkthrough ("A session, step by step"), steps 3 to 7, on the API in
this process: the documents it sends exist in the repo (docs/api/), and each step
answers what the doc shows. `curl --data @FILE` drops the file's line breaks, so the
documents are sent as curl sends them (which is why a finding is on row 1)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from apikit import App, in_process
from conftest import ROOT

DOCS = ROOT / "docs" / "api"
FLOW = "/api/v1/flows/interview-agent-strict-v1"


def as_curl_sends(name: str) -> bytes:
    """``curl --data @FILE``'s body: the file without its line breaks."""
    return (DOCS / name).read_bytes().replace(b"\r", b"").replace(b"\n", b"")


def pick(answer: Any, *keys: str) -> dict[str, Any]:
    return {k: answer[k] for k in keys}


@pytest.fixture
def api(tmp_path: Path) -> Iterator[App]:
    yield from in_process(tmp_path)


def test_api_walkthrough_runs_on_the_files_in_the_repo(api: App) -> None:
    warning = {
        "code": "FL203",
        "severity": "warning",
        "message": 'No state ends the conversation: mark one `"end": true` or offer `end_call` '
        "- at `$`",
        "row": 1,
        "column": 1,
    }
    with api.client("acme-developer") as dev:
        refused = dev.post("/api/v1/flows", content=as_curl_sends("interview.json"))
        assert (refused.status_code, refused.json()["error"]["message"]) == (
            422,
            "`interview-agent-strict-v1` has 1 lint error: 1:775: FL606 `instruction_field` "
            "names `voice_instructions`, which is not an output field of the flow - at "
            "`$.tts_config.instruction_field`. Nothing was stored; fix the document and send "
            "it again",
        )
        pushed = dev.post("/api/v1/flows", content=as_curl_sends("interview-fixed.json")).json()
        assert pick(pushed, "flow_id", "version", "created", "hash", "findings", "base") == {
            "flow_id": "interview-agent-strict-v1",
            "version": 1,
            "created": True,
            "hash": "893560208a470ed9bc50e93be7f79ebcdce583faf2af56818ea129884025e85f",
            "findings": [warning],
            "base": None,
        }
        published = dev.post(f"{FLOW}/publish", json={"version": 1, "expected_current": None})
        assert pick(published.json(), "seq", "version", "previous", "action") == {
            "seq": 1,
            "version": 1,
            "previous": None,
            "action": "publish",
        }
        field = {
            "field_name": "pronunciation_score",
            "field_type": "int",
            "description": "Pronunciation quality score (0-100)",
            "required": False,
            "default": 0,
            "constraints": {"ge": 0, "le": 100},
            "metadata": {"use_in_tts": False, "hidden": False},
        }
        edits = [
            dev.post(f"{FLOW}/output/fields", json=field),
            dev.delete(f"{FLOW}/output/fields/pronunciation_score"),
            dev.put(f"{FLOW}/tracing", json={"enabled": False}),
            dev.patch(f"{FLOW}/llm", json={"temperature": 0.9}),
        ]
        assert [pick(e.json(), "version", "created", "base") for e in edits] == [
            {"version": 2, "created": True, "base": 1},
            {"version": 1, "created": False, "base": 2},
            {"version": 3, "created": True, "base": 2},
            {"version": 4, "created": True, "base": 3},
        ]
        diff = dev.get(f"{FLOW}/diff?old=1").json()["diff"]
        assert diff.splitlines()[:3] == [
            "--- interview-agent-strict-v1@v1",
            "+++ interview-agent-strict-v1@v4",
            "@@ -27,13 +27,28 @@",
        ]
        changed = [line for line in diff.splitlines() if line[:2] in ("- ", "+ ")]
        assert changed[-4:] == [
            '-    "temperature": 0.5,',
            '+    "temperature": 0.9,',
            '-    "enabled": true,',
            '+    "enabled": false,',
        ]
    routing = {
        "purposes": {"interview": "interview-agent-strict-v1"},
        "default": "interview-agent-strict-v1",
    }
    with api.client("acme-admin") as admin:
        assert admin.put("/api/v1/routing", json=routing).json() == {
            "tenant_id": "acme",
            "routing": routing,
        }
    metadata = {
        "tenant_id": "acme",
        "purpose": "interview",
        "user_id": "user-123",
        "user_details": {"name": "John Doe"},
    }
    with api.client("acme-viewer") as viewer:
        answer = viewer.post("/api/v1/routing/dry-run", json={"metadata": metadata}).json()
        assert pick(answer, "decision", "flow_id", "version", "rule") == {
            "decision": "routed",
            "flow_id": "interview-agent-strict-v1",
            "version": "1",
            "rule": "purpose",
        }
