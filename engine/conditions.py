"""Edge conditions: a small, safe expression language over variables (``when``).

Parsed once into a tree of frozen tagged structs (the grammar below, one struct per
production) and evaluated with a tiny interpreter; there is no ``eval`` and nothing but
variables can be read::

    party_size > 4 and not is_member
    visit_type in ["checkup", "follow_up"]
    caller_name is set
    insurance is not set or plan == "basic"
    len(order) >= 2 or notes is not empty

Grammar (lowest precedence first)::

    expr    := and ("or" and)*
    and     := not ("and" not)*
    not     := "not" not | compare
    compare := operand (OP operand | "in" operand | "not" "in" operand
                        | "is" "set" | "is" "not" "set" | "is" "empty" | "is" "not" "empty")?
    operand := NAME | NUMBER | STRING | "true" | "false" | "[" literal, ... "]" | "(" expr ")"
             | "len" "(" NAME ")"
    OP      := "==" | "!=" | "<" | "<=" | ">" | ">="

An unset variable makes every comparison false (``is not set`` true, ``is empty`` true:
unset, ``""``, ``[]`` and ``{}`` are empty), so a condition never raises at run time.
``len`` and ``empty`` are words only where the grammar puts them: a variable may still be
called ``len`` or ``empty``. What can still be wrong is a comparison the declared types
rule out (``party_size > "four"`` is never true): :meth:`Condition.type_errors` says
which, beside the grammar that defines them, and lint reports them (FL308).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping
from functools import lru_cache
from typing import Any

import msgspec

__all__ = [
    "And",
    "Compare",
    "Condition",
    "ConditionError",
    "Expr",
    "In",
    "IsEmpty",
    "IsSet",
    "Len",
    "ListLit",
    "Lit",
    "Not",
    "Or",
    "Types",
    "Var",
    "parse_condition",
]

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<number>-?\d+(?:\.\d+)?)
      | (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
      | (?P<op>==|!=|<=|>=|<|>|\(|\)|\[|\]|,)
      | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
    )""",
    re.VERBOSE,
)
_KEYWORDS = {"and", "or", "not", "in", "is", "set", "true", "false"}
_COMPARE = {"==", "!=", "<", "<=", ">", ">="}
_MISSING = object()

# The tree. Operands are variables, literals and lists of literals; a parenthesised
# expression may stand where an operand does.


class _Node(msgspec.Struct, frozen=True, tag=True):
    """A node of a parsed condition; immutable, so parsed conditions are shared."""


class Var(_Node, frozen=True):
    name: str


class Lit(_Node, frozen=True):
    value: bool | int | float | str


class ListLit(_Node, frozen=True):
    items: tuple[Lit, ...]


class Len(_Node, frozen=True):
    name: str


class Not(_Node, frozen=True):
    operand: Expr


class And(_Node, frozen=True):
    operands: tuple[Expr, ...]


class Or(_Node, frozen=True):
    operands: tuple[Expr, ...]


class Compare(_Node, frozen=True):
    op: str  # one of _COMPARE
    left: Expr
    right: Expr


class In(_Node, frozen=True):
    left: Expr
    right: Expr
    negated: bool


class IsSet(_Node, frozen=True):
    name: str
    negated: bool


class IsEmpty(_Node, frozen=True):
    name: str
    negated: bool


Expr = Var | Lit | ListLit | Len | Not | And | Or | Compare | In | IsSet | IsEmpty

# A variable's declared type and its enum values, for :meth:`Condition.type_errors`
# (a set: a condition may compare it with thousands of literals, each looked up).
Types = Mapping[str, tuple[str, frozenset[str] | None]]


class ConditionError(ValueError):
    """A condition that does not parse; the message says where."""


class Condition:
    """A parsed ``when`` expression: evaluate it with :meth:`holds`."""

    __slots__ = ("names", "source", "tree")

    def __init__(self, source: str, tree: Expr) -> None:
        self.source = source
        self.tree = tree
        self.names = frozenset(_names(tree))

    def holds(self, variables: Mapping[str, Any]) -> bool:
        return bool(_eval(self.tree, variables))

    def type_errors(self, types: Types) -> Iterator[str]:
        """What the declared ``types`` rule out, one message each: comparisons between
        incompatible types, ``<``/``>`` on non-numbers, ``in`` without a list, an enum
        compared with a value outside its values. Unknown names are not checked."""
        return _type_errors(self.tree, types)

    def hidden_literals(self, types: Types) -> list[str]:
        """The text literals compared with a free-text (``str``) variable: values the
        model is never offered (an ``enum``'s values are in the function's schema), so a
        refusal quoting the condition would tell them (lint FL409)."""
        return list(dict.fromkeys(_hidden(self.tree, types)))

    def __repr__(self) -> str:
        return f"Condition({self.source!r})"


