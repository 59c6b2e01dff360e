"""The LiveKit adapter: an ``Agent`` that mirrors the state of an engine ``Conversation``.

Its instructions are ``Conversation.render_instructions()``; the model is offered the
functions the state offers (``function_tool(raw_schema=...)``), and LiveKit can run
those and the functions of the states with an entry turn that a call the reply follows
may land in (``flowctl.engine.ahead``: the reply that moved there takes that entry
turn, which may call them; which state a call is for is the engine's to say, so each
fires the same way).
It says the state's greeting on entry. A function call goes to ``Conversation.fire``;
the adapter only acts on the typed outcome — all flow logic stays in the engine:

- the conversation moved (a ``Handoff``, or an ``Action`` whose edge has a target): the
  session follows it into the new state. When the new state speaks with the same voice
  stack (its own ``llm``/``tts``, if any, equal the old state's), the running agent
  switches in place — new instructions and tools, the chat history cut to the state's
  ``context`` policy — which costs about two thirds of a handoff. Otherwise a new
  ``FlowAgent`` with the new state's models takes over. Either way no reply to the call
  is generated: the edge's ``say`` (and the automatic edges'), the new state's greeting
  and, when the state has ``on_enter``, the model's entry turn answer the turn. The
  history is cut by the engine's plan of the state's ``context`` (a summary it asks of
  the session's model, when the plan says so);
- an ``Action`` that stayed: the tool's result (or its error) goes back to the model,
  and the instructions are rendered again in place when the values they show changed;
- ``Refused``: the engine's reason goes back to the model as a tool error so it can
  recover;
- the call ended: the last words are said and the session shuts down.

**Following a call in the reply that made it.** When every state a call can land in
is one this agent switches to in place with the whole history (the same voice, the
``keep`` context, plain answers), the call is fired as the model's stream brings it,
not after LiveKit has run its tool: once the caller's words it answers are in the
conversation (LiveKit runs the model before it commits them), the engine fires it, and
the new state's words and its entry turn (the model asked at once, under the new
state's instructions and task) stream on as that reply's own text, the fixed words as
a segment of their own. LiveKit's tool for the call then only answers with the
outcome. This saves LiveKit's path from a call to its tool and from a ``say`` or
``generate_reply`` to the output (about 1 ms a transition, and a model request's
set-up for an entry turn). What is not needed for the words waits until they have
passed the transcription node (the last step before the output): LiveKit gets the
call's chunk (its running of a tool costs ~0.4 ms), the agent switches (instructions,
tools), and the rest of the model's answer after the call is read. The firing and
switching run as a task of their own, so a reply the caller cuts off still leaves
the conversation and the agent in the same state, and the model is never asked again
before a switch is made.

A state with structured output gets its answers in the state's JSON schema; the spoken
field streams to TTS and the transcript as it arrives (``flowctl.engine.spoken``), and the whole
answer is validated and recorded by the engine (``output`` or ``output_invalid``).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterable, Callable, Mapping
from typing import Any

import msgspec
from livekit.agents import NOT_GIVEN, Agent, FlushSentinel, ModelSettings, RunContext, llm
from livekit.agents.llm import ToolError, function_tool
from livekit.agents.types import TimedString
from livekit.agents.voice.generation import update_instructions

from flowctl.engine.ahead import landings
from flowctl.engine.compile import CompiledState
from flowctl.engine.entering import Carry, EntryTurn, carry
from flowctl.engine.runtime import Action, Conversation, Handoff, Outcome, Refused
from flowctl.engine.spoken import SpokenField
from flowctl.worker.memory import written_summary

__all__ = ["FlowAgent", "VoiceStack"]

logger = logging.getLogger(__name__)

# How long a call the model's stream brings waits for LiveKit to commit the caller's
# words it answers (a few event-loop steps, well under a millisecond, in every reply
# LiveKit builds from a user turn) before it is left to LiveKit's own tool instead.
COMMIT_WAIT = 0.5

# The models a state speaks with, as ``Agent`` keyword arguments (``llm``, ``tts``...);
# the worker's session factory provides it. Without one the session's models serve
# every state.
VoiceStack = Callable[[Conversation], Mapping[str, Any]]


def _same_voice(a: CompiledState, b: CompiledState) -> bool:
    return a.spec.llm == b.spec.llm and a.spec.tts == b.spec.tts


class FlowAgent(Agent):
    """The session's agent, following the conversation from state to state."""

    def __init__(
        self,
        conversation: Conversation,
        *,
        say: str | None = None,
        chat_ctx: llm.ChatContext | None = None,
        voice: VoiceStack | None = None,
        on_output: Callable[[dict[str, Any]], None] | None = None,
        heard: _Heard | None = None,
    ) -> None:
        self.conversation = conversation
        self._say_first = say  # an edge's `say`, spoken before the new state's greeting
        self._voice = voice
        self._on_output = on_output
        self._offered: dict[int, list[llm.Tool]] = {}  # by state: what the model sees
        self._runnable: dict[int, list[llm.Tool | llm.Toolset]] = {}  # by state: what runs
        # Calls followed in the model's stream (``_follow_in_stream``), by call id, for
        # the tool LiveKit runs for each to answer with.
        self._moves: dict[str, asyncio.Future[_Move]] = {}
        # Switches to a new state waiting for its words to be out, and what lets each
        # go ahead at once (the model is asked again first: ``_switched``).
        self._switching: dict[asyncio.Task[None], asyncio.Future[None]] = {}
        self._in_place: dict[tuple[int, str], bool] = {}  # by state and function
        self._heard = heard if heard is not None else _Heard()
        self._expecting: asyncio.Future[None] | None = None  # see _expect_words
        # How much of the conversation's history the agent's last switch followed.
        self._switched_at = len(conversation.history)
        self.switches = 0  # state changes made in place, for tests and benchmarks
        self.voice_instructions: str | None = None  # from the last structured answer
        super().__init__(
            instructions=conversation.render_instructions(),
            tools=self._runnable_tools(),
            chat_ctx=chat_ctx,
            **(voice(conversation) if voice is not None else {}),
        )

    @classmethod
    async def open(cls, conversation: Conversation, **options: Any) -> FlowAgent:
        """The first agent of a session: the start state's automatic edges run first,
        and what they say is said before the greeting."""
        await conversation.start()
        options.setdefault("say", conversation.opening)
        return cls(conversation, **options)

    async def on_enter(self) -> None:
        self.session.on("conversation_item_added", self._on_item_added)
        self._speak(self._say_first)

    async def on_exit(self) -> None:
        self.session.off("conversation_item_added", self._on_item_added)
        for release in self._switching.values():  # nothing waits for words now
            _settle(release)

    def _on_item_added(self, event: Any) -> None:  # this agent's own, to add and remove
        self._heard.added(event.item.id)

    # --- entering a state ---------------------------------------------------------------

    def _speak(self, first: str | None) -> None:
        """Say the edge's words and the greeting; then, when the state responds on
        entry, the model takes its turn."""
        words = self._entry_words(first)
        if words:
            self.session.say(words)
        self._entered()

    def _entry_words(self, first: str | None) -> str:
        return " ".join(w for w in (first, self.conversation.greeting()) if w)

    def _entered(self) -> None:
        """After the entry's words: the call ends, or the model takes the state's entry
        turn (it may call a function: ``tool_choice`` is given because inside a function
        call LiveKit would default it to none)."""
        conv = self.conversation
        if conv.ended is not None:
            self.session.shutdown(drain=True)
            return
        turn = conv.entry_turn()
        if turn is not None:
            task = turn.task if turn.task is not None else NOT_GIVEN
            self.session.generate_reply(instructions=task, tool_choice="auto")

    def offered_tools(self) -> list[llm.Tool]:
        """The current state's functions, as the model sees them."""
        conv = self.conversation
        if conv.ended is not None:
            return []
        index = conv.current.index
        tools = self._offered.get(index)
        if tools is None:
            # The compiled schemas as they are: LiveKit reads them, never writes them.
            tools = self._offered[index] = [self._tool(fn.schema) for fn in conv.functions()]
        return tools

    def _offered_in(self, runnable: set[str]) -> list[llm.Tool]:
        """What the model is offered in a reply whose tools LiveKit took as ``runnable``:
        the current state's functions it can run (a step after a move within the same
        reply runs with the tools the reply started with)."""
        offered = self.offered_tools()
        if all(tool.id in runnable for tool in offered):
            return offered
        return [tool for tool in offered if tool.id in runnable]

    def _runnable_tools(self) -> list[llm.Tool | llm.Toolset]:
        """The tools LiveKit can run in the current state: its functions, and those of
        every state with an entry turn that a call this reply follows may land in
        (``flowctl.engine.ahead``), one per name: the entry turn is taken in the reply
        that moved there, and may call them. Which state a call is for is the
        conversation's to say: every tool of a name fires the same way."""
        conv = self.conversation
        if conv.ended is not None:
            return []
        index = conv.current.index
        tools = self._runnable.get(index)
        if tools is None:
            tools = self._runnable[index] = [*self.offered_tools()]
            names = {fn.name for fn in conv.functions()}
            for fn in conv.functions():
                if not self._lands_in_place(fn.name):
                    continue
                for landing in landings(conv.compiled, index, fn.name):
                    state = conv.compiled.states[landing]
                    if state.spec.on_enter is None or state.end:
                        continue  # no entry turn
                    for ahead in state.functions:
                        if ahead.name not in names:
                            names.add(ahead.name)
                            tools.append(self._tool(ahead.schema))
        return tools

    async def _carried(self, plan: Carry) -> llm.ChatContext:
        """The chat history the new state starts with, by the engine's plan of its
        ``context`` policy."""
        history = self.chat_ctx.copy(exclude_config_update=True)
        if plan.everything:
            return history
        self._heard.keep(history)  # what is cut was said: a reply may still show it
        ctx = llm.ChatContext.empty()
        if plan.summarize is not None:
            summary = await self._summary(history, plan.summarize) or plan.fallback
            ctx.add_message(role="system", content=summary or "")
        for note in plan.notes:
            ctx.add_message(role="system", content=note)
        if plan.said is not None:
            said = [
                item
                for item in history.items
                if item.type == "message" and item.role in ("user", "assistant")
            ]
            ctx.items.extend(said[-plan.said :])
        elif plan.keep is None:
            ctx.items.extend(history.items)
        elif plan.keep:
            ctx.items.extend(history.truncate(max_items=plan.keep).items)
        return ctx

    def _model(self) -> llm.LLM[Any] | None:
        """The language model this agent speaks with (its state's, else the
        session's); None for a realtime model."""
        model = self.llm if isinstance(self.llm, llm.LLM) else self.session.llm
        return model if isinstance(model, llm.LLM) else None

    async def _summary(self, history: llm.ChatContext, prompt: str) -> str:
        """The session's model's summary of ``history`` (in dry runs, the scripted
        model's next step), asked with ``prompt``; empty when it wrote none."""
        model = self._model()
        if model is None:
            return ""
        options = self.session.conn_options.llm_conn_options
        return await written_summary(model, history, prompt, options)

    async def _follow(self, before: CompiledState, say: str | None) -> FlowAgent | None:
        """The session follows the conversation into its new state."""
        if not _same_voice(before, self.conversation.current):
            return FlowAgent(
                self.conversation,
                say=say,
                chat_ctx=await self._carried(self.conversation.carried()),
                voice=self._voice,
                on_output=self._on_output,
                heard=self._heard,
            )
        if self._switched_at < len(self.conversation.history):  # else already followed
            await self._switch()
        self._speak(say)
        return None

    async def _switch(self) -> None:
        """This agent becomes the new state's: its history cut by the state's
        ``context``, its instructions and tools."""
        conv = self.conversation
        plan = conv.carried()
        if not plan.everything:
            await self.update_chat_ctx(await self._carried(plan))
        await self.update_instructions(conv.render_instructions())
        await self.update_tools(self._runnable_tools())
        self._switched_at = len(conv.history)
        self.switches += 1

    # --- function calls -----------------------------------------------------------------

    def _tool(self, schema: dict[str, Any]) -> llm.Tool:
        name = schema["name"]

        async def call(raw_arguments: dict[str, object], context: RunContext[Any]) -> Any:
            move = self._moves.pop(context.function_call.call_id, None)
            if move is not None:  # followed as the model's stream brought it
                return _answer(await move)
            before = self.conversation.current
            outcome = await self.conversation.fire(name, raw_arguments)
            return await self._act(outcome, before)

        return function_tool(call, raw_schema=schema)

    async def _act(self, outcome: Outcome, before: CompiledState) -> Any:
        """Follow ``outcome`` of a call the tool fired, and answer the call."""
        if isinstance(outcome, Handoff):
            return await self._follow(before, outcome.say)
        if isinstance(outcome, Action) and outcome.target is not None:
            agent = await self._follow(before, outcome.say)
            kept = _answer(_Move(outcome=outcome))
            return (agent, kept) if agent is not None else kept
        if isinstance(outcome, Action):
            if outcome.say:  # an action edge that stayed (or ended the call) says its words
                self.session.say(outcome.say)
            await self._stayed()
        return _answer(_Move(outcome=outcome))

    async def _stayed(self) -> None:
        """After an action that stayed: the call ended, or the variables the prompt
        shows may have changed (refreshed in place)."""
        if self.conversation.ended is not None:
            self.session.shutdown(drain=True)
            return
        text = self.conversation.render_instructions()
        if text != self.instructions:
            await self.update_instructions(text)

    async def _refuse_unknown(
        self, calls: list[llm.FunctionToolCall], runnable: set[str], chat_ctx: llm.ChatContext
    ) -> None:
        """A call of a function LiveKit cannot run never reaches a tool (LiveKit answers
        the model itself); when the state does not offer it either, the engine refuses
        it too, so the history shows it, after the caller's words it answers."""
        offered = {fn.name for fn in self.conversation.functions()}
        unknown = [c.name for c in calls if c.name not in runnable and c.name not in offered]
        if not unknown:
            return
        await self._words_in(chat_ctx)
        for name in unknown:
            await self.conversation.fire(name)

    # --- following a call in the model's stream -------------------------------------------

    def _followable(self, call: llm.FunctionToolCall, runnable: set[str]) -> dict[str, Any] | None:
        """The arguments of a call this reply can follow itself, or None: the state
        offers the function, and wherever the call may land, this agent switches there
        in place (the same voice, the whole history kept) and the model answers in
        plain words."""
        if (
            self.conversation.ended is not None
            or call.name not in runnable
            or not self._lands_in_place(call.name)
        ):
            return None
        try:
            arguments = json.loads(call.arguments or "{}")
        except ValueError:
            return None  # LiveKit's own parser may repair it; the tool fires it then
        return arguments if isinstance(arguments, dict) else None

    def _lands_in_place(self, name: str) -> bool:
        """Whether a call of ``name`` in the current state (which offers it) lands, wherever
        it may, in a state this agent switches to in place, answering in plain words."""
        conv = self.conversation
        current = conv.current
        key = (current.index, name)
        found = self._in_place.get(key)
        if found is None:
            found = self._in_place[key] = any(fn.name == name for fn in current.functions) and all(
                _same_voice(current, state)
                and carry(state.spec.context, conv).everything
                and state.output is None  # else its entry turn answers in its schema
                for state in (
                    conv.compiled.states[i] for i in landings(conv.compiled, current.index, name)
                )
            )
        return found

    async def _words_in(self, chat_ctx: llm.ChatContext) -> bool:
        """Until the caller's words the reply to ``chat_ctx`` answers are in the
        conversation: True, or False when LiveKit did not commit them in time
        (``_Heard.wait``)."""
        said = _last_said(chat_ctx)
        if said is None or self._heard.has(said, self._chat_ctx):
            return True
        return await self._heard.wait(said)

    async def _follow_in_stream(
        self, call: llm.FunctionToolCall, arguments: dict[str, Any], chat_ctx: llm.ChatContext
    ) -> _Move | None:
        """Fire ``call`` as the model's stream brings it, once the caller's words it
        answers are in the conversation, and follow the outcome here: the new state's
        words and its entry turn are this reply's own text, with no speech scheduled
        after LiveKit ran the tool (~1 ms of LiveKit's on every transition). The firing
        and switching run as a task of their own: a reply cut off by the caller leaves
        the conversation and this agent in the same state, and the tool LiveKit runs
        for the call, if it does, answers with the outcome. None when the firing failed
        (the tool reports it)."""
        if not await self._words_in(chat_ctx):
            return None  # not committed in time: LiveKit's tool fires the call
        loop = asyncio.get_running_loop()
        known: asyncio.Future[_Move] = loop.create_future()
        fired, release = loop.create_future(), loop.create_future()
        self._moves[call.call_id] = known
        task = asyncio.ensure_future(
            self._fire_and_follow(call.name, arguments, known, fired, release)
        )
        self._switching[task] = release
        task.add_done_callback(self._switching.pop)
        task.add_done_callback(_log_failure)
        await fired  # cut off here, only this wait ends: the task runs on
        if known.exception() is not None:
            return None  # the call's tool raises it
        return known.result()

    async def _fire_and_follow(
        self,
        name: str,
        arguments: dict[str, Any],
        known: asyncio.Future[_Move],
        fired: asyncio.Future[None],
        release: asyncio.Future[None],
    ) -> None:
        conv = self.conversation
        move = _Move()
        try:
            outcome = move.outcome = await conv.fire(name, arguments)
            logged = len(conv.history)
            moved = isinstance(outcome, Handoff | Action) and outcome.target is not None
            if moved:
                assert isinstance(outcome, Handoff | Action)
                move.words = self._entry_words(outcome.say)
                move.entry = conv.entry_turn() if conv.ended is None else None
            elif isinstance(outcome, Action):
                move.words = outcome.say or ""
        except Exception as exc:  # the call's tool raises it
            known.set_exception(exc)
            return
        else:
            known.set_result(move)  # the reply says the words meanwhile
        finally:
            _settle(fired)
        if moved:
            if move.words or move.entry is not None:
                # The switch (~0.1 ms) is for what comes after the words: it waits until
                # the reply speaks or stops, or the model is asked again (_switched).
                await self._until_spoken(release)
            if self._switched_at < logged:  # else a later move's switch followed this one
                await self._switch()
        if isinstance(outcome, Action) and outcome.target is None:
            await self._stayed()
        elif conv.ended is not None:
            self.session.shutdown(drain=True)  # once this reply, its last words, is out

    async def _until_spoken(self, done: asyncio.Future[None]) -> None:
        """Until ``done``, or the agent speaks or stops (only speaking or stopping counts:
        LiveKit says "thinking" again as a reply's steps go on)."""
        session = self.session
        if session.agent_state == "speaking" or done.done():
            return

        def on_change(event: Any) -> None:
            if event.new_state != "thinking":
                _settle(done)

        session.on("agent_state_changed", on_change)
        try:
            await asyncio.shield(done)
        finally:
            session.off("agent_state_changed", on_change)

    def _expect_words(self) -> asyncio.Future[None]:
        """Resolved once the words this reply sends on next have passed its
        transcription node (the last step before the output)."""
        self._expecting = asyncio.get_running_loop().create_future()
        return self._expecting

    def transcription_node(
        self, text: AsyncIterable[str | TimedString], model_settings: ModelSettings
    ) -> AsyncIterable[str | TimedString]:
        pieces = Agent.default.transcription_node(self, text, model_settings)
        expecting = self._expecting
        if expecting is None or expecting.done():
            return pieces
        return _noting(pieces, expecting)

    async def _switched(self, chat_ctx: llm.ChatContext) -> None:
        """Before the model is asked again: the switches still waiting for words are
        made, and ``chat_ctx`` (which LiveKit may have built before) gets the
        instructions they made."""
        if not self._switching:
            return
        for release in self._switching.values():
            _settle(release)
        await asyncio.wait(list(self._switching))  # a cancelled reply leaves them running
        update_instructions(chat_ctx, instructions=self.instructions, add_if_missing=False)

    def _entry_turn(
        self,
        chat_ctx: llm.ChatContext,
        said: str,
        call: llm.FunctionToolCall,
        move: _Move,
        runnable: set[str],
    ) -> llm.LLMStream | None:
        """The new state's entry turn, asked of the model at once (it runs while the
        reply that moved there streams on): the history with what the reply said, the
        call and its answer and the new state's words, under the new state's
        instructions and, for this turn, its task. None when no LLM takes it."""
        model = self._model()
        if model is None or move.entry is None:
            return None
        ctx = chat_ctx.copy()
        if said:
            ctx.add_message(role="assistant", content=said)
        ctx.items.append(
            llm.FunctionCall(call_id=call.call_id, name=call.name, arguments=call.arguments)
        )
        ctx.items.append(
            llm.FunctionCallOutput(
                call_id=call.call_id, name=call.name, output=move.output(), is_error=False
            )
        )
        if move.words:
            ctx.add_message(role="assistant", content=move.words)
        update_instructions(
            ctx, instructions=self.conversation.render_instructions(), add_if_missing=True
        )
        if move.entry.task is not None:
            ctx.add_message(role="system", content=move.entry.task)
        return model.chat(
            chat_ctx=ctx,
            tools=self._offered_in(runnable),
            tool_choice="auto",
            conn_options=self.session.conn_options.llm_conn_options,
        )

    # --- the model's stream -----------------------------------------------------------------

    async def llm_node(
        self,
        chat_ctx: llm.ChatContext,
        tools: list[llm.Tool],
        model_settings: ModelSettings,
    ) -> AsyncIterable[llm.ChatChunk | str | FlushSentinel]:
        """The model's answer, as LiveKit's own node streams it, but for a function call
        that moves the conversation to a state this agent switches to in place: it is
        followed here (``_follow_in_stream``), and the new state's words and entry turn
        stream on as this reply's text."""
        await self._switched(chat_ctx)
        if self.conversation.current.output is not None:
            async for piece in self._structured(chat_ctx, tools, model_settings):
                yield piece
            return
        runnable = {tool.id for tool in tools}
        offered = self._offered_in(runnable)
        follows = model_settings.tool_choice != "none"  # else LiveKit runs no call
        said: list[str] = []
        entry: llm.LLMStream | None = None
        gap = False  # a space owed between the new state's words and its entry turn
        # The followed call's chunk, held back until the new state's first words are
        # out: LiveKit's running of its tool (~0.4 ms) would otherwise hold them up.
        held: llm.ChatChunk | None = None
        spoken: asyncio.Future[None] | None = None
        spoke = False  # words of the new state were sent on
        failed: Exception | None = None  # the entry turn's model failed
        answer = Agent.default.llm_node(self, chat_ctx, offered, model_settings)
        try:
            async for chunk in answer:
                if held is not None and spoken is not None and spoken.done():
                    yield held
                    held = None
                delta = chunk.delta if isinstance(chunk, llm.ChatChunk) else None
                if delta is not None and delta.tool_calls:
                    await self._refuse_unknown(delta.tool_calls, runnable, chat_ctx)
                    call = delta.tool_calls[0]
                    arguments = self._followable(call, runnable) if follows else None
                    if arguments is not None:
                        follows = False  # one call a reply is followed
                        move = await self._follow_in_stream(call, arguments, chat_ctx)
                        if move is not None:
                            assert isinstance(chunk, llm.ChatChunk)
                            entry = self._entry_turn(chat_ctx, "".join(said), call, move, runnable)
                            held, spoken = chunk, self._expect_words()
                            if move.words:
                                gap = spoke = True
                                if said and not said[-1][-1:].isspace():
                                    yield " "  # after what the model said before the call
                                yield move.words
                                yield FlushSentinel()  # a segment of their own: out now
                            if entry is not None:
                                break  # the entry turn first; the rest of this answer after
                            continue
                elif delta is not None and delta.content:
                    said.append(delta.content)
                yield chunk
            if entry is not None:
                try:
                    async with entry:
                        async for chunk in entry:
                            delta = chunk.delta
                            if held is not None and (
                                (spoken is not None and spoken.done())
                                or (delta is not None and delta.tool_calls)
                            ):
                                yield held  # before any call of the entry turn
                                held = None
                            if delta is not None and delta.tool_calls:
                                await self._refuse_unknown(delta.tool_calls, runnable, chat_ctx)
                            elif delta is not None and delta.content:
                                spoke = True
                                if gap:
                                    gap = False
                                    yield " "  # between the state's words and the model's
                            yield chunk
                except Exception as exc:  # the call is LiveKit's to run all the same
                    failed = exc
                else:
                    async for rest in answer:  # what the model said after the call, if any
                        delta = rest.delta if isinstance(rest, llm.ChatChunk) else None
                        if delta is not None and delta.tool_calls:
                            await self._refuse_unknown(delta.tool_calls, runnable, chat_ctx)
                        yield rest
            if held is not None:
                if spoke and spoken is not None and failed is None:
                    yield FlushSentinel()  # what was said goes out whole
                    await self._until_spoken(spoken)
                yield held
                held = None
            if failed is not None:
                raise failed
        finally:
            if held is not None and held.delta is not None:
                # Cut off: LiveKit never gets the call, and no tool asks for its answer.
                self._moves.pop(held.delta.tool_calls[0].call_id, None)
            self._expecting = None
            if entry is not None:
                await entry.aclose()
            await answer.aclose()

    # --- structured output ----------------------------------------------------------------

    async def _structured(
        self,
        chat_ctx: llm.ChatContext,
        tools: list[llm.Tool],
        model_settings: ModelSettings,
    ) -> AsyncIterable[str | llm.ChatChunk]:
        spec = self.conversation.current.output
        assert spec is not None
        runnable = {tool.id for tool in tools}
        model = self._model()
        assert model is not None, "structured output needs an LLM, not a realtime model"
        response_format = {
            "type": "json_schema",
            "json_schema": {
                "name": f"{self.conversation.state}_output"[:64],
                "schema": spec.schema,
                "strict": False,
            },
        }
        spoken = SpokenField(spec.spoken)
        answer: list[str] = []
        plain: bool | None = None  # None until the answer's first character shows its kind
        async with model.chat(
            chat_ctx=chat_ctx,
            tools=self._offered_in(runnable),
            tool_choice=model_settings.tool_choice,
            conn_options=self.session.conn_options.llm_conn_options,
            extra_kwargs={"response_format": response_format},
        ) as stream:
            async for chunk in stream:
                delta = chunk.delta
                if delta is not None and delta.tool_calls:
                    await self._refuse_unknown(delta.tool_calls, runnable, chat_ctx)
                if delta is None or not delta.content:
                    yield chunk
                    continue
                if delta.tool_calls:
                    yield chunk.model_copy(
                        update={"delta": delta.model_copy(update={"content": None})}
                    )
                answer.append(delta.content)
                if plain is None:
                    head = "".join(answer).lstrip()
                    if not head:
                        continue
                    plain = not head.startswith("{")
                    text = head if plain else spoken.feed(head)
                else:
                    text = delta.content if plain else spoken.feed(delta.content)
                if text:
                    yield text
        if plain is None:
            return  # only function calls: nothing was said
        fields = self.conversation.record_answer("".join(answer))
        if fields is None:
            logger.warning("an answer in %s does not fit its schema", self.conversation.state)
            return
        if spec.voice is not None and isinstance(fields.get(spec.voice), str):
            self.voice_instructions = fields[spec.voice]
        if self._on_output is not None:
            self._on_output({k: v for k, v in fields.items() if k not in spec.hidden})


