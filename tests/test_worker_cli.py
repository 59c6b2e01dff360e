"""``flowctl worker dev|start`` refuses to start on a flow's error, a missing key or
missing LiveKit settings, and otherwise runs the server; ``flowctl token`` mints a
participant token whose claims dispatch the agent."""

from __future__ import annotations

import base64
import copy
import json
import subprocess
import sys
from pathlib import Path
from typing import Any
from unittest.mock import ANY

import jwt
import pytest
from click.testing import CliRunner
from conftest import EXAMPLES, FLOWS, ROOT, minimal
from storekit import flow_doc
from workerkit import record_sessions

from flowctl.cli.main import cli

KEYS = {"OPENAI_API_KEY": "sk-test", "DEEPGRAM_API_KEY": "dg-test"}
LIVEKIT = {
    "LIVEKIT_URL": "wss://example.livekit.cloud",
    "LIVEKIT_API_KEY": "APIkey",
    "LIVEKIT_API_SECRET": "a-secret-long-enough-for-hmac-sha256-keys",
}
NONE = {name: None for name in (*KEYS, *LIVEKIT)}


def run(*args: str, env: dict[str, str | None] | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), env={**NONE, **(env or {})})
    return result.exit_code, result.stdout, result.stderr


def test_worker_refuses_to_start_with_a_flow_that_has_errors(tmp_path: Path, ran: list) -> None:  # type: ignore[type-arg]
    broken = copy.deepcopy(minimal())
    broken["agents"][0]["edges"][0]["target_agent"] = "Nowhere"
    (tmp_path / "desk.json").write_text(json.dumps(broken, indent=2))
    (tmp_path / "tenants").mkdir()
    tenant = {"tenant_id": "acme", "flows": ["desk"], "default": "desk"}
    (tmp_path / "tenants" / "acme.json").write_text(json.dumps(tenant))
    code, out, err = run("worker", "start", "--flows", str(tmp_path), env={**KEYS, **LIVEKIT})
    assert code == 1
    assert out == ""
    assert err == (
        "flowctl: error: 1 error in the flows to serve; fix them first:\n"
        f"flowctl: error: {tmp_path}/desk.json:10:27: FL102 Unknown agent `Nowhere` - "
        "at `$.agents[0].edges[0].target_agent`\n"
    )
    assert ran == []


def test_worker_refuses_to_start_without_a_providers_key(ran: list) -> None:  # type: ignore[type-arg]
    env = {**LIVEKIT, "OPENAI_API_KEY": "sk-test"}
    code, _, err = run("worker", "dev", "--flows", str(FLOWS), env=env)
    assert code == 2
    assert err == "".join(
        f"flowctl: error: {FLOWS}/{name}.json: `stt` (deepgram) needs DEEPGRAM_API_KEY "
        "in the environment\n"
        for name in [path.stem for path in EXAMPLES]
    )
    assert ran == []


def test_worker_refuses_to_start_without_livekit_settings(ran: list) -> None:  # type: ignore[type-arg]
    code, _, err = run("worker", "start", "--flows", str(FLOWS), env=KEYS)
    assert code == 2
    assert err == (
        "flowctl: error: set LIVEKIT_URL, LIVEKIT_API_KEY, LIVEKIT_API_SECRET to connect to "
        "LiveKit (the server's URL, and an API key and secret of its project)\n"
    )
    assert ran == []


@pytest.mark.parametrize(("command", "dev"), [("dev", True), ("start", False)])
def test_worker_runs_the_server_with_the_agent_name(
    ran: list,  # type: ignore[type-arg]
    monkeypatch: pytest.MonkeyPatch,
    command: str,
    dev: bool,
) -> None:
    registered = record_sessions(monkeypatch)
    code, out, err = run(
        "worker",
        command,
        "--flows",
        str(FLOWS),
        "--agent-name",
        "support-agent",
        "--log-level",
        "debug",
        env={**KEYS, **LIVEKIT},
    )
    assert code == 0, err
    assert out == ""
    assert err == (
        f"flowctl worker: 12 flows of 4 tenants from {FLOWS}, "
        "for jobs dispatched to `support-agent`\n"
    )
    [(server, options)] = ran
    assert options == {"dev": dev, "log_level": "DEBUG"}
    [session] = registered
    assert session["server"] is server and session["agent_name"] == "support-agent"


@pytest.mark.parametrize(
    ("args", "env", "lease"),
    [([], {}, 30.0), (["--lease", "12"], {}, 12.0), ([], {"FLOWCTL_LEASE": "7.5"}, 7.5)],
    ids=["default", "flag", "environment"],
)
def test_worker_gives_its_job_processes_the_lease(
    ran: list,  # type: ignore[type-arg]
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    env: dict[str, str],
    lease: float,
) -> None:
    registered = record_sessions(monkeypatch)
    code, _, err = run("worker", "start", *args, env={**KEYS, **LIVEKIT, **env})
    assert code == 0, err
    [session] = registered
    assert session["on_request"].__self__.config.lease_seconds == lease


