"""The provider rules (FL010-FL014): each ``stt``, ``llm`` and ``tts`` block, the flow's
and each state's, against the provider table (``flowctl.engine.providers``): the
provider exists, its ``options`` are ones it takes, with the right types, the block
sets nothing the provider ignores, and a state's structured output has a model that can
give it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from msgspec import inspect as mi

from flowctl.engine.lint.context import FlowContext
from flowctl.engine.lint.registry import Violation, rule, violation
from flowctl.engine.load import check_shape
from flowctl.engine.providers import PROVIDERS, Provider, ProviderConfig, block_of
from flowctl.engine.source import Path
from flowctl.engine.spec import LLMConfig

# The fields of a block a provider may or may not read (FL013); the others (`provider`,
# `base_url`, `api_key_env`, `options`, `instruction_field`...) are flowctl's.
_SETTINGS = {
    "stt": ("model", "language"),
    "llm": ("model", "temperature", "max_tokens"),
    "tts": ("model", "voice", "language", "speed"),
}


def _known(ctx: FlowContext) -> Iterator[tuple[Path, ProviderConfig, Provider]]:
    """The blocks whose provider exists, with it."""
    for path, config in ctx.provider_blocks():
        provider = PROVIDERS[block_of(config)].get(config.provider)
        if provider is not None:
            yield path, config, provider


def _names(names: Any) -> str:
    return ", ".join(f"`{n}`" for n in names)


@rule("unknown-provider")
def unknown_provider(ctx: FlowContext) -> Iterator[Violation]:
    """
    ## What it does
    Reports an `stt`, `llm` or `tts` block (the flow's or a state's) whose `provider`
    is not one flowctl runs for that block.

    ## Why it matters
    The worker cannot make a session with it: it would refuse to start, or refuse
    every call of the flow. A misspelt name is found here, before publishing.

    ## Example
    ```json
    {"tts": {"provider": "elevenlab", "voice": "Rachel"}}
    ```

    ## Instead
    ```json
    {"tts": {"provider": "elevenlabs", "voice": "21m00Tcm4TlvDq8ikWAM"}}
    ```
    The providers of each block are listed in docs/flow-format.md (Providers).
    """
    for path, config in ctx.provider_blocks():
        block = block_of(config)
        known = PROVIDERS[block]
        if config.provider not in known:
            hint = ctx.suggest(config.provider, known) or f"; flowctl runs {_names(known)}"
            yield violation((*path, "provider"), block=block, provider=config.provider, hint=hint)


@rule("unknown-provider-option")
def unknown_provider_option(ctx: FlowContext) -> Iterator[Violation]:
    """
    ## What it does
    Reports a key of a provider block's `options` (or of an option that is an object,
    such as ElevenLabs' `voice_settings`) that the block's provider does not take, with
    the closest one it does.

    ## Why it matters
    A misspelt option would change nothing, silently: the voice would not be as
    steady as the author asked, the model would not cache its prompt.

    ## Example
    ```json
    {"tts": {"provider": "elevenlabs", "options": {"voice_setings": {"stability": 0.6,
                                                                     "similarity_boost": 0.8}}}}
    ```

    ## Instead
    ```json
    {"tts": {"provider": "elevenlabs", "options": {"voice_settings": {"stability": 0.6,
                                                                      "similarity_boost": 0.8}}}}
    ```
    """
    for path, config, provider in _known(ctx):
        block = block_of(config)
        for where, option, options in _unknown(config.options, provider, (*path, "options")):
            hint = ctx.suggest(option.rsplit(".", 1)[-1], options)
            if not hint:
                hint = f"; it takes {_names(options)}" if options else "; it takes none"
            name = provider.name
            yield violation(
                where, at_key=True, block=block, provider=name, option=option, hint=hint
            )


@rule("invalid-provider-option")
def invalid_provider_option(ctx: FlowContext) -> Iterator[Violation]:
    """
    ## What it does
    Reports a provider option whose value has the wrong type, is outside the range
    the provider accepts, or is not one of its allowed values; and an object option
    without a field it requires.

    ## Why it matters
    The plugin would reject it when the first call starts, or the provider would
    reject the first request: a call that fails instead of a finding now.

    ## Example
    ```json
    {"tts": {"provider": "cartesia", "options": {"volume": 3}}}
    ```

    ## Instead
    ```json
    {"tts": {"provider": "cartesia", "options": {"volume": 1.5}}}
    ```
    (Cartesia's volume is 0.5 to 2.)
    """
    for path, config, provider in _known(ctx):
        block = block_of(config)
        for where, option, problem in _invalid(config.options, provider, (*path, "options")):
            name = provider.name
            yield violation(where, block=block, provider=name, option=option, problem=problem)


@rule("ignored-provider-setting")
def ignored_provider_setting(ctx: FlowContext) -> Iterator[Violation]:
    """
    ## What it does
    Reports a field of a provider block (`model`, `voice`, `language`, `speed`,
    `temperature`, `max_tokens`) that the block's provider does nothing with.

    ## Why it matters
    The author expects an effect that never comes: OpenAI's voices take no
    `language`, an ElevenLabs voice's speed is one of its `voice_settings`.

    ## Example
    ```json
    {"tts": {"provider": "elevenlabs", "speed": 1.1}}
    ```

    ## Instead
    ```json
    {"tts": {"provider": "elevenlabs", "options": {"voice_settings": {
        "stability": 0.5, "similarity_boost": 0.75, "speed": 1.1}}}}
    ```
    """
    for path, config, provider in _known(ctx):
        block = block_of(config)
        used = [name for name in _SETTINGS[block] if name in provider.settings]
        for name in _SETTINGS[block]:
            if name not in provider.settings and getattr(config, name) is not None:
                yield violation(
                    (*path, name),
                    at_key=True,
                    block=block,
                    provider=provider.name,
                    field=name,
                    used=_names(used),
                )


@rule("unsupported-structured-output")
def unsupported_structured_output(ctx: FlowContext) -> Iterator[Violation]:
    """
    ## What it does
    Reports an `llm` block whose provider cannot answer in a JSON schema, used by a
    state with structured `output` (its own or the flow's). Anthropic's models are
    not given one yet; OpenAI's and Groq's are (`response_format`).

    ## Why it matters
    The worker asks the model for the state's output schema on every turn; a provider
    that does not take the request fails every turn of that state.

    ## Example
    ```json
    {"llm": {"provider": "anthropic"},
     "output": {"fields": [{"field_name": "system_response"}]}}
    ```

    ## Instead
    Give the states with output an `llm` of their own that can answer in a schema:
    ```json
    {"name": "Intake", "instructions": "...",
     "llm": {"provider": "openai", "model": "gpt-4.1-mini"}}
    ```
    """
    flow = ctx.written
    states: dict[Path, tuple[str, list[str]]] = {}
    for i, state in enumerate(flow.agents):
        if state.end or (state.output or flow.output) is None:
            continue  # a terminal state only greets: the model never answers there
        path: Path = ("agents", i, "llm") if state.llm is not None else ("llm",)
        config = state.llm or flow.llm or LLMConfig()
        provider = PROVIDERS["llm"].get(config.provider)
        if provider is not None and not provider.structured_output:
            states.setdefault(path, (provider.name, []))[1].append(state.name)
    for path, (name, names) in states.items():
        more = f" (and {len(names) - 1} more)" if len(names) > 1 else ""
        yield violation((*path, "provider"), provider=name, state=names[0], more=more)


# --- walking options against their struct --------------------------------------------


def _struct_of(t: mi.Type) -> mi.StructType | None:
    """The struct an option's type is (or is with None), else None."""
    if isinstance(t, mi.Metadata):
        t = t.type
    if isinstance(t, mi.StructType):
        return t
    if isinstance(t, mi.UnionType):
        structs = [x for x in t.types if isinstance(x, mi.StructType)]
        return structs[0] if len(structs) == 1 else None
    return None


def _walk(
    value: dict[str, Any], t: mi.StructType, path: Path, prefix: str
) -> Iterator[tuple[str, Path, str, Any]]:
    """("unknown", path, dotted name, the names it could have been) and ("invalid",
    path, dotted name, problem) for every key of ``value`` against ``t``."""
    fields = {f.encode_name: f for f in t.fields}
    for key, item in value.items():
        name = f"{prefix}{key}"
        field = fields.get(key)
        if field is None:
            yield "unknown", (*path, key), name, list(fields)
            continue
        inner = _struct_of(field.type)
        if inner is not None and isinstance(item, dict):
            yield from _walk(item, inner, (*path, key), f"{name}.")
            continue
        for finding in check_shape(item, field.type):
            message = finding.message
            problem = message[:1].lower() + message[1:]
            yield "invalid", (*path, key, *finding.path), name, problem
    for key, field in fields.items():
        if field.required and key not in value:
            yield "invalid", path, prefix.rstrip(".") or key, f"missing required field `{key}`"


def _unknown(
    options: dict[str, Any], provider: Provider, path: Path
) -> Iterator[tuple[Path, str, list[str]]]:
    struct = mi.type_info(provider.options)
    assert isinstance(struct, mi.StructType)
    for kind, where, name, names in _walk(options, struct, path, ""):
        if kind == "unknown":
            yield where, name, names


def _invalid(
    options: dict[str, Any], provider: Provider, path: Path
) -> Iterator[tuple[Path, str, str]]:
    struct = mi.type_info(provider.options)
    assert isinstance(struct, mi.StructType)
    for kind, where, name, problem in _walk(options, struct, path, ""):
        if kind == "invalid":
            yield where, name, problem
