"""A session's overrides reach only what its flow's ``overridable`` lists. Whoever starts
a tenant's call (a token's caller, a room's metadata) may ask for anything: a model
endpoint of their own, the operator's key by its variable, a tool, a variable the flow
keeps to itself. Each is refused before anything of the session is made (no model, no
voice, no tool), the refusal recorded in the store, and the token API refuses it the
same way. Jobs run through the worker's entrypoint on a real SQLite store."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("livekit.agents")

from apikit import App, error
from storekit import EXAMPLE_POLICY
from tenantkit import OPERATOR_ENV, plain_flow, run_job, url_of

from flowctl.engine.spec import LLMConfig, STTConfig, TTSConfig
from flowctl.engine.store import open_store
from flowctl.engine.store.documents import push_document
from flowctl.worker.fakes import FakePlugins
from flowctl.worker.session import Keys
from flowctl.worker.store_flows import StoreLibrary

# As permissive as `overridable` gets: every kind of override allowed, some of each.
PERMISSIVE = {
    "variables": {"topic": {"type": "str", "description": "What the call is about"}},
    "overridable": {
        "variables": ["topic"],
        "tracing": True,
        "voices": ["nova"],
        "languages": ["es"],
    },
    "llm": {"provider": "openai", "model": "gpt-4o-mini"},
}
KNOWN = "a session may override `variables`, `tracing`, `voice`, `language`"
ATTACKS = [
    (
        {"llm": {"base_url": "https://attacker.example/v1", "api_key_env": "OPENAI_API_KEY"}},
        f"Unknown override `llm`: {KNOWN}",
    ),
    ({"tts": {"api_key_env": "LIVEKIT_API_SECRET"}}, f"Unknown override `tts`: {KNOWN}"),
    ({"stt": {"base_url": "http://169.254.169.254/"}}, f"Unknown override `stt`: {KNOWN}"),
    (
        {"tools": [{"kind": "http", "name": "x", "url": "https://attacker.example/"}]},
        f"Unknown override `tools`: {KNOWN}",
    ),
    ({"base_url": "https://attacker.example/v1"}, f"Unknown override `base_url`: {KNOWN}"),
    (
        {"tracing": {"enabled": True, "provider": "attacker"}},
        "Invalid overrides: Object contains unknown field `provider` - at `$.overrides.tracing`",
    ),
    (
        {"voice": {"api_key_env": "OPENAI_API_KEY"}},
        "Invalid overrides: Expected `str | null`, got `object` - at `$.overrides.voice`",
    ),
    (
        {"variables": {"topic": "refund", "secret_mode": True}},
        "Variable `secret_mode` may not be overridden: the flow's `overridable.variables` "
        "does not list it",
    ),
]
IDS = ["llm", "tts-key", "stt-endpoint", "tool", "base-url", "tracing-exporter", "voice", "var"]


class CountingPlugins(FakePlugins):
    """Stand-ins that count every plugin object asked for: a refused job makes none."""

    def __init__(self) -> None:
        super().__init__()
        self.made: list[str] = []

    def llm(self, config: LLMConfig, keys: Keys | None = None) -> Any:
        self.made.append(f"llm {config.base_url}")
        return super().llm(config, keys)

    def stt(self, config: STTConfig, keys: Keys | None = None) -> Any:
        self.made.append(f"stt {config.base_url}")
        return super().stt(config, keys)

    def tts(self, config: TTSConfig, keys: Keys | None = None) -> Any:
        self.made.append(f"tts {config.base_url}")
        return super().tts(config, keys)


async def _library(tmp_path: Path) -> StoreLibrary:
    url = url_of(tmp_path / "flowctl.db")
    async with await open_store(url, create=True) as store:
        await store.create_tenant("acme", actor="t", policy=EXAMPLE_POLICY)
        acme = store.tenant("acme")
        await push_document(acme, json.dumps(plain_flow("desk", **PERMISSIVE)), actor="t")
        await acme.publish("desk", 1, actor="t")
    return await StoreLibrary(url).preload()


@pytest.mark.parametrize(("overrides", "reason"), ATTACKS, ids=IDS)
async def test_the_worker_refuses_an_override_the_flow_does_not_list(
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    overrides: dict[str, Any],
    reason: str,
) -> None:
    for name, value in OPERATOR_ENV.items():
        monkeypatch.setenv(name, value)
    library = await _library(tmp_path)
    plugins = CountingPlugins()
    with caplog.at_level(logging.INFO):
        job = await run_job(
            library, "acme", "job-1", flow_id="desk", plugins=plugins, overrides=overrides
        )
    assert job.room.shutdowns == [f"flowctl: refused: {reason}"]
    assert (job.room.session, plugins.made, job.room.messages.messages) == (None, [], [])
    info = await library.store.tenant("acme").session("job-1")
    assert (info.end_reason, info.routing["overrides"]) == (f"refused: {reason}", overrides)
    assert not [v for v in OPERATOR_ENV.values() if v in caplog.text]
    await library.aclose()


async def test_what_the_flow_lists_is_all_that_changes(tmp_path: Path) -> None:
    """The positive control: the permissive flow's own overrides run, and the model is
    still the flow's, on the flow's endpoint."""
    library = await _library(tmp_path)
    plugins = CountingPlugins()
    overrides = {"variables": {"topic": "refund"}, "voice": "nova", "language": "es"}
    job = await run_job(
        library, "acme", "job-1", flow_id="desk", plugins=plugins, overrides=overrides
    )
    conv = job.conversation
    assert conv.variables["topic"] == "refund" and "topic" in conv.untrusted
    assert conv.setting("llm") == LLMConfig(provider="openai", model="gpt-4o-mini")
    assert conv.setting("tts") == TTSConfig(voice="nova", language="es")
    assert sorted(plugins.made) == ["llm None", "stt None", "tts None"]
    await job.hang_up()
    await library.aclose()


@pytest.fixture
def api(tmp_path: Path) -> Iterator[App]:
    app = App(tmp_path)
    with app.client("acme-developer") as c:
        c.post("/api/v1/flows", content=json.dumps(plain_flow("desk", **PERMISSIVE)))
        c.post("/api/v1/flows/desk/publish", json={"version": 1})
    yield app
    app.close()


@pytest.mark.parametrize(("overrides", "reason"), ATTACKS, ids=IDS)
def test_the_token_api_refuses_an_override_the_flow_does_not_list(
    api: App, overrides: dict[str, Any], reason: str
) -> None:
    with api.client("acme-developer") as c:
        body = {"room": "r", "identity": "i", "metadata": {"flow_id": "desk"}}
        refused = c.post("/api/v1/tokens", json={**body, "overrides": overrides})
        assert (refused.status_code, refused.json()) == (422, error("overrides_refused", reason))
