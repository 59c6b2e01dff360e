"""The LiveKit adapter: an ``Agent`` that mirrors one state of an engine ``Conversation``.

Its instructions are ``Conversation.render_instructions()``, its tools the functions the
state offers (``function_tool(raw_schema=...)``), and it says the state's greeting on
entry. A function call goes to ``Conversation.fire``; the adapter only acts on the typed
outcome — all flow logic stays in the engine:

- ``Handoff`` (or an ``Action`` that moved): hand the session to a new ``FlowAgent`` for
  the new state (its greeting is said on entry);
- ``Action`` that stayed: the tool's result (or its error) goes back to the model;
- ``Refused``: the engine's reason goes back to the model as a tool error so it can
  recover;
- ended: the last words are said and the session shuts down.
"""

from __future__ import annotations

import logging
from typing import Any

import msgspec
from livekit.agents import Agent, llm
from livekit.agents.llm import ToolError, function_tool

from engine.runtime import Action, Conversation, Handoff, Outcome, Refused

__all__ = ["FlowAgent"]

logger = logging.getLogger(__name__)


class FlowAgent(Agent):
    """The session's agent while the conversation is in one state."""

    def __init__(self, conversation: Conversation, *, say: str | None = None) -> None:
        self.conversation = conversation
        self._say_first = say  # an edge's `say`, spoken before the new state's greeting
        super().__init__(
            instructions=conversation.render_instructions(),
            # The compiled schemas as they are: LiveKit reads them, never writes them.
            tools=[self._tool(fn.schema) for fn in conversation.functions()],
        )

    async def on_enter(self) -> None:
        conv = self.conversation
        words = " ".join(w for w in (self._say_first, conv.greeting()) if w)
        if words:
            self.session.say(words)
        if conv.ended is not None:
            self.session.shutdown(drain=True)

    def _tool(self, schema: dict[str, Any]) -> llm.Tool:
        name = schema["name"]

        async def call(raw_arguments: dict[str, object]) -> Any:
            outcome = await self.conversation.fire(name, raw_arguments)
            return self._act(outcome)

        return function_tool(call, raw_schema=schema)

    def _act(self, outcome: Outcome) -> Any:
        conv = self.conversation
        if isinstance(outcome, Refused):
            raise ToolError(outcome.reason)
        moved = isinstance(outcome, Handoff) or (
            isinstance(outcome, Action) and outcome.target is not None
        )
        if moved:
            return FlowAgent(conv, say=outcome.say)
        assert isinstance(outcome, Action)
        if outcome.say:  # an action edge that stayed (or ended the call) says its words
            self.session.say(outcome.say)
        if conv.ended is not None:
            self.session.shutdown(drain=True)
        if not outcome.result.ok:
            raise ToolError(outcome.result.error or f"`{outcome.tool}` failed")
        return msgspec.json.encode(outcome.result.value).decode()
