"""A session's record, kept the way the voice worker keeps it: each transcript line as
LiveKit adds it to the conversation, the turn written when the agent listens again (off
the audio path), and the end with the conversation's reason. The worker's calls
(``call.py``) and the offline runs of ``flowctl simulate --record`` attach the same way,
so a dry-run session reads back (``sessions show``, ``--replay``) like a call."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Literal

from livekit.agents import AgentSession

from flowctl.engine.library import SessionRecord
from flowctl.engine.runtime import Conversation

__all__ = ["Record", "attach", "end_reason", "transcript_line"]

logger = logging.getLogger(__name__)

# Starts the record of one conversation (the store's session limit may refuse it).
Record = Callable[[Conversation], Awaitable[SessionRecord]]


def attach(session: AgentSession[Any], recorder: SessionRecord) -> None:
    """Record ``session``'s transcript and write each turn as it ends."""
    session.on("conversation_item_added", functools.partial(_said, recorder))
    session.on("agent_state_changed", functools.partial(_turn_over, recorder))


def end_reason(conversation: Conversation) -> str:
    """Why the session ended, for its record: the flow's reason, or ``hangup`` when the
    caller (or the end of a dry run) left first."""
    ended = conversation.ended
    return ended.reason if ended is not None else "hangup"


def transcript_line(event: Any) -> tuple[Literal["user", "agent"], str] | None:
    """Who said what, when LiveKit's ``conversation_item_added`` adds a line of the
    transcript (a message of the caller or the agent); None for anything else."""
    item = event.item
    if getattr(item, "type", None) == "message" and item.role in ("user", "assistant"):
        return ("user" if item.role == "user" else "agent"), item.text_content or ""
    return None


def _said(recorder: SessionRecord, event: Any) -> None:
    """A transcript line for the record."""
    line = transcript_line(event)
    if line is not None:
        recorder.said(*line)


def _turn_over(recorder: SessionRecord, event: Any) -> None:
    if event.new_state == "listening":  # the turn is done: write it, off the audio path
        task = asyncio.create_task(recorder.flush(), name="flowctl.call.record")
        task.add_done_callback(_log_failure)


def _log_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.error("writing a turn to the store failed", exc_info=task.exception())
