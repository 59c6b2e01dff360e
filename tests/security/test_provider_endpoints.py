"""A tenant's voice and ears obey the same boundary as its model: a speech-to-text or
text-to-speech block with a `base_url` of the tenant's gets the tenant's own key or is
not served; the operator's ElevenLabs, Cartesia or AssemblyAI key never goes to it.

The refused flows run through the worker's entrypoint on a real SQLite store, and a
real listener on loopback proves the provider's plugin never connected to it; the
served one is heard by a fake of ElevenLabs' API, which records the key it was sent."""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

pytest.importorskip("livekit.agents")

from listener import Listener
from livekit.agents import utils
from provider_fakes import FakeElevenLabs
from tenantkit import OPERATOR_ENV, insert_raw, plain_flow, run_job, url_of

from flowctl.engine.boundary import Boundary, Secrets, TenantPolicy
from flowctl.engine.spec import STTConfig, TTSConfig
from flowctl.engine.store import open_store
from flowctl.engine.store.documents import push_document
from flowctl.worker.session import Keys, Plugins, provider_problems
from flowctl.worker.store_flows import StoreLibrary

# The operator's keys of the voice providers, beside the OpenAI and Deepgram ones.
OPERATOR = {
    **OPERATOR_ENV,
    "ELEVEN_API_KEY": "el-operator-key-never-leaves",
    "CARTESIA_API_KEY": "ca-operator-key-never-leaves",
    "ASSEMBLYAI_API_KEY": "aai-operator-key-never-leaves",
}
ACME = Boundary(tenant_id="acme", policy=TenantPolicy(), secrets=frozenset({"VOICE_KEY"}))
SECRETS = Secrets("acme", {"VOICE_KEY": "acme-voice-key"})


@pytest.fixture
async def endpoint() -> AsyncIterator[Listener]:
    """A tenant's "voice provider" on loopback: it must never hear from us."""
    async with Listener({}) as server:
        yield server


async def test_a_tenant_voice_endpoint_without_the_tenants_key_is_not_served(
    tmp_path: Path, endpoint: Listener, caplog: pytest.LogCaptureFixture
) -> None:
    base_url = endpoint.url("")
    url = url_of(tmp_path / "flowctl.db")
    async with await open_store(url, create=True) as store:
        await store.create_tenant("acme", actor="op", routing={"default": "ears"})
        acme = store.tenant("acme")
        # the operator's variable, on the tenant's endpoint: a warning at push (FL509),
        # and no key the worker will send there
        ears = plain_flow(
            "ears",
            stt={
                "provider": "assemblyai",
                "base_url": base_url,
                "api_key_env": "ASSEMBLYAI_API_KEY",
            },
        )
        pushed = await push_document(acme, json.dumps(ears), actor="acme-dev")
        await acme.publish("ears", pushed.version.version, actor="acme-dev")
    # no key at all (FL510), written before this release
    voice = plain_flow("voice", tts={"provider": "cartesia", "base_url": base_url})
    insert_raw(tmp_path / "flowctl.db", "acme", "voice", voice)

    library = StoreLibrary(url, check=functools.partial(provider_problems, env=OPERATOR))
    with caplog.at_level(logging.WARNING, logger="flowctl.worker.store_flows"):
        await library.preload()
    reasons = {
        "ears": "Flow `ears` v1 of tenant `acme` cannot be served: `stt` (assemblyai) needs "
        "the secret `ASSEMBLYAI_API_KEY`, which tenant `acme` has not set",
        "voice": f"Flow `voice` v1 of tenant `acme` cannot be served: FL510 `base_url` "
        f"`{base_url}` needs `api_key_env` naming a secret of tenant `acme`: the operator's "
        "key only goes to the operator's endpoint - at `$.tts.base_url`",
    }
    assert sorted(r.getMessage() for r in caplog.records) == sorted(reasons.values())
    real = Plugins(env=OPERATOR)  # the providers' real plugins, with the operator's keys
    for flow_id, reason in reasons.items():
        job = await run_job(library, "acme", f"job-{flow_id}", flow_id=flow_id, plugins=real)
        assert job.room.session is None
        assert job.room.shutdowns == [f"flowctl: refused: {reason}"]
    await library.aclose()
    assert (endpoint.connections, endpoint.requests) == (0, [])


@pytest.mark.parametrize(
    ("config", "key"),
    [
        (TTSConfig(provider="elevenlabs"), OPERATOR["ELEVEN_API_KEY"]),
        (
            TTSConfig(provider="cartesia", api_key_env="CARTESIA_API_KEY"),
            OPERATOR["CARTESIA_API_KEY"],
        ),
        (STTConfig(provider="assemblyai", api_key_env="VOICE_KEY"), "acme-voice-key"),
        (
            STTConfig(
                provider="assemblyai", base_url="wss://asr.acme.example", api_key_env="VOICE_KEY"
            ),
            "acme-voice-key",
        ),
    ],
    ids=["operators", "operators-by-name", "own-key", "own-key-own-endpoint"],
)
def test_a_tenant_voice_gets_its_own_key_or_the_operators_on_the_operators_endpoint(
    config: TTSConfig | STTConfig, key: str
) -> None:
    assert Keys(OPERATOR, ACME, SECRETS).key(config.provider, config) == key


@pytest.mark.parametrize(
    ("config", "problem"),
    [
        (
            TTSConfig(provider="elevenlabs", base_url="https://tts.acme.example"),
            "`tts` (elevenlabs) sends its requests to `https://tts.acme.example` with no key of "
            "tenant `acme` (`api_key_env` naming one of its secrets); the operator's key only "
            "goes to the operator's endpoint",
        ),
        (
            STTConfig(
                provider="assemblyai",
                base_url="wss://asr.acme.example",
                api_key_env="ASSEMBLYAI_API_KEY",
            ),
            "`stt` (assemblyai) needs the secret `ASSEMBLYAI_API_KEY`, which tenant `acme` has "
            "not set",
        ),
    ],
    ids=["endpoint-no-key", "endpoint-operators-variable"],
)
def test_a_tenant_voice_never_gets_the_operators_key_elsewhere(
    config: TTSConfig | STTConfig, problem: str
) -> None:
    plugins = Plugins(env=OPERATOR)
    make = plugins.tts if isinstance(config, TTSConfig) else plugins.stt
    with pytest.raises(ValueError) as caught:
        make(config, Keys(OPERATOR, ACME, SECRETS))  # type: ignore[arg-type]
    assert str(caught.value) == problem


async def test_a_tenant_voice_on_its_own_endpoint_sends_the_tenants_key_there() -> None:
    async with FakeElevenLabs(sample_rate=16000, frames=2) as api, utils.http_context.open():
        config = TTSConfig(
            provider="elevenlabs",
            base_url=api.url,
            api_key_env="VOICE_KEY",
            options={"encoding": "pcm_16000"},
        )
        voice = Plugins(env=OPERATOR).tts(config, Keys(OPERATOR, ACME, SECRETS))
        frames = [audio.frame async for audio in voice.synthesize("Hello.")]
        await voice.aclose()
    assert frames
    assert [r["key"] for r in api.requests] == ["acme-voice-key"]
