"""Entering a state: the prompt it runs with, the history it starts from, and whether
the model speaks first.

- **Instructions** are the flow's ``instructions`` (the persona and rules every state
  shares, Pipecat's ``role_message``) followed by the state's own (its task), one blank
  line between: the persona frames the task, and a state's words come last, nearest
  the conversation, so they win where the two disagree.
- **Entry turn** (``on_enter``): after the greeting, the model takes a turn at once,
  guided by the state's instructions and, for that turn only, the ``task`` text
  (LiveKit's ``generate_reply(instructions=...)`` in ``on_enter``; Pipecat's
  ``respond_immediately``). The greeting is fixed words; the entry turn is the model's.
- **Carried history** (``context``): a :class:`Carry` plan the adapter follows with
  the session's own chat types. The strings and numbers mean what they always did;
  the object form adds a summary written by the session's model (with its own prompt)
  and the variables known so far beside the last N items (LiveKit's pattern).

All of it is read from the spec here, once, so the LiveKit adapter and the REPL only
carry the plan out.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import msgspec

from flowctl.engine.spec import Context, State

if TYPE_CHECKING:
    from flowctl.engine.runtime import Conversation

__all__ = [
    "DEFAULT_SUMMARY_PROMPT",
    "Carry",
    "EntryTurn",
    "carry",
    "compose_instructions",
    "entry_turn",
]

# What the model is asked when a state's context is a summary without a prompt of its
# own: the facts the next step needs, not a transcript.
DEFAULT_SUMMARY_PROMPT = (
    "Summarise the conversation so far in a few sentences for the next step of the "
    "call: what the caller wants, what has been settled, and what is still open. "
    "Write only the summary."
)

# The legacy `"summary"` policy keeps the last exchange (the caller's words and the
# answer) word for word after the recap.
_LAST_EXCHANGE = 2


def compose_instructions(flow: str, state: str) -> str:
    """The system prompt of a state: the flow's instructions, then the state's."""
    return f"{flow}\n\n{state}" if flow and state else flow or state


class EntryTurn(msgspec.Struct, frozen=True):
    """The model's turn on entering a state: ``task``, rendered, is added to its
    instructions for that turn only (None: the state's instructions alone)."""

    task: str | None = None


def entry_turn(state: State, render: Callable[..., str]) -> EntryTurn | None:
    """The entry turn of ``state`` (None when it waits for the caller); ``render`` fills
    in the task's variables as prompt data. A terminal state ends the call instead."""
    on_enter = state.on_enter
    if on_enter is None or not on_enter.respond or state.end:
        return None
    return EntryTurn(task=render(on_enter.task, prompt=True) if on_enter.task else None)


class Carry(msgspec.Struct, frozen=True, kw_only=True):
    """The chat history a state starts with: the model's summary of the history when
    ``summarize`` is set (its prompt; when the model writes nothing, ``fallback``
    stands in), then ``notes`` (system messages, in order), then the history's items
    kept word for word: all of them (``keep`` None), the last ``keep``, or, with ``said``, only the
    last ``said`` messages of the caller's and the agent's."""

    keep: int | None = None
    said: int | None = None
    summarize: str | None = None
    fallback: str | None = None
    notes: tuple[str, ...] = ()

    @property
    def everything(self) -> bool:
        """The whole history, as it is: nothing to rebuild."""
        return self.keep is None and self.said is None and not self.notes and not self.summarize


def carry(policy: str | int | Context, conv: Conversation) -> Carry:
    """The plan for ``policy`` (a state's ``context``) in ``conv`` as it is now."""
    if isinstance(policy, Context):
        return _object_plan(policy, conv)
    if policy == "keep":
        return Carry()
    if policy == "summary":
        return Carry(said=_LAST_EXCHANGE, notes=(conv.recap(),))
    return Carry(keep=0 if policy == "reset" else int(policy))


def _object_plan(policy: Context, conv: Conversation) -> Carry:
    notes = (_variables_note(conv.variables),) if policy.variables else ()
    keep = policy.last if policy.last is not None else (0 if policy.summary else None)
    if not policy.summary:
        return Carry(keep=keep, notes=notes)
    prompt = conv.render(policy.prompt, prompt=True) if policy.prompt else DEFAULT_SUMMARY_PROMPT
    return Carry(keep=keep, summarize=prompt, fallback=conv.recap(), notes=notes)


def _variables_note(variables: dict[str, Any]) -> str:
    """The variables that hold a value, as JSON data (so a caller's words stay data)."""
    known = {k: v for k, v in variables.items() if v is not None}
    return "Variables known so far: " + msgspec.json.encode(known).decode() + "."
