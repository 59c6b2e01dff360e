"""What a template is: literal text, placeholders and ``{{#if}}`` blocks, parsed.

The language (docs/flow-format.md, "Templates")::

    {{name}}                        the variable's value
    {{name | fallback text}}        the fallback when the variable is unset
    {{name:money}}                  the value written by a formatter: number, money,
    {{name:money(EUR) | none yet}}  date, time (flowctl.engine.formats); an argument
    {{#if cond}}..{{else if cond}}..{{else}}..{{/if}}
                                    text chosen by conditions in the `when` language

Every `{{` starts a tag. A text without blocks or formatters is read by one regular
expression; any other is read by :class:`_Parser`, which finds each `{{` and `}}` once
(linear on untrusted text) and keeps a stack of the open blocks, at most ``MAX_DEPTH``.
Nothing in a template runs but the condition language, which only reads variables.

What is wrong with a text comes in two kinds, for two lint rules: a malformed
placeholder (``error``, FL307: braces that do not pair, a name that is not one) and a
block or formatter that does not make sense (``problems``, FL311). Rendering
(flowctl.engine.templates) never fails on either: what does not parse stays as written.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeAlias

import msgspec

if TYPE_CHECKING:
    from flowctl.engine.conditions import Condition, Expr

# The condition language and the formatters are imported where a text first uses them:
# most flows have neither, and `flowctl lint` starts cold on every run.

__all__ = [
    "MAX_DEPTH",
    "Block",
    "Node",
    "Placeholder",
    "Problem",
    "Template",
    "TemplateCondition",
    "parse",
]

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_WELL_FORMED = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*(?:\|([^{}]*))?\}\}")
_BLOCK_WORD = re.compile(r"[#/]\s*([A-Za-z_]*)")
_ELSE_IF = re.compile(r"else\s+if(?:\s|$)")

# Blocks inside blocks inside blocks: three levels already read badly; eight is room
# for any real prompt, and keeps rendering's recursion shallow on a hostile text.
MAX_DEPTH = 8


class Placeholder(msgspec.Struct, frozen=True):
    """A ``{{name}}`` in a text, with where it starts and ends."""

    name: str
    fallback: str | None  # None: no fallback given
    start: int
    end: int
    format: str | None = None  # a formatter's name: `money` in `{{total:money}}`
    argument: str | None = None  # its argument: `EUR` in `{{total:money(EUR)}}`
    guarded: bool = False  # inside a branch shown only when the variable is set

    @property
    def optional(self) -> bool:
        """The text reads well with the variable unset: a fallback stands in, or an
        ``{{#if}}`` around the placeholder shows it only when the variable is set."""
        return self.fallback is not None or self.guarded


class TemplateCondition(msgspec.Struct, frozen=True):
    """The condition of an ``{{#if}}`` or ``{{else if}}`` that parsed."""

    condition: Condition
    start: int
    end: int


class Problem(msgspec.Struct, frozen=True):
    """A block or formatter that does not make sense (FL311): its kind (``block``,
    ``condition``, ``formatter``, ``argument``) and the fields its message names."""

    kind: str
    fields: dict[str, str]


class Block(msgspec.Struct, frozen=True):
    """An ``{{#if}}``: its branches in order; an ``{{else}}``'s condition is None."""

    branches: tuple[tuple[Condition | None, tuple[Node, ...]], ...]


Node: TypeAlias = "str | Placeholder | Block"


class Template(msgspec.Struct, frozen=True):
    """A parsed text: what renders (``nodes``) and what lint reads."""

    source: str
    nodes: tuple[Node, ...]
    placeholders: tuple[Placeholder, ...]  # in every branch, in document order
    conditions: tuple[TemplateCondition, ...]
    error: str | None = None  # the first malformed placeholder (FL307)
    problems: tuple[Problem, ...] = ()  # blocks and formatters (FL311)

    @property
    def has_blocks(self) -> bool:
        return any(isinstance(node, Block) for node in self.nodes)


def parse(text: str) -> Template:
    """``text`` parsed; never raises (what is wrong is in ``error`` and ``problems``)."""
    if "{{" not in text and "}}" not in text:
        return Template(text, (text,), (), ())
    found = _fast(text)
    if found is not None:
        return Template(text, _flat(text, found), tuple(found), ())
    return _Parser(text).parse()


def _fast(text: str) -> list[Placeholder] | None:
    """The placeholders when every `{{` and `}}` belongs to a plain one (the usual
    case, one regex pass), else None."""
    found = [
        Placeholder(m.group(1), m.group(2).strip() if m.group(2) is not None else None, *m.span())
        for m in _WELL_FORMED.finditer(text)
    ]
    if text.count("{{") == len(found) == text.count("}}"):
        return found
    return None


def _flat(text: str, placeholders: list[Placeholder]) -> tuple[Node, ...]:
    """Literal text and placeholders, no blocks."""
    nodes: list[Node] = []
    pos = 0
    for p in placeholders:
        nodes += [text[pos : p.start], p]
        pos = p.end
    nodes.append(text[pos:])
    return tuple(n for n in nodes if n != "")


class _Open(msgspec.Struct):
    """An ``{{#if}}`` being read: where it was written, its branches so far, and what
    is certainly set in the branch being read (see :func:`_sure`)."""

    tag: str
    branches: list[tuple[Condition | None, list[Node]]]
    when_false: set[str]  # set when every earlier branch's condition was false
    true_here: frozenset[str] = frozenset()  # set when this branch's condition holds
    false_here: frozenset[str] = frozenset()  # set when it does not: for the next branch
    has_else: bool = False

    def guards(self, name: str) -> bool:
        return name in self.true_here or name in self.when_false


class _Parser:
    """The slow path: a text with blocks, formatters or a malformed placeholder."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.root: list[Node] = []
        self.stack: list[_Open] = []
        self.placeholders: list[Placeholder] = []
        self.conditions: list[TemplateCondition] = []
        self.error: str | None = None
        self.problems: list[Problem] = []
        self.broken = False  # the blocks do not pair: render them as written
        self.pos = 0  # where the literal text not yet taken starts

    def parse(self) -> Template:
        text = self.text
        pos = 0
        find_open, find_close = _finder(text, "{{"), _finder(text, "}}")
        while True:
            opener, closer = find_open(pos), find_close(pos)
            if opener < 0 and closer < 0:
                break
            if closer >= 0 and (opener < 0 or closer < opener):
                self.error = self.error or "`}}` without an opening `{{`"
                pos = closer + 2
                continue
            end, again = find_close(opener + 2), find_open(opener + 2)
            if end < 0 or 0 <= again < end:
                self.error = self.error or "`{{` is never closed with `}}`"
                pos = opener + 2
                continue
            self._tag(text[opener + 2 : end], opener, end + 2)
            pos = end + 2
        if self.stack:
            self._problem("block", f"`{self.stack[-1].tag}` is never closed with `{{{{/if}}}}`")
        self._literal(len(text))
        found, nodes = self.placeholders, tuple(n for n in self.root if n != "")
        if self.broken:  # no block applies, so none guards a placeholder
            found = [msgspec.structs.replace(p, guarded=False) for p in found]
            nodes = _flat(text, found)
        problems = tuple(self.problems)
        return Template(text, nodes, tuple(found), tuple(self.conditions), self.error, problems)

    def _problem(self, kind: str, error: str | None = None, **fields: str) -> None:
        """Record a problem. The first with the blocks makes the text render flat; from
        then on block tags are only read for the variables their conditions name (a
        hostile text of 100,000 `{{#if}}` costs no more than one of placeholders)."""
        if error is not None:
            fields["error"] = error
        if kind in ("block", "condition"):
            if self.broken:
                return
            self.broken = True
            self.stack.clear()
        self.problems.append(Problem(kind, fields))

    def _literal(self, upto: int) -> None:
        """Take the text before ``upto`` as written (malformed tags stay in it)."""
        self._nodes().append(self.text[self.pos : upto])
        self.pos = upto

    def _nodes(self) -> list[Node]:
        return self.stack[-1].branches[-1][1] if self.stack else self.root

    def _tag(self, body: str, start: int, end: int) -> None:
        word = body.strip()
        written = self.text[start:end]
        if word[:1] in ("#", "/"):
            m = _BLOCK_WORD.match(word)
            assert m is not None  # the pattern matches any text starting with # or /
            if m.group(1) != "if":
                self._problem(
                    "block",
                    f"`{written}` is not a block: blocks are `{{{{#if ...}}}}`, `{{{{else if "
                    "...}}`, `{{else}}` and `{{/if}}`",
                )
            elif word[0] == "#":
                self._open(word[m.end() :].strip(), written, start, end)
            elif word[m.end() :].strip():
                self._problem("block", f"`{written}` takes nothing after `/if`")
            else:
                self._close(written, start, end)
        elif (self.stack or self.broken) and (word == "else" or _ELSE_IF.match(word)):
            self._else(
                word[4:].strip()[2:].strip() if word != "else" else None, written, start, end
            )
        elif _ELSE_IF.match(word):
            self._problem("block", f"`{written}` without an opening `{{{{#if ...}}}}`")
        else:
            self._placeholder(body, start, end)

    def _condition(self, source: str, written: str, start: int, end: int) -> Condition | None:
        if not source:
            self._problem("block", f"`{written}` needs a condition")
            return None
        from flowctl.engine.conditions import ConditionError, parse_condition

        try:
            condition = parse_condition(source)
        except ConditionError as exc:
            self._problem("condition", str(exc), condition=source)
            return None
        self.conditions.append(TemplateCondition(condition, start, end))
        return condition

    def _open(self, source: str, written: str, start: int, end: int) -> None:
        condition = self._condition(source, written, start, end)
        if len(self.stack) >= MAX_DEPTH:
            self._problem("block", f"`{written}` is nested more than {MAX_DEPTH} blocks deep")
        if self.broken:
            return
        self._literal(start)
        self.pos = end
        block = _Open(written, [], set())
        self.stack.append(block)
        self._branch(block, condition)

    def _branch(self, block: _Open, condition: Condition | None) -> None:
        """Start a branch of ``block``: shown when ``condition`` holds (None: else).
        What the previous branch's condition leaves set when false joins ``when_false``
        in place, so a chain of n ``{{else if}}`` costs n steps, not n^2."""
        block.when_false |= block.false_here
        if condition is None:
            block.true_here = block.false_here = frozenset()
        else:
            block.true_here = _sure(condition.tree, True)
            block.false_here = _sure(condition.tree, False)
        block.branches.append((condition, []))

    def _else(self, source: str | None, written: str, start: int, end: int) -> None:
        condition = None
        if source is not None:
            condition = self._condition(source, written, start, end)
        if not self.broken and self.stack[-1].has_else:
            tag = self.stack[-1].tag
            self._problem("block", f"`{written}` after the `{{{{else}}}}` of `{tag}`")
        if self.broken:
            return
        self._literal(start)
        self.pos = end
        block = self.stack[-1]
        block.has_else = block.has_else or source is None
        self._branch(block, condition)

    def _close(self, written: str, start: int, end: int) -> None:
        if not self.stack:
            self._problem("block", f"`{written}` without an opening `{{{{#if ...}}}}`")
        if self.broken:
            return
        self._literal(start)
        self.pos = end
        block = self.stack.pop()
        branches = tuple((c, tuple(n for n in nodes if n != "")) for c, nodes in block.branches)
        self._nodes().append(Block(branches))

    def _placeholder(self, body: str, start: int, end: int) -> None:
        head, bar, fallback = body.partition("|")
        name, colon, spec = head.partition(":")
        name = name.strip()
        if not _NAME.match(name):
            self.error = self.error or f"`{{{{{body}}}}}` does not name a variable"
            return
        formatter = argument = None
        if colon:
            formatter, argument = self._format(spec.strip(), self.text[start:end])
        guarded = any(block.guards(name) for block in self.stack)
        p = Placeholder(
            name, fallback.strip() if bar else None, start, end, formatter, argument, guarded
        )
        self._literal(start)
        self.pos = end
        self._nodes().append(p)
        self.placeholders.append(p)

    def _format(self, spec: str, written: str) -> tuple[str, str | None]:
        """The formatter and argument of ``spec`` (``money(EUR)``); a problem when the
        formatter is unknown or does not take the argument."""
        name, paren, rest = spec.partition("(")
        name, rest = name.strip(), rest.strip()
        closed = rest.endswith(")")
        argument = rest[:-1].strip() if closed else rest
        from flowctl.engine.formats import FORMATTERS

        formatter = FORMATTERS.get(name)
        if formatter is None:
            self._problem("formatter", formatter=name, placeholder=written)
        elif paren and not (closed and formatter.takes(argument)):
            shown = f"({argument})" if closed else f"({rest}"
            self._problem(
                "argument",
                formatter=name,
                argument=shown,
                placeholder=written,
                expected=formatter.argument,
            )
        return name, argument if paren else None


def _sure(node: Expr, truth: bool) -> frozenset[str]:
    """The variables certainly set when ``node`` evaluates to ``truth``: a comparison
    or a bare name is false when its variable is unset (see flowctl.engine.conditions),
    so ``{{#if total > 0}}{{total}}{{/if}}`` never shows an unset ``total``."""
    from flowctl.engine.conditions import And, Compare, In, IsSet, Not, Or, Var

    match node:
        case Var(name):
            return frozenset([name]) if truth else frozenset()
        case IsSet(name, negated):
            return frozenset([name]) if truth != negated else frozenset()
        case Compare(_, left, right) | In(left, right):
            operands = (left, right)
            names = [o.name for o in operands if isinstance(o, Var)]
            return frozenset(names) if truth else frozenset()
        case Not(operand):
            return _sure(operand, not truth)
        case And(operands) | Or(operands):
            parts = [_sure(child, truth) for child in operands]
            # `a and b` true, or `a or b` false: every part holds; otherwise only one.
            every = isinstance(node, And) == truth
            return frozenset.union(*parts) if every else frozenset.intersection(*parts)
    return frozenset()


def _finder(text: str, needle: str) -> Callable[[int], int]:
    """``text.find(needle, pos)`` for positions that never decrease, reading each
    character once: an answer still ahead of ``pos`` is the answer again. Searching
    afresh from every position re-read the rest of the text each time (``"{{" * n``
    cost n^2)."""
    found = -2  # the last answer; -2: none yet

    def find(pos: int) -> int:
        nonlocal found
        if found < pos and found != -1:
            found = text.find(needle, pos)
        return found

    return find
