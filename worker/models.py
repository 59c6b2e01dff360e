"""Which model answers in a dry run: ``--llm scripted|offline|openai:MODEL``.

``scripted`` plays the scenario's steps, ``offline`` matches the user's words against the
edges' examples, and ``openai:MODEL`` is a real model behind any OpenAI-compatible
endpoint (``--base-url``: OpenAI itself by default, or a local server), through
LiveKit's own openai plugin — so a scenario run with it evaluates the prompts.
:func:`reaching` turns a model that cannot be reached into one line naming the URL.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from livekit.agents import APIConnectionError, APIError, llm
from livekit.agents.types import NOT_GIVEN

from flowctl.engine.errors import FlowError
from flowctl.engine.runtime import Conversation

__all__ = ["ModelChoiceError", "ModelUnreachable", "model_factory", "reaching"]

# A local OpenAI-compatible server needs no key, but the openai client insists on one.
LOCAL_KEY = "flowctl-no-key"
OPENAI_URL = "https://api.openai.com/v1"


class ModelChoiceError(FlowError):
    """``--llm`` names a model that cannot be used here; the message says why."""

    exit_code = 2


class ModelUnreachable(FlowError):
    """The ``--llm openai:MODEL`` endpoint could not be reached, or refused the request."""

    exit_code = 2


@contextlib.contextmanager
def reaching(choice: str, base_url: str | None) -> Iterator[None]:
    """Run a dry run whose model is ``choice``: a model that fails (after LiveKit's own
    retries) is a :class:`ModelUnreachable` naming the URL and the cause. LiveKit logs
    each failed attempt with its traceback; those records are dropped meanwhile (with
    ``--debug`` the root handler still shows them), so stderr holds the one message."""
    if not choice.startswith("openai:"):
        yield
        return
    quiet = logging.NullHandler()
    logging.getLogger("livekit").addHandler(quiet)
    url = base_url or OPENAI_URL
    try:
        yield
    except APIError as exc:
        cause: BaseException = exc
        while cause.__cause__ is not None:
            cause = cause.__cause__
        reason = str(cause) or type(cause).__name__
        what = "cannot reach" if isinstance(exc, APIConnectionError) else "error from"
        raise ModelUnreachable(f"--llm {choice}: {what} {url}: {reason}") from exc
    finally:
        logging.getLogger("livekit").removeHandler(quiet)


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
