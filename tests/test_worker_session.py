"""The session factory: every provider block of the example flows becomes a LiveKit
plugin object with dummy keys (no network), missing keys and unknown providers stop the
worker before it starts, and each session's states get their own voice."""

from __future__ import annotations

import sys
from typing import Any

import pytest

pytest.importorskip("livekit.agents")

from conftest import EXAMPLES, FLOWS
from livekit.plugins import deepgram, openai, silero
from workerkit import record_openai_options

from flowctl.engine.library import FileLibrary, ServedFlow
from flowctl.engine.runtime import Conversation
from flowctl.engine.spec import LLMConfig, STTConfig, TTSConfig, VADConfig
from flowctl.worker.fakes import FakePlugins
from flowctl.worker.session import (
    Plugins,
    SessionFactory,
    check_providers,
    load_vads,
    steers_voice,
)

KEYS = {"OPENAI_API_KEY": "sk-test", "DEEPGRAM_API_KEY": "dg-test", "CRM_KEY": "x"}


async def _close(*made: Any) -> None:
    for m in made:
        await m.aclose()


async def test_every_provider_of_the_example_flows_builds_without_a_network(
    examples: FileLibrary, monkeypatch: pytest.MonkeyPatch
) -> None:
    made_with = record_openai_options(monkeypatch)
    plugins = Plugins(env=KEYS)
    made: list[Any] = []
    seen = set()
    for served in examples.served():
        flow = served.compiled.flow
        assert flow.stt is not None and flow.llm is not None and flow.tts is not None
        stt_, llm_, tts_ = plugins.stt(flow.stt), plugins.llm(flow.llm), plugins.tts(flow.tts)
        made += [stt_, llm_, tts_]
        assert isinstance(stt_, deepgram.STT)
        assert isinstance(llm_, openai.LLM) and llm_.model == flow.llm.model
        assert isinstance(tts_, openai.TTS) and made_with(tts_)["voice"] == flow.tts.voice
        for state in flow.agents:
            if state.tts is not None:
                voice = plugins.tts(state.tts)
                made.append(voice)
                assert made_with(voice)["voice"] == state.tts.voice
                seen.add((served.flow_id, state.name, state.tts.voice))
    assert seen == {
        ("clinic", "SpecialistAgent", "sage"),
        ("restaurant_agent", "Reservation", "coral"),
        ("restaurant_agent", "Takeaway", "verse"),
        ("restaurant_agent", "Checkout", "ash"),
    }
    await _close(*made)


async def test_the_other_providers_build_too() -> None:
    plugins = Plugins(env=KEYS)
    whisper = plugins.stt(STTConfig(provider="openai", model="gpt-4o-mini-transcribe"))
    aura = plugins.tts(TTSConfig(provider="deepgram", voice="aura-2-thalia-en"))
    local = Plugins(env={}).llm(LLMConfig(model="llama3", base_url="http://localhost:11434/v1"))
    assert isinstance(whisper, openai.STT)
    assert isinstance(aura, deepgram.TTS) and aura.model == "aura-2-thalia-en"
    assert isinstance(local, openai.LLM) and local.model == "llama3"
    await _close(whisper, aura, local)


def test_missing_keys_are_named_before_the_worker_starts(examples: FileLibrary) -> None:
    problems = check_providers(examples.served(), {})
    blocks = [
        ("stt", "deepgram", "DEEPGRAM_API_KEY"),
        ("llm", "openai", "OPENAI_API_KEY"),
        ("tts", "openai", "OPENAI_API_KEY"),
    ]
    # States with a voice of their own, whose tts names no key variable either.
    voices = {"clinic": [1], "restaurant_agent": [1, 2, 3]}
    expected = [
        f"{FLOWS}/{name}.json: `{block}` ({provider}) needs {var} in the environment"
        for name in [path.stem for path in EXAMPLES]
        for block, provider, var in blocks
        + [(f"agents[{i}].tts", "openai", "OPENAI_API_KEY") for i in voices.get(name, [])]
    ]
    assert problems == expected
    assert check_providers(examples.served(), KEYS) == []


def _served(flow: dict[str, Any], tmp_path: Any) -> list[ServedFlow]:
    import json

    (tmp_path / "tenants").mkdir()
    (tmp_path / "f.json").write_text(json.dumps(flow))
    (tmp_path / "tenants" / "t.json").write_text(json.dumps({"tenant_id": "t", "flows": ["f"]}))
    return list(FileLibrary.load(tmp_path).served())


def test_each_blocks_key_variable_is_named_before_the_worker_starts(tmp_path: Any) -> None:
    flow = {
        "agents": [
            {
                "name": "Main",
                "instructions": "Help the caller.",
                "end": True,
                "llm": {"provider": "anthropic", "model": "claude-haiku-4-5"},
            }
        ],
        "stt": {"provider": "assemblyai"},
        "llm": {"provider": "openai", "api_key_env": "ACME_OPENAI_KEY"},
        "tts": {"provider": "elevenlabs"},
    }
    where = f"{tmp_path}/f.json"
    assert check_providers(_served(flow, tmp_path), {"OPENAI_API_KEY": "sk"}) == [
        f"{where}: `stt` (assemblyai) needs ASSEMBLYAI_API_KEY in the environment",
        f"{where}: `llm` (openai) needs ACME_OPENAI_KEY in the environment",
        f"{where}: `tts` (elevenlabs) needs ELEVEN_API_KEY in the environment",
        f"{where}: `agents[0].llm` (anthropic) needs ANTHROPIC_API_KEY in the environment",
    ]


