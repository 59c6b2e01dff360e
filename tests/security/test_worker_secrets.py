"""A tenant's calls in the worker reach only what the operator granted: their http
headers read the tenant's own secrets (never the worker's environment), their tools
connect only to the tenant's hosts, their model gets the tenant's key on the tenant's
endpoint or the operator's key on the operator's, never the operator's key elsewhere.

Every job runs through the worker's entrypoint on a real SQLite store, and a real
listener on loopback proves that a refused request never reached it."""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("livekit.agents")

from listener import Listener, json_answer
from tenantkit import (
    OPERATOR_ENV,
    Tls,
    hook_flow,
    insert_raw,
    loopback_egress,
    plain_flow,
    run_job,
    until,
    url_of,
)
from workerkit import record_openai_options

from flowctl.engine.boundary import Boundary, Secrets, TenantPolicy
from flowctl.engine.runtime import ToolReturned
from flowctl.engine.spec import LLMConfig, TTSConfig
from flowctl.engine.store import open_store
from flowctl.engine.store.documents import push_document
from flowctl.worker.session import Keys, Plugins, provider_problems
from flowctl.worker.store_flows import StoreLibrary

CRM_TOKEN = "acme-crm-token-1"
STEALING = {
    "Authorization": "Bearer ${LIVEKIT_API_SECRET}",
    "X-Api-Key": "${OPENAI_API_KEY}",
}


@pytest.fixture(autouse=True)
def operator_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in OPERATOR_ENV.items():
        monkeypatch.setenv(name, value)


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Tls:
    return Tls(tmp_path_factory.mktemp("tls"))


@pytest.fixture
async def crm(tls: Tls, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Listener]:
    """The tenant's CRM, on loopback over TLS. Tools trust its certificate, so any
    connection a tool made would complete and be recorded."""
    import aiohttp.connector

    monkeypatch.setattr(aiohttp.connector, "_SSL_CONTEXT_VERIFIED", tls.client)
    async with Listener({"/hook": json_answer({"noted": True})}, ssl=tls.server) as server:
        yield server


async def _store(
    tmp_path: Path, document: dict[str, Any], secrets: dict[str, str] | None = None
) -> str:
    """A store where tenant `acme` (granted `localhost`) has published ``document``."""
    url = url_of(tmp_path / "flowctl.db")
    async with await open_store(url, create=True) as store:
        await store.create_tenant(
            "acme",
            actor="op",
            routing={"default": document["flow_id"]},
            policy=TenantPolicy(egress_hosts=["localhost"]),
        )
        acme = store.tenant("acme")
        for name, value in (secrets or {}).items():
            await acme.set_secret(name, value, actor="acme-admin")
        pushed = await push_document(acme, json.dumps(document), actor="acme-dev")
        await acme.publish(document["flow_id"], pushed.version.version, actor="acme-dev")
    return url


def _library(url: str, **options: Any) -> StoreLibrary:
    return StoreLibrary(
        url, check=functools.partial(provider_problems, env=OPERATOR_ENV), **options
    )


def _results(job: Any) -> list[tuple[bool, str | None]]:
    return [(e.ok, e.error) for e in job.conversation.history if isinstance(e, ToolReturned)]


# --- http tools ----------------------------------------------------------------------------


@pytest.mark.parametrize("loopback", [False, True], ids=["production-egress", "host-reachable"])
async def test_a_tenant_header_never_reads_the_worker_environment(
    tmp_path: Path, crm: Listener, caplog: pytest.LogCaptureFixture, loopback: bool
) -> None:
    url = await _store(tmp_path, hook_flow(crm.url("/hook", host="localhost"), STEALING))
    egress = loopback_egress(crm.port) if loopback else None
    library = await _library(url, egress=egress).preload()
    with caplog.at_level(logging.DEBUG):
        job = await run_job(library, "acme", "job-1")
        assert _results(job) == [
            (
                False,
                "Tool `crm` needs the secret `LIVEKIT_API_SECRET`, which tenant `acme` has not set",
            )
        ]
        assert job.room.session is not None  # the call goes on, without the CRM
        await job.hang_up()
    await library.aclose()
    assert (crm.connections, crm.requests) == (0, [])
    shown = caplog.text + json.dumps(job.room.messages.messages)
    assert not [v for v in OPERATOR_ENV.values() if v in shown]


