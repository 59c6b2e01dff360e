"""Output fields' ``pattern`` constraints: keeping Python's backtracking ``re`` quick on
them.

A structured-output field may carry a ``pattern`` (seed 001's constraints). Compiling
the flow puts it in the field's type (msgspec's ``Meta(pattern=...)``), and every
answer of the model is then checked with ``re.search``: a pattern from the flow's
author, against text a caller can steer. ``^(a+)+$`` takes a second on 25 characters
and doubles with each one more, in the worker every tenant's calls share. So both are
bounded:

- the text: a field with a pattern holds at most :data:`MAX_PATTERN_INPUT` characters
  (compiling adds that ``max_length``, which msgspec checks before the pattern);
- the pattern (FL604, and compiling refuses what FL604 reports here): at most
  :data:`MAX_PATTERN_CHARS` characters, no backreference, no repeat or alternation
  inside a repeat (``(a+)+``, ``(a|ab)*``: exponential), and few enough ways to match
  that the worst text costs at most about :data:`MAX_PATTERN_PATHS` tries.

Without nesting, one match attempt follows at most one path per choice of how often
each repeat runs and which branch each alternation takes; a pattern not anchored with
``^`` is attempted at every position. Their product bounds the work (``a*a*a*b`` on 200
characters: 10^9 paths, refused; ``^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$``: 8 million, kept).
"""

from __future__ import annotations

import re

# The parser `re` itself uses: the one reading of a pattern that matches what runs.
from re import _constants as sre  # type: ignore[attr-defined]
from re import _parser as sre_parse  # type: ignore[attr-defined]
from typing import Any

__all__ = [
    "MAX_PATTERN_CHARS",
    "MAX_PATTERN_INPUT",
    "MAX_PATTERN_PATHS",
    "pattern_input_limit",
    "pattern_problem",
]

# FL604's doc states the first two.
MAX_PATTERN_CHARS = 100  # a field's pattern describes an id, a date, a phone number
MAX_PATTERN_INPUT = 200  # characters in a field with a pattern (an email address fits)
MAX_PATTERN_PATHS = 10_000_000  # about a tenth of a second of `re` at worst

_REPEATS = frozenset({sre.MAX_REPEAT, sre.MIN_REPEAT, sre.POSSESSIVE_REPEAT})


def pattern_input_limit(max_length: int | None) -> int:
    """The most characters a field with a pattern holds, given its own ``max_length``."""
    return MAX_PATTERN_INPUT if max_length is None else min(max_length, MAX_PATTERN_INPUT)


def pattern_problem(pattern: str, max_length: int | None = None) -> str | None:
    """Why ``pattern`` could take too long on a field's text (the end of a sentence
    that starts "the pattern"), or None. An invalid pattern is None: ``re.compile``
    says what is wrong with it."""
    if len(pattern) > MAX_PATTERN_CHARS:
        return f"is {len(pattern):,} characters long; the limit is {MAX_PATTERN_CHARS}"
    try:
        tree = sre_parse.parse(pattern)
    except re.error:
        return None
    length = pattern_input_limit(max_length)
    try:
        paths = _paths(tree.data, length, repeated=False)
    except _Slow as exc:
        return str(exc)
    first = tree.data[0] if tree.data else None
    anchored = first in ((sre.AT, sre.AT_BEGINNING), (sre.AT, sre.AT_BEGINNING_STRING))
    anchored = anchored and not tree.state.flags & re.MULTILINE
    if not anchored:
        paths *= length + 1  # tried at every position
    if paths > MAX_PATTERN_PATHS:
        advice = "fewer or shorter repeats" + ("" if anchored else ", or anchor it with `^`")
        return f"could try {paths:.0e} ways to match {length} characters; use {advice}"
    return None


class _Slow(Exception):
    """A pattern whose time grows exponentially with the text."""


def _paths(items: Any, length: int, *, repeated: bool) -> int:
    """An upper bound on the paths through ``items`` (a parsed pattern's items) on a
    text of ``length`` characters; ``repeated``: inside a repeat that runs more than
    once, where another repeat or an alternation makes the paths exponential."""
    paths = 1
    for op, av in items:
        if op in _REPEATS:
            low, high, body = av
            choices = max(min(high, length) - low + 1, 1)
            if repeated and choices > 1:
                raise _Slow("has a repeat inside a repeat, which takes exponential time")
            paths *= choices * _paths(body, length, repeated=repeated or high > 1)
        elif op is sre.BRANCH:
            if repeated:
                raise _Slow("repeats an alternation, which takes exponential time")
            paths *= sum(_paths(branch, length, repeated=False) for branch in av[1])
        elif op is sre.SUBPATTERN:
            paths *= _paths(av[3], length, repeated=repeated)
        elif op in (sre.ASSERT, sre.ASSERT_NOT):
            paths *= _paths(av[1], length, repeated=repeated)
        elif op is sre.ATOMIC_GROUP:
            paths *= _paths(av, length, repeated=repeated)
        elif op in (sre.GROUPREF, sre.GROUPREF_EXISTS):
            raise _Slow("has a backreference, which can take exponential time")
    return paths
