"""The Pipecat Flows side of ``bench/peer_bench.py``: the same reservation flow written
for Pipecat Flows (``pipecat.flows``, which ships inside ``pipecat-ai`` since 1.5), the
way Pipecat's restaurant example writes it: a node per state (``NodeConfig``), functions
as ``FlowsFunctionSchema`` whose handlers return ``(result, next_node)``, a
``FlowManager`` over a pipeline with an LLM service and its context aggregators.

The LLM service is Pipecat's own ``OpenAILLMService``; only ``get_chat_completions``,
the call that would reach OpenAI, is replaced by a scripted stream of the same
``ChatCompletionChunk`` objects the OpenAI client yields (after the fixed latency; no
client is built), so the service's chunk parsing, function calling and context
aggregation, and FlowManager's transitions, all run as they do in production.

Text only: no STT, TTS or transport, and no audio turn detection (as flowctl's text
session has none). The user's words enter as Pipecat's own text input does (RTVI's
``send-text`` appends a user message with ``run_llm``), and a processor after the LLM
stands for the output, where the bot's words arrive as ``LLMTextFrame`` (from the
model) or ``TTSSpeakFrame`` (from a ``tts_say`` action).

Two forms, both idiomatic:

- ``llm``: every node answers at once through the model (``respond_immediately``, the
  default), as the restaurant example does; the last node ends the call with a
  ``end_conversation`` post-action;
- ``tts_say``: every node speaks fixed words with a ``tts_say`` pre-action and waits for
  the caller (``respond_immediately=False``); the last one says them with an
  ``end_conversation`` pre-action.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any, Literal

import reservations
from openai.types.chat import ChatCompletionChunk
from openai.types.chat.chat_completion_chunk import (
    Choice,
    ChoiceDelta,
    ChoiceDeltaToolCall,
    ChoiceDeltaToolCallFunction,
)
from pipecat.flows import FlowArgs, FlowManager, FlowsFunctionSchema, NodeConfig
from pipecat.frames.frames import (
    EndFrame,
    Frame,
    LLMFullResponseEndFrame,
    LLMFullResponseStartFrame,
    LLMMessagesAppendFrame,
    LLMSetToolsFrame,
    LLMTextFrame,
    TTSSpeakFrame,
)
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.worker import PipelineWorker
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.processors.aggregators.llm_response_universal import (
    LLMContextAggregatorPair,
    LLMUserAggregatorParams,
)
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pipecat.services.openai.llm import OpenAILLMService
from pipecat.turns.user_turn_strategies import ExternalUserTurnStrategies
from pipecat.workers.runner import WorkerRunner
from script import (
    BOOKED,
    CONFIRM_TASK,
    ENTRY_TASKS,
    FULL,
    GOODBYE,
    GREETING_TASK,
    OPENING,
    OTHER_TIME_TASK,
    ROLE,
    TURNS,
    Marks,
)

Form = Literal["llm", "tts_say"]

# --- the flow -------------------------------------------------------------------------


class Reservation:
    """The flow's nodes and functions in one of the two forms."""

    def __init__(self, form: Form) -> None:
        self.form = form
        time_property = {"type": "string", "description": "Seating time, as '7:00 PM'."}
        self.check_availability = FlowsFunctionSchema(
            name="check_availability",
            description="Check whether a table for the party is free at the requested time.",
            properties={
                "party_size": {"type": "integer", "minimum": 1, "maximum": 12},
                "time": time_property,
            },
            required=["party_size", "time"],
            handler=self._check_availability,
        )
        self.finish = FlowsFunctionSchema(
            name="finish",
            description="Call when the caller says they need nothing else, to say goodbye.",
            properties={},
            required=[],
            handler=self._finish,
        )

    async def _check_availability(
        self, args: FlowArgs, flow_manager: FlowManager
    ) -> tuple[dict[str, Any], NodeConfig]:
        result = await reservations.check_availability(args["party_size"], args["time"])
        flow_manager.state.update(party_size=args["party_size"], time=args["time"])
        if result["available"]:
            return result, self.confirm(args["party_size"], args["time"])
        return result, self.other_time(args["time"], result["alternatives"])

    async def _finish(self, args: FlowArgs, flow_manager: FlowManager) -> tuple[None, NodeConfig]:
        return None, self.goodbye()

    def _node(
        self, name: str, task: str, words: str, functions: list[FlowsFunctionSchema]
    ) -> NodeConfig:
        if self.form == "llm":
            content = f"{task} {ENTRY_TASKS[name]}"
            return {
                "name": name,
                "task_messages": [{"role": "developer", "content": content}],
                "functions": functions,
            }
        return {
            "name": name,
            "task_messages": [{"role": "developer", "content": task}],
            "functions": functions,
            "pre_actions": [{"type": "tts_say", "text": words}],
            "respond_immediately": False,
        }

    def greeting(self) -> NodeConfig:
        node = self._node(
            "Greeting",
            GREETING_TASK,
            OPENING,
            [self.check_availability],
        )
        node["role_message"] = ROLE
        return node

    def other_time(self, time: str, alternatives: str) -> NodeConfig:
        return self._node(
            "OtherTime",
            OTHER_TIME_TASK.format(time=time, alternatives=alternatives),
            FULL.format(time=time, alternatives=alternatives),
            [self.check_availability],
        )

    def confirm(self, party_size: int, time: str) -> NodeConfig:
        return self._node(
            "Confirm",
            CONFIRM_TASK.format(party_size=party_size, time=time),
            BOOKED.format(party_size=party_size, time=time),
            [self.finish],
        )

    def goodbye(self) -> NodeConfig:
        if self.form == "llm":
            return {
                "name": "Goodbye",
                "task_messages": [{"role": "developer", "content": ENTRY_TASKS["Goodbye"]}],
                "post_actions": [{"type": "end_conversation"}],
            }
        return {
            "name": "Goodbye",
            "task_messages": [],
            "pre_actions": [{"type": "end_conversation", "text": GOODBYE}],
            "respond_immediately": False,
        }