async def test_a_tenant_tool_reaches_only_its_granted_hosts(tmp_path: Path, crm: Listener) -> None:
    # `localhost` is granted, and lint took the flow; at run time the worker still
    # allows only the granted host on https's port, and no loopback address.
    flow = hook_flow(crm.url("/hook", host="localhost"), {"Authorization": "Bearer ${CRM_TOKEN}"})
    url = await _store(tmp_path, flow, {"CRM_TOKEN": CRM_TOKEN})
    library = await _library(url).preload()
    job = await run_job(library, "acme", "job-1")
    assert _results(job) == [
        (
            False,
            f"Tool `crm` may not call `localhost`: port {crm.port} is not on this tenant's "
            "egress allowlist",
        )
    ]
    await job.hang_up()
    await library.aclose()
    assert (crm.connections, crm.requests) == (0, [])


async def test_a_tenant_tool_sends_its_own_secret_to_its_granted_host(
    tmp_path: Path, crm: Listener, caplog: pytest.LogCaptureFixture
) -> None:
    # The positive control: with loopback allowed (tests only), the same path delivers.
    flow = hook_flow(crm.url("/hook", host="localhost"), {"Authorization": "Bearer ${CRM_TOKEN}"})
    url = await _store(tmp_path, flow, {"CRM_TOKEN": CRM_TOKEN})
    library = await _library(url, egress=loopback_egress(crm.port)).preload()
    with caplog.at_level(logging.DEBUG):
        job = await run_job(library, "acme", "job-1")
        assert _results(job) == [(True, None)]
        await job.hang_up()
    await library.aclose()
    [request] = crm.requests
    assert (request.method, request.target) == ("POST", "/hook")
    assert request.headers["authorization"] == f"Bearer {CRM_TOKEN}"
    assert CRM_TOKEN not in caplog.text + json.dumps(job.room.messages.messages)
    assert CRM_TOKEN not in repr(library.served())


async def test_a_rotated_secret_reaches_the_next_call(tmp_path: Path, crm: Listener) -> None:
    flow = hook_flow(crm.url("/hook", host="localhost"), {"Authorization": "Bearer ${CRM_TOKEN}"})
    url = await _store(tmp_path, flow, {"CRM_TOKEN": "token-before"})
    library = _library(url, egress=loopback_egress(crm.port), poll=0.02)
    await library.preload()
    first = await run_job(library, "acme", "job-1")
    await first.hang_up()
    async with await open_store(url) as store:
        await store.tenant("acme").set_secret("CRM_TOKEN", "token-after", actor="acme-admin")
        change = await store.changes()
    await until(lambda: library.catalog.change == change)
    second = await run_job(library, "acme", "job-2")
    await second.hang_up()
    await library.aclose()
    assert [r.headers["authorization"] for r in crm.requests] == [
        "Bearer token-before",
        "Bearer token-after",
    ]


# --- the model's endpoint and keys ---------------------------------------------------------


@pytest.fixture
async def llm() -> AsyncIterator[Listener]:
    """A tenant's "OpenAI-compatible" endpoint on loopback: it must never hear from us."""
    async with Listener({}) as server:
        yield server


