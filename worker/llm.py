"""Model stand-ins for offline runs: real ``livekit.agents.llm.LLM`` subclasses.

``ScriptedLLM`` plays a scenario's ``model`` steps: each call to ``chat`` answers with
the next step of the current turn, a function call or a reply. The driver gives it a
turn's steps with :meth:`ScriptedLLM.plan` before sending the user's words; a turn whose
steps are used up answers with an empty reply, which ends it.
"""

from __future__ import annotations

import itertools
import json
import logging
from collections.abc import Iterable
from typing import Any, Literal

import msgspec
from livekit.agents import llm
from livekit.agents.types import DEFAULT_API_CONNECT_OPTIONS, APIConnectOptions

__all__ = ["ScriptedLLM", "Step"]

logger = logging.getLogger(__name__)


class Step(msgspec.Struct, frozen=True):
    """One thing the scripted model does: call a function (``call``, ``args``) or say
    something (``say``)."""

    kind: Literal["call", "say"]
    value: str
    args: dict[str, Any] = {}

    @classmethod
    def call(cls, name: str, args: dict[str, Any] | None = None) -> Step:
        return cls("call", name, args or {})

    @classmethod
    def say(cls, text: str) -> Step:
        return cls("say", text)


class _ScriptedStream(llm.LLMStream):
    def __init__(
        self,
        model: ScriptedLLM,
        *,
        step: Step | None,
        call_id: str,
        chat_ctx: llm.ChatContext,
        tools: list[Any],
        conn_options: APIConnectOptions,
    ) -> None:
        super().__init__(model, chat_ctx=chat_ctx, tools=tools, conn_options=conn_options)
        self._step = step
        self._call_id = call_id

    async def _run(self) -> None:
        step = self._step
        if step is not None and step.kind == "call":
            call = llm.FunctionToolCall(
                name=step.value, arguments=json.dumps(step.args), call_id=self._call_id
            )
            delta = llm.ChoiceDelta(role="assistant", tool_calls=[call])
        else:
            delta = llm.ChoiceDelta(role="assistant", content=step.value if step else "")
        self._event_ch.send_nowait(llm.ChatChunk(id=self._call_id, delta=delta))


class ScriptedLLM(llm.LLM):
    """Answers from a script, one step per ``chat`` call; never reaches a network."""

    def __init__(self) -> None:
        super().__init__()
        self._steps: list[Step] = []
        self._ids = itertools.count(1)
        self.requests: list[list[str]] = []  # the function names offered at each call

    @property
    def model(self) -> str:
        return "scripted"

    @property
    def provider(self) -> str:
        return "flowctl"

    def plan(self, steps: Iterable[Step]) -> None:
        """The steps of the next turn (unused steps of the last one are dropped)."""
        self._steps = list(steps)

    @property
    def pending(self) -> list[Step]:
        return list(self._steps)

    def chat(
        self,
        *,
        chat_ctx: llm.ChatContext,
        tools: list[Any] | None = None,
        conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS,
        **_: Any,
    ) -> llm.LLMStream:
        self.requests.append([getattr(t, "id", "") for t in tools or []])
        step = self._steps.pop(0) if self._steps else None
        return _ScriptedStream(
            self,
            step=step,
            call_id=f"call_{next(self._ids)}",
            chat_ctx=chat_ctx,
            tools=tools or [],
            conn_options=conn_options,
        )