# --- the scripted model -----------------------------------------------------------------


class ScriptedOpenAI(OpenAILLMService):
    """Pipecat's OpenAI service with the request to OpenAI replaced by a script: each
    request answers with the next planned step (a function call, or words) as the
    stream of chunks the OpenAI client yields, after ``latency`` seconds."""

    def __init__(self, marks: Marks, *, latency: float) -> None:
        super().__init__(api_key="scripted", settings=OpenAILLMService.Settings(model="scripted"))
        self.marks = marks
        self.latency = latency
        self._steps: list[tuple[str, Any]] = []

    def create_client(self, *args: Any, **kwargs: Any) -> Any:
        # No OpenAI client (building one makes an SSL context, ~50 ms of CPU): the
        # requests never leave the process. flowctl's scripted model has none either.
        return None

    def plan(self, steps: list[tuple[str, Any]]) -> None:
        self._steps = list(steps)

    async def get_chat_completions(self, context: LLMContext) -> Any:
        self.marks.model_called()
        step = self._steps.pop(0) if self._steps else ("say", "")
        return self._stream(*step)

    async def _stream(self, kind: str, value: Any) -> AsyncIterator[ChatCompletionChunk]:
        if self.latency > 0:
            await asyncio.sleep(self.latency)
        if kind == "call":
            name, args = value
            call = ChoiceDeltaToolCall(
                index=0,
                id=f"call_{self.marks.calls}",
                type="function",
                function=ChoiceDeltaToolCallFunction(name=name, arguments=json.dumps(args)),
            )
            delta = ChoiceDelta(role="assistant", tool_calls=[call])
            self.marks.call_emitted()
        else:
            delta = ChoiceDelta(role="assistant", content=value)
        choice = Choice(index=0, delta=delta, finish_reason=None)
        yield ChatCompletionChunk(
            id="scripted",
            object="chat.completion.chunk",
            created=0,
            model="scripted",
            choices=[choice],
        )


# --- the output, and the driver ---------------------------------------------------------


