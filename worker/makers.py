"""One LiveKit plugin object per provider of the table (``flowctl.engine.providers``):
a block's common fields and its decoded options, as the plugin's arguments.

``MAKERS[block][provider]`` is called by :class:`flowctl.worker.session.Plugins` with
the key the trust boundary allowed (``Keys``); it imports its plugin on first use, so a
worker imports only the providers its flows name. A test keeps ``MAKERS`` and the
table equal, so a provider lint accepts is always one the worker can make.

What each maker passes, and why, is written next to it: a field the provider does not
take is not passed (lint warns, FL013), an unset one is left out so the plugin keeps
its own default. ``CLIENTS`` makes the API clients (OpenAI's, Anthropic's) that
``Plugins`` shares between a process's sessions, as each plugin would make its own.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import msgspec

from flowctl.engine.providers import (
    AnthropicOptions,
    AssemblyAIOptions,
    CartesiaOptions,
    DeepgramSTTOptions,
    ElevenLabsOptions,
    GroqOptions,
    OpenAILLMOptions,
    OpenAISTTOptions,
    Options,
    options_of,
)
from flowctl.engine.spec import LLMConfig, STTConfig, TTSConfig

if TYPE_CHECKING:
    import ssl

    from livekit.agents import llm, stt, tts

    from flowctl.worker.session import Plugins

__all__ = ["CLIENTS", "GROQ_URL", "MAKERS", "given"]

# Groq's OpenAI-compatible endpoint (the plugin's default): named here so the process's
# shared OpenAI client for it is made once, as for OpenAI's own (Plugins.openai_client).
GROQ_URL = "https://api.groq.com/openai/v1"


def given(**options: Any) -> dict[str, Any]:
    """The options a flow's config block sets: an unset one (None, or an empty name) is
    left out, so the plugin keeps its own default. Zero is a setting (temperature 0)."""
    return {name: value for name, value in options.items() if value is not None and value != ""}


def _options(config: LLMConfig | STTConfig | TTSConfig, kind: type[Options]) -> dict[str, Any]:
    """``config``'s options as plugin arguments (lint has checked them: FL011, FL012)."""
    options = options_of(config)
    assert isinstance(options, kind)
    return given(**msgspec.structs.asdict(options))


def _endpoint(config: LLMConfig | STTConfig | TTSConfig) -> dict[str, Any]:
    return given(base_url=config.base_url)


# --- speech to text ------------------------------------------------------------------


def _deepgram_stt(plugins: Plugins, config: STTConfig, key: str) -> stt.STT[Any]:
    from livekit.plugins import deepgram

    options = _options(config, DeepgramSTTOptions)
    common = given(model=config.model, language=config.language)
    return deepgram.STT(api_key=key, **_endpoint(config), **common, **options)


def _openai_stt(plugins: Plugins, config: STTConfig, key: str) -> stt.STT[Any]:
    from livekit.plugins import openai

    options = _options(config, OpenAISTTOptions)
    common = given(model=config.model, language=config.language)
    return openai.STT(**plugins.openai_client(key, config.base_url), **common, **options)


def _assemblyai_stt(plugins: Plugins, config: STTConfig, key: str) -> stt.STT[Any]:
    from livekit.plugins import assemblyai

    options = _options(config, AssemblyAIOptions)
    # `language` steers the model toward one language (AssemblyAI's `language_codes`).
    common = given(model=config.model, language_codes=config.language)
    return assemblyai.STT(api_key=key, **_endpoint(config), **common, **options)


# --- language models -----------------------------------------------------------------


def _openai_llm(plugins: Plugins, config: LLMConfig, key: str) -> llm.LLM[Any]:
    from livekit.plugins import openai

    options = _options(config, OpenAILLMOptions)
    common = given(
        model=config.model, temperature=config.temperature, max_completion_tokens=config.max_tokens
    )
    return openai.LLM(**plugins.openai_client(key, config.base_url), **common, **options)


def _anthropic_llm(plugins: Plugins, config: LLMConfig, key: str) -> llm.LLM[Any]:
    from livekit.plugins import anthropic

    options = _options(config, AnthropicOptions)
    common = given(model=config.model, temperature=config.temperature, max_tokens=config.max_tokens)
    client = plugins.anthropic_client(key, config.base_url)
    return anthropic.LLM(**client, **common, **options)


