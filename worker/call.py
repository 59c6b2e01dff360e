"""One call: a routed job's conversation, running in an ``AgentSession`` in its room.

:meth:`Call.open` makes the session's parts from the routing decision: the compiled
flow (from the library), a ``Conversation`` with the ``input`` variables the job's
``user_details`` supply, the plugin objects (``worker/session.py``), tracing when the
flow samples this session in. :meth:`Call.start` starts a ``FlowAgent`` in the room and
then reports, on the text-stream topics (``worker/publish.py``), every state the
conversation enters, its end, and every structured answer. A structured answer's
``voice_instructions`` (the tts ``instruction_field``) steer the voice from then on
where the TTS takes instructions (OpenAI's does).

A store's calls know who is calling before they start (``worker/memory.py``): the
caller's number on a phone line, else the job's user id. The session is recorded
under it, and a flow with ``memory`` starts with what is remembered about the caller
(before the greeting) and, once the call is over, keeps what it adds.

When the conversation ends, FlowAgent says the last words and closes the session; the
call then does what the end asks of the room: ``end_call``, an end state or
``handle_is_busy`` hang up (the room is deleted, which ends a phone call too);
``transfer_call`` transfers a caller on a phone line (SIP) to the number or SIP URI,
and tells any other caller it cannot. Then the job ends.

Every log line of the call carries its tenant, flow, version and session id. With
metrics (``flowctl.metrics``), the call counts itself started and ended, its turns, the
time to its first spoken word, and (as the conversation's observer) its edges, tools
and refusals.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import msgspec
from livekit.agents import AgentSession, tts
from livekit.agents.voice.events import CloseEvent

from flowctl.engine.egress import EgressPolicy
from flowctl.engine.evaluation import CallEvaluation, evaluate
from flowctl.engine.library import (
    FlowLibrary,
    NotServed,
    ServedFlow,
    SessionRecord,
    session_variables,
)
from flowctl.engine.memory import MemoryBank
from flowctl.engine.overrides import OverrideRefused, session_settings
from flowctl.engine.routing import Routed
from flowctl.engine.runtime import Conversation, Ended
from flowctl.engine.summary import CallSummary, summarize
from flowctl.engine.tools import ToolRegistry
from flowctl.engine.tracing import traced
from flowctl.worker.agent import FlowAgent
from flowctl.worker.grading import grade
from flowctl.worker.memory import caller_id, remember_call
from flowctl.worker.publish import (
    OUTPUT_TOPIC,
    STATE_TOPIC,
    SUMMARY_TOPIC,
    MessageQueue,
    state_message,
    summary_message,
)
from flowctl.worker.recording import attach, end_reason, transcript_line
from flowctl.worker.room import CallRoom
from flowctl.worker.session import SessionFactory, SessionModels
from flowctl.worker.tracing import SessionTracing

if TYPE_CHECKING:
    from flowctl.metrics import Metrics, SessionMetrics

__all__ = ["NOT_TRANSFERRED", "NO_KNOWLEDGE", "Call", "CallSession", "Tracer"]

logger = logging.getLogger(__name__)

# Starts exporting a traced session's spans (None: it cannot).
Tracer = Callable[[Mapping[str, str]], SessionTracing | None]

# Why a knowledge tool of a flow served from a folder without `knowledge/` cannot search.
NO_KNOWLEDGE = (
    "; serve the flow from a store (`flowctl knowledge add`), or put its documents in the "
    "flows folder's `knowledge/<base>/`"
)

# Said when the flow transfers a caller who is not on a phone line: only a SIP
# participant can be transferred.
NOT_TRANSFERRED = "I'm sorry, I can't transfer this call from here."


class CallSession(AgentSession[None]):
    """An ``AgentSession`` that lets the call add its last words when FlowAgent shuts
    it down (a transfer the room cannot make)."""

    def __init__(self, *, before_shutdown: Callable[[], None], **options: Any) -> None:
        super().__init__(**options)
        self._before_shutdown: Callable[[], None] | None = before_shutdown

    def shutdown(self, *, drain: bool = True) -> None:
        hook, self._before_shutdown = self._before_shutdown, None
        if hook is not None:
            hook()
        super().shutdown(drain=drain)


@dataclass(eq=False, kw_only=True)
class Call:
    """One job's call. Not thread-safe: the job's event loop drives it."""

    routed: Routed
    served: ServedFlow
    conversation: Conversation
    models: SessionModels
    room: CallRoom
    tracer: Tracer = SessionTracing.start
    session: CallSession | None = field(default=None, init=False)
    agent: FlowAgent | None = field(default=None, init=False)
    tracing: SessionTracing | None = field(default=None, init=False)
    outcome: str | None = field(default=None, init=False)  # how the call ended, once it has
    finished: asyncio.Event = field(default_factory=asyncio.Event, init=False)
    recorder: SessionRecord | None = field(default=None, init=False)  # if the library records
    memory: MemoryBank | None = None  # where the caller is remembered, if the flow asks
    metrics: SessionMetrics | None = None  # the conversation's observer too
    # Who said what, in order: the summary's turns, and what a rubric is graded on.
    transcript: list[tuple[str, str]] = field(default_factory=list, init=False)
    summary: CallSummary | None = field(default=None, init=False)  # once the call ended
    evaluation: CallEvaluation | None = field(default=None, init=False)  # once evaluated
    _seen: int = field(default=0, init=False)  # history events already reported
    _finishing: asyncio.Task[None] | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        served, conversation = self.served, self.conversation
        self.log_fields = {
            "tenant_id": served.tenant_id,
            "flow_id": served.flow_id,
            "flow_version": conversation.compiled.version,
            "session_id": conversation.session_id or "",
        }
        self.log = logging.LoggerAdapter(logger, self.log_fields)
        header = {
            "session_id": conversation.session_id,
            "tenant_id": served.tenant_id,
            "flow_id": served.flow_id,
            "version": conversation.compiled.version,
        }
        self.messages = MessageQueue(self.room.publisher, header)

    @classmethod
    async def open(
        cls,
        routed: Routed,
        *,
        library: FlowLibrary,
        factory: SessionFactory,
        room: CallRoom,
        session_id: str,
        tracer: Tracer = SessionTracing.start,
        egress: EgressPolicy | None = None,
        room_name: str | None = None,
        metrics: Metrics | None = None,
        job_started: float | None = None,
    ) -> Call:
        """The call for a routing decision. Raises ``flowctl.engine.library.NotServed`` when
        the library does not hold the flow routing chose, will not run it in
        ``room_name`` (a tenant's flow runs only in the tenant's rooms), or the job's
        ``overrides`` ask for what the flow's ``overridable`` does not list
        (``flowctl.engine.overrides``), before anything starts. The flow's http tools
        read what the served flow allows (a tenant's secrets, never the environment) and
        connect where ``egress`` says, by default the served flow's (a tenant's allowlist;
        None: anywhere, for the operator's own flows); its providers' keys come from the
        same place (``flowctl.worker.session.Keys``); its knowledge tools search where the
        library says (a tenant's own bases).
        ``metrics``: what the call records into; ``job_started`` (``time.monotonic()``)
        is when its job started, for the time to the first word."""
        served = await library.compiled(routed.tenant_id, routed.flow_id, routed.version)
        served.check_room(room_name)
        try:  # only what the flow's `overridable` lists; anything else refuses the job
            settings = session_settings(served.compiled.flow, routed.overrides)
        except OverrideRefused as exc:
            raise NotServed(str(exc)) from None
        variables, problems = session_variables(served.compiled, routed.user_details)
        variables.update(settings.variables)
        caller, bank, remembered = routed.user_id, await library.memory(served.tenant_id), None
        if bank is not None:  # the session is recorded under the caller, and may recall them
            caller = await caller_id(room, routed)
            if served.compiled.flow.memory is None:
                bank = None
            elif caller is not None:
                try:
                    remembered = await bank.recall(caller)
                except Exception:  # the call goes on without what it would have recalled
                    logger.exception("recalling caller memory failed")
        tools = ToolRegistry(
            served.compiled.tools,
            env=served.tool_env,
            egress=egress if egress is not None else served.egress,
            retriever=library.retriever(served),
            no_knowledge=NO_KNOWLEDGE,
        )
        observer = None
        if metrics is not None:
            observer = metrics.session(served.tenant_id, served.flow_id, job_started=job_started)
        conversation = Conversation(
            served.compiled,
            variables=variables,
            overrides=settings.overrides,
            tools=tools,
            session_id=session_id,
            caller=caller,  # a phone caller's number replaces the user id once known
            observer=observer,
            memory=remembered,
        )
        call = cls(
            routed=routed,
            served=served,
            conversation=conversation,
            models=factory.models(conversation, served),
            room=room,
            tracer=tracer,
            metrics=observer,
            memory=bank,
        )
        for problem in problems:
            call.log.warning("input variable left unset: %s", problem)
        try:  # a store records the session (and counts it against the tenant's limit)
            call.recorder = await library.record(served, conversation, msgspec.to_builtins(routed))
        except BaseException:
            await conversation.aclose()
            raise
        return call

    # --- running ------------------------------------------------------------------------

    async def start(self) -> None:
        """Start the session in the room, in the flow's start state."""
        conv = self.conversation
        self.log.info(
            "call starts: tenant %s, flow %s %s (%s: %s)",
            self.served.tenant_id,
            self.served.flow_id,
            conv.compiled.version,
            self.routed.rule,
            self.routed.reason,
        )
        if traced(conv.setting("tracing"), conv.session_id or ""):
            self.tracing = self.tracer(self.log_fields)
        else:
            SessionTracing.off()
        options = self.models.session_options()
        session = CallSession(before_shutdown=self._before_shutdown, **options)
        self.session = session
        session.on("function_tools_executed", lambda _: self._report())
        session.on("agent_state_changed", lambda _: self._report())
        session.on("close", self._on_close)
        if self.recorder is not None:
            attach(session, self.recorder)
        session.on("conversation_item_added", self._on_item)
        metrics = self.metrics
        if metrics is not None:
            session.on("agent_state_changed", self._on_agent_state)
            metrics.started()
        try:
            self.agent = await FlowAgent.open(
                conv, voice=self.models.voice, on_output=self._on_output
            )
            await self.room.start(session, self.agent)  # connects to the room
        except BaseException:
            if metrics is not None:
                metrics.ended("error")
            raise
        number = self.room.caller_number()
        if number:  # a callback promised to a phone caller is one to this number
            conv.caller = number
        self._report()  # the start state, and automatic edges taken from it

    def _on_item(self, event: Any) -> None:
        line = transcript_line(event)
        if line is None:
            return
        self.transcript.append(line)
        if self.metrics is not None:
            self.metrics.said(line[0])

    def _on_agent_state(self, event: Any) -> None:
        if event.new_state == "speaking" and self.metrics is not None:
            self.metrics.speaking()

    def _report(self) -> None:
        """Send the history's new state changes (and the end) to the frontend."""
        history = self.conversation.history
        while self._seen < len(history):
            event = history[self._seen]
            self._seen += 1
            body = state_message(event)
            if body is None:
                continue
            if isinstance(event, Ended):
                if event.reason == "transfer":
                    body["transferred"] = self._can_transfer(event)
                self.log.info("the conversation ended in %s (%s)", event.state, event.reason)
            else:
                self.log.info("state %s (via %s)", body["state"], body["via"] or "start")
            self.messages.put(STATE_TOPIC, body)

    def _on_output(self, fields: dict[str, Any]) -> None:
        """A structured answer: to the frontend, and its voice instructions to the TTS."""
        self._report()
        self.messages.put(OUTPUT_TOPIC, {"state": self.conversation.state, "fields": fields})
        agent = self.session.current_agent if self.session is not None else None
        if not isinstance(agent, FlowAgent) or not agent.voice_instructions:
            return
        engine = agent.tts if isinstance(agent.tts, tts.TTS) else None
        if engine is None and self.session is not None:
            engine = self.session.tts
        if engine is not None and not self.models.steer(engine, agent.voice_instructions):
            self.log.debug("the voice of %s takes no instructions", self.conversation.state)

    def _can_transfer(self, ended: Ended) -> bool:
        return bool(ended.detail) and self.room.caller_is_sip()

    def _before_shutdown(self) -> None:
        ended = self.conversation.ended
        if ended is None or ended.reason != "transfer" or self._can_transfer(ended):
            return
        why = "the caller is not on a phone line" if ended.detail else "no number to transfer to"
        self.log.warning("cannot transfer the call to %s: %s", ended.detail or "-", why)
        assert self.session is not None
        self.session.say(NOT_TRANSFERRED)

    # --- ending ---------------------------------------------------------------------------

    def _on_close(self, event: CloseEvent) -> None:
        if self._finishing is None:
            self._finishing = asyncio.create_task(self._finish(event), name="flowctl.call.finish")

    async def _finish(self, event: CloseEvent) -> None:
        self._report()
        conv = self.conversation
        ended = conv.ended
        self.summary = summarize(conv, outcome=end_reason(conv), turns=len(self.transcript))
        self.messages.put(SUMMARY_TOPIC, summary_message(self.summary, conv.compiled))
        await self.messages.drain()  # before the room goes away
        try:
            if ended is None:
                self.outcome = f"closed ({event.reason.value})"
            elif ended.reason == "transfer":
                if self._can_transfer(ended):
                    assert ended.detail is not None
                    await self.room.transfer(ended.detail)
                    self.outcome = f"transferred to {ended.detail}"
                else:
                    self.outcome = "not transferred"
            else:
                await self.room.hang_up()
                self.outcome = "hung up"
        except Exception:
            self.log.exception("ending the call failed")
            self.outcome = "failed to end"
        finally:
            self.log.info("call over: %s", self.outcome)
            await self._release()
            self.room.shutdown(f"flowctl: {self.outcome}")
            self.finished.set()

    async def _release(self) -> None:
        reason = end_reason(self.conversation)
        if self.metrics is not None:
            self.metrics.ended(reason)
        if self.recorder is not None:
            try:
                await self.recorder.close(reason, summary=self.summary)
            except Exception:
                self.log.exception("recording the end of the session failed")
        if self.memory is not None:  # before the models close: the summary is the LLM's
            try:
                await remember_call(
                    self.memory,
                    self.conversation,
                    outcome=end_reason(self.conversation),
                    session=self.session,
                )
            except Exception:
                self.log.exception("remembering the caller failed")
        try:  # while the session's model is still open: a rubric is graded with it
            await self._evaluate(reason)
        except Exception:
            self.log.exception("evaluating the call failed")
        await self.conversation.aclose()  # its tools' HTTP session and threads too
        await self.models.aclose()
        if self.tracing is not None:
            await self.tracing.stop()

    async def _evaluate(self, reason: str) -> None:
        """The call against its flow's ``evaluation`` (if it declares one), its rubric
        graded by the session's model: logged, and recorded where the library records."""
        spec = self.conversation.compiled.flow.evaluation
        if spec is None:
            return
        rubric = None
        if spec.rubric:
            rubric = await grade(self.models.llm(), spec.rubric, self.transcript)
        self.evaluation = evaluate(self.conversation, outcome=reason, rubric=rubric)
        assert self.evaluation is not None  # the flow declares one
        self.log.info("evaluation %s", self.evaluation.text)
        if self.recorder is not None:
            await self.recorder.evaluated(self.evaluation)

    async def aclose(self) -> None:
        """Close the session (if it still runs) and wait for the call to end."""
        if self.session is not None and self._finishing is None:
            await self.session.aclose()
        if self._finishing is not None:
            await self._finishing