# Real conditions are a line; a longer one (a tenant's flow may hold a megabyte of one)
# is parsed each time rather than kept, with its tree, for the life of the process.
_CACHED_CHARS = 1_000


def parse_condition(source: str) -> Condition:
    """Parse ``source``; raises :class:`ConditionError`. Conditions are immutable, so a
    source parsed once (by lint, then by compile) is shared."""
    return _parse_cached(source) if len(source) <= _CACHED_CHARS else _parse(source)


@lru_cache(maxsize=4096)
def _parse_cached(source: str) -> Condition:
    return _parse(source)


def _parse(source: str) -> Condition:
    tokens = _tokenize(source)
    parser = _Parser(source, tokens)
    try:
        tree = parser.expr()
    except RecursionError:
        raise ConditionError("the condition is nested too deeply") from None
    if parser.pos < len(tokens):
        _, value, at = tokens[parser.pos]
        raise ConditionError(f"unexpected `{value}` at column {at + 1}")
    return Condition(source, tree)


def _tokenize(source: str) -> list[tuple[str, Any, int]]:
    tokens: list[tuple[str, Any, int]] = []
    pos = 0
    end = len(source.rstrip())
    if not source.strip():
        raise ConditionError("the condition is empty")
    while pos < end:
        m = _TOKEN.match(source, pos)
        if not m or m.end() == pos:
            at = len(source) - len(source[pos:].lstrip())
            raise ConditionError(f"unexpected `{source[at]}` at column {at + 1}")
        kind = m.lastgroup or ""
        text = m.group(kind)
        at = m.start(kind)
        if kind == "number":
            tokens.append(("lit", float(text) if "." in text else int(text), at))
        elif kind == "string":
            body = text[1:-1]
            tokens.append(("lit", re.sub(r"\\(.)", r"\1", body), at))
        elif kind == "name" and text in _KEYWORDS:
            tokens.append(("kw", text, at))
        else:
            tokens.append((kind, text, at))
        pos = m.end()
    return tokens


class _Parser:
    def __init__(self, source: str, tokens: list[tuple[str, Any, int]]) -> None:
        self.source = source
        self.tokens = tokens
        self.pos = 0

    def _peek(self, kind: str, value: Any = _MISSING) -> bool:
        if self.pos >= len(self.tokens):
            return False
        k, v, _ = self.tokens[self.pos]
        return k == kind and (value is _MISSING or v == value)

    def _take(self, kind: str, value: Any = _MISSING) -> tuple[str, Any, int]:
        if not self._peek(kind, value):
            want = f"`{value}`" if value is not _MISSING else {"name": "a variable"}.get(kind, kind)
            if self.pos >= len(self.tokens):
                raise ConditionError(f"expected {want} at the end")
            _, got, at = self.tokens[self.pos]
            raise ConditionError(f"expected {want}, found `{got}` at column {at + 1}")
        token = self.tokens[self.pos]
        self.pos += 1
        return token

    def expr(self) -> Expr:
        return self._chain("or", Or, self._and)

    def _and(self) -> Expr:
        return self._chain("and", And, self._not)

    def _chain(self, keyword: str, node: type[And] | type[Or], operand: Callable[[], Expr]) -> Expr:
        """``operand (keyword operand)*``: one operand as is, more joined by ``node``."""
        parts = [operand()]
        while self._peek("kw", keyword):
            self.pos += 1
            parts.append(operand())
        return parts[0] if len(parts) == 1 else node(tuple(parts))

    def _not(self) -> Expr:
        if self._peek("kw", "not"):
            self.pos += 1
            return Not(self._not())
        return self._compare()

    def _compare(self) -> Expr:
        left = self._operand()
        if self.pos >= len(self.tokens):
            return left
        kind, value, at = self.tokens[self.pos]
        if kind == "op" and value in _COMPARE:
            self.pos += 1
            return Compare(value, left, self._operand())
        if kind == "kw" and value == "in":
            self.pos += 1
            return In(left, self._operand(), False)
        if kind == "kw" and value == "not" and self._next_is("kw", "in"):
            self.pos += 2
            return In(left, self._operand(), True)
        if kind == "kw" and value == "is":
            self.pos += 1
            negated = self._peek("kw", "not")
            if negated:
                self.pos += 1
            empty = self._peek("name", "empty")
            if empty:
                self.pos += 1
            else:
                self._take("kw", "set")
            if not isinstance(left, Var):
                test = "empty" if empty else "set"
                raise ConditionError(f"`is {test}` needs a variable name, at column {at + 1}")
            return IsEmpty(left.name, negated) if empty else IsSet(left.name, negated)
        return left

    def _next_is(self, kind: str, value: Any) -> bool:
        if self.pos + 1 >= len(self.tokens):
            return False
        k, v, _ = self.tokens[self.pos + 1]
        return k == kind and v == value

    def _operand(self) -> Expr:
        if self.pos >= len(self.tokens):
            raise ConditionError("expected a value at the end")
        kind, value, at = self.tokens[self.pos]
        self.pos += 1
        if kind == "name" and value == "len" and self._peek("op", "("):
            self.pos += 1
            _, name, _ = self._take("name")
            self._take("op", ")")
            return Len(name)
        if kind == "name":
            return Var(value)
        if kind == "lit":
            return Lit(value)
        if kind == "kw" and value in ("true", "false"):
            return Lit(value == "true")
        if kind == "op" and value == "(":
            inner = self.expr()
            self._take("op", ")")
            return inner
        if kind == "op" and value == "[":
            items: list[Lit] = []
            while not self._peek("op", "]"):
                item = self._operand()
                if not isinstance(item, Lit):
                    raise ConditionError(f"a list holds literals only, at column {at + 1}")
                items.append(item)
                if not self._peek("op", "]"):
                    self._take("op", ",")
            self._take("op", "]")
            return ListLit(tuple(items))
        raise ConditionError(f"expected a value, found `{value}` at column {at + 1}")


