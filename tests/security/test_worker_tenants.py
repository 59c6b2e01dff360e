"""One tenant cannot stop the fleet, nor borrow another's rooms: a published flow the
worker cannot serve (lint refuses it under the tenant's policy, a provider the worker
does not run, a key it cannot have, a catalog function that does not import) is
reported and refused alone, at start and when it is published while the worker runs;
a tenant's flow runs only in that tenant's rooms. Refusals are logged and recorded in
the store as sessions ended at once.

Jobs run through the worker's entrypoint on a real SQLite store."""

from __future__ import annotations

import asyncio
import functools
import json
import logging
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("livekit.agents")

from click.testing import CliRunner
from conftest import FLOWS
from storekit import EXAMPLE_POLICY
from tenantkit import OPERATOR_ENV, insert_raw, plain_flow, run_job, until, url_of

from flowctl.cli.main import cli
from flowctl.engine.boundary import CatalogEntry, TenantPolicy, ToolCatalog
from flowctl.engine.store import open_store
from flowctl.engine.store.documents import push_document
from flowctl.worker.session import provider_problems
from flowctl.worker.store_flows import StoreLibrary

LIVEKIT = {
    "LIVEKIT_URL": "wss://example.livekit.cloud",
    "LIVEKIT_API_KEY": "APIkey",
    "LIVEKIT_API_SECRET": "a-secret-long-enough-for-hmac-sha256-keys",
}
# Written before this release, when the store took python tools from tenants.
SHELL = {
    "flow_id": "shell",
    "tools": [
        {
            "kind": "python",
            "name": "run",
            "description": "Run a command for the caller.",
            "function": "os:system",
        }
    ],
    "agents": [
        {
            "name": "Main",
            "instructions": "Help the caller.",
            "tools": ["run"],
            "edges": [
                {
                    "name": "finish",
                    "description": "The caller has no more questions and says goodbye",
                    "target_agent": "Goodbye",
                }
            ],
        },
        {"name": "Goodbye", "instructions": "Say goodbye.", "end": True},
    ],
}
SHELL_REFUSED = (
    "Flow `shell` v1 of tenant `globex` cannot be served: FL507 Tool `run` imports "
    "`os:system`: a tenant's flow runs Python only from the operator's catalog; use "
    '`"kind": "catalog"` with a tool granted to tenant `globex` - at `$.tools[0].function`'
)


async def _store(tmp_path: Path, catalog: ToolCatalog | None = None) -> str:
    """Tenants `acme` (publishing `desk`, which the worker can serve) and `globex`."""
    url = url_of(tmp_path / "flowctl.db")
    async with await open_store(url, create=True, catalog=catalog) as store:
        await store.create_tenant("acme", actor="op", routing={"default": "desk"})
        await store.create_tenant("globex", actor="op", policy=TenantPolicy(tools=["lookup_order"]))
        await _publish(store, "acme", plain_flow("desk"))
    return url


async def _publish(store: Any, tenant_id: str, document: dict[str, Any]) -> None:
    tenant = store.tenant(tenant_id)
    pushed = await push_document(tenant, json.dumps(document), actor=f"{tenant_id}-dev")
    await tenant.publish(document["flow_id"], pushed.version.version, actor=f"{tenant_id}-dev")


def _library(url: str, **options: Any) -> StoreLibrary:
    return StoreLibrary(
        url, check=functools.partial(provider_problems, env=OPERATOR_ENV), **options
    )


def _refusals(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "flowctl.worker.server"]


async def _end_reason(url: str, tenant_id: str, session_id: str) -> str | None:
    async with await open_store(url) as store:
        info = await store.tenant(tenant_id).session(session_id)
    assert info.ended_at is not None
    return info.end_reason


async def _served_desk(library: StoreLibrary, job_id: str) -> None:
    """Tenant `acme`'s call is served, whatever the other tenant publishes."""
    job = await run_job(library, "acme", job_id)
    assert job.conversation is not None and job.conversation.compiled.flow_id == "desk"
    await job.hang_up()


async def _refused_alone(library: StoreLibrary, flow_id: str, reason: str) -> None:
    """Tenant `globex`'s job for ``flow_id`` is refused for ``reason``, and tenant `acme`'s
    desk is served all the same."""
    refused = await run_job(library, "globex", f"job-{flow_id}", flow_id=flow_id)
    assert refused.room.shutdowns == [f"flowctl: refused: {reason}"]
    await _served_desk(library, "job-desk")