class _Move:
    """The outcome of a call, and what the reply that followed it says: the new
    state's words (or a staying action's) and the entry turn it takes."""

    __slots__ = ("entry", "outcome", "words")

    def __init__(self, outcome: Outcome | None = None) -> None:
        self.outcome = outcome
        self.words = ""
        self.entry: EntryTurn | None = None

    def output(self) -> str:
        """The call's answer as the history shows it."""
        outcome = self.outcome
        if isinstance(outcome, Action):
            result = outcome.result
            return msgspec.json.encode(result.value).decode() if result.ok else result.error or ""
        return ""


def _answer(move: _Move) -> Any:
    """What the tool returns for a call whose outcome was followed: nothing to reply to
    when the conversation moved (the new state speaks), else the result or the error."""
    outcome = move.outcome
    assert outcome is not None
    if isinstance(outcome, Refused):
        raise ToolError(outcome.reason)
    if isinstance(outcome, Handoff):
        return None
    if outcome.target is not None:
        # The tool's result stays in the history for the new state; no reply to it.
        return llm.ToolResult(move.output(), reply_required=False)
    if not outcome.result.ok:
        raise ToolError(outcome.result.error or f"`{outcome.tool}` failed")
    return move.output()


def _last_said(chat_ctx: llm.ChatContext) -> llm.ChatMessage | None:
    for item in reversed(chat_ctx.items):
        if item.type == "message" and item.role == "user":
            return item
    return None


