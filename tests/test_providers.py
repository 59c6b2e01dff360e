"""The provider table (engine/providers.py) is the one owner of which providers exist:
its extras are the package's, its key variables one per provider, and the worker can
make every provider lint accepts."""

from __future__ import annotations

import json
import re
import tomllib

import msgspec
import pytest
from conftest import ROOT

from flowctl.engine.boundary import PROVIDER_KEYS
from flowctl.engine.lint import check
from flowctl.engine.load import load_bytes
from flowctl.engine.providers import (
    PROVIDERS,
    AnthropicOptions,
    ElevenLabsOptions,
    ElevenLabsVoiceSettings,
    Provider,
    options_of,
    provider_of,
)
from flowctl.engine.spec import LLMConfig, STTConfig, TTSConfig

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
EXTRAS = PYPROJECT["project"]["optional-dependencies"]
ENTRIES = [p for block in PROVIDERS.values() for p in block.values()]


@pytest.mark.parametrize(
    "provider", [p for p in ENTRIES if p.extra], ids=lambda p: f"{p.block}-{p.name}"
)
def test_a_providers_extra_installs_its_plugin_and_dev_installs_every_extra(
    provider: Provider,
) -> None:
    assert any(d.startswith(f"{provider.package}~=1.8.0") for d in EXTRAS[provider.extra])
    assert provider.install == f"pip install 'flowctl-voice[{provider.extra}]'"
    dev = next(d for d in EXTRAS["dev"] if d.startswith("flowctl-voice["))
    assert provider.extra is not None
    assert provider.extra in dev.removeprefix("flowctl-voice[").rstrip("]").split(",")


def test_providers_installed_with_flowctl_are_livekit_agents_extras() -> None:
    [agents] = [d for d in PYPROJECT["project"]["dependencies"] if d.startswith("livekit-agents[")]
    bundled = agents.removeprefix("livekit-agents[").split("]")[0].split(",")
    assert sorted({p.name for p in ENTRIES if p.extra is None}) == sorted(set(bundled) - {"silero"})


def test_each_provider_has_one_key_variable_whatever_the_block() -> None:
    keys: dict[str, set[str]] = {}
    for p in ENTRIES:
        keys.setdefault(p.name, set()).add(p.key)
    assert {name: k.pop() for name, k in keys.items() if len(k) == 1} == PROVIDER_KEYS
    assert PROVIDER_KEYS == {
        "deepgram": "DEEPGRAM_API_KEY",
        "openai": "OPENAI_API_KEY",
        "assemblyai": "ASSEMBLYAI_API_KEY",
        "anthropic": "ANTHROPIC_API_KEY",
        "groq": "GROQ_API_KEY",
        "elevenlabs": "ELEVEN_API_KEY",
        "cartesia": "CARTESIA_API_KEY",
    }


def test_a_blocks_options_decode_into_its_providers_type() -> None:
    assert options_of(LLMConfig(provider="anthropic", options={"top_k": 5})) == AnthropicOptions(
        top_k=5
    )
    voice = TTSConfig(
        provider="elevenlabs",
        options={"voice_settings": {"stability": 0.5, "similarity_boost": 0.75}},
    )
    assert options_of(voice) == ElevenLabsOptions(
        voice_settings=ElevenLabsVoiceSettings(stability=0.5, similarity_boost=0.75)
    )
    with pytest.raises(msgspec.ValidationError) as caught:
        options_of(TTSConfig(provider="cartesia", options={"volume": 3}))
    assert str(caught.value) == "Expected `float` <= 2.0 - at `$.volume`"
    with pytest.raises(ValueError) as unknown:
        options_of(STTConfig(provider="whisper"))
    assert str(unknown.value) == "unknown stt provider `whisper`"


def test_the_same_name_is_a_different_provider_in_each_block() -> None:
    # OpenAI speaks and listens; Groq only answers here; Cartesia only speaks.
    assert provider_of(TTSConfig(provider="openai")) is PROVIDERS["tts"]["openai"]
    assert provider_of(STTConfig(provider="openai")) is PROVIDERS["stt"]["openai"]
    assert provider_of(TTSConfig(provider="groq")) is None
    assert provider_of(STTConfig(provider="cartesia")) is None


def _providers_section() -> str:
    text = (ROOT / "docs" / "flow-format.md").read_text()
    return text.split("\n### Providers\n", 1)[1].split("\n### ", 1)[0]


@pytest.mark.parametrize("provider", ENTRIES, ids=lambda p: f"{p.block}-{p.name}")
def test_flow_format_lists_what_each_provider_reads_and_its_options(provider: Provider) -> None:
    rows = {
        tuple(cell.strip(" `") for cell in line.split("|")[1:3]): line.split("|")[3:5]
        for line in _providers_section().splitlines()
        if line.startswith("| `")
    }
    reads, options = rows[provider.block, provider.name]
    assert set(re.findall(r"`(\w+)`", reads)) == set(provider.settings)
    for option in provider.option_names():
        assert f"`{option}`" in options, option
    if not provider.option_names():
        assert options.strip() == "none"


def test_flow_format_example_blocks_lint_clean() -> None:
    example = _providers_section().split("```json\n", 1)[1].split("```", 1)[0]
    flow = {
        **json.loads(example),
        "agents": [{"name": "Main", "instructions": "Help the caller.", "end": True}],
    }
    findings = check(load_bytes(json.dumps(flow).encode(), "example.json"))
    assert [f.finding.code for f in findings if f.finding.code.startswith("FL01")] == []