def test_worker_refuses_a_lease_under_a_second(ran: list) -> None:  # type: ignore[type-arg]
    code, _, err = run("worker", "start", "--lease", "0.5", env={**KEYS, **LIVEKIT})
    assert code == 2
    assert err.splitlines()[-1] == (
        "Error: Invalid value for '--lease': 0.5 is not in the range x>=1."
    )
    assert ran == []


# --- tokens --------------------------------------------------------------------------------


def _minted(**options: str) -> dict[str, Any]:
    """The claims of the token ``flowctl token`` mints with ``options`` (``agent_name``
    is ``--agent-name``)."""
    args = [
        arg for name, value in options.items() for arg in (f"--{name.replace('_', '-')}", value)
    ]
    code, out, err = run("token", *args, env=LIVEKIT)
    assert code == 0, err
    return jwt.decode(out.strip(), LIVEKIT["LIVEKIT_API_SECRET"], algorithms=["HS256"])


def test_token_dispatches_the_named_agent_with_the_jobs_metadata() -> None:
    metadata = '{"tenant_id": "dynamic-co", "purpose": "sales", "user_id": "u-1"}'
    claims = _minted(
        room="sales-42",
        identity="caller-1",
        name="Ana",
        metadata=metadata,
        agent_name="sales-agent",
    )
    assert claims["exp"] - claims["nbf"] == 3600
    del claims["exp"], claims["nbf"]
    assert claims == {
        "iss": "APIkey",
        "sub": "caller-1",
        "name": "Ana",
        "video": {
            "roomJoin": True,
            "room": "sales-42",
            "canPublish": True,
            "canSubscribe": True,
            "canPublishData": True,
        },
        "roomConfig": {"agents": [{"agentName": "sales-agent", "metadata": metadata}]},
    }


def test_token_without_an_agent_name_puts_the_metadata_on_the_room() -> None:
    metadata = '{"tenant_id": "healthcare_clinic"}'
    claims = _minted(room="r", identity="i", metadata=metadata, ttl="600")
    assert claims["roomConfig"] == {"metadata": metadata}
    assert claims["exp"] - claims["nbf"] == 600


@pytest.mark.parametrize(
    ("env", "args", "message"),
    [
        (
            {"LIVEKIT_API_KEY": "k"},
            [],
            "set LIVEKIT_API_SECRET to sign tokens",
        ),
        ({}, [], "set LIVEKIT_API_KEY and LIVEKIT_API_SECRET to sign tokens"),
        (
            LIVEKIT,
            ["--metadata", '{"purpose": "sales"}'],
            "--metadata would be refused: Job metadata is malformed: "
            "Object missing required field `tenant_id`",
        ),
        (
            LIVEKIT,
            ["--metadata", "purpose=sales"],
            "--metadata would be refused: Job metadata is not valid JSON: "
            "invalid character (byte 0)",
        ),
        (
            LIVEKIT,
            ["--metadata", '{"tenant_id": "acme"}'],
            "--metadata would be refused: Unknown tenant `acme`",
        ),
        (
            LIVEKIT,
            ["--metadata", '{"tenant_id": "dynamic-co", "flow_id": "clinic"}'],
            "--metadata would be refused: Flow `clinic` belongs to another tenant; "
            "not serving it to tenant `dynamic-co`",
        ),
        (
            LIVEKIT,
            ["--metadata", '{"tenant_id": "dynamic-co", "overrides": {"voice": "nova"}}'],
            "--metadata would be refused: Voice `nova` may not be picked: the flow's "
            "`overridable.voices` allows none",
        ),
        (
            LIVEKIT,
            ["--flows", "nowhere", "--metadata", '{"tenant_id": "acme"}'],
            "Cannot read `nowhere`: No such folder\n"
            "flowctl: error: Cannot read `nowhere/tenants`: No such folder",
        ),
    ],
    ids=[
        "no-secret",
        "no-keys",
        "no-tenant",
        "not-json",
        "unknown-tenant",
        "others-flow",
        "overrides",
        "no-flows",
    ],
)
def test_token_refuses_without_keys_or_with_metadata_the_router_refuses(
    env: dict[str, str], args: list[str], message: str
) -> None:
    code, out, err = run("token", "--room", "r", "--identity", "i", *args, env=env)
    assert code == 2
    assert out == ""
    assert err == f"flowctl: error: {message}\n"


@pytest.fixture
def acme_store(tmp_path: Path) -> str:
    """A store whose tenant ``acme`` has ``desk`` published, made as a user makes it."""
    url = f"sqlite:///{tmp_path}/team.db"
    flow = tmp_path / "desk.json"
    flow.write_bytes(flow_doc("desk"))
    for args in (
        ["store", "init"],
        ["tenants", "create", "acme"],
        ["store", "push", str(flow), "-t", "acme", "--publish"],
    ):
        code, _, err = run(*args, "--store", url)
        assert code == 0, err
    return url


