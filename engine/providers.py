"""The providers a flow's ``stt``, ``llm`` and ``tts`` blocks may name, and what each
takes: one table that every layer reads.

- lint checks a block against it: the provider exists (FL010), its ``options`` are
  ones it takes (FL011) with the right types and ranges (FL012), the block sets
  nothing the provider ignores (FL013), and a state's structured output has a model
  that can give it (FL014);
- the trust boundary reads the variable that holds a provider's key when a block
  names none (``flowctl.engine.boundary.Boundary.provider_key``);
- the worker's preflight names that variable, or the extra to install, for every block
  of every served flow; its plugin maker (``flowctl.worker.makers``) builds one plugin
  object per entry, with the options decoded into the entry's :class:`Options` type.

A provider's options are a msgspec struct: its fields are the options' names, types
and ranges, and their descriptions are the documentation (``docs/flow-format.md``).
Nothing here imports LiveKit: a provider names its plugin module, which only the
worker imports.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

from flowctl.engine.spec import LLMConfig, STTConfig, TTSConfig

__all__ = [
    "BLOCKS",
    "PROVIDERS",
    "AnthropicOptions",
    "AssemblyAIOptions",
    "CartesiaOptions",
    "DeepgramSTTOptions",
    "ElevenLabsOptions",
    "ElevenLabsVoiceSettings",
    "GroqOptions",
    "NoOptions",
    "OpenAILLMOptions",
    "OpenAISTTOptions",
    "Options",
    "Provider",
    "ProviderConfig",
    "block_of",
    "options_of",
    "provider_of",
]

ProviderConfig = LLMConfig | STTConfig | TTSConfig
Block = Literal["stt", "llm", "tts"]


class Options(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A provider's options, as a flow's ``options`` object holds them. Every field is
    optional and None means "the plugin's own default", so a flow sets only what it
    means to change; ``forbid_unknown_fields``: a typo is an error (FL011), never an
    option silently dropped."""


def _doc(text: str) -> Meta:
    return Meta(description=text)


Unit = Annotated[float, Meta(ge=0, le=1)]
# Keyword lists go into every request; a few hundred is already more than any provider
# honours.
Terms = Annotated[list[Annotated[str, Meta(min_length=1, max_length=100)]], Meta(max_length=200)]


class NoOptions(Options, frozen=True):
    """A provider that takes no options of its own."""


class OpenAILLMOptions(Options, frozen=True):
    top_p: Annotated[Unit | None, _doc("Nucleus sampling: the probability mass kept.")] = None
    parallel_tool_calls: Annotated[
        bool | None, _doc("Whether the model may call several functions in one turn.")
    ] = None
    reasoning_effort: Annotated[
        Literal["none", "minimal", "low", "medium", "high"] | None,
        _doc("How long a reasoning model thinks before it answers."),
    ] = None


class AnthropicOptions(Options, frozen=True):
    top_k: Annotated[
        Annotated[int, Meta(ge=1)] | None, _doc("Sample from the k likeliest tokens only.")
    ] = None
    caching: Annotated[
        Literal["ephemeral"] | None,
        _doc("`ephemeral`: cache the system prompt, tools and history between turns."),
    ] = None
    parallel_tool_calls: Annotated[
        bool | None, _doc("Whether the model may call several functions in one turn.")
    ] = None


class GroqOptions(Options, frozen=True):
    top_p: Annotated[Unit | None, _doc("Nucleus sampling: the probability mass kept.")] = None
    parallel_tool_calls: Annotated[
        bool | None, _doc("Whether the model may call several functions in one turn.")
    ] = None
    reasoning_effort: Annotated[
        Literal["none", "low", "medium", "high"] | None,
        _doc("How long a reasoning model (`qwen/qwen3-32b`, `openai/gpt-oss-*`) thinks."),
    ] = None


class DeepgramSTTOptions(Options, frozen=True):
    smart_format: Annotated[
        bool | None, _doc("Format numbers, dates and the like as written text.")
    ] = None
    punctuate: Annotated[bool | None, _doc("Add punctuation (LiveKit: on).")] = None
    filler_words: Annotated[
        bool | None, _doc("Keep filler words (um, uh); LiveKit: on, for turn detection.")
    ] = None
    profanity_filter: Annotated[bool | None, _doc("Mask profanity.")] = None
    endpointing_ms: Annotated[
        Annotated[int, Meta(ge=0, le=10_000)] | None,
        _doc("Milliseconds of silence that end an utterance (LiveKit: 25)."),
    ] = None
    keyterm: Annotated[
        Terms | None, _doc("Words to recognise better: product names, jargon (nova-3).")
    ] = None


