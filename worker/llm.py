"""Model stand-ins for offline runs: real ``livekit.agents.llm.LLM`` subclasses.

- ``ScriptedLLM`` plays a scenario's ``model`` steps: each call to ``chat`` answers with
  the next step of the current turn — a function call, a spoken reply, or a structured
  answer (a JSON object, streamed in small pieces as a real model sends it). The driver
  gives it a turn's steps with :meth:`ScriptedLLM.plan` before sending the user's words;
  a turn whose steps are used up answers with an empty reply, which ends it. Given a
  ``latency``, each answer starts that many seconds after the call, as a real model's
  first token does (benchmarks set it; scenario runs leave it at 0).
- ``OfflineLLM`` needs no script: it reads the user's last words and lets a chooser (the
  REPL's example matcher) pick a function to call, else answers with a marked
  placeholder.

Both honour ``tool_choice="none"``, which the session sets once a turn has made
``max_tool_steps`` function calls: they answer in words then, as a real model must, and
the scripted one notes the call it could not make (:attr:`ScriptedLLM.blocked`).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
from collections.abc import Callable, Iterable
from typing import Any, ClassVar, Literal

import msgspec
from livekit.agents import llm
from livekit.agents.types import DEFAULT_API_CONNECT_OPTIONS, NOT_GIVEN, APIConnectOptions

__all__ = ["OFFLINE_REPLY", "OfflineLLM", "ScriptedLLM", "StandIn", "Step"]

logger = logging.getLogger(__name__)

# Structured answers arrive in pieces this long, so the adapter's streaming of the
# spoken field is exercised the way a real model's token stream exercises it.
PIECE = 24
OFFLINE_REPLY = (
    "[offline model: no edge's or tool's examples match; /go NAME {json} calls one by hand]"
)


class Step(msgspec.Struct, frozen=True):
    """One thing a stand-in model does: call a function (``call``, ``args``), say
    something (``say``), or give a structured answer (``output``, a JSON object)."""

    kind: Literal["call", "say", "output"]
    value: str  # the function's name, the words, or the answer's JSON text
    args: dict[str, Any] = {}

    @classmethod
    def call(cls, name: str, args: dict[str, Any] | None = None) -> Step:
        return cls("call", name, args or {})

    @classmethod
    def say(cls, text: str) -> Step:
        return cls("say", text)

    @classmethod
    def output(cls, data: dict[str, Any]) -> Step:
        return cls("output", json.dumps(data, ensure_ascii=False))

    def describe(self) -> str:
        if self.kind == "call":
            return f"call `{self.value}`"
        if self.kind == "say":
            return f"say {json.dumps(self.value, ensure_ascii=False)}"
        return f"output {self.value}"


class _StepStream(llm.LLMStream):
    def __init__(
        self,
        model: llm.LLM[Any],
        *,
        step: Step | None,
        call_id: str,
        chat_ctx: llm.ChatContext,
        tools: list[Any],
        conn_options: APIConnectOptions,
        latency: float = 0.0,
    ) -> None:
        super().__init__(model, chat_ctx=chat_ctx, tools=tools, conn_options=conn_options)
        self._step = step
        self._call_id = call_id
        self._latency = latency

    async def _run(self) -> None:
        if self._latency > 0:
            await asyncio.sleep(self._latency)
        step = self._step
        send = self._event_ch.send_nowait
        if step is not None and step.kind == "call":
            call = llm.FunctionToolCall(
                name=step.value, arguments=json.dumps(step.args), call_id=self._call_id
            )
            send(
                llm.ChatChunk(
                    id=self._call_id, delta=llm.ChoiceDelta(role="assistant", tool_calls=[call])
                )
            )
        elif step is not None and step.kind == "output":
            text = step.value
            for i in range(0, len(text), PIECE):
                delta = llm.ChoiceDelta(role="assistant", content=text[i : i + PIECE])
                send(llm.ChatChunk(id=self._call_id, delta=delta))
        else:
            delta = llm.ChoiceDelta(role="assistant", content=step.value if step else "")
            send(llm.ChatChunk(id=self._call_id, delta=delta))


class StandIn:
    """Mixed into every stand-in plugin (these models, ``worker/fakes.py``'s STT and
    TTS): LiveKit names a plugin's provider and model in its metrics and traces, so a
    stand-in says it is flowctl's and which one it is (``stand_in``), never a real
    provider's."""

    stand_in: ClassVar[str]

    @property
    def model(self) -> str:
        return self.stand_in

    @property
    def provider(self) -> str:
        return "flowctl"


class _StandIn(StandIn, llm.LLM[Any]):
    def __init__(self, *, latency: float = 0.0) -> None:
        super().__init__()
        self.latency = latency  # seconds before each answer starts
        self._ids = itertools.count(1)
        self.requests: list[list[str]] = []  # the function names offered at each call
        self.contexts: list[llm.ChatContext] = []  # the history the model saw at each call

    def _next(self, chat_ctx: llm.ChatContext, calls_allowed: bool) -> Step | None:
        raise NotImplementedError

    def chat(
        self,
        *,
        chat_ctx: llm.ChatContext,
        tools: list[Any] | None = None,
        conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS,
        tool_choice: Any = NOT_GIVEN,
        **_: Any,
    ) -> llm.LLMStream:
        self.requests.append([getattr(t, "id", "") for t in tools or []])
        self.contexts.append(chat_ctx)
        step = self._next(chat_ctx, tool_choice != "none" and bool(tools))
        return _StepStream(
            self,
            step=step,
            call_id=f"call_{next(self._ids)}",
            chat_ctx=chat_ctx,
            tools=tools or [],
            conn_options=conn_options,
            latency=self.latency,
        )


class ScriptedLLM(_StandIn):
    """Answers from a script, one step per ``chat`` call; never reaches a network.
    ``latency``: seconds each answer waits before its first piece, the fixed time to
    first token of a model over the network (0: at once)."""

    stand_in = "scripted"

    def __init__(self, *, latency: float = 0.0) -> None:
        super().__init__(latency=latency)
        self._steps: list[Step] = []
        self.blocked: list[Step] = []  # calls the session allowed no more of this turn

    def plan(self, steps: Iterable[Step]) -> None:
        """The steps of the next turn (unused steps of the last one are dropped)."""
        self._steps = list(steps)
        self.blocked = []

    @property
    def pending(self) -> list[Step]:
        """The steps of this turn not played (yet)."""
        return list(self._steps)

    def _next(self, chat_ctx: llm.ChatContext, calls_allowed: bool) -> Step | None:
        if not self._steps:
            return None
        if self._steps[0].kind == "call" and not calls_allowed:
            # A real model cannot call now either; the script's call is left unplayed.
            self.blocked.append(self._steps[0])
            return None
        return self._steps.pop(0)


class OfflineLLM(_StandIn):
    """Calls the function ``choose`` picks for the user's last words (``None``: answer
    with :data:`OFFLINE_REPLY`). After a function's result it says nothing more."""

    stand_in = "offline"

    def __init__(self, choose: Callable[[str], Step | None]) -> None:
        super().__init__()
        self._choose = choose

    def _next(self, chat_ctx: llm.ChatContext, calls_allowed: bool) -> Step | None:
        last = chat_ctx.items[-1] if chat_ctx.items else None
        if last is None or last.type != "message" or last.role != "user":
            return None  # answering a function's result: the tool's words were enough
        step = self._choose(last.text_content or "") if calls_allowed else None
        return step if step is not None else Step.say(OFFLINE_REPLY)