async def test_a_tenant_endpoint_without_the_tenants_key_is_not_served(
    tmp_path: Path, llm: Listener, caplog: pytest.LogCaptureFixture
) -> None:
    base_url = llm.url("/v1")
    url = url_of(tmp_path / "flowctl.db")
    async with await open_store(url, create=True) as store:
        await store.create_tenant("acme", actor="op", routing={"default": "bare"})
        acme = store.tenant("acme")
        # `api_key_env` names the operator's variable, with the tenant's endpoint: lint
        # only warns (FL509), but the key it names is no secret of the tenant
        named = plain_flow("named", llm={"base_url": base_url, "api_key_env": "OPENAI_API_KEY"})
        pushed = await push_document(acme, json.dumps(named), actor="acme-dev")
        await acme.publish("named", pushed.version.version, actor="acme-dev")
    # no key at all (FL510), written before this release
    insert_raw(
        tmp_path / "flowctl.db", "acme", "bare", plain_flow("bare", llm={"base_url": base_url})
    )

    library = _library(url)
    with caplog.at_level(logging.WARNING, logger="flowctl.worker.store_flows"):
        await library.preload()
    reasons = {
        "named": "Flow `named` v1 of tenant `acme` cannot be served: `llm` (openai) needs the "
        "secret `OPENAI_API_KEY`, which tenant `acme` has not set",
        "bare": f"Flow `bare` v1 of tenant `acme` cannot be served: FL510 `base_url` "
        f"`{base_url}` needs `api_key_env` naming a secret of tenant `acme`: the operator's "
        "key only goes to the operator's endpoint - at `$.llm.base_url`",
    }
    assert [r.getMessage() for r in caplog.records] == [reasons["bare"], reasons["named"]]
    real = Plugins(env=OPERATOR_ENV)  # the providers' real plugins, with the operator's keys
    for flow_id, reason in reasons.items():
        job = await run_job(library, "acme", f"job-{flow_id}", flow_id=flow_id, plugins=real)
        assert job.room.session is None
        assert job.room.shutdowns == [f"flowctl: refused: {reason}"]
    await library.aclose()
    assert (llm.connections, llm.requests) == (0, [])


ACME = Boundary(tenant_id="acme", policy=TenantPolicy(), secrets=frozenset({"LLM_KEY"}))
SECRETS = Secrets("acme", {"LLM_KEY": "acme-llm-key"})


@pytest.mark.parametrize(
    ("config", "key", "endpoint"),
    [
        (
            LLMConfig(base_url="https://llm.acme.example/v1", api_key_env="LLM_KEY"),
            "acme-llm-key",
            "https://llm.acme.example/v1/",
        ),
        (LLMConfig(api_key_env="LLM_KEY"), "acme-llm-key", "https://api.openai.com/v1/"),
        (LLMConfig(), OPERATOR_ENV["OPENAI_API_KEY"], "https://api.openai.com/v1/"),
        (
            LLMConfig(api_key_env="OPENAI_API_KEY"),
            OPERATOR_ENV["OPENAI_API_KEY"],
            "https://api.openai.com/v1/",
        ),
    ],
    ids=["own-key-own-endpoint", "own-key", "operators", "operators-by-name"],
)
async def test_a_tenant_model_gets_its_own_key_or_the_operators_on_the_operators_endpoint(
    config: LLMConfig, key: str, endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    made_with = record_openai_options(monkeypatch)
    model = Plugins(env=OPERATOR_ENV).llm(config, Keys(OPERATOR_ENV, ACME, SECRETS))
    client = made_with(model)["client"]
    assert (client.api_key, str(client.base_url)) == (key, endpoint)
    await client.close()


@pytest.mark.parametrize(
    ("config", "problem"),
    [
        (
            LLMConfig(base_url="https://llm.acme.example/v1"),
            "`llm` (openai) sends its requests to `https://llm.acme.example/v1` with no key of "
            "tenant `acme` (`api_key_env` naming one of its secrets); the operator's key only "
            "goes to the operator's endpoint",
        ),
        (
            LLMConfig(base_url="https://llm.acme.example/v1", api_key_env="OPENAI_API_KEY"),
            "`llm` (openai) needs the secret `OPENAI_API_KEY`, which tenant `acme` has not set",
        ),
        (
            TTSConfig(api_key_env="VOICE_KEY"),
            "`tts` (openai) needs the secret `VOICE_KEY`, which tenant `acme` has not set",
        ),
    ],
    ids=["endpoint-no-key", "endpoint-operators-variable", "unset-secret"],
)
def test_a_tenant_model_never_gets_the_operators_key_elsewhere(
    config: LLMConfig | TTSConfig, problem: str
) -> None:
    plugins = Plugins(env=OPERATOR_ENV)
    make = plugins.llm if isinstance(config, LLMConfig) else plugins.tts
    with pytest.raises(ValueError) as caught:
        make(config, Keys(OPERATOR_ENV, ACME, SECRETS))  # type: ignore[arg-type]
    assert str(caught.value) == problem
