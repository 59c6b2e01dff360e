"""The console's try-it chat: a version of a flow talked to in the browser through the
same dry run as ``flowctl simulate`` (the worker's ``FlowAgent`` in a text-only LiveKit
``AgentSession``, the offline model, tools that reach no network), kept open between
requests, and saved as a scenario file ``flowctl simulate`` runs.

A chat's session lives in a task of its own (an ``AgentSession`` is entered and left in
one task); each user line goes to it through a queue and its transcript lines come back.
The scenario is built the way a recorded call's replay is (``engine/replay.py``): the
user's words, the functions the model called, and the state, edges and refusals each
turn came to as its expectations.

LiveKit's agents take 1.5 s to import: they load on the first chat, not with
``flowctl serve``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import msgspec

from flowctl.engine.events import Turn

if TYPE_CHECKING:
    from flowctl.engine.compile import CompiledFlow
    from flowctl.engine.runtime import Conversation
    from flowctl.worker.transcript import Line

__all__ = ["Chat", "ChatClosed", "Chats", "Offered"]

logger = logging.getLogger(__name__)

# As `flowctl simulate`: an offline turn takes milliseconds; this long means stuck.
TURN_TIMEOUT = 10.0
# Chats held at once by this process, and how long one may sit unused: each holds a
# session and its task, so the bound is about memory, not users (an idle chat is closed
# and a new one is a click away).
MAX_CHATS = 64
IDLE_SECONDS = 30 * 60.0
MAX_LINE = 2000  # characters a user line may have


class ChatClosed(Exception):
    """The chat's session is over (it failed to start, or was closed)."""


@dataclass(frozen=True, slots=True)
class Offered:
    """A function the current state offers, as ``/edges`` prints it."""

    name: str
    line: str


@dataclass(slots=True)
class _Ask:
    text: str
    call: tuple[str, dict[str, Any]] | None
    answer: asyncio.Future[list[Line]]


