"""The LiveKit adapter: an ``Agent`` that mirrors the state of an engine ``Conversation``.

Its instructions are ``Conversation.render_instructions()``, its tools the functions the
state offers (``function_tool(raw_schema=...)``), and it says the state's greeting on
entry. A function call goes to ``Conversation.fire``; the adapter only acts on the typed
outcome — all flow logic stays in the engine:

- the conversation moved (a ``Handoff``, or an ``Action`` whose edge has a target): the
  session follows it into the new state. When the new state speaks with the same voice
  stack (its own ``llm``/``tts``, if any, equal the old state's), the running agent
  switches in place — new instructions, tools and greeting, the chat history cut to the
  state's ``context`` policy — which costs about two thirds of a handoff. Otherwise
  a new ``FlowAgent`` with the new state's models takes over. Either way no reply to
  the call is generated: the edge's ``say`` (and the automatic edges'), the new state's
  greeting and, when the state has ``on_enter``, the model's entry turn answer the turn.
  The history is cut by the engine's plan of the state's ``context`` (a summary it asks
  of the session's model, when the plan says so);
- an ``Action`` that stayed: the tool's result (or its error) goes back to the model,
  and the instructions are rendered again in place when the values they show changed;
- ``Refused``: the engine's reason goes back to the model as a tool error so it can
  recover;
- the call ended: the last words are said and the session shuts down.

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
from livekit.agents import NOT_GIVEN, Agent, FlushSentinel, ModelSettings, llm
from livekit.agents.llm import ToolError, function_tool

from flowctl.engine.compile import CompiledState
from flowctl.engine.entering import Carry
from flowctl.engine.runtime import Action, Conversation, Handoff, Outcome, Refused
from flowctl.engine.spoken import SpokenField
from flowctl.worker.memory import written_summary

__all__ = ["FlowAgent", "VoiceStack"]

logger = logging.getLogger(__name__)

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
    ) -> None:
        self.conversation = conversation
        self._say_first = say  # an edge's `say`, spoken before the new state's greeting
        self._voice = voice
        self._on_output = on_output
        self._tools_by_state: dict[int, list[llm.Tool | llm.Toolset]] = {}
        # Function calls fired as the model's stream brought them (``_move_early``), by
        # name, for the tool LiveKit runs next to finish.
        self._early: dict[str, asyncio.Task[_Early]] = {}
        self._settling: set[asyncio.Task[None]] = set()  # early calls no tool finished
        self.switches = 0  # state changes made in place, for tests and benchmarks
        self.voice_instructions: str | None = None  # from the last structured answer
        super().__init__(
            instructions=conversation.render_instructions(),
            tools=self._state_tools(),
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
        self._speak(self._say_first)

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

    def _state_tools(self) -> list[llm.Tool | llm.Toolset]:
        conv = self.conversation
        if conv.ended is not None:
            return []
        index = conv.current.index
        tools = self._tools_by_state.get(index)
        if tools is None:
            # The compiled schemas as they are: LiveKit reads them, never writes them.
            tools = [self._tool(fn.schema) for fn in conv.functions()]
            self._tools_by_state[index] = tools
        return tools

    async def _carried(self, plan: Carry) -> llm.ChatContext:
        """The chat history the new state starts with, by the engine's plan of its
        ``context`` policy."""
        history = self.chat_ctx.copy(exclude_config_update=True)
        if plan.everything:
            return history
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

    async def _summary(self, history: llm.ChatContext, prompt: str) -> str:
        """The session's model's summary of ``history`` (in dry runs, the scripted
        model's next step), asked with ``prompt``; empty when it wrote none."""
        model = self.llm if isinstance(self.llm, llm.LLM) else self.session.llm
        if not isinstance(model, llm.LLM):
            return ""
        options = self.session.conn_options.llm_conn_options
        return await written_summary(model, history, prompt, options)

    async def _follow(self, before: CompiledState, say: str | None) -> FlowAgent | None:
        """The session follows the conversation into its new state."""
        if not _same_voice(before, self.conversation.current):
            return await self._successor(say)
        await self._switch()
        self._speak(say)
        return None

    async def _successor(self, say: str | None) -> FlowAgent:
        """A new agent for the new state, which speaks with another voice stack."""
        return FlowAgent(
            self.conversation,
            say=say,
            chat_ctx=await self._carried(self.conversation.carried()),
            voice=self._voice,
            on_output=self._on_output,
        )

    async def _switch(self) -> None:
        """This agent becomes the new state's: its history cut by the state's
        ``context``, its instructions and tools."""
        conv = self.conversation
        plan = conv.carried()
        if not plan.everything:
            await self.update_chat_ctx(await self._carried(plan))
        await self.update_instructions(conv.render_instructions())
        await self.update_tools(self._state_tools())  # drops calls of tools now gone
        self.switches += 1

    # --- function calls -----------------------------------------------------------------

    def _tool(self, schema: dict[str, Any]) -> llm.Tool:
        name = schema["name"]

        async def call(raw_arguments: dict[str, object]) -> Any:
            early = self._early.pop(name, None)
            if early is not None:  # fired as the model's stream brought the call
                return await (await early).finish(self)
            before = self.conversation.current
            outcome = await self.conversation.fire(name, raw_arguments)
            return await self._act(outcome, before)

        return function_tool(call, raw_schema=schema)

    async def _act(self, outcome: Outcome, before: CompiledState) -> Any:
        conv = self.conversation
        if isinstance(outcome, Refused):
            raise ToolError(outcome.reason)
        if isinstance(outcome, Handoff):
            return await self._follow(before, outcome.say)
        assert isinstance(outcome, Action)
        result = outcome.result
        if outcome.target is not None:
            # The tool's result stays in the history for the new state; no reply to it.
            value = msgspec.json.encode(result.value).decode() if result.ok else result.error
            agent = await self._follow(before, outcome.say)
            kept = llm.ToolResult(value, reply_required=False)
            return (agent, kept) if agent is not None else kept
        if outcome.say:  # an action edge that stayed (or ended the call) says its words
            self.session.say(outcome.say)
        if conv.ended is not None:
            self.session.shutdown(drain=True)
        else:  # the variables the prompt shows may have changed: refresh it in place
            await self._refresh_instructions()
        if not result.ok:
            raise ToolError(result.error or f"`{outcome.tool}` failed")
        return msgspec.json.encode(result.value).decode()

    async def _refresh_instructions(self) -> None:
        text = self.conversation.render_instructions()
        if text != self.instructions:
            await self.update_instructions(text)

    async def _refuse_unknown(self, calls: list[llm.FunctionToolCall]) -> None:
        """A call of a function this state does not offer never reaches a tool (LiveKit
        answers the model itself); the engine refuses it too, so the history shows it."""
        offered = {fn.name for fn in self.conversation.functions()}
        for call in calls:
            if call.name not in offered:
                await self.conversation.fire(call.name)

    async def _move_early(self, calls: list[llm.FunctionToolCall]) -> str:
        """Fire a function call as the model's stream brings it, before LiveKit runs its
        tool, and when the conversation moves to a state this agent switches to in
        place, switch now and return the words it enters with: said as this reply's own
        text, they reach the caller without waiting for the reply to end and a new
        speech to be scheduled (LiveKit's path from a call to a `say` costs ~1 ms).

        The firing and switching run as a task of their own, shielded: a reply cut off
        by the caller leaves the conversation and this agent in the same state. The tool
        LiveKit runs for the call then only finishes what entering the state asks (the
        entry turn, the end of the call); for any other outcome, it acts as it would
        have (``_act``)."""
        if len(calls) != 1 or calls[0].name in self._early:
            return ""
        call = calls[0]
        if call.name not in {fn.name for fn in self.conversation.functions()}:
            return ""
        try:
            arguments = json.loads(call.arguments or "{}")
        except ValueError:
            return ""  # LiveKit's own parser may repair it; the tool fires it then
        if not isinstance(arguments, dict):
            return ""
        words: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        task = asyncio.ensure_future(self._fire_early(call.name, arguments, words))
        self._early[call.name] = task
        return await asyncio.shield(words)

    def _unclaimed(self, name: str) -> None:
        """The reply stopped before LiveKit got the call (the caller cut it off): no
        tool will finish it, so what the tool would have done is done now."""
        task = self._early.pop(name, None)
        if task is not None:
            settling = asyncio.ensure_future(self._settle(task))
            self._settling.add(settling)
            settling.add_done_callback(self._settling.discard)

    async def _settle(self, task: asyncio.Task[_Early]) -> None:
        try:
            done = await task
            if done.switched:
                self._entered()
                return
            result = await self._act(done.outcome, done.before)
        except ToolError:
            return  # refused, or the tool failed: nobody is waiting for the answer
        agent = result[0] if isinstance(result, tuple) else result
        if isinstance(agent, FlowAgent):
            self.session.update_agent(agent)

    async def _fire_early(
        self, name: str, arguments: dict[str, Any], words: asyncio.Future[str]
    ) -> _Early:
        """Fire the call; the words the new state enters with are known (``words``)
        before the switch, so they are on their way while it is made."""
        conv = self.conversation
        before = conv.current
        try:
            outcome = await conv.fire(name, arguments)
            stays = isinstance(outcome, Refused) or (
                isinstance(outcome, Action) and outcome.target is None
            )
            # A new voice, a history to cut once this reply is in it, or the end of the
            # call: the tool follows the conversation, as it does without an early move
            # (a reply cut off before its tool ran must still end the call).
            if (
                stays
                or conv.ended is not None
                or not _same_voice(before, conv.current)
                or not conv.carried().everything
            ):
                words.set_result("")
                return _Early(outcome, before)
            assert isinstance(outcome, Handoff | Action)
            words.set_result(self._entry_words(outcome.say))
            await asyncio.sleep(0)  # the words go first
            await self._switch()
            return _Early(outcome, before, switched=True)
        finally:
            if not words.done():
                words.set_result("")

    # --- structured output ----------------------------------------------------------------

    async def llm_node(
        self,
        chat_ctx: llm.ChatContext,
        tools: list[llm.Tool],
        model_settings: ModelSettings,
    ) -> AsyncIterable[llm.ChatChunk | str | FlushSentinel]:
        spec = self.conversation.current.output
        if spec is None:
            calls_run = model_settings.tool_choice != "none"
            pending: str | None = None  # a call fired early that LiveKit has not got yet
            try:
                async for chunk in Agent.default.llm_node(self, chat_ctx, tools, model_settings):
                    delta = chunk.delta if isinstance(chunk, llm.ChatChunk) else None
                    if delta is not None and delta.tool_calls:
                        await self._refuse_unknown(delta.tool_calls)
                        if calls_run:
                            pending = delta.tool_calls[0].name
                            words = await self._move_early(delta.tool_calls)
                            if words:
                                yield words
                    yield chunk  # LiveKit has the call now: its tool finishes it
                    pending = None
            finally:
                if pending is not None:
                    self._unclaimed(pending)
            return
        model = self.llm if isinstance(self.llm, llm.LLM) else self.session.llm
        assert isinstance(model, llm.LLM), "structured output needs an LLM, not a realtime model"
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
            tools=tools,
            tool_choice=model_settings.tool_choice,
            conn_options=self.session.conn_options.llm_conn_options,
            extra_kwargs={"response_format": response_format},
        ) as stream:
            async for chunk in stream:
                delta = chunk.delta
                if delta is not None and delta.tool_calls:
                    await self._refuse_unknown(delta.tool_calls)
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


class _Early:
    """A function call fired before LiveKit ran its tool: the outcome, the state it was
    fired in, and whether the agent already switched to the new state (its words said
    as the reply's text)."""

    def __init__(self, outcome: Outcome, before: CompiledState, *, switched: bool = False) -> None:
        self.outcome = outcome
        self.before = before
        self.switched = switched

    async def finish(self, agent: FlowAgent) -> Any:
        """What the tool returns: for a switch already made, the tool's result kept in
        the history with no reply to it, once the state's entry is done; else what the
        outcome calls for."""
        if not self.switched:
            return await agent._act(self.outcome, self.before)
        agent._entered()
        outcome = self.outcome
        if isinstance(outcome, Action):
            result = outcome.result
            value = msgspec.json.encode(result.value).decode() if result.ok else result.error
            return llm.ToolResult(value, reply_required=False)
        return None