@pytest.mark.parametrize(
    ("room", "joins", "note"),
    [
        ("acme:call-1", "acme:call-1", ""),
        (
            "call-1",
            "acme:call-1",
            "flowctl token: note: the token joins `acme:call-1`: tenant `acme`'s calls run in "
            "its rooms (`acme:<name>`)\n",
        ),
    ],
    ids=["own-room", "named-in-the-tenants-namespace"],
)
def test_token_for_a_stores_tenant_joins_one_of_its_rooms(
    acme_store: str, room: str, joins: str, note: str
) -> None:
    metadata = '{"tenant_id": "acme", "flow_id": "desk"}'
    args = ["--room", room, "--identity", "i", "--metadata", metadata]
    code, out, err = run("token", *args, "--store", acme_store, env=LIVEKIT)
    assert (code, err) == (0, note)
    claims = jwt.decode(out.strip(), LIVEKIT["LIVEKIT_API_SECRET"], algorithms=["HS256"])
    assert claims["video"]["room"] == joins


def test_token_checks_overrides_against_the_stored_version(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/team.db"
    flow = tmp_path / "desk.json"
    flow.write_text(json.dumps({**json.loads(flow_doc("desk")), "overridable": {"tracing": True}}))
    for args in (
        ["store", "init"],
        ["tenants", "create", "acme"],
        ["store", "push", str(flow), "-t", "acme", "--publish"],
    ):
        assert run(*args, "--store", url)[0] == 0, args
    allowed = (
        '{"tenant_id": "acme", "flow_id": "desk", "overrides": {"tracing": {"enabled": true}}}'
    )
    args = ["--room", "acme:call-1", "--identity", "i", "--store", url, "--metadata"]
    code, out, err = run("token", *args, allowed, env=LIVEKIT)
    assert (code, err) == (0, "")
    claims = jwt.decode(out.strip(), LIVEKIT["LIVEKIT_API_SECRET"], algorithms=["HS256"])
    assert claims["roomConfig"] == {"metadata": allowed}  # the worker gets them as asked
    refused = '{"tenant_id": "acme", "flow_id": "desk", "overrides": {"llm": {"model": "x"}}}'
    assert run("token", *args, refused, env=LIVEKIT) == (
        2,
        "",
        "flowctl: error: --metadata would be refused: Unknown override `llm`: a session may "
        "override `variables`, `tracing`, `voice`, `language`\n",
    )


def test_token_for_a_stores_tenant_refuses_another_tenants_room(acme_store: str) -> None:
    """The worker would refuse the job (engine/library.py ``check_room``), in these words."""
    metadata = '{"tenant_id": "acme", "flow_id": "desk"}'
    args = ["--room", "globex:call-1", "--identity", "i", "--metadata", metadata]
    code, out, err = run("token", *args, "--store", acme_store, env=LIVEKIT)
    assert (code, out) == (2, "")
    assert err == (
        "flowctl: error: --room would be refused: Room `globex:call-1` is outside tenant "
        "`acme`'s rooms (`acme:<name>`)\n"
    )


def test_token_with_the_dev_servers_short_secret_says_so_in_one_line() -> None:
    """`livekit-server --dev` signs with `devkey`/`secret`: a note, not PyJWT's warning
    (which the suite's filterwarnings=error would turn into a failure)."""
    dev = {"LIVEKIT_API_KEY": "devkey", "LIVEKIT_API_SECRET": "secret"}
    code, out, err = run("token", "--room", "r", "--identity", "i", env=dev)
    assert code == 0
    assert err == (
        "flowctl token: note: LIVEKIT_API_SECRET is 6 bytes, below the 32 HS256 asks for: "
        "fine with `livekit-server --dev`, not in production\n"
    )
    _, claims, _ = out.strip().split(".")
    assert json.loads(base64.urlsafe_b64decode(claims + "==")) == {
        "iss": "devkey",
        "sub": "i",
        "video": {
            "roomJoin": True,
            "room": "r",
            "canPublish": True,
            "canSubscribe": True,
            "canPublishData": True,
        },
        "nbf": ANY,
        "exp": ANY,
    }


def test_worker_and_token_help_import_no_livekit() -> None:
    code = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from flowctl.cli.main import cli\n"
        "for args in (['worker', '--help'], ['worker', 'start', '--help'], ['token', '--help']):\n"
        "    assert CliRunner().invoke(cli, args).exit_code == 0\n"
        "print(sorted(n for n in sys.modules if n.split('.')[0] in ('livekit', 'worker')))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
    )
    assert proc.stdout.strip() == "[]"
