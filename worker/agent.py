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
        entry, the model takes its turn (it may call a function: ``tool_choice`` is
        given because inside a function call LiveKit would default it to none)."""
        conv = self.conversation
        words = " ".join(w for w in (first, conv.greeting()) if w)
        if words:
            self.session.say(words)
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
        conv = self.conversation
        after = conv.current
        plan = conv.carried()
        if not _same_voice(before, after):
            return FlowAgent(
                conv,
                say=say,
                chat_ctx=await self._carried(plan),
                voice=self._voice,
                on_output=self._on_output,
            )
        if not plan.everything:
            await self.update_chat_ctx(await self._carried(plan))
        await self.update_instructions(conv.render_instructions())
        await self.update_tools(self._state_tools())  # drops calls of tools now gone
        self.switches += 1
        self._speak(say)
        return None

    # --- function calls -----------------------------------------------------------------

    def _tool(self, schema: dict[str, Any]) -> llm.Tool:
        name = schema["name"]

        async def call(raw_arguments: dict[str, object]) -> Any:
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

    # --- structured output ----------------------------------------------------------------

    async def llm_node(
        self,
        chat_ctx: llm.ChatContext,
        tools: list[llm.Tool],
        model_settings: ModelSettings,
    ) -> AsyncIterable[llm.ChatChunk | str | FlushSentinel]:
        spec = self.conversation.current.output
        if spec is None:
            async for chunk in Agent.default.llm_node(self, chat_ctx, tools, model_settings):
                if isinstance(chunk, llm.ChatChunk) and chunk.delta and chunk.delta.tool_calls:
                    await self._refuse_unknown(chunk.delta.tool_calls)
                yield chunk
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
