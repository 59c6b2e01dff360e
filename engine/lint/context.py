"""What the rules share: indexes over a flow, computed once per lint and cached.

Paths here are in the flow's own shape (``("agents", 2, "edges", 0)``); the runner maps
them back for seed-001 documents.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Callable, Iterator, Sequence
from functools import cached_property
from typing import Any, TypeVar, cast

import msgspec

from flowctl.engine.boundary import OPERATOR, Boundary
from flowctl.engine.builtins import BUILTIN_TOOLS, BUILTINS, builtin_of
from flowctl.engine.findings import Suggester
from flowctl.engine.source import Path, Source
from flowctl.engine.spec import (
    BuiltinTool,
    Context,
    Edge,
    Flow,
    GlobalEdge,
    LintConfig,
    LLMConfig,
    Output,
    State,
    STTConfig,
    Tool,
    TTSConfig,
)
from flowctl.engine.templates import Placeholder, Template, compile_template

__all__ = ["MAX_SCOPED_EDGES", "FlowContext", "Function", "TemplateUse"]

# A state offers at most 128 functions (FL402), so no flow that lints clean scopes more
# global edges than that with `only_in`/`except_in`. Past it they are analysed as if
# offered everywhere (FL113 reports them): a scoped edge is analysed state by state, and
# thousands of them in thousands of states would cost their product.
MAX_SCOPED_EDGES = 128

T = TypeVar("T")

# Builtins that end the session: reaching a state that can call one reaches an end.
TERMINATING_BUILTINS = frozenset(name for name, b in BUILTINS.items() if b.ends is not None)
SET_VARIABLE_BUILTINS = frozenset(name for name, b in BUILTINS.items() if b.stores == "variables")
# The flow's own instructions: the start of every state's prompt.
FLOW_INSTRUCTIONS: Path = ("instructions",)


class Function(msgspec.Struct, frozen=True):
    """One function offered to the model in a state: an edge or a tool."""

    name: str
    kind: str  # "edge", "global_edge" or "tool"
    path: Path
    description: str
    examples: tuple[str, ...] = ()
    examples_at: Path = ()  # where the examples are listed: the edge's, or the tool's definition


class TemplateUse(msgspec.Struct, frozen=True):
    """A placeholder in some authored text, with where that text lives."""

    path: Path
    placeholder: Placeholder
    state: int | None  # index of the state whose text this is, if any
    edge: Edge | None  # the edge whose ``say`` this is, if any


class FlowContext:
    """``flow`` is the flow the rules check, its catalog tools resolved to the python
    tools they stand for (``flowctl.engine.boundary``); ``written`` is the flow as written, for
    the rules about what a tenant's flow may use."""

    def __init__(
        self,
        flow: Flow,
        source: Source | None = None,
        boundary: Boundary = OPERATOR,
        templates: Sequence[Source] = (),
    ) -> None:
        self.written = flow
        self.boundary = boundary
        self.flow = boundary.resolve(flow)
        self.config = flow.lint or LintConfig()
        self._source = source
        self._templates = tuple(templates)
        self._cache: dict[Callable[[FlowContext], Any], Any] = {}
        # By id: edges and tools live as long as the flow does.
        self._own_sets: dict[int, frozenset[str]] = {}
        self._tool_sets: dict[int, frozenset[str]] = {}
        # "; did you mean `x`?" for the rules' unknown names, on one budget per lint.
        self.suggest = Suggester()

    def cached(self, compute: Callable[[FlowContext], T]) -> T:
        """``compute(self)``, computed once per context: analyses several rules share."""
        if compute not in self._cache:
            self._cache[compute] = compute(self)
        return cast(T, self._cache[compute])

    @property
    def source(self) -> Source:
        """The document's text (for a flow built in memory, its JSON encoding)."""
        if self._source is None:
            self._source = Source("<flow>", msgspec.json.encode(self.written).decode())
        return self._source

    @property
    def sources(self) -> tuple[Source, ...]:
        """The texts the flow was written in: its document's, then (for a flow built on
        templates) each template's, in the order of ``Finding.document``."""
        return (self.source, *self._templates)

    # --- names ---------------------------------------------------------------------

    @cached_property
    def state_index(self) -> dict[str, int]:
        """State name to the index of its first definition."""
        index: dict[str, int] = {}
        for i, state in enumerate(self.flow.agents):
            index.setdefault(state.name, i)
        return index

    @cached_property
    def tool_index(self) -> dict[str, Tool]:
        """Defined tools by name (first definition wins), plus undefined builtins by
        their own name: ``"tools": ["end_call"]`` needs no definition."""
        index: dict[str, Tool] = {}
        for tool in self.flow.tools:
            index.setdefault(tool.name, tool)
        for name in BUILTIN_TOOLS:
            index.setdefault(name, BuiltinTool(name=name))
        return index

    @cached_property
    def start(self) -> int | None:
        """Index of the start state, or None when ``start`` names no state."""
        if self.flow.start is None:
            return 0
        return self.state_index.get(self.flow.start)

    def builtin_of(self, tool: Tool | None) -> str | None:
        if isinstance(tool, BuiltinTool):
            builtin = builtin_of(tool)
            return builtin.name if builtin is not None else None
        return None

    def edge_tool(self, edge: Edge) -> Tool | None:
        """The tool an action edge runs (None for handoffs and unknown tools)."""
        if edge.action != "action":
            return None
        return self.tool_index.get(edge.tool or edge.name)

    # --- provider blocks ----------------------------------------------------------------

    def provider_blocks(self) -> Iterator[tuple[Path, LLMConfig | STTConfig | TTSConfig]]:
        """Every provider block written in the flow (as written): the flow's `stt`, `llm`
        and `tts`, then each state's `llm` and `tts`."""
        flow = self.written
        for name, config in (("stt", flow.stt), ("llm", flow.llm), ("tts", flow.tts)):
            if config is not None:
                yield (name,), config
        for i, state in enumerate(flow.agents):
            if state.llm is not None:
                yield ("agents", i, "llm"), state.llm
            if state.tts is not None:
                yield ("agents", i, "tts"), state.tts

    # --- edges and functions ----------------------------------------------------------

    def edges(self) -> list[tuple[int | None, Edge, Path]]:
        """Every edge: ``(state index or None for a global edge, edge, path)``."""
        return self._edges

    @cached_property
    def _edges(self) -> list[tuple[int | None, Edge, Path]]:
        out: list[tuple[int | None, Edge, Path]] = [
            (i, edge, ("agents", i, "edges", j))
            for i, state in enumerate(self.flow.agents)
            for j, edge in enumerate(state.edges)
        ]
        out += [(None, edge, ("global_edges", j)) for j, edge in enumerate(self.flow.global_edges)]
        return out

    # Global edges are offered in every non-terminal state, but stored and analysed once:
    # a copy per state would cost states x global edges (100,000 list entries for a
    # flow of 5,000 states and 20 global edges, the square of its size at worst).

    def functions(self, i: int) -> list[Function]:
        """The functions the model sees in state ``i``, in the order offered (built on
        each call: global edges included, it is as long as the state's prompt)."""
        own = self._own_functions[i]
        state = self.flow.agents[i]
        edges = len(state.edges)
        shared = [] if state.end else self._global_functions
        if self._scoped and shared:
            offered = self.flow.global_edges
            shared = [
                f for f, e in zip(shared, offered, strict=True) if self.offered(e, state.name)
            ]
        return own[:edges] + shared + own[edges:]

    def own_functions(self, i: int) -> list[Function]:
        """State ``i``'s own edges, then its tools: its functions but the global edges."""
        return self._own_functions[i]

    def function_count(self, i: int) -> int:
        """How many functions the model sees in state ``i``."""
        if self._scoped:
            return len(self.functions(i))
        shared = 0 if self.flow.agents[i].end else len(self._global_functions)
        return len(self._own_functions[i]) + shared

    def functions_global(self) -> list[Function]:
        """The global edges as functions (offered in every non-terminal state)."""
        return self._global_functions

    @cached_property
    def _global_functions(self) -> list[Function]:
        return [
            Function(
                e.name,
                "global_edge",
                ("global_edges", j),
                e.description,
                tuple(x.text for x in e.phrases()),
                ("global_edges", j, "examples"),
            )
            for j, e in enumerate(self.flow.global_edges)
        ]

    @cached_property
    def _own_functions(self) -> list[list[Function]]:
        return [self._state_functions(i) for i in range(len(self.flow.agents))]

    def _state_functions(self, i: int) -> list[Function]:
        state = self.flow.agents[i]
        out = [
            Function(
                e.name,
                "edge",
                ("agents", i, "edges", j),
                e.description,
                tuple(x.text for x in e.phrases()),
                ("agents", i, "edges", j, "examples"),
            )
            for j, e in enumerate(state.edges)
        ]
        for k, name in enumerate(state.tools):
            tool = self.tool_index.get(name)
            defined = self._tool_positions.get(name)
            if tool is None or defined is None:  # unknown, or a builtin used by name
                description = tool.description if tool else ""
                out.append(Function(name, "tool", ("agents", i, "tools", k), description))
                continue
            out.append(
                Function(
                    name,
                    "tool",
                    ("agents", i, "tools", k),
                    tool.description,
                    tuple(x.text for x in tool.phrases()),
                    ("tools", defined, "examples"),
                )
            )
        return out

    @cached_property
    def _tool_positions(self) -> dict[str, int]:
        """Where each defined tool is in the flow's `tools` (its first definition)."""
        positions: dict[str, int] = {}
        for k, tool in enumerate(self.flow.tools):
            positions.setdefault(tool.name, k)
        return positions

    # --- the graph -----------------------------------------------------------------

    def _targets(self, edges: Sequence[Edge]) -> list[int]:
        return [
            self.state_index[e.target_agent]
            for e in edges
            if e.target_agent is not None and e.target_agent in self.state_index
        ]

    @property
    def hub(self) -> int:
        """The node of :attr:`successors` that stands for the global edges: one past the
        last state."""
        return len(self.flow.agents)

    @cached_property
    def successors(self) -> list[list[int]]:
        """Successor node indices of each state, then of the :attr:`hub`: a
        non-terminal state leads to its own edges' targets and to the hub, the hub to
        the global edges' targets. Paths between states are those of the flow, and the
        graph is as big as the flow."""
        everywhere = [e for e in self.flow.global_edges if not self.is_scoped(e)]
        global_targets = self._targets(everywhere)
        to_hub = [self.hub] if global_targets else []
        succ = [
            []
            if s.end
            else self._targets([*s.edges, *self.scoped_global_edges(i)])
            + self.entry_failures(i)
            + to_hub
            for i, s in enumerate(self.flow.agents)
        ]
        return [*succ, global_targets]

    def entry_failures(self, i: int) -> list[int]:
        """Where state ``i``'s actions on entry go when they fail (``on_error``)."""
        actions = self.flow.agents[i].on_enter_actions
        return [self.state_index[a.on_error] for a in actions if a.on_error in self.state_index]

    def scoped_global_edges(self, i: int) -> list[GlobalEdge]:
        """The global edges with `only_in`/`except_in` that state ``i`` offers (the
        others are offered everywhere, and analysed once, from the hub)."""
        name = self.flow.agents[i].name
        return [e for e in self._scoped if self.offered(e, name)]

    def is_scoped(self, edge: Edge) -> bool:
        """Whether lint analyses ``edge`` state by state (a global edge with a scope,
        while the flow has no more than :data:`MAX_SCOPED_EDGES` of them)."""
        return id(edge) in self._scopes

    def offered(self, edge: Edge, state: str) -> bool:
        """Whether the global ``edge`` is offered in the state named ``state``, in
        constant time (the scope's lists as sets)."""
        scope = self._scopes.get(id(edge))
        if scope is None:
            return True
        only, excluded = scope
        return (only is None or state in only) and state not in excluded

    def offers_global(self, i: int) -> bool:
        """Whether state ``i`` offers any global edge."""
        if self.flow.agents[i].end:
            return False
        if len(self._scoped) < len(self.flow.global_edges):
            return True  # an edge without a scope (or past the limit) is offered everywhere
        return bool(self.scoped_global_edges(i))

    @cached_property
    def _scopes(self) -> dict[int, tuple[frozenset[str] | None, frozenset[str]]]:
        """The scoped global edges lint analyses state by state (by id), their lists as
        sets. Past :data:`MAX_SCOPED_EDGES` none is: each is taken as offered everywhere,
        so the analyses stay linear in the flow's size (FL113 reports the excess)."""
        scoped = [e for e in self.flow.global_edges if e.scoped]
        if len(scoped) > MAX_SCOPED_EDGES:
            return {}
        return {
            id(e): (None if e.only_in is None else frozenset(e.only_in), frozenset(e.except_in))
            for e in scoped
        }

    @cached_property
    def _scoped(self) -> list[GlobalEdge]:
        return [e for e in self.flow.global_edges if id(e) in self._scopes]

    def ends_session(self, i: int) -> bool:
        """Whether the session can end in state ``i``: it is terminal, the caller's
        hang-up ends it (``ends_on_hangup``, the flow's or the state's), or it can call
        a builtin that ends the call (through an edge, a global edge or its tools)."""
        state = self.flow.agents[i]
        if state.end or self._global_edges_end:
            return True
        if state.ends_on_hangup or self.flow.ends_on_hangup:
            return True
        ending = self._ending_tools
        edges = [*state.edges, *self.scoped_global_edges(i)]
        return any(id(self.edge_tool(e)) in ending for e in edges) or any(
            id(self.tool_index.get(n)) in ending for n in state.tools
        )

    @cached_property
    def _ending_tools(self) -> set[int]:
        """The tools (their ids: a tool is itself) that end the session when called."""
        return {
            id(t) for t in self.tool_index.values() if self.builtin_of(t) in TERMINATING_BUILTINS
        }

    @cached_property
    def _global_edges_end(self) -> bool:
        return any(
            id(self.edge_tool(e)) in self._ending_tools
            for e in self.flow.global_edges
            if not self.is_scoped(e)
        )

    @cached_property
    def reachable(self) -> list[bool]:
        """Of each state (the hub left out), whether a path from the start reaches it."""
        seen = [False] * len(self.successors)
        if self.start is None:
            return seen[:-1]
        stack = [self.start]
        seen[self.start] = True
        succ = self.successors
        while stack:
            for t in succ[stack.pop()]:
                if not seen[t]:
                    seen[t] = True
                    stack.append(t)
        return seen[:-1]

    # --- variables -------------------------------------------------------------------

    def edge_sets(self, edge: Edge) -> frozenset[str]:
        """Variables definitely set once ``edge`` has fired: its own (:meth:`own_sets`)
        and its tool's (:meth:`tool_sets`). A new set on each call, as big as the tool's:
        where many edges call one tool, ask :meth:`sets_variable` instead."""
        return self.own_sets(edge) | self.tool_sets(self.edge_tool(edge))

    def sets_variable(self, edge: Edge, name: str) -> bool:
        """Whether ``name`` is in :meth:`edge_sets` of ``edge``."""
        return name in self.own_sets(edge) or name in self.tool_sets(self.edge_tool(edge))

    def own_sets(self, edge: Edge) -> frozenset[str]:
        """What ``edge`` itself sets: its required parameters' variables, its ``set``,
        and its ``requires`` (checked before firing)."""
        found = self._own_sets.get(id(edge))
        if found is None:
            targets = [p.target(n) for n, p in edge.parameters.items() if p.required]
            found = self._own_sets[id(edge)] = frozenset(
                [t for t in targets if t is not None] + edge.requires + list(edge.set)
            )
        return found

    def tool_sets(self, tool: Tool | None) -> frozenset[str]:
        """What calling ``tool`` sets: its ``sets``, and a set-variable builtin's
        ``variables``. Worked out once per tool, however many edges call it."""
        found = self._tool_sets.get(id(tool))
        if found is None:
            names: list[str] = []
            if tool is not None:
                names += tool.sets
                if isinstance(tool, BuiltinTool) and self.builtin_of(tool) in SET_VARIABLE_BUILTINS:
                    names += tool.variables
            found = self._tool_sets[id(tool)] = frozenset(names)
        return found

    @cached_property
    def templates(self) -> list[TemplateUse]:
        """Every well-formed placeholder in authored text (the malformed ones are FL307's),
        and each variable an ``{{#if}}`` tests, as a placeholder that may be unset."""
        return self._parsed_templates[0]

    @cached_property
    def template_errors(self) -> list[tuple[Path, str]]:
        """``(path, message)`` for each text whose placeholders do not parse."""
        return self._parsed_templates[1]

    def template_texts(self) -> Iterator[tuple[Path, str | None, int | None, Edge | None]]:
        """Texts where ``{{var}}`` is expanded: ``(path, text, state, edge)``; the flow's
        ``instructions`` (part of every state's prompt) with neither."""
        yield FLOW_INSTRUCTIONS, self.flow.instructions, None, None
        for i, state in enumerate(self.flow.agents):
            yield ("agents", i, "instructions"), state.instructions, i, None
            yield ("agents", i, "on_enter_prompt"), state.on_enter_prompt, i, None
            if state.on_enter is not None:
                yield ("agents", i, "on_enter", "task"), state.on_enter.task, i, None
            if isinstance(state.context, Context):
                yield ("agents", i, "context", "prompt"), state.context.prompt, i, None
        for source, edge, path in self.edges():
            yield (*path, "say"), edge.say, source, edge
        for k, tool in enumerate(self.flow.tools):
            yield ("tools", k, "url"), getattr(tool, "url", None), None, None

    @cached_property
    def parsed_templates(self) -> list[tuple[Path, Template, int | None, Edge | None]]:
        """Each text with a `{{` or a `}}`, parsed: ``(path, template, state, edge)`` as
        in :meth:`template_texts`."""
        return [
            (path, compile_template(text), state, edge)
            for path, text, state, edge in self.template_texts()
            if text and ("{{" in text or "}}" in text)
        ]

    @cached_property
    def _parsed_templates(self) -> tuple[list[TemplateUse], list[tuple[Path, str]]]:
        uses: list[TemplateUse] = []
        errors: list[tuple[Path, str]] = []
        for path, template, state, edge in self.parsed_templates:
            if template.error is not None:
                errors.append((path, template.error))
            uses.extend(TemplateUse(path, p, state, edge) for p in template.placeholders)
            # What an `{{#if}}` tests is read too, and reads well unset (it is then false).
            uses.extend(
                TemplateUse(
                    path, Placeholder(name, None, c.start, c.end, guarded=True), state, edge
                )
                for c in template.conditions
                for name in sorted(c.condition.names)
            )
        return uses, errors

    def search_authored(
        self,
        pattern: re.Pattern[str],
        *,
        lower: bool = False,
        accept: Callable[[str, re.Match[str]], bool] | None = None,
    ) -> Iterator[tuple[Path, str]]:
        """``(path, matched text)`` for matches of ``pattern`` in authored text, at most
        one per text; ``accept(haystack, match)`` may reject a match (the search then
        goes on). With ``lower``, the text is lower-cased first (the pattern must be
        lower case).

        The texts are searched as one string (one regex pass in C instead of one call per
        text); a match never spans two texts because they are joined by a NUL line,
        which no pattern here matches.
        """
        joined, starts = self._authored_joined
        haystack = joined
        if lower:
            haystack = self.authored_lower
            if len(haystack) != len(joined):  # a character whose lower case is longer
                pattern = re.compile(pattern.pattern, pattern.flags | re.IGNORECASE)
                haystack = joined
        done: set[int] = set()
        for m in pattern.finditer(haystack):
            k = bisect_right(starts, m.start()) - 1
            if k in done or (accept is not None and not accept(haystack, m)):
                continue
            done.add(k)
            yield self._authored[k][0], joined[m.start() : m.end()]

    def authored(self) -> list[tuple[Path, str]]:
        """``(path, text)`` of each text written for the model or the caller (see
        :meth:`_authored_iter`), in document order."""
        return self._authored

    @cached_property
    def authored_lower(self) -> str:
        """All authored text, lower-cased, for quick substring tests."""
        return self._authored_joined[0].lower()

    @cached_property
    def _authored_joined(self) -> tuple[str, list[int]]:
        starts, pos = [], 0
        for _, text in self._authored:
            starts.append(pos)
            pos += len(text) + 3
        return "\n\0\n".join(text for _, text in self._authored), starts

    @cached_property
    def _authored(self) -> list[tuple[Path, str]]:
        """Text written for the model or the caller: prompts, greetings, descriptions,
        and string defaults (templates render them into prompts)."""
        return list(self._authored_iter())

    def _authored_iter(self) -> Iterator[tuple[Path, str]]:
        flow = self.flow
        for name, var in flow.variables.items():  # rendered into prompts by templates
            if isinstance(var.default, str):
                yield ("variables", name, "default"), var.default
        if flow.instructions:
            yield FLOW_INSTRUCTIONS, flow.instructions
        for i, state in enumerate(flow.agents):
            yield ("agents", i, "instructions"), state.instructions
            if state.on_enter_prompt:
                yield ("agents", i, "on_enter_prompt"), state.on_enter_prompt
            if state.on_enter is not None and state.on_enter.task:
                yield ("agents", i, "on_enter", "task"), state.on_enter.task
            if isinstance(state.context, Context) and state.context.prompt:
                yield ("agents", i, "context", "prompt"), state.context.prompt
        for _, edge, path in self.edges():
            yield (*path, "description"), edge.description
            if edge.say:
                yield (*path, "say"), edge.say
            for name, param in edge.parameters.items():
                yield (*path, "parameters", name, "description"), param.description
        for k, tool in enumerate(flow.tools):
            yield ("tools", k, "description"), tool.description
            for name, param in tool.parameters.items():
                yield ("tools", k, "parameters", name, "description"), param.description
        for path, output in self.outputs():
            for j, f in enumerate(output.fields):
                yield (*path, "fields", j, "description"), f.description
        if flow.evaluation is not None:  # the rubric is put to the session's model
            for j, criterion in enumerate(flow.evaluation.rubric):
                yield ("evaluation", "rubric", j), criterion

    def outputs(self) -> Iterator[tuple[Path, Output]]:
        if self.flow.output is not None:
            yield ("output",), self.flow.output
        for i, state in enumerate(self.flow.agents):
            if state.output is not None:
                yield ("agents", i, "output"), state.output

    def state(self, i: int) -> State:
        return self.flow.agents[i]
