"""Edge conditions: a small, safe expression language over variables (``when``).

Parsed once at compile time into a tree of plain tuples and evaluated with a tiny
interpreter; there is no ``eval`` and nothing but variables can be read::

    party_size > 4 and not is_member
    visit_type in ["checkup", "follow_up"]
    caller_name is set
    insurance is not set or plan == "basic"

Grammar (lowest precedence first)::

    expr    := and ("or" and)*
    and     := not ("and" not)*
    not     := "not" not | compare
    compare := operand (OP operand | "in" operand | "not" "in" operand
                        | "is" "set" | "is" "not" "set")?
    operand := NAME | NUMBER | STRING | "true" | "false" | "[" literal, ... "]" | "(" expr ")"
    OP      := "==" | "!=" | "<" | "<=" | ">" | ">="

An unset variable makes every comparison false (``is not set`` true), so a condition
never raises at run time.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

__all__ = ["Condition", "ConditionError", "parse_condition"]

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

# A node is a tuple: ("var", name) | ("lit", value) | ("list", (nodes...)) |
# ("not", node) | ("and", (nodes...)) | ("or", (nodes...)) | ("cmp", op, left, right) |
# ("in", left, right, negated) | ("isset", name, negated)
Node = tuple[Any, ...]


class ConditionError(ValueError):
    """A condition that does not parse; the message says where."""


class Condition:
    """A parsed ``when`` expression: evaluate it with :meth:`holds`."""

    __slots__ = ("names", "source", "tree")

    def __init__(self, source: str, tree: Node) -> None:
        self.source = source
        self.tree = tree
        self.names = frozenset(_names(tree))

    def holds(self, variables: Mapping[str, Any]) -> bool:
        return bool(_eval(self.tree, variables))

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

    def expr(self) -> Node:
        parts = [self._and()]
        while self._peek("kw", "or"):
            self.pos += 1
            parts.append(self._and())
        return parts[0] if len(parts) == 1 else ("or", tuple(parts))

    def _and(self) -> Node:
        parts = [self._not()]
        while self._peek("kw", "and"):
            self.pos += 1
            parts.append(self._not())
        return parts[0] if len(parts) == 1 else ("and", tuple(parts))

    def _not(self) -> Node:
        if self._peek("kw", "not"):
            self.pos += 1
            return ("not", self._not())
        return self._compare()

    def _compare(self) -> Node:
        left = self._operand()
        if self.pos >= len(self.tokens):
            return left
        kind, value, at = self.tokens[self.pos]
        if kind == "op" and value in _COMPARE:
            self.pos += 1
            return ("cmp", value, left, self._operand())
        if kind == "kw" and value == "in":
            self.pos += 1
            return ("in", left, self._operand(), False)
        if kind == "kw" and value == "not" and self._next_is("kw", "in"):
            self.pos += 2
            return ("in", left, self._operand(), True)
        if kind == "kw" and value == "is":
            self.pos += 1
            negated = self._peek("kw", "not")
            if negated:
                self.pos += 1
            self._take("kw", "set")
            if left[0] != "var":
                raise ConditionError(f"`is set` needs a variable name, at column {at + 1}")
            return ("isset", left[1], negated)
        return left

    def _next_is(self, kind: str, value: Any) -> bool:
        if self.pos + 1 >= len(self.tokens):
            return False
        k, v, _ = self.tokens[self.pos + 1]
        return k == kind and v == value

    def _operand(self) -> Node:
        if self.pos >= len(self.tokens):
            raise ConditionError("expected a value at the end")
        kind, value, at = self.tokens[self.pos]
        self.pos += 1
        if kind == "name":
            return ("var", value)
        if kind == "lit":
            return ("lit", value)
        if kind == "kw" and value in ("true", "false"):
            return ("lit", value == "true")
        if kind == "op" and value == "(":
            inner = self.expr()
            self._take("op", ")")
            return inner
        if kind == "op" and value == "[":
            items: list[Node] = []
            while not self._peek("op", "]"):
                item = self._operand()
                if item[0] not in ("lit",):
                    raise ConditionError(f"a list holds literals only, at column {at + 1}")
                items.append(item)
                if not self._peek("op", "]"):
                    self._take("op", ",")
            self._take("op", "]")
            return ("list", tuple(items))
        raise ConditionError(f"expected a value, found `{value}` at column {at + 1}")


def _names(node: Node) -> list[str]:
    tag = node[0]
    if tag == "var":
        return [node[1]]
    if tag == "isset":
        return [node[1]]
    if tag == "not":
        return _names(node[1])
    if tag in ("and", "or"):
        return [n for child in node[1] for n in _names(child)]
    if tag == "cmp":
        return _names(node[2]) + _names(node[3])
    if tag == "in":
        return _names(node[1]) + _names(node[2])
    return []


def _value(node: Node, variables: Mapping[str, Any]) -> Any:
    tag = node[0]
    if tag == "var":
        return variables.get(node[1], _MISSING)
    if tag == "lit":
        return node[1]
    if tag == "list":
        return [item[1] for item in node[1]]
    return _eval(node, variables)


def _eval(node: Node, variables: Mapping[str, Any]) -> Any:
    tag = node[0]
    if tag == "or":
        return any(_eval(child, variables) for child in node[1])
    if tag == "and":
        return all(_eval(child, variables) for child in node[1])
    if tag == "not":
        return not _eval(node[1], variables)
    if tag == "isset":
        present = variables.get(node[1]) is not None
        return present != node[2]
    if tag == "cmp":
        left, right = _value(node[2], variables), _value(node[3], variables)
        if left is _MISSING or right is _MISSING or left is None or right is None:
            return False
        try:
            return _COMPARATORS[node[1]](left, right)
        except TypeError:  # e.g. "3" < 4: lint rejects it; at run time it is false
            return False
    if tag == "in":
        left, right = _value(node[1], variables), _value(node[2], variables)
        if left is _MISSING or right is _MISSING or left is None or right is None:
            return False
        try:
            found = left in right
        except TypeError:
            return False
        return found != node[3]
    value = _value(node, variables)
    return value is not _MISSING and bool(value)


_COMPARATORS = {
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}
