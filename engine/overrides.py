"""A session's overrides: what one call may change of its flow, and only what the flow
allows (its ``overridable``).

A job's metadata (or the API's token call) may carry::

    "overrides": {"variables": {"caller_name": "Ana"},
                  "tracing": {"enabled": true, "sample_rate": 1.0},
                  "voice": "nova", "language": "es"}

:func:`session_settings` reads them against the flow and returns the session's
starting variables and the engine's ``Conversation(overrides=...)`` for them: the
voice replaces every state's ``tts.voice``, the language both ``stt.language`` and
``tts.language``, tracing the flow's ``tracing.enabled`` and ``sample_rate``. Anything
else (an ``llm`` block, a ``base_url``, a key's variable, a tool), or anything the
flow's ``overridable`` does not list, is refused with :class:`OverrideRefused`, its
message naming each override refused: the worker refuses the job with it, the API's
token call answers 422 with it, ``flowctl token`` exits 2 with it. A tenant's flow is
untrusted, and so is whoever starts its calls: neither reaches past this list.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Annotated, Any

import msgspec
from msgspec import Meta

from flowctl.engine.errors import FlowError
from flowctl.engine.findings import did_you_mean
from flowctl.engine.functions import value_type
from flowctl.engine.spec import Flow, Overridable

__all__ = ["OVERRIDES", "OverrideRefused", "Overrides", "SessionSettings", "session_settings"]


class OverrideRefused(FlowError):
    """A session's overrides that its flow does not allow, or that do not read; the
    message says which, and why."""

    exit_code = 2


_Word = Annotated[str, Meta(min_length=1, max_length=256)]


class TracingOverride(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    enabled: bool | None = None
    sample_rate: Annotated[float, Meta(ge=0, le=1)] | None = None


class Overrides(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """What a session's ``overrides`` may hold; every key is optional."""

    variables: dict[str, Any] = {}
    tracing: TracingOverride | None = None
    voice: _Word | None = None
    language: _Word | None = None


OVERRIDES: tuple[str, ...] = tuple(Overrides.__struct_fields__)


class SessionSettings(msgspec.Struct, frozen=True, kw_only=True):
    """What the overrides come to: the variables a session starts with (typed, over its
    input variables) and the settings blocks merged over the flow's
    (``Conversation(overrides=...)``)."""

    variables: dict[str, Any] = {}
    overrides: dict[str, dict[str, Any]] = {}


def session_settings(flow: Flow, overrides: Any) -> SessionSettings:
    """``overrides`` (the metadata's, as JSON data; None: none) checked against
    ``flow``'s ``overridable``; raises :class:`OverrideRefused` naming every one
    refused."""
    if overrides is None:
        return SessionSettings()
    given = _read(overrides)
    allowed = flow.overridable or Overridable()
    problems: list[str] = []
    variables: dict[str, Any] = {}
    for name, value in given.variables.items():
        declared = flow.variables.get(name)
        if name not in allowed.variables or declared is None:
            problems.append(
                f"Variable {_q(name)} may not be overridden: the flow's "
                "`overridable.variables` does not list it"
            )
            continue
        try:
            variables[name] = msgspec.convert(
                value, value_type(declared.type, declared.enum), strict=False
            )
        except msgspec.ValidationError as exc:
            problems.append(f"Variable {_q(name)} cannot take the override: {exc}")
    blocks: dict[str, dict[str, Any]] = {}
    if given.tracing is not None:
        if not allowed.tracing:
            problems.append(
                "`tracing` may not be overridden: the flow's `overridable.tracing` is not true"
            )
        else:
            tracing = msgspec.structs.asdict(given.tracing)
            blocks["tracing"] = {k: v for k, v in tracing.items() if v is not None}
    if given.voice is not None:
        if given.voice not in allowed.voices:
            problems.append(f"Voice {_q(given.voice)} {_not_listed('voices', allowed.voices)}")
        else:
            blocks.setdefault("tts", {})["voice"] = given.voice
    if given.language is not None:
        if given.language not in allowed.languages:
            listed = _not_listed("languages", allowed.languages)
            problems.append(f"Language {_q(given.language)} {listed}")
        else:
            blocks.setdefault("tts", {})["language"] = given.language
            blocks["stt"] = {"language": given.language}
    if problems:
        raise OverrideRefused("; ".join(problems))
    return SessionSettings(variables=variables, overrides=blocks)


def _read(overrides: Any) -> Overrides:
    if not isinstance(overrides, Mapping):
        kind = "array" if isinstance(overrides, list) else type(overrides).__name__
        raise OverrideRefused(f"`overrides` must be a JSON object, got `{kind}`")
    unknown = [k for k in overrides if k not in OVERRIDES]
    if unknown:
        name = str(unknown[0])
        known = ", ".join(f"`{k}`" for k in OVERRIDES)
        hint = did_you_mean(name[:64], OVERRIDES)
        raise OverrideRefused(f"Unknown override {_q(name)}: a session may override {known}{hint}")
    try:
        return msgspec.convert(dict(overrides), Overrides)
    except msgspec.ValidationError as exc:
        where = str(exc).replace("- at `$", "- at `$.overrides")
        raise OverrideRefused(f"Invalid overrides: {where}") from None


def _q(value: str) -> str:
    """A name from the request, fit for a message and a log line: backquoted, escaped as
    JSON escapes it, and at most 80 characters."""
    short = value if len(value) <= 80 else value[:80] + "…"
    return "`" + json.dumps(short, ensure_ascii=False)[1:-1] + "`"


def _not_listed(field: str, listed: list[str]) -> str:
    names = ", ".join(f"`{n}`" for n in listed) if listed else "none"
    return f"may not be picked: the flow's `overridable.{field}` allows {names}"