class Output(FrameProcessor):
    """Where the bot's words arrive (in a voice bot, the TTS and the transport's
    output). Also tells the driver when the bot's turn is over: its words arrived, the
    new node's tools are set, and no model answer is still streaming."""

    def __init__(self, marks: Marks) -> None:
        super().__init__()
        self.marks = marks
        self.done = asyncio.Event()
        self._spoke = self._tools_set = self._streaming = False

    def expect_turn(self) -> None:
        self.done.clear()
        self._spoke = self._tools_set = self._streaming = False

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if direction == FrameDirection.DOWNSTREAM:
            if isinstance(frame, (LLMTextFrame, TTSSpeakFrame)):
                self.marks.spoke(frame.text)
                self._spoke = True
            elif isinstance(frame, LLMSetToolsFrame):
                self._tools_set = True
            elif isinstance(frame, LLMFullResponseStartFrame):
                self._streaming = True
            elif isinstance(frame, LLMFullResponseEndFrame):
                self._streaming = False
            if self._spoke and self._tools_set and not self._streaming:
                self.done.set()
        await self.push_frame(frame, direction)


def _steps(turn_index: int, form: Form) -> list[tuple[str, Any]]:
    turn = TURNS[turn_index]
    steps: list[tuple[str, Any]] = [("call", (turn.call, turn.args))]
    if form == "llm":
        steps.append(("say", turn.words))
    return steps


class Bot:
    """One session: the pipeline, its worker and runner, the flow manager."""

    def __init__(self, form: Form, marks: Marks, *, latency: float) -> None:
        self.flow = Reservation(form)
        self.model = ScriptedOpenAI(marks, latency=latency)
        self.output = Output(marks)
        # Text in, so no audio turn detection: the default stop strategy loads the Smart
        # Turn model for every session (~30 ms of CPU), which only audio needs.
        text_turns = LLMUserAggregatorParams(user_turn_strategies=ExternalUserTurnStrategies())
        aggregators = LLMContextAggregatorPair(LLMContext(), user_params=text_turns)
        pipeline = Pipeline([aggregators.user(), self.model, self.output, aggregators.assistant()])
        # No client on the other end: no RTVI messages for one, and no idle timeout.
        self.worker = PipelineWorker(pipeline, enable_rtvi=False, cancel_on_idle_timeout=False)
        self.manager = FlowManager(
            worker=self.worker, llm=self.model, context_aggregator=aggregators
        )
        self.runner = WorkerRunner(handle_sigint=False)
        self._running: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Run the pipeline and enter the first node; back once it has spoken."""
        started = asyncio.Event()

        @self.worker.event_handler("on_pipeline_started")
        async def _started(worker: PipelineWorker, frame: Frame) -> None:
            started.set()

        await self.runner.add_workers(self.worker)
        self._running = asyncio.create_task(self.runner.run())
        await started.wait()
        if self.flow.form == "llm":
            self.model.plan([("say", OPENING)])
        self.output.expect_turn()
        await self.manager.initialize(self.flow.greeting())
        await self.output.done.wait()

    async def say(self, turn_index: int) -> None:
        """The caller's line; back once the bot's turn is over (or the call)."""
        self.model.plan(_steps(turn_index, self.flow.form))
        self.output.expect_turn()
        user = {"role": "user", "content": TURNS[turn_index].user}
        await self.worker.queue_frame(LLMMessagesAppendFrame(messages=[user], run_llm=True))
        if turn_index == len(TURNS) - 1:
            await self.ended()
        else:
            await self.output.done.wait()

    async def ended(self) -> None:
        assert self._running is not None
        await self._running

    async def stop(self) -> None:
        await self.worker.queue_frame(EndFrame())
        await self.ended()


async def converse(form: Form, *, latency: float) -> Marks:
    """One whole scripted call."""
    marks = Marks()
    bot = Bot(form, marks, latency=latency)
    await bot.start()
    for i in range(len(TURNS)):
        marks.user_turn()
        await bot.say(i)
    marks.over()
    if bot.manager.current_node != "Goodbye":
        raise AssertionError(f"the call ended in {bot.manager.current_node}")
    return marks


async def open_idle(form: Form) -> Bot:
    """A session started and greeted, waiting for the caller (memory per session)."""
    bot = Bot(form, Marks(), latency=0.0)
    await bot.start()
    return bot


async def close_idle(bot: Bot) -> None:
    await bot.stop()
