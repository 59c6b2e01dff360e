"""``Conversation``: one session on a compiled flow — its state, variables and history.

The adapters (the LiveKit worker, the simulator) only translate the model's function
calls into :meth:`Conversation.fire` and act on the typed outcome:

- :class:`Handoff` — the conversation moved to another state;
- :class:`Action` — a tool ran (its result goes back to the model); the conversation
  stayed or moved;
- :class:`Refused` — nothing changed; ``reason`` is written for the model so it can
  recover (not offered here, a required variable missing, bad arguments, a condition
  that does not hold).

Every step lands in an append-only history of typed events stamped by an injected
clock, so tests never sleep and a session can be replayed. An ``observer``
(``flowctl.engine.observer``) sees each event as it lands: the worker's metrics.
"""

from __future__ import annotations

import contextlib
import copy
import time
from collections.abc import Callable, Mapping
from typing import Any, Literal

import msgspec

from flowctl.engine.builtins import builtin_of
from flowctl.engine.compile import (
    STATE_ATTRIBUTE,
    CompiledEdge,
    CompiledFlow,
    CompiledState,
    FunctionSpec,
)
from flowctl.engine.entering import (
    Carry,
    EntryTurn,
    carry,
    compose_instructions,
    entry_turn,
)
from flowctl.engine.entry_actions import arguments, failed
from flowctl.engine.events import (
    CallbackPromised,
    Called,
    Ended,
    EndReason,
    Entered,
    Event,
    Fired,
    OutputInvalid,
    OutputRecorded,
    RefusedEvent,
    ToolCalled,
    ToolReturned,
    Turn,
)
from flowctl.engine.memory import memory_note, recalled
from flowctl.engine.observer import Observer, RefusalCause
from flowctl.engine.spec import (
    BuiltinTool,
    LLMConfig,
    STTConfig,
    Tool,
    TracingConfig,
    TTSConfig,
    VADConfig,
)
from flowctl.engine.store.records import CallerMemory
from flowctl.engine.templates import render
from flowctl.engine.tools import ToolRegistry, ToolResult
from flowctl.engine.writes import argument_writes, edge_writes, writes_anything

__all__ = [
    "Action",
    "CallbackPromised",
    "Called",
    "Conversation",
    "Ended",
    "Entered",
    "Event",
    "Fired",
    "Handoff",
    "Outcome",
    "OutputInvalid",
    "OutputRecorded",
    "Refused",
    "RefusedEvent",
    "ToolCalled",
    "ToolReturned",
    "Turn",
]

# Automatic edges may chain (A fires into B whose own condition holds); a flow whose
# conditions loop would chain forever, so a chain stops after this many steps.
MAX_AUTOMATIC_STEPS = 32


# --- outcomes of fire ------------------------------------------------------------------


class _Outcome(msgspec.Struct, frozen=True, tag_field="kind", kw_only=True):
    name: str


class Handoff(_Outcome, tag="handoff", frozen=True):
    """Moved to ``target`` (``automatic``: automatic edges that fired on arrival)."""

    source: str
    target: str
    say: str | None = None
    automatic: tuple[str, ...] = ()
    ended: bool = False


class Action(_Outcome, tag="action", frozen=True):
    """Ran ``tool``; ``target`` is the state moved to, None when the conversation stayed."""

    tool: str
    result: ToolResult
    source: str
    target: str | None = None
    say: str | None = None
    automatic: tuple[str, ...] = ()
    ended: bool = False


class Refused(_Outcome, tag="refused", frozen=True):
    reason: str


Outcome = Handoff | Action | Refused

_SETTINGS: dict[str, type] = {
    "llm": LLMConfig,
    "stt": STTConfig,
    "tts": TTSConfig,
    "vad": VADConfig,
    "tracing": TracingConfig,
}