def test_an_unknown_provider_stops_the_worker_even_when_lint_is_told_to_look_away(
    tmp_path: Any,
) -> None:
    # Lint reports an unknown provider (FL010); a flow that silences it still cannot run.
    flow = {
        "lint": {"ignore": ["FL010"]},
        "agents": [{"name": "Main", "instructions": "Help the caller.", "end": True}],
        "stt": {"provider": "whisper-local"},
        "tts": {"provider": "polly"},
    }
    where = f"{tmp_path}/f.json"
    assert check_providers(_served(flow, tmp_path), KEYS) == [
        f"{where}: `stt` names provider `whisper-local`; the worker runs deepgram, openai, "
        "assemblyai",
        f"{where}: `tts` names provider `polly`; the worker runs openai, deepgram, elevenlabs, "
        "cartesia",
    ]


def test_a_provider_whose_plugin_is_not_installed_names_the_extra_to_install(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As when flowctl-voice was installed without its `cartesia` extra.
    import livekit.plugins

    monkeypatch.setitem(sys.modules, "livekit.plugins.cartesia", None)
    monkeypatch.delattr(livekit.plugins, "cartesia", raising=False)
    flow = {
        "agents": [{"name": "Main", "instructions": "Help the caller.", "end": True}],
        "tts": {"provider": "cartesia"},
    }
    needs = "needs livekit-plugins-cartesia: pip install 'flowctl-voice[cartesia]'"
    env = {**KEYS, "CARTESIA_API_KEY": "ca-test"}
    assert check_providers(_served(flow, tmp_path), env) == [
        f"{tmp_path}/f.json: `tts` (cartesia) {needs}"
    ]
    with pytest.raises(ValueError) as info:
        Plugins(env=env).tts(TTSConfig(provider="cartesia"))
    assert str(info.value) == f"`tts` (cartesia) {needs}"


def test_a_plugin_without_its_key_fails_with_the_variable_name() -> None:
    with pytest.raises(ValueError) as info:
        Plugins(env={}).tts(TTSConfig(provider="deepgram"))
    assert str(info.value) == "`tts` (deepgram) needs DEEPGRAM_API_KEY in the environment"


def test_vads_load_once_per_distinct_setting() -> None:
    vads = load_vads(
        [VADConfig(), VADConfig(turn_detection="stt"), VADConfig(min_silence_duration=0.3)]
    )
    assert list(vads) == [(None, None, None), (None, None, 0.3)]
    assert all(isinstance(v, silero.VAD) for v in vads.values())


async def test_each_state_speaks_with_its_own_voice_and_equal_configs_share_one(
    desk: FileLibrary,
) -> None:
    plugins = FakePlugins()
    served = await desk.compiled("acme", "desk", None)
    vads = load_vads([served.compiled.flow.vad or VADConfig()])
    conv = Conversation(served.compiled)
    models = SessionFactory(plugins, vads, options={"user_away_timeout": None}).models(conv)
    options = models.session_options()
    assert options["turn_handling"] == {
        "turn_detection": "vad",
        "endpointing": {"min_delay": 0.05, "max_delay": 0.5},
    }
    assert options["max_tool_steps"] == served.compiled.max_tool_steps
    assert options["user_away_timeout"] is None
    assert options["vad"] is vads[(None, None, 0.3)]
    front = models.voice(conv)
    assert front["tts"] is options["tts"] and front["llm"] is options["llm"]
    await conv.fire("to_pharmacist")
    pharmacist = models.voice(conv)
    assert [v.voice for v in plugins.voices] == ["alloy", "sage"]
    assert pharmacist["tts"] is plugins.voices[1]
    assert models.voice(conv)["tts"] is pharmacist["tts"]  # made once per session
    await models.aclose()


async def test_only_voices_that_take_instructions_are_steered() -> None:
    plugins = Plugins(env=KEYS)
    oai, dg = plugins.tts(TTSConfig(provider="openai")), plugins.tts(TTSConfig(provider="deepgram"))
    assert (steers_voice(oai), steers_voice(dg)) == (True, False)
    await _close(oai, dg)


async def test_openai_objects_share_one_client_per_key_and_endpoint(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Making an OpenAI client loads the system's certificates (~20 ms); a session start
    # must not pay that for each of its models.
    made_with = record_openai_options(monkeypatch)
    plugins = Plugins(env=KEYS)
    model, voice = plugins.llm(LLMConfig(model="gpt-4o-mini")), plugins.tts(TTSConfig())
    local = plugins.llm(LLMConfig(model="llama3", base_url="http://localhost:8000/v1"))
    client, voice_client, local_client = (made_with(m)["client"] for m in (model, voice, local))
    assert client is voice_client
    assert local_client is not client
    assert str(local_client.base_url) == "http://localhost:8000/v1/"
    await _close(model, voice, local)
    assert not client.is_closed()  # the process's client outlives one session
