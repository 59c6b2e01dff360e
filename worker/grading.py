"""A flow's rubric, graded by the session's own model once the call is over.

What the model is asked and how its answer is read are the engine's
(``flowctl.engine.evaluation``); this module only puts the question to a LiveKit
``llm.LLM`` and waits for the answer, for at most :data:`GRADE_TIMEOUT` seconds. A
model that fails, or answers late, leaves the rubric ``not graded`` with the reason;
the rest of the evaluation stands.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

from livekit.agents import llm

from flowctl.engine.evaluation import (
    NOT_GRADED,
    RUBRIC_INSTRUCTIONS,
    RubricGrade,
    read_grades,
    rubric_request,
)

__all__ = ["GRADE_TIMEOUT", "grade"]

logger = logging.getLogger(__name__)

# Grading reads a whole transcript and answers a few lines: a model that has not
# answered in this long will not, and the job would otherwise outlive its call.
GRADE_TIMEOUT = 30.0


async def grade(
    model: llm.LLM[Any],
    criteria: Sequence[str],
    transcript: Sequence[tuple[str, str]],
    *,
    timeout: float = GRADE_TIMEOUT,
) -> RubricGrade:
    """``model``'s grades of ``criteria`` over ``transcript`` (``(role, text)``, role
    ``user`` or ``agent``)."""
    chat = llm.ChatContext()
    chat.add_message(role="system", content=RUBRIC_INSTRUCTIONS)
    chat.add_message(role="user", content=rubric_request(criteria, transcript))
    try:
        answer = await asyncio.wait_for(model.chat(chat_ctx=chat).collect(), timeout)
    except TimeoutError:
        return RubricGrade(error=f"{NOT_GRADED}: the model did not answer within {timeout:g} s")
    except Exception as exc:  # the model's failure: the rest of the evaluation stands
        logger.debug("grading the rubric failed", exc_info=True)
        why = str(exc)[:200] or type(exc).__name__
        return RubricGrade(error=f"{NOT_GRADED}: the model failed: {why}")
    return read_grades(answer.text, criteria)
