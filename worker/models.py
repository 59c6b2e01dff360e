"""Which model answers in a dry run: ``--llm scripted|offline|openai:MODEL``.

``scripted`` plays the scenario's steps, ``offline`` matches the user's words against the
edges' examples, and ``openai:MODEL`` is a real model behind any OpenAI-compatible
endpoint (``--base-url``: OpenAI itself by default, or a local server), through
LiveKit's own openai plugin — so a scenario run with it evaluates the prompts.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any

from livekit.agents import llm
from livekit.agents.types import NOT_GIVEN

from flowctl.engine.errors import FlowError
from flowctl.engine.runtime import Conversation

__all__ = ["ModelChoiceError", "model_factory"]

# A local OpenAI-compatible server needs no key, but the openai client insists on one.
LOCAL_KEY = "flowctl-no-key"


class ModelChoiceError(FlowError):
    """``--llm`` names a model that cannot be used here; the message says why."""

    exit_code = 2


def model_factory(
    choice: str, *, base_url: str | None = None, env: Mapping[str, str] = os.environ
) -> Callable[[Conversation], llm.LLM[Any]] | None:
    """A maker of a fresh model per session, or None for the scripted model."""
    kind, _, name = choice.partition(":")
    if base_url is not None and kind != "openai":
        raise ModelChoiceError(f"--base-url goes with --llm openai:MODEL, not `{choice}`")
    if kind == "scripted" and not name:
        return None
    if kind == "offline" and not name:
        from flowctl.worker.repl import offline_model

        return offline_model
    if kind != "openai" or not name:
        raise ModelChoiceError(
            f"--llm `{choice}`: use scripted, offline or openai:MODEL (e.g. openai:gpt-4.1-mini)"
        )
    key = env.get("OPENAI_API_KEY")
    if not key and base_url is None:
        raise ModelChoiceError(
            f"--llm {choice} needs OPENAI_API_KEY in the environment "
            "(or --base-url URL for a local OpenAI-compatible server)"
        )
    try:
        from livekit.plugins import openai
    except ImportError:  # pragma: no cover - a dependency of the project
        raise ModelChoiceError(
            "--llm openai:MODEL needs livekit-plugins-openai: pip install 'livekit-agents[openai]'"
        ) from None

    def make(_: Conversation) -> llm.LLM[Any]:
        return openai.LLM(model=name, api_key=key or LOCAL_KEY, base_url=base_url or NOT_GIVEN)

    return make