class Conversation:
    """One session. Not thread-safe: one event loop drives it."""

    def __init__(
        self,
        compiled: CompiledFlow,
        *,
        variables: Mapping[str, Any] | None = None,
        overrides: Mapping[str, Mapping[str, Any]] | None = None,
        tools: ToolRegistry | None = None,
        clock: Callable[[], float] = time.time,
        session_id: str | None = None,
        caller: str | None = None,
        observer: Observer | None = None,
        memory: CallerMemory | None = None,
    ) -> None:
        self.compiled = compiled
        self.session_id = session_id
        # Who is calling, when known: the number of a caller on a phone line, else the
        # job's user id. A callback promised in this session is one to them.
        self.caller = caller
        self.clock = clock
        self.observer = observer
        self.tools = tools if tools is not None else ToolRegistry(compiled.tools)
        self.variables: dict[str, Any] = dict(compiled.defaults)
        # Values that came from outside the flow's own text (the session's input, the
        # model, tools, what earlier calls left in memory) are data: templates quote
        # them in prompts (see render()).
        self.untrusted: set[str] = set()
        # What is remembered about the caller (the flow's `memory`): its values start
        # the call, under the session's input; the note shows it to the model.
        self.memory = memory
        remembered = recalled(compiled, memory)
        self._store(remembered)
        spec = compiled.flow.memory
        self.memory_note: str | None = None
        if memory is not None and spec is not None and spec.into_instructions:
            self.memory_note = memory_note(memory, spec.remember)
        if variables:
            unknown = [n for n in variables if n not in compiled.variable_types]
            if unknown:
                raise ValueError(f"Unknown variable `{unknown[0]}` in the session's input")
            try:
                self._store(self._typed(variables))
            except _Refusal as exc:
                raise ValueError(exc.reason) from None
        self.overrides = _check_overrides(overrides or {})
        self.history: list[Event] = []
        self.ended: Ended | None = None
        self.opening: str | None = None  # the `say` of automatic edges run by start()
        self._current: CompiledState = compiled.states[compiled.start]
        self._entering = True  # the current state's on_enter_actions are still to run
        compiled.machine.add_model(self)  # sets the machine's state attribute
        given = {**remembered, **(variables or {})}  # what the call started with, for replays
        start = Entered(at=self.clock(), state=self.state, variables=given)
        self._log(start)
        if self._current.end:
            self._end("end_state")

    # --- reading ----------------------------------------------------------------------

    @property
    def state(self) -> str:
        """The current state's name, as the shared machine holds it."""
        state: str = getattr(self, STATE_ATTRIBUTE)
        return state

    @property
    def current(self) -> CompiledState:
        return self._current

    @property
    def callbacks(self) -> list[CallbackPromised]:
        """The callbacks promised so far, as the history records them."""
        return [e for e in self.history if isinstance(e, CallbackPromised)]

    def offered(self) -> list[dict[str, Any]]:
        """The function definitions (``name``, ``description``, ``parameters``) for the
        current state, as LLM APIs take them."""
        if self.ended is not None:
            return []
        return [copy.deepcopy(fn.schema) for fn in self._current.functions]

    def functions(self) -> tuple[FunctionSpec, ...]:
        return () if self.ended is not None else self._current.functions

    def render_instructions(self) -> str:
        """The current state's instructions with variables filled in (as data), after
        the flow's own ``instructions`` (the persona and rules every state shares), and
        then, when the flow asks, what is remembered about the caller."""
        flow, state = self.compiled.flow, self._current.spec
        text = self.render(compose_instructions(flow.instructions, state.instructions), prompt=True)
        return f"{text}\n\n{self.memory_note}" if self.memory_note else text

    def greeting(self) -> str | None:
        text = self._current.spec.on_enter_prompt
        return self.render(text) if text else None

    def entry_turn(self) -> EntryTurn | None:
        """The model's turn on entering the current state (its ``on_enter``), or None
        when the state waits for the caller after its greeting."""
        return entry_turn(self._current.spec, self.render)

    def recap(self) -> str:
        """What the call has established, for a state whose ``context`` is ``summary``:
        the states passed through and the variables set so far, other than the flow's
        defaults (values as JSON data).
        Deterministic and immediate: no model call on the handoff."""
        path = [e.state for e in self.history if isinstance(e, Entered)]
        text = "Summary of the call so far: it went " + " -> ".join(path) + "."
        known = self.known()
        if known:
            text += " Known: " + msgspec.json.encode(known).decode() + "."
        return text

    def known(self) -> dict[str, Any]:
        """The variables set so far, other than to the flow's defaults."""
        defaults = self.compiled.defaults
        return {k: v for k, v in self.variables.items() if v is not None and defaults.get(k) != v}

    def carried(self) -> Carry:
        """What chat history the current state starts with (its ``context``), with its
        texts rendered now: see ``flowctl.engine.entering``."""
        return carry(self._current.spec.context, self)

    def render(self, text: str, *, prompt: bool = False) -> str:
        """``text`` with the variables filled in: for a prompt (``prompt``), outside
        values as quoted data; otherwise for speech (greetings, ``say``), outside values
        on one line and capped (see ``flowctl.engine.templates.render``)."""
        context: Literal["prompt", "speech"] = "prompt" if prompt else "speech"
        return render(text, self.variables, untrusted=self.untrusted, context=context)

    def setting(self, kind: str) -> Any:
        """The effective ``llm``/``stt``/``tts``/``vad``/``tracing`` config: the flow's,
        replaced by the current state's (``llm``, ``tts``), with the session's
        overrides merged over it (seed 002: a lower temperature for one session)."""
        cls = _SETTINGS[kind]
        base = getattr(self._current.spec, kind, None) if kind in ("llm", "tts") else None
        if base is None:
            base = getattr(self.compiled.flow, kind) or cls()
        override = self.overrides.get(kind)
        if not override:
            return base
        return msgspec.convert({**msgspec.to_builtins(base), **override}, cls)

    # --- acting -----------------------------------------------------------------------

    async def start(self) -> tuple[str, ...]:
        """Run the start state's automatic edges; their names, in order. What they say
        is :attr:`opening`, spoken before the start state's greeting."""
        fired, self.opening = await self._run_automatic()
        return fired

    async def fire(self, name: str, args: Mapping[str, Any] | None = None) -> Outcome:
        """The model called function ``name`` with ``args``."""
        args = args or {}
        self._log(Called(at=self.clock(), name=name, args=dict(args)))
        try:
            return await self._call(name, args)
        except _Refusal as refusal:
            self._log(
                RefusedEvent(at=self.clock(), name=name, reason=refusal.reason, args=dict(args)),
                refusal.cause,
            )
            return Refused(name=name, reason=refusal.reason)

    def record_output(self, data: Mapping[str, Any]) -> dict[str, Any]:
        """Validate the model's structured answer for the current state and record it;
        raises ``msgspec.ValidationError`` when it does not fit the schema."""
        spec = self._current.output
        if spec is None:
            raise ValueError(f"State `{self.state}` has no structured output")
        fields = spec.validate(data)
        self._log(OutputRecorded(at=self.clock(), state=self.state, fields=fields))
        return fields

    def record_answer(self, text: str) -> dict[str, Any] | None:
        """The model's whole answer in a structured state: decoded, validated and
        recorded as an ``output`` event, its fields returned; or, when it is not a JSON
        object fitting the schema, an ``output_invalid`` event naming why, and None."""
        try:
            data = msgspec.json.decode(text)
            if not isinstance(data, dict):
                raise msgspec.ValidationError(f"Expected `object`, got `{_json_kind(data)}`")
            return self.record_output(data)
        except msgspec.DecodeError as exc:  # ValidationError included
            error = str(exc)
            if not isinstance(exc, msgspec.ValidationError):
                error = f"not JSON: {error}"
            self._log(
                OutputInvalid(at=self.clock(), state=self.state, error=error, text=text[:500])
            )
            return None

    def close(self) -> None:
        """Release the session's place in the shared machine (see :meth:`aclose`)."""
        machine = self.compiled.machine
        if self in machine.models:
            machine.remove_model(self)

    async def aclose(self) -> None:
        """End the session: :meth:`close`, then close its tool registry (its HTTP session
        and threads), whether the conversation made it or was given it: a registry
        serves one conversation. Safe to call more than once."""
        self.close()
        await self.tools.close()

    # --- internals ----------------------------------------------------------------------

    def _log(self, event: Event, cause: RefusalCause | None = None) -> None:
        self.history.append(event)
        if self.observer is not None:
            self.observer(event, cause)

    async def _call(self, name: str, args: Mapping[str, Any]) -> Handoff | Action:
        if self.ended is not None:
            raise _Refusal("The call has ended; no function can run now.", "ended")
        target = self._current.by_function.get(name)
        if target is None:
            offered = ", ".join(f"`{f.name}`" for f in self._current.functions) or "none"
            reason = f"`{name}` is not available in this step. Available: {offered}."
            raise _Refusal(reason, "not_offered")
        if isinstance(target, CompiledEdge):
            return await self._fire_edge(target, args)
        return await self._call_tool_function(name, target, args)

    @staticmethod
    def _validate(fn: FunctionSpec, args: Mapping[str, Any]) -> dict[str, Any]:
        try:
            return fn.validate(args)
        except msgspec.ValidationError as exc:
            reason = f"Invalid arguments for `{fn.name}`: {exc}"
            raise _Refusal(reason, "invalid_arguments") from None

    def _guard(self, ce: CompiledEdge, values: Mapping[str, Any]) -> _Refusal | None:
        """Why ``ce`` may not fire given ``values`` (the variables with the call's
        arguments over them), or None when it may. The one check of an edge's
        ``requires`` and ``when``: the machine takes the transition it is told to."""
        missing = [v for v in ce.requires if values.get(v) is None]
        if missing:
            names = ", ".join(f"`{v}`" for v in missing)
            reason = f"`{ce.name}` needs {names} first; {self._how_to_set(missing)}."
            return _Refusal(reason, "requires")
        if ce.when is not None and not ce.when.holds(values):
            if ce.edge.refusal is not None:  # the author's words: the condition may be secret
                return _Refusal(f"`{ce.name}` does not apply now: {ce.edge.refusal}", "condition")
            reason = f"`{ce.name}` does not apply now: its condition `{ce.when.source}` is false."
            return _Refusal(reason, "condition")
        return None

    def _how_to_set(self, missing: list[str]) -> str:
        """How to get the ``missing`` variables: the functions offered here that set
        each one, else the caller. One variable is "it"; several are each named, those
        one function sets together grouped ("`lookup` sets `a` and `b`")."""
        ways: dict[str, list[str]] = {}
        for v in missing:
            setters = self._setters(v)
            way = " or ".join(f"`{t}`" for t in setters) + " sets" if setters else ""
            ways.setdefault(way, []).append(v)
        if len(missing) == 1:
            return f"{next(iter(ways))} it" if "" not in ways else "ask the caller for it"
        parts = [
            f"{way} {_and(names)}" if way else f"ask the caller for {_and(names)}"
            for way, names in ways.items()
        ]
        return "; ".join(parts)

    def _setters(self, variable: str) -> list[str]:
        """The functions offered here whose tool stores ``variable``."""
        found = []
        for fn in self._current.functions:
            target = self._current.by_function.get(fn.name)
            tool = target.tool if isinstance(target, CompiledEdge) else target
            if tool is None:
                continue
            stores = set(tool.sets)
            if isinstance(tool, BuiltinTool):
                builtin = builtin_of(tool)
                if builtin is not None and builtin.stores == "variables":
                    stores.update(tool.variables)
            if variable in stores:
                found.append(fn.name)
        return found

    def _typed(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """``values`` converted to their variables' declared types; refuses the lot
        when one does not convert."""
        out: dict[str, Any] = {}
        for name, value in values.items():
            declared = self.compiled.variable_types.get(name)
            if declared is not None:
                try:
                    value = msgspec.convert(value, declared, strict=False)
                except msgspec.ValidationError as exc:
                    reason = f"Value for variable `{name}` is invalid: {exc}"
                    raise _Refusal(reason, "invalid_value") from None
            out[name] = value
        return out

    def _store(self, values: Mapping[str, Any]) -> None:
        self.variables.update(values)
        self.untrusted.update(values)

    async def _fire_edge(self, ce: CompiledEdge, raw: Mapping[str, Any]) -> Handoff | Action:
        assert ce.function is not None
        # Everything is checked before anything changes: the arguments, the parameters'
        # values against their variables' types, then `requires` and `when` on the
        # variables with the arguments over them (an edge's own arguments count as set).
        args = self._validate(ce.function, raw)
        params = self._typed(argument_writes(ce.edge, args))
        refusal = self._guard(ce, {**self.variables, **args})
        if refusal is not None:
            raise refusal
        source = self.state
        self._store(params)
        say = self.render(ce.edge.say) if ce.edge.say else None
        if ce.tool is None:
            self._move(ce, args)
            automatic, then = await self._run_automatic()
            return Handoff(
                name=ce.name,
                source=source,
                target=self.state,
                say=_joined(say, then),
                automatic=automatic,
                ended=self.ended is not None,
            )
        return await self._act(ce.name, ce.tool, args, ce, say)

    async def _act(
        self, name: str, tool: Tool, args: dict[str, Any], ce: CompiledEdge | None, say: str | None
    ) -> Action:
        """Run ``tool`` for function ``name`` (an action edge ``ce``, or a state's tool
        when None); then, unless it failed or ended the call, take the edge and fire the
        automatic edges that hold."""
        source = self.state
        result = await self._run_tool(tool, self._tool_args(tool, args))
        automatic: tuple[str, ...] = ()
        target = None
        if self.ended is not None or not result.ok:
            # Ended by the tool (its `say` is the last thing said), or failed (the
            # conversation stays, the model hears the error, nothing is said).
            if ce is not None:
                self._log(Fired(at=self.clock(), edge=name, source=source, target=None, args=args))
            say = say if result.ok else None
        else:
            if ce is not None:
                self._move(ce, args)
            automatic, then = await self._run_automatic()
            say = _joined(say, then)
            if self.state != source or (ce is not None and ce.target is not None):
                target = self.state
        return Action(
            name=name,
            tool=tool.name,
            result=result,
            source=source,
            target=target,
            say=say,
            automatic=automatic,
            ended=self.ended is not None,
        )

    @staticmethod
    def _tool_args(tool: Tool, args: dict[str, Any]) -> dict[str, Any]:
        """What the tool receives: the arguments it declares (all of them when it
        declares none); an action edge's own parameters are the flow's, not the tool's."""
        if not tool.parameters:
            return args
        return {k: v for k, v in args.items() if k in tool.parameters}

    def _move(self, ce: CompiledEdge, args: Mapping[str, Any]) -> None:
        """Take the machine's transition for ``ce``, which the engine's guard allowed."""
        source = self.state
        if writes_anything(ce.edge):
            self._write(ce, args)
        self.compiled.machine.events[ce.name].trigger(self)
        self._log(
            Fired(
                at=self.clock(),
                edge=ce.name,
                source=source,
                target=None if ce.target is None else self.state,
                args=dict(args),
                automatic=ce.automatic,
            )
        )
        if ce.target is not None:
            self._current = self.compiled.states[ce.target]
            self._entering = True
            self._log(Entered(at=self.clock(), state=self.state, via=ce.name))
            if self._current.end:
                self._end("end_state")

    def _write(self, ce: CompiledEdge, args: Mapping[str, Any]) -> None:
        """The edge's ``set``, ``unset`` and ``append`` (lint FL310 checks their types).
        Constants are the author's text; appended values came from outside, so data."""
        values = edge_writes(ce.edge, {**self.variables, **args})
        self.variables.update(values)
        self.untrusted.difference_update(ce.edge.set)
        self.untrusted.difference_update(ce.edge.unset)
        self.untrusted.update(ce.edge.append)

    async def _run_automatic(self) -> tuple[tuple[str, ...], str | None]:
        """Fire automatic edges while one holds; each at most once per chain, so one
        that stays (or loops back) does not fire again on the same values. Returns
        their names and what their ``say`` says, rendered as each fires."""
        fired: list[str] = []
        says: list[str] = []
        done: set[tuple[int | None, str]] = set()
        for _ in range(MAX_AUTOMATIC_STEPS):
            if self._entering and self.ended is None:
                self._entering = False
                moved = await self._run_entry_actions()
                if moved is not None:
                    fired.append(moved)
                    continue
            if self.ended is not None:
                break
            values = dict(self.variables)
            ready = next(
                (
                    ce
                    for ce in self._current.automatic
                    if (ce.source, ce.name) not in done and self._guard(ce, values) is None
                ),
                None,
            )
            if ready is None:
                break
            done.add((ready.source, ready.name))
            if ready.tool is not None:
                result = await self._run_tool(ready.tool, {})
                if not result.ok or self.ended is not None:
                    break
            fired.append(ready.name)
            if ready.edge.say:
                says.append(self.render(ready.edge.say))
            self._move(ready, {})
        return tuple(fired), _joined(*says)

    async def _run_entry_actions(self) -> str | None:
        """Run the current state's ``on_enter_actions`` in order. A failed one sets its
        ``default`` variables and the rest run, or takes its ``on_error`` transition
        (whose name is returned) and the rest do not; with neither, the rest run."""
        for action in self._current.spec.on_enter_actions:
            tool = self.compiled.tools[action.tool]
            result = await self._run_tool(tool, arguments(action, self.variables))
            if self.ended is not None:
                return None
            if result.ok:
                continue
            if action.default is not None:
                with contextlib.suppress(_Refusal):  # all or nothing, as a tool's sets
                    self._store(self._typed(action.default))
            elif action.on_error is not None:
                source = self.state
                trigger = failed(action)
                self.compiled.machine.events[trigger].trigger(self)
                self._current = self.compiled.state(action.on_error)
                self._entering = True
                now = self.clock()
                self._log(Fired(at=now, edge=trigger, source=source, target=self.state, args={}))
                self._log(Entered(at=self.clock(), state=self.state, via=trigger))
                if self._current.end:
                    self._end("end_state")
                return trigger
        return None

    async def _call_tool_function(self, name: str, tool: Tool, raw: Mapping[str, Any]) -> Action:
        fn = next(f for f in self._current.functions if f.name == name)
        return await self._act(name, tool, self._validate(fn, raw), None, None)

    async def _run_tool(self, tool: Tool, args: dict[str, Any]) -> ToolResult:
        self._log(ToolCalled(at=self.clock(), tool=tool.name, args=dict(args)))
        if isinstance(tool, BuiltinTool):
            result = self._builtin(tool, args)
        else:
            result = await self.tools.call(tool, args, self.variables)
        if result.ok and result.sets:
            try:  # all or nothing: no partial writes
                self._store(self._typed(result.sets))
            except _Refusal as exc:
                result = ToolResult(ok=False, value=result.value, error=exc.reason)
        self._log(
            ToolReturned(
                at=self.clock(),
                tool=tool.name,
                ok=result.ok,
                value=result.value,
                error=result.error,
            )
        )
        return result

    def _builtin(self, tool: BuiltinTool, args: dict[str, Any]) -> ToolResult:
        """Run a builtin as its row of the table says (``flowctl.engine.builtins``)."""
        builtin = builtin_of(tool)
        if builtin is None:
            return ToolResult(ok=False, error=f"Unknown builtin `{tool.builtin or tool.name}`")
        effect = builtin.run(tool, args)
        if effect.error is not None:
            return ToolResult(ok=False, error=effect.error)
        try:
            self._store(self._typed(effect.save))
        except _Refusal as exc:
            return ToolResult(ok=False, error=exc.reason)
        if effect.callback is not None:
            self._log(
                CallbackPromised(
                    at=self.clock(),
                    tool=tool.name,
                    busy=builtin.ends == "busy",
                    caller=self.caller,
                    **effect.callback,
                )
            )
        if builtin.ends is not None:
            self._end(builtin.ends, detail=effect.detail)
        return ToolResult(ok=True, value=effect.value)

    def _end(self, reason: EndReason, detail: str | None = None) -> None:
        if self.ended is None:
            self.ended = Ended(at=self.clock(), reason=reason, state=self.state, detail=detail)
            self._log(self.ended)


class _Refusal(Exception):
    """A call the conversation refuses, raised where a check fails (always before
    anything changes) and caught once, in :meth:`Conversation.fire`; ``reason`` is
    written for the model, ``cause`` says which check failed, in a word (what the
    observer counts). Also what :meth:`Conversation._typed` raises, which a tool's
    result turns into the tool's error."""

    def __init__(self, reason: str, cause: RefusalCause) -> None:
        super().__init__(reason)
        self.reason = reason
        self.cause = cause


def _joined(*words: str | None) -> str | None:
    """Words said one after another, as one utterance (None when nothing is said)."""
    return " ".join(w for w in words if w) or None


def _and(names: list[str]) -> str:
    """`a`, `b` and `c`."""
    quoted = [f"`{n}`" for n in names]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " and " + quoted[-1]


def _json_kind(value: Any) -> str:
    kinds = {bool: "bool", int: "int", float: "float", str: "str", list: "array"}
    return "null" if value is None else kinds.get(type(value), type(value).__name__)


def _check_overrides(overrides: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Session overrides, validated now so a bad one fails at session start."""
    out: dict[str, dict[str, Any]] = {}
    for kind, values in overrides.items():
        if kind not in _SETTINGS:
            allowed = ", ".join(f"`{k}`" for k in _SETTINGS)
            raise ValueError(f"Unknown override `{kind}`; expected one of {allowed}")
        msgspec.convert(dict(values), _SETTINGS[kind])  # raises ValidationError
        out[kind] = dict(values)
    return out