class OpenAISTTOptions(Options, frozen=True):
    prompt: Annotated[
        Annotated[str, Meta(max_length=2000)] | None,
        _doc("What the audio is about, to steer recognition."),
    ] = None
    detect_language: Annotated[bool | None, _doc("Detect the caller's language.")] = None


class AssemblyAIOptions(Options, frozen=True):
    end_of_turn_confidence_threshold: Annotated[
        Unit | None, _doc("How sure the model must be that the caller finished a turn.")
    ] = None
    min_turn_silence: Annotated[
        Annotated[int, Meta(ge=0, le=10_000)] | None,
        _doc("Milliseconds of silence before a confident end of turn."),
    ] = None
    max_turn_silence: Annotated[
        Annotated[int, Meta(ge=0, le=30_000)] | None,
        _doc("Milliseconds of silence that end a turn whatever the model thinks."),
    ] = None
    format_turns: Annotated[bool | None, _doc("Punctuate and case each finished turn.")] = None
    keyterms_prompt: Annotated[
        Terms | None, _doc("Words to recognise better: names, product terms.")
    ] = None
    vad_threshold: Annotated[
        Unit | None, _doc("Speech probability above which audio counts as speech.")
    ] = None


class ElevenLabsVoiceSettings(Options, frozen=True):
    """ElevenLabs' voice settings: the two it requires, and the rest optional."""

    stability: Annotated[Unit, _doc("Low: more expressive; high: steadier.")]
    similarity_boost: Annotated[Unit, _doc("How closely to keep to the original voice.")]
    style: Annotated[Unit | None, _doc("Style exaggeration.")] = None
    speed: Annotated[
        Annotated[float, Meta(ge=0.7, le=1.2)] | None, _doc("Speaking rate (1: normal).")
    ] = None
    use_speaker_boost: Annotated[bool | None, _doc("Boost similarity to the speaker.")] = None


class ElevenLabsOptions(Options, frozen=True):
    voice_settings: Annotated[
        ElevenLabsVoiceSettings | None,
        _doc(
            "`stability` and `similarity_boost` (both required), `style`, `speed`, "
            "`use_speaker_boost`."
        ),
    ] = None
    encoding: Annotated[
        Literal[
            "pcm_8000",
            "pcm_16000",
            "pcm_22050",
            "pcm_24000",
            "pcm_44100",
            "pcm_48000",
            "mp3_22050_32",
            "mp3_44100_64",
            "mp3_44100_128",
            "opus_48000_64",
        ]
        | None,
        _doc("Audio format and sample rate (plugin: `mp3_22050_32`)."),
    ] = None
    auto_mode: Annotated[
        bool | None, _doc("Speak sentence by sentence with less buffering (lower latency).")
    ] = None
    apply_text_normalization: Annotated[
        Literal["auto", "on", "off"] | None, _doc("Spell out numbers, dates and the like.")
    ] = None
    enable_ssml_parsing: Annotated[bool | None, _doc("Read SSML tags in the text.")] = None
    enable_logging: Annotated[bool | None, _doc("`false`: ElevenLabs' zero-retention mode.")] = None
    chunk_length_schedule: Annotated[
        Annotated[list[Annotated[int, Meta(ge=50, le=500)]], Meta(min_length=1, max_length=10)]
        | None,
        _doc("Characters buffered before each chunk is synthesised, 50 to 500 each."),
    ] = None


class CartesiaOptions(Options, frozen=True):
    emotion: Annotated[
        Annotated[str, Meta(min_length=1, max_length=64)] | None,
        _doc("Emotion of the voice, e.g. `calm`, `excited` (sonic-3)."),
    ] = None
    volume: Annotated[
        Annotated[float, Meta(ge=0.5, le=2.0)] | None, _doc("Loudness (1: normal; sonic-3).")
    ] = None
    sample_rate: Annotated[
        Literal[8000, 16000, 22050, 24000, 44100, 48000] | None,
        _doc("Hertz of the audio (plugin: 24000)."),
    ] = None
    word_timestamps: Annotated[
        bool | None, _doc("Time each word, for transcripts aligned with speech.")
    ] = None
    pronunciation_dict_id: Annotated[
        Annotated[str, Meta(min_length=1, max_length=128)] | None,
        _doc("A Cartesia pronunciation dictionary to apply."),
    ] = None