def _names(node: Expr) -> list[str]:
    match node:
        case Var(name) | IsSet(name) | Len(name) | IsEmpty(name):
            return [name]
        case Not(operand):
            return _names(operand)
        case And(operands) | Or(operands):
            return [n for child in operands for n in _names(child)]
        case Compare(_, left, right) | In(left, right):
            return _names(left) + _names(right)
    return []


def _value(node: Expr, variables: Mapping[str, Any]) -> Any:
    match node:
        case Var(name):
            return variables.get(name, _MISSING)
        case Lit(value):
            return value
        case ListLit(items):
            return [item.value for item in items]
        case Len(name):
            sized = variables.get(name)
            return len(sized) if isinstance(sized, str | list | dict) else _MISSING
    return _eval(node, variables)


def _eval(node: Expr, variables: Mapping[str, Any]) -> Any:
    match node:
        case Or(operands):
            return any(_eval(child, variables) for child in operands)
        case And(operands):
            return all(_eval(child, variables) for child in operands)
        case Not(operand):
            return not _eval(operand, variables)
        case IsSet(name, negated):
            return (variables.get(name) is not None) != negated
        case IsEmpty(name, negated):
            value = variables.get(name)
            empty = value is None or (isinstance(value, str | list | dict) and not value)
            return empty != negated
        case Compare(op, left, right):
            a, b = _value(left, variables), _value(right, variables)
            if a is _MISSING or b is _MISSING or a is None or b is None:
                return False
            try:
                return _COMPARATORS[op](a, b)
            except TypeError:  # e.g. "3" < 4: lint rejects it; at run time it is false
                return False
        case In(left, right, negated):
            a, b = _value(left, variables), _value(right, variables)
            if a is _MISSING or b is _MISSING or a is None or b is None:
                return False
            try:
                found = a in b
            except TypeError:
                return False
            return found != negated
    value = _value(node, variables)
    return value is not _MISSING and bool(value)


# --- types ---------------------------------------------------------------------------

_NUMERIC = {"int", "float"}
_LITERAL_TYPES = {bool: "bool", int: "int", float: "float", str: "str"}


def _kind(node: Expr, types: Types) -> str | None:
    """The type of an operand: a declared type, `list[...]`, a literal's, or None."""
    match node:
        case Var(name):
            declared = types.get(name)
            return declared[0] if declared else None
        case Lit(value):
            return _LITERAL_TYPES.get(type(value))
        case ListLit(items):
            kinds = {_LITERAL_TYPES.get(type(item.value)) for item in items}
            return f"list[{kinds.pop()}]" if len(kinds) == 1 else "list"
        case Len():
            return "int"
    return "bool"


def _compatible(a: str | None, b: str | None) -> bool:
    if a is None or b is None or a == b:
        return True
    if "list" in (a, b) and a.startswith("list") and b.startswith("list"):
        return True  # `[]` or a mixed list: compared with any list
    scalar = {"enum": "str"}
    a, b = scalar.get(a, a), scalar.get(b, b)
    return a == b or (a in _NUMERIC and b in _NUMERIC)