async def test_a_version_that_bypassed_lint_is_refused_alone(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url = await _store(tmp_path)
    insert_raw(tmp_path / "flowctl.db", "globex", "shell", SHELL)
    library = _library(url)
    with caplog.at_level(logging.WARNING):
        await library.preload()
        assert [r.getMessage() for r in caplog.records] == [SHELL_REFUSED]
        assert [s.location for s in library.served()] == ["acme/desk@v1"]
        assert [(u.location, u.reason) for u in library.unservable()] == [
            ("globex/shell@v1", SHELL_REFUSED)
        ]
        caplog.clear()
        refused = await run_job(library, "globex", "job-shell", flow_id="shell")
        assert refused.room.session is None  # no session started, nothing compiled
        assert refused.room.shutdowns == [f"flowctl: refused: {SHELL_REFUSED}"]
        assert _refusals(caplog) == [f"job job-shell refused: {SHELL_REFUSED}"]
        await _served_desk(library, "job-desk")
    await library.aclose()
    assert await _end_reason(url, "globex", "job-shell") == f"refused: {SHELL_REFUSED}"
    assert await _end_reason(url, "acme", "job-desk") == "hangup"


async def test_a_publish_while_the_worker_runs_is_checked_too(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url = await _store(tmp_path)
    library = _library(url, poll=0.02)
    await library.preload()
    await library.start()
    # lint only warns (FL509: the secret is not set); the worker cannot give it a key
    keyed = plain_flow("keyed", llm={"api_key_env": "LLM_KEY"})
    reason = (
        "Flow `keyed` v1 of tenant `globex` cannot be served: `llm` (openai) needs the "
        "secret `LLM_KEY`, which tenant `globex` has not set"
    )
    with caplog.at_level(logging.WARNING, logger="flowctl.worker.store_flows"):
        async with await open_store(url) as store:
            await _publish(store, "globex", keyed)
        await until(lambda: bool(library.unservable()))
    assert [r.getMessage() for r in caplog.records] == [reason]
    await _refused_alone(library, "keyed", reason)
    await library.aclose()
    assert await _end_reason(url, "globex", "job-keyed") == f"refused: {reason}"


async def test_a_narrowed_policy_takes_a_published_flow_out_of_service(tmp_path: Path) -> None:
    url = await _store(tmp_path)
    hook = {
        "kind": "http",
        "name": "crm",
        "description": "Look the caller up in the CRM.",
        "url": "https://crm.globex.example/lookup",
    }
    async with await open_store(url) as store:
        globex = store.tenant("globex")
        await globex.set_policy(TenantPolicy(egress_hosts=["crm.globex.example"]), actor="op")
        await _publish(store, "globex", plain_flow("hooked", tools=[hook]))
    library = _library(url, poll=0.02)
    await library.preload()
    await library.start()
    assert [s.location for s in library.served()] == ["acme/desk@v1", "globex/hooked@v1"]
    async with await open_store(url) as store:
        await store.tenant("globex").set_policy(TenantPolicy(), actor="op")  # host revoked
    await until(lambda: bool(library.unservable()))
    reason = (
        "Flow `hooked` v1 of tenant `globex` cannot be served: FL511 Host `crm.globex.example` "
        "of tool `crm` is not on the egress allowlist of tenant `globex`; the operator grants "
        "hosts with `flowctl tenants policy globex --allow-host crm.globex.example` - at "
        "`$.tools[0].url`"
    )
    assert [u.reason for u in library.unservable()] == [reason]
    await _refused_alone(library, "hooked", reason)
    await library.aclose()


async def test_a_catalog_tool_whose_function_is_missing_is_not_served(tmp_path: Path) -> None:
    # A catalog that was not checked (the worker checks its own at start): the entry's
    # module is gone.
    catalog = ToolCatalog(
        tools={
            "lookup_order": CatalogEntry(
                function="flowctl_no_such_module:lookup", description="Find an order."
            )
        }
    )
    url = await _store(tmp_path, catalog)
    async with await open_store(url, catalog=catalog) as store:
        tools = [{"kind": "catalog", "name": "lookup_order"}]
        await _publish(store, "globex", plain_flow("orders", tools=tools))
    library = await _library(url, tools=catalog).preload()
    reason = (
        "Flow `orders` v1 of tenant `globex` cannot be served: Tool `lookup_order` cannot "
        "import `flowctl_no_such_module:lookup`: No module named 'flowctl_no_such_module'"
    )
    assert [u.reason for u in library.unservable()] == [reason]
    await _refused_alone(library, "orders", reason)
    await library.aclose()


# --- rooms ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("room", "shown"),
    [
        ("globex:call-1", "Room `globex:call-1`"),
        ("call-1", "Room `call-1`"),
        ("acme", "Room `acme`"),
        ("acme-corp:call-1", "Room `acme-corp:call-1`"),
        ("", "A job with no room"),
    ],
    ids=["other-tenant", "no-namespace", "bare-tenant-id", "prefix-of-another", "no-room"],
)
async def test_a_job_outside_the_tenants_rooms_is_refused(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, room: str, shown: str
) -> None:
    url = await _store(tmp_path)
    library = await _library(url).preload()
    reason = (
        f"{shown} is outside tenant `acme`'s rooms (`acme:<name>`); not serving flow `desk` there"
    )
    with caplog.at_level(logging.WARNING, logger="flowctl.worker.server"):
        job = await run_job(library, "acme", "job-1", room_name=room)
    assert job.room.session is None and job.room.agent is None  # nothing started
    assert job.room.shutdowns == [f"flowctl: refused: {reason}"]
    assert _refusals(caplog) == [f"job job-1 refused: {reason}"]
    await library.aclose()
    assert await _end_reason(url, "acme", "job-1") == f"refused: {reason}"


async def test_a_room_name_is_shown_escaped(tmp_path: Path) -> None:
    url = await _store(tmp_path)
    library = await _library(url).preload()
    job = await run_job(library, "acme", "job-1", room_name="globex:x\nacme:y")
    assert job.room.shutdowns == [
        "flowctl: refused: Room `globex:x\\x0aacme:y` is outside tenant `acme`'s rooms "
        "(`acme:<name>`); not serving flow `desk` there"
    ]
    await library.aclose()


# --- flowctl worker start --store ----------------------------------------------------------


def test_worker_start_with_a_store_serves_every_flow_it_can(tmp_path: Path, ran: list) -> None:  # type: ignore[type-arg]
    async def populate() -> str:
        url = await _store(tmp_path)
        openai = {"provider": "openai"}
        async with await open_store(url) as store:
            await store.create_tenant("initech", actor="op", policy=EXAMPLE_POLICY)
            await _publish(store, "acme", plain_flow("desk", stt=openai))  # v2
            voice = plain_flow("voice", stt=openai, tts={"provider": "elevenlabs"})
            await _publish(store, "globex", voice)
            await _publish(store, "initech", plain_flow("deep", stt={"provider": "deepgram"}))
        return url

    url = asyncio.run(populate())
    env = {**LIVEKIT, "OPENAI_API_KEY": "sk-operator", "DEEPGRAM_API_KEY": ""}
    result = CliRunner().invoke(cli, ["worker", "start", "--store", url], env=env)
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert result.stderr == (
        "flowctl: error: globex/voice@v1: `tts` (elevenlabs) needs ELEVEN_API_KEY in the "
        "environment\n"
        "flowctl: error: initech/deep@v1: `stt` (deepgram) needs DEEPGRAM_API_KEY in the "
        "environment\n"
        f"flowctl worker: 1 flows of 1 tenants from {url}, 2 not served, for every new room\n"
    )
    [(_, options)] = ran  # it runs
    assert options == {"dev": False, "log_level": "INFO"}


def test_worker_refuses_a_catalog_whose_functions_do_not_import(
    tmp_path: Path,
    ran: list,  # type: ignore[type-arg]
) -> None:
    catalog = tmp_path / "tools.json"
    catalog.write_text(
        json.dumps({"tools": {"lookup_order": {"function": "flowctl_no_such_module:lookup"}}})
    )
    url = asyncio.run(_store(tmp_path))
    env = {**LIVEKIT, **OPERATOR_ENV}
    result = CliRunner().invoke(
        cli, ["worker", "start", "--store", url, "--tools", str(catalog)], env=env
    )
    assert result.exit_code == 2
    assert result.stderr == (
        f"flowctl: error: Cannot use tool catalog `{catalog}`:\n"
        f"{catalog}: Tool `lookup_order`: cannot import `flowctl_no_such_module:lookup`: "
        "No module named 'flowctl_no_such_module'\n"
    )
    assert ran == []


def test_worker_hints_name_the_store_it_serves(
    tmp_path: Path,
    ran: list,  # type: ignore[type-arg]
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A hint naming a store command names the worker's ``--store``: pasted as printed,
    it acts on that store, at start-up and in the job processes' logs alike."""
    url = url_of(tmp_path / "team.db")  # not the default store
    grant = "the operator grants destinations with `flowctl tenants policy acme "
    fix = f"{grant}--allow-transfer tel:+15555550100 --store {url}`"

    async def revoked() -> None:
        """The clinic published with its transfer granted, then the grant taken back."""
        async with await open_store(url, create=True) as store:
            await store.create_tenant("acme", actor="op", policy=EXAMPLE_POLICY)
            await _publish(store, "acme", json.loads((FLOWS / "clinic.json").read_text()))
            await store.tenant("acme").set_policy(None, actor="op")

    asyncio.run(revoked())
    env = {**LIVEKIT, **OPERATOR_ENV}
    result = CliRunner().invoke(cli, ["worker", "start", "--store", url], env=env)
    assert result.exit_code == 0, result.output
    problem = (
        "FL513 `transfer_call` transfers to `tel:+15555550100`, which tenant `acme` may not "
        f"call; {fix} - at `$.tools[4].transfer_to`"
    )
    assert result.stderr == (
        f"flowctl: error: acme/clinic@v1: {problem}\n"
        f"flowctl worker: 0 flows of 0 tenants from {url}, 1 not served, for every new room\n"
    )

    async def job() -> None:
        library = _library(url)
        with caplog.at_level(logging.WARNING):
            await library.preload()
            await run_job(library, "acme", "job-1", flow_id="clinic")
        await library.aclose()

    asyncio.run(job())
    refused = f"Flow `clinic` v1 of tenant `acme` cannot be served: {problem}"
    assert [r.getMessage() for r in caplog.records] == [refused, f"job job-1 refused: {refused}"]