class Provider(msgspec.Struct, frozen=True, kw_only=True):
    """One provider of one block.

    ``key``: the variable holding its key when a block names none (``api_key_env``);
    ``module``: its LiveKit plugin; ``extra``: the ``flowctl-voice`` extra that installs
    it (None: installed with flowctl); ``settings``: the block's common fields it reads
    (the others do nothing with it, FL013); ``options``: what it takes in ``options``;
    ``structured_output``: an ``llm`` that answers in a JSON schema (a state's
    ``output``) through OpenAI's ``response_format`` (FL014)."""

    block: Block
    name: str
    key: str
    module: str
    extra: str | None = None
    settings: frozenset[str]
    options: type[Options] = NoOptions
    structured_output: bool = False

    @property
    def package(self) -> str:
        """The distribution that holds ``module``."""
        return "livekit-plugins-" + self.module.rsplit(".", 1)[-1]

    @property
    def install(self) -> str:
        """What to run to get the plugin."""
        if self.extra is None:
            return f"pip install {self.package}"
        return f"pip install 'flowctl-voice[{self.extra}]'"

    def option_names(self) -> tuple[str, ...]:
        return self.options.__struct_fields__


def _providers(*entries: Provider) -> dict[Block, dict[str, Provider]]:
    table: dict[Block, dict[str, Provider]] = {"stt": {}, "llm": {}, "tts": {}}
    for entry in entries:
        table[entry.block][entry.name] = entry
    return table


_LLM = frozenset({"model", "temperature", "max_tokens"})

# Per block, in the order messages list them: the default provider first.
PROVIDERS = _providers(
    Provider(
        block="stt",
        name="deepgram",
        key="DEEPGRAM_API_KEY",
        module="livekit.plugins.deepgram",
        settings=frozenset({"model", "language"}),
        options=DeepgramSTTOptions,
    ),
    Provider(
        block="stt",
        name="openai",
        key="OPENAI_API_KEY",
        module="livekit.plugins.openai",
        settings=frozenset({"model", "language"}),
        options=OpenAISTTOptions,
    ),
    Provider(
        block="stt",
        name="assemblyai",
        key="ASSEMBLYAI_API_KEY",
        module="livekit.plugins.assemblyai",
        extra="assemblyai",
        settings=frozenset({"model", "language"}),
        options=AssemblyAIOptions,
    ),
    Provider(
        block="llm",
        name="openai",
        key="OPENAI_API_KEY",
        module="livekit.plugins.openai",
        settings=_LLM,
        options=OpenAILLMOptions,
        structured_output=True,
    ),
    Provider(
        block="llm",
        name="anthropic",
        key="ANTHROPIC_API_KEY",
        module="livekit.plugins.anthropic",
        extra="anthropic",
        settings=_LLM,
        options=AnthropicOptions,
    ),
    Provider(
        block="llm",
        name="groq",
        key="GROQ_API_KEY",
        module="livekit.plugins.groq",
        extra="groq",
        settings=_LLM,
        options=GroqOptions,
        # Groq's OpenAI-compatible endpoint takes `response_format` (its models that
        # support JSON schemas do; others answer with an error, as a local server may)
        structured_output=True,
    ),
    Provider(
        block="tts",
        name="openai",
        key="OPENAI_API_KEY",
        module="livekit.plugins.openai",
        settings=frozenset({"model", "voice", "speed"}),
    ),
    Provider(
        block="tts",
        name="deepgram",
        key="DEEPGRAM_API_KEY",
        module="livekit.plugins.deepgram",
        settings=frozenset({"model", "voice", "speed"}),
    ),
    Provider(
        block="tts",
        name="elevenlabs",
        key="ELEVEN_API_KEY",
        module="livekit.plugins.elevenlabs",
        extra="elevenlabs",
        settings=frozenset({"model", "voice", "language"}),
        options=ElevenLabsOptions,
    ),
    Provider(
        block="tts",
        name="cartesia",
        key="CARTESIA_API_KEY",
        module="livekit.plugins.cartesia",
        extra="cartesia",
        settings=frozenset({"model", "voice", "language", "speed"}),
        options=CartesiaOptions,
    ),
)

BLOCKS: dict[type[Any], Block] = {STTConfig: "stt", LLMConfig: "llm", TTSConfig: "tts"}


def block_of(config: ProviderConfig) -> Block:
    """Which block ``config`` is: ``stt``, ``llm`` or ``tts``."""
    return BLOCKS[type(config)]


def provider_of(config: ProviderConfig) -> Provider | None:
    """The provider ``config`` names, or None when there is no such provider."""
    return PROVIDERS[block_of(config)].get(config.provider)


def options_of(config: ProviderConfig) -> Options:
    """``config``'s options decoded into its provider's type (raises ValueError for an
    unknown provider, msgspec.ValidationError for options lint reports)."""
    provider = provider_of(config)
    if provider is None:
        raise ValueError(f"unknown {block_of(config)} provider `{config.provider}`")
    return msgspec.convert(config.options, provider.options)