class _Heard:
    """The messages LiveKit has put in the conversation, for a call followed in the
    model's stream to know whether the caller's words it answers are there yet: LiveKit
    runs the model before it commits the caller's message (and, preemptively, before
    the caller may have finished), and the engine's move must come after the words in
    every record."""

    def __init__(self) -> None:
        self._ids: set[str] = set()
        self._waiting: dict[str, asyncio.Future[None]] = {}

    def keep(self, chat_ctx: llm.ChatContext) -> None:
        """The messages of ``chat_ctx`` are in the conversation (or were)."""
        self._ids.update(item.id for item in chat_ctx.items if item.type == "message")

    def added(self, item_id: str) -> None:
        """LiveKit's ``conversation_item_added``: ``item_id`` is in the conversation."""
        self._ids.add(item_id)
        waiting = self._waiting.pop(item_id, None)
        if waiting is not None:
            _settle(waiting)

    def has(self, message: llm.ChatMessage, chat_ctx: llm.ChatContext) -> bool:
        return message.id in self._ids or chat_ctx.get_by_id(message.id) is not None

    async def wait(self, message: llm.ChatMessage) -> bool:
        """Until ``message`` is in the conversation (True), or ``COMMIT_WAIT`` passed
        (False: a reply whose caller's words LiveKit does not commit as it usually
        does; the call then goes LiveKit's way)."""
        loop = asyncio.get_running_loop()
        waiting = self._waiting.get(message.id)
        if waiting is None or waiting.done():
            waiting = self._waiting[message.id] = loop.create_future()
        timer = loop.call_later(COMMIT_WAIT, _settle, waiting)  # wakes every waiter
        try:
            await asyncio.shield(waiting)
        finally:
            timer.cancel()
        if message.id in self._ids:
            return True
        self._waiting.pop(message.id, None)
        return False


async def _noting(
    pieces: AsyncIterable[str | TimedString], passed: asyncio.Future[None]
) -> AsyncIterable[str | TimedString]:
    async for piece in pieces:
        yield piece
        _settle(passed)  # the output has it


def _log_failure(task: asyncio.Task[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.error("following a call failed", exc_info=task.exception())


def _settle(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