@dataclass(slots=True)
class Chat:
    """One try-it conversation with ``flow_id`` ``version`` for a tenant's key."""

    chat_id: str
    tenant_id: str
    key_id: str
    flow_id: str
    version: int
    compiled: CompiledFlow
    seen: float
    lines: list[Line] = field(default_factory=list)
    events: list[Any] = field(default_factory=list)  # history with the user's turns
    conv: Conversation | None = None
    _inbox: asyncio.Queue[_Ask | None] = field(default_factory=asyncio.Queue)
    _task: asyncio.Task[None] | None = None
    _ready: asyncio.Future[None] | None = None
    _forced: list[Any] = field(default_factory=list)

    async def start(self) -> None:
        """Open the session (the flow's greeting is the first line)."""
        self._ready = asyncio.get_running_loop().create_future()
        self._task = asyncio.create_task(self._run(), name=f"console chat {self.chat_id}")
        await asyncio.wait_for(asyncio.shield(self._ready), TURN_TIMEOUT)

    async def say(self, text: str, call: tuple[str, dict[str, Any]] | None = None) -> list[Line]:
        """A user turn: ``text``, answered by the offline model, or by a call of the
        function ``call`` names with its arguments (what ``/go`` does, as a model step,
        so the saved scenario plays it). The turn's transcript lines."""
        if self._task is None or self._task.done():
            raise ChatClosed(f"The chat with {self.flow_id} v{self.version} is over")
        answer: asyncio.Future[list[Line]] = asyncio.get_running_loop().create_future()
        await self._inbox.put(_Ask(text[:MAX_LINE], call, answer))
        return await asyncio.wait_for(answer, TURN_TIMEOUT * 2)

    async def close(self) -> None:
        if self._task is not None and not self._task.done():
            await self._inbox.put(None)
            try:
                await asyncio.wait_for(self._task, TURN_TIMEOUT)
            except (TimeoutError, Exception):
                self._task.cancel()
                with contextlib.suppress(BaseException):
                    await self._task

    @property
    def ended(self) -> bool:
        return self.conv is not None and self.conv.ended is not None

    def offered(self) -> list[Offered]:
        """The functions the current state offers, with their parameters and guards."""
        from flowctl.worker.repl import offered

        conv = self.conv
        if conv is None or conv.ended is not None:
            return []
        return [
            Offered(fn.name, offered(fn, conv.current.by_function.get(fn.name)).strip())
            for fn in conv.functions()
        ]

    def scenario_file(self, flow_file: str) -> bytes:
        """The chat as a scenario file naming ``flow_file`` (beside it): what
        ``flowctl simulate FILE`` runs with the scripted model."""
        from flowctl.engine.replay import scenario_from_events
        from flowctl.engine.scenario import ScenarioFile

        name = f"chat with {self.flow_id} v{self.version} (console)"
        scenario = scenario_from_events(name, self.events)
        document = _without_nulls(
            msgspec.to_builtins(ScenarioFile(flow=flow_file, scenarios=[scenario]))
        )
        return (json.dumps(document, indent=2, ensure_ascii=False) + "\n").encode()

    async def _run(self) -> None:
        from livekit.agents import AgentSession

        from flowctl.engine.runtime import Conversation
        from flowctl.engine.tools import ToolRegistry
        from flowctl.worker.agent import FlowAgent
        from flowctl.worker.llm import OfflineLLM, Step
        from flowctl.worker.repl import offline_choice
        from flowctl.worker.transcript import said, said_in

        assert self._ready is not None
        compiled = self.compiled
        tools = ToolRegistry(compiled.tools, allow_network=False)
        conv = self.conv = Conversation(compiled, tools=tools)
        choose = offline_choice(conv)

        def model_step(text: str) -> Step | None:
            if self._forced:
                name, args = self._forced.pop(0)
                return Step.call(name, args)
            return choose(text)

        model = OfflineLLM(model_step)
        try:
            async with AgentSession(llm=model, max_tool_steps=compiled.max_tool_steps) as session:
                start = await session.start(await FlowAgent.open(conv), capture_run=True)
                self.lines += [said("agent", text) for text in said_in(start)]
                self.events = list(conv.history)
                self._ready.set_result(None)
                while (ask := await self._inbox.get()) is not None:
                    try:
                        ask.answer.set_result(await self._turn(session, conv, ask))
                    except Exception as exc:
                        if not ask.answer.done():
                            ask.answer.set_exception(exc)
        except Exception as exc:
            logger.exception("console chat %s failed", self.chat_id)
            if not self._ready.done():
                self._ready.set_exception(ChatClosed(f"The chat could not start: {exc}"))
        finally:
            await conv.aclose()
            await model.aclose()

    async def _turn(self, session: Any, conv: Conversation, ask: _Ask) -> list[Line]:
        from flowctl.worker.transcript import Line, said, said_in, transcript

        if conv.ended is not None:
            return [Line("note", f"(the call has ended in {conv.state}; start a new chat)")]
        self._forced = [ask.call] if ask.call is not None else []
        mark = len(conv.history)
        self.events.append(Turn(at=time.time(), role="user", text=ask.text))
        lines = [said("user", ask.text)]
        run = await asyncio.wait_for(session.run(user_input=ask.text), TURN_TIMEOUT)
        self._forced = []
        done = conv.history[mark:]
        self.events += done
        spoken = conv.current.output.spoken if conv.current.output else None
        words = said_in(run)
        lines += transcript(done, words, spoken, values=not words and conv.ended is None)
        self.lines += lines
        return lines


def _without_nulls(value: Any) -> Any:
    """``value`` with the keys whose value is null left out (each means "not checked" or
    "not given" in a scenario, and is its default)."""
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


class Chats:
    """The chats open in this process, by id."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._by_id: dict[str, Chat] = {}

    async def open(
        self, *, tenant_id: str, key_id: str, flow_id: str, version: int, compiled: CompiledFlow
    ) -> Chat:
        await self._reap()
        chat = Chat(
            chat_id=secrets.token_urlsafe(12),
            tenant_id=tenant_id,
            key_id=key_id,
            flow_id=flow_id,
            version=version,
            compiled=compiled,
            seen=self._clock(),
        )
        await chat.start()
        self._by_id[chat.chat_id] = chat
        return chat

    def get(self, chat_id: str, *, tenant_id: str, key_id: str) -> Chat | None:
        """The chat ``chat_id`` of that key; None for another key's (or tenant's), as for
        one that does not exist."""
        chat = self._by_id.get(chat_id)
        if chat is None or chat.tenant_id != tenant_id or chat.key_id != key_id:
            return None
        chat.seen = self._clock()
        return chat

    async def _reap(self) -> None:
        """Close the chats idle too long, and the least recently used past the bound
        (room for one more)."""
        now = self._clock()
        doomed = {c.chat_id: c for c in self._by_id.values() if now - c.seen > IDLE_SECONDS}
        for chat in sorted(self._by_id.values(), key=lambda c: c.seen):
            if len(self._by_id) - len(doomed) < MAX_CHATS:
                break
            doomed[chat.chat_id] = chat
        for chat in doomed.values():
            self._by_id.pop(chat.chat_id, None)
            await chat.close()

    async def close(self) -> None:
        chats, self._by_id = list(self._by_id.values()), {}
        for chat in chats:
            await chat.close()

    def __len__(self) -> int:
        return len(self._by_id)