def _groq_llm(plugins: Plugins, config: LLMConfig, key: str) -> llm.LLM[Any]:
    from livekit.plugins import groq

    options = _options(config, GroqOptions)
    common = given(
        model=config.model, temperature=config.temperature, max_completion_tokens=config.max_tokens
    )
    client = plugins.openai_client(key, config.base_url or GROQ_URL)
    # The plugin checks its key even when handed a client.
    return groq.LLM(api_key=key, **client, **common, **options)


# --- text to speech ------------------------------------------------------------------


def _openai_tts(plugins: Plugins, config: TTSConfig, key: str) -> tts.TTS[Any]:
    from livekit.plugins import openai

    common = given(model=config.model, voice=config.voice, speed=config.speed)
    return openai.TTS(**plugins.openai_client(key, config.base_url), **common)


def _deepgram_tts(plugins: Plugins, config: TTSConfig, key: str) -> tts.TTS[Any]:
    from livekit.plugins import deepgram

    # A Deepgram voice is a model ("aura-2-thalia-en"): `voice` names it when `model`
    # does not.
    common = given(model=config.model or config.voice, speed=config.speed)
    return deepgram.TTS(api_key=key, **_endpoint(config), **common)


def _elevenlabs_tts(plugins: Plugins, config: TTSConfig, key: str) -> tts.TTS[Any]:
    from livekit.plugins import elevenlabs

    options = _options(config, ElevenLabsOptions)
    settings = options.pop("voice_settings", None)
    if settings is not None:
        fields = given(**msgspec.structs.asdict(settings))
        options["voice_settings"] = elevenlabs.VoiceSettings(**fields)
    # `voice` is a voice id (ElevenLabs' voice library names each voice by one).
    common = given(model=config.model, voice_id=config.voice, language=config.language)
    return elevenlabs.TTS(api_key=key, **_endpoint(config), **common, **options)


def _cartesia_tts(plugins: Plugins, config: TTSConfig, key: str) -> tts.TTS[Any]:
    from livekit.plugins import cartesia

    options = _options(config, CartesiaOptions)
    common = given(
        model=config.model, voice=config.voice, language=config.language, speed=config.speed
    )
    return cartesia.TTS(api_key=key, **_endpoint(config), **common, **options)


# --- API clients shared by a process's plugins ----------------------------------------


def _openai_sdk_client(key: str, base_url: str | None) -> Any:
    import httpx2 as httpx
    import openai as sdk

    # The plugin's own settings: no retries (LiveKit retries), short timeouts.
    return sdk.AsyncClient(
        api_key=key,
        base_url=base_url,
        max_retries=0,
        http_client=httpx.AsyncClient(
            verify=_ssl_context(),
            timeout=httpx.Timeout(connect=15.0, read=5.0, write=5.0, pool=5.0),
            follow_redirects=True,
            limits=httpx.Limits(
                max_connections=50, max_keepalive_connections=50, keepalive_expiry=120
            ),
        ),
    )


def _anthropic_sdk_client(key: str, base_url: str | None) -> Any:
    import anthropic as sdk
    import httpx2 as httpx

    # The plugin's own settings: no retries (LiveKit retries), a short connect timeout
    # and 30 s between streamed chunks (Claude may think before it answers).
    return sdk.AsyncClient(
        api_key=key,
        base_url=base_url,
        max_retries=0,
        http_client=httpx.AsyncClient(
            verify=_ssl_context(),
            timeout=httpx.Timeout(5.0, read=30.0),
            follow_redirects=True,
            limits=httpx.Limits(
                max_connections=1000, max_keepalive_connections=100, keepalive_expiry=120
            ),
        ),
    )


# The API clients a process shares between its sessions' plugins (Plugins._client), by
# SDK: each made as the provider's plugin would make its own.
CLIENTS: dict[str, Callable[[str, str | None], Any]] = {
    "openai": _openai_sdk_client,
    "anthropic": _anthropic_sdk_client,
}


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    """The system's certificates, loaded once per process (~20 ms each time) and
    shared by every client the process makes, whatever its event loop."""
    import httpx2 as httpx

    return httpx.create_ssl_context()


Maker = Callable[["Plugins", Any, str], Any]

MAKERS: dict[str, dict[str, Maker]] = {
    "stt": {"deepgram": _deepgram_stt, "openai": _openai_stt, "assemblyai": _assemblyai_stt},
    "llm": {"openai": _openai_llm, "anthropic": _anthropic_llm, "groq": _groq_llm},
    "tts": {
        "openai": _openai_tts,
        "deepgram": _deepgram_tts,
        "elevenlabs": _elevenlabs_tts,
        "cartesia": _cartesia_tts,
    },
}
