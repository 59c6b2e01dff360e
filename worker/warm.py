"""Warming a job process: what a job needs, imported and built before the first caller.

LiveKit starts job processes ahead of time and calls the worker's ``prewarm`` in each,
so that a job only routes, looks its flow up and starts. Loading the flows and the
Silero models is not all of it: the first session of a process also imports the
provider plugins (LiveKit's OpenAI plugin alone takes ~0.5 s), the OpenAI client and
its HTTP stack, and builds its first ``AgentSession`` and agent, ~1.3 s in all that
the first caller would wait through in silence.

:func:`warm` rehearses that path once per process, off the record: for a flow of each
provider mix the library serves, a conversation, its session's plugin objects, the
session and the start state's agent, and each state's own model and voice, then closes
them. Nothing is said, no tool runs
(the conversation is not started) and nothing is recorded. A rehearsal that fails only
costs the first caller the wait, so it is logged and the process serves all the same.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
from collections.abc import Iterable
from typing import Any

from flowctl.engine.library import ServedFlow
from flowctl.engine.runtime import Conversation
from flowctl.worker.agent import FlowAgent
from flowctl.worker.call import CallSession
from flowctl.worker.session import Keys, SessionFactory, provider_blocks

__all__ = ["rehearsals", "warm"]

logger = logging.getLogger(__name__)

# Imported by the first request a session makes, not by building it: LiveKit's OpenAI
# LLM opens its connection early with a "list models" request.
FIRST_REQUEST = ("openai.resources.models",)


def rehearsals(served: Iterable[ServedFlow]) -> list[ServedFlow]:
    """The flows whose sessions, built once each, touch every provider the library
    uses: the first flow to bring each (kind, provider) pair. A store may serve
    hundreds of flows; a handful of providers is what costs."""
    seen: set[tuple[str, str]] = set()
    chosen: list[ServedFlow] = []
    for flow in served:
        pairs = {(kind, config.provider) for kind, _, config in provider_blocks(flow)}
        if not pairs <= seen:
            seen |= pairs
            chosen.append(flow)
    return chosen


async def _rehearse(factory: SessionFactory, served: ServedFlow) -> None:
    """One session of ``served`` built and closed: its start state's session and agent,
    and the model and voice of each state that has its own."""
    conversation = Conversation(served.compiled, session_id="prewarm")
    models = factory.models(conversation, served)
    keys = Keys(factory.plugins.env, served.boundary, served.secrets)
    own: list[Any] = []
    try:
        session = CallSession(before_shutdown=lambda: None, **models.session_options())
        FlowAgent(conversation, voice=models.voice)
        del session
        for state in served.compiled.flow.agents:
            if state.llm is not None:
                own.append(factory.plugins.llm(state.llm, keys))
            if state.tts is not None:
                own.append(factory.plugins.tts(state.tts, keys))
    finally:
        conversation.close()
        await models.aclose()
        for made in own:
            await made.aclose()


async def _rehearse_all(factory: SessionFactory, flows: list[ServedFlow]) -> None:
    try:
        for served in flows:
            await _rehearse(factory, served)
    finally:
        await factory.plugins.aclose()


def warm(factory: SessionFactory, served: Iterable[ServedFlow]) -> None:
    """Import and build what this process's first job needs (in a process with no
    running event loop, as LiveKit's prewarm is)."""
    flows = rehearsals(served)
    try:
        asyncio.run(_rehearse_all(factory, flows))
        for name in FIRST_REQUEST:
            importlib.import_module(name)
    except Exception:
        logger.warning("prewarming the sessions failed; the first call waits", exc_info=True)
