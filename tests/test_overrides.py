"""A session's overrides against its flow's ``overridable`` (engine/overrides.py): what
is allowed becomes the session's variables and settings; anything else is refused with
every reason."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from flowkit import compile_doc

from flowctl.engine.overrides import OverrideRefused, SessionSettings, session_settings
from flowctl.engine.runtime import Conversation
from flowctl.engine.spec import Flow, TracingConfig, TTSConfig

DOC: dict[str, Any] = {
    "flow_id": "desk",
    "variables": {
        "caller_name": {"type": "str", "input": True},
        "party_size": {"type": "int", "default": 2},
        "secret_code": {"type": "str", "default": "x"},
    },
    "overridable": {
        "variables": ["caller_name", "party_size"],
        "tracing": True,
        "voices": ["nova", "shimmer"],
        "languages": ["en", "es"],
    },
    "tts": {"provider": "openai", "voice": "alloy"},
    "tracing": {"enabled": False, "sample_rate": 0.1},
    "agents": [
        {
            "name": "Main",
            "instructions": "Help {{caller_name}}, a party of {{party_size}} ({{secret_code}}).",
            "edges": [{"name": "done", "description": "The caller is done", "target_agent": "End"}],
        },
        {"name": "End", "instructions": "Bye.", "end": True},
    ],
}
FLOW = msgspec.convert(DOC, Flow)


def refusal(overrides: Any, flow: Flow = FLOW) -> str:
    with pytest.raises(OverrideRefused) as caught:
        session_settings(flow, overrides)
    assert caught.value.exit_code == 2
    return str(caught.value)


def test_allowed_overrides_become_the_sessions_variables_and_settings() -> None:
    overrides = {
        "variables": {"caller_name": "Ana", "party_size": "4"},
        "tracing": {"enabled": True, "sample_rate": 1},
        "voice": "nova",
        "language": "es",
    }
    settings = session_settings(FLOW, overrides)
    assert settings == SessionSettings(
        variables={"caller_name": "Ana", "party_size": 4},
        overrides={
            "tracing": {"enabled": True, "sample_rate": 1.0},
            "tts": {"voice": "nova", "language": "es"},
            "stt": {"language": "es"},
        },
    )
    conv = Conversation(
        compile_doc(DOC), variables=settings.variables, overrides=settings.overrides
    )
    assert conv.setting("tts") == TTSConfig(provider="openai", voice="nova", language="es")
    assert conv.setting("stt").language == "es"
    assert conv.setting("tracing") == TracingConfig(enabled=True, sample_rate=1.0)
    assert conv.render_instructions() == 'Help "Ana", a party of "4" (x).'


@pytest.mark.parametrize("overrides", [None, {}], ids=["none", "empty"])
def test_no_overrides_change_nothing(overrides: Any) -> None:
    assert session_settings(FLOW, overrides) == SessionSettings()


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        (
            {"llm": {"base_url": "https://evil.example/v1"}},
            "Unknown override `llm`: a session may override `variables`, `tracing`, `voice`, "
            "`language`",
        ),
        (
            {"voices": "nova"},
            "Unknown override `voices`: a session may override `variables`, `tracing`, "
            "`voice`, `language`; did you mean `voice`?",
        ),
        (["nova"], "`overrides` must be a JSON object, got `array`"),
        ("nova", "`overrides` must be a JSON object, got `str`"),
        (
            {"tracing": {"sample_rate": 2}},
            "Invalid overrides: Expected `float` <= 1.0 - at `$.overrides.tracing.sample_rate`",
        ),
        (
            {"tracing": {"provider": "evil"}},
            "Invalid overrides: Object contains unknown field `provider` - at "
            "`$.overrides.tracing`",
        ),
        (
            {"variables": {"secret_code": "y", "nosuch": 1, "party_size": "many"}},
            "Variable `secret_code` may not be overridden: the flow's `overridable.variables` "
            "does not list it; Variable `nosuch` may not be overridden: the flow's "
            "`overridable.variables` does not list it; Variable `party_size` cannot take the "
            "override: Expected `int`, got `str`",
        ),
        (
            {"voice": "alloy", "language": "fr"},
            "Voice `alloy` may not be picked: the flow's `overridable.voices` allows `nova`, "
            "`shimmer`; Language `fr` may not be picked: the flow's `overridable.languages` "
            "allows `en`, `es`",
        ),
        (
            {"voice": "a\nb" + "c" * 100},
            "Voice `a\\nb" + "c" * 77 + "…` may not be picked: the flow's `overridable.voices` "
            "allows `nova`, `shimmer`",
        ),
    ],
    ids=[
        "llm-block",
        "misspelt",
        "array",
        "text",
        "out-of-range",
        "tracing-provider",
        "variables",
        "voice-language",
        "escaped",
    ],
)
def test_refused_overrides_name_each_reason(overrides: Any, reason: str) -> None:
    assert refusal(overrides) == reason


def test_a_flow_without_overridable_allows_nothing() -> None:
    flow = msgspec.structs.replace(FLOW, overridable=None)
    assert refusal({"tracing": {"enabled": True}, "voice": "nova"}, flow) == (
        "`tracing` may not be overridden: the flow's `overridable.tracing` is not true; "
        "Voice `nova` may not be picked: the flow's `overridable.voices` allows none"
    )