def _show(node: Expr) -> str:
    match node:
        case Var(name):
            return f"`{name}`"
        case Lit(value):
            return f"`{json.dumps(value)}`"
        case ListLit(items):
            return f"`{json.dumps([item.value for item in items])}`"
        case Len(name):
            return f"`len({name})`"
    return "a condition"


def _tests(node: Expr) -> Iterator[Expr]:
    """The tests a condition is made of, below its ``and``, ``or`` and ``not``."""
    match node:
        case And(operands) | Or(operands):
            for child in operands:
                yield from _tests(child)
        case Not(operand):
            yield from _tests(operand)
        case _:
            yield node


def _type_errors(tree: Expr, types: Types) -> Iterator[str]:
    for node in _tests(tree):
        yield from _test_errors(node, types)


def _test_errors(node: Expr, types: Types) -> Iterator[str]:
    match node:
        case Compare(op, left, right):
            yield from _sized_errors(left, types)
            yield from _sized_errors(right, types)
            yield from _compare_errors(op, left, right, types)
        case IsEmpty():
            yield from _sized_errors(node, types)
        case In(left, right):
            lk, rk = _kind(left, types), _kind(right, types)
            if rk is not None and not rk.startswith("list"):
                yield f"`in` needs a list on its right, but {_show(right)} is `{rk}`"
            elif rk not in (None, "list") and lk is not None and not _compatible(lk, rk[5:-1]):
                yield f"{_show(left)} (`{lk}`) can never be in {_show(right)} (`{rk}`)"


_SIZED = ("str", "enum", "object")


def _sized_errors(node: Expr, types: Types) -> Iterator[str]:
    """``len(x)`` and ``x is empty`` need text, a list or an object."""
    if not isinstance(node, Len | IsEmpty):
        return
    declared = types.get(node.name)
    kind = declared[0] if declared else None
    if kind is not None and kind not in _SIZED and not kind.startswith("list"):
        test = f"`len({node.name})`" if isinstance(node, Len) else f"`{node.name} is empty`"
        yield f"{test} needs text or a list, but `{node.name}` is `{kind}`"


def _hidden(tree: Expr, types: Types) -> Iterator[str]:
    for node in _tests(tree):
        if not isinstance(node, Compare | In):
            continue
        for var, other in ((node.left, node.right), (node.right, node.left)):
            if isinstance(var, Var) and types.get(var.name, ("",))[0] in ("str", "list[str]"):
                literals = other.items if isinstance(other, ListLit) else (other,)
                yield from (
                    x.value for x in literals if isinstance(x, Lit) and isinstance(x.value, str)
                )


def _compare_errors(op: str, left: Expr, right: Expr, types: Types) -> Iterator[str]:
    lk, rk = _kind(left, types), _kind(right, types)
    if op in ("<", "<=", ">", ">=") and any(k is not None and k not in _NUMERIC for k in (lk, rk)):
        yield f"`{op}` compares numbers, but {_show(left)} is `{lk}` and {_show(right)} is `{rk}`"
    elif not _compatible(lk, rk):
        yield f"{_show(left)} (`{lk}`) is compared with {_show(right)} (`{rk}`)"
    else:
        for var, lit in ((left, right), (right, left)):
            if not (isinstance(var, Var) and isinstance(lit, Lit)):
                continue
            declared = types.get(var.name)
            if declared and declared[1] and lit.value not in declared[1]:
                yield f"`{var.name}` is never {_show(lit)}: not one of its `enum` values"


_COMPARATORS = {
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


def ensured(node: Expr) -> frozenset[str]:
    """The variables a condition guarantees are set whenever it holds: a comparison,
    `in` or a bare name is false on an unset variable, `is set` and `is not empty` say so;
    `and` ensures what any part does, `or` what every part does, `not` nothing (but `not
    x is not set`). Lint's dataflow reads it: an automatic edge over a tool's result guarantees
    the result was stored."""
    match node:
        case Var(name) | IsSet(name, False):
            return frozenset((name,))
        case Compare(_, left, right) | In(left, right, _):
            return ensured_operands(left) | ensured_operands(right)
        case And(operands):
            return frozenset().union(*(ensured(child) for child in operands))
        case Or(operands):
            return frozenset.intersection(*(ensured(child) for child in operands))
        case Not(IsSet(name, True)) | IsEmpty(name, True):  # unset is empty
            return frozenset((name,))
    return frozenset()


def ensured_operands(node: Expr) -> frozenset[str]:
    return frozenset((node.name,)) if isinstance(node, Var) else frozenset()
