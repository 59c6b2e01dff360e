"""Scenario mocks: what a mocked tool answers, call after call.

A scenario's ``mocks`` maps a tool's name to what it answers, in one of three forms:

- an object (or any value that is not a list): the tool's result, every call — the
  original form, unchanged;
- a list: a sequence of answers, one per call, the last one repeating once the list is
  used up ("7 PM is booked, then 6 PM is free" — and free it stays). Repeating the last
  keeps a scenario short where a tool is polled, and matches how a real backend settles;
  a tool whose result *is* a list is written as a one-answer sequence, ``[[...]]``;
- ``{"$error": "words"}``, alone or as an item of a sequence: the call fails with that
  error, as a tool that raised or got an HTTP error does (the model hears the words,
  an entry action takes its ``on_error``). The ``$`` keeps it apart from a result that
  happens to carry an ``error`` field.

A turn's own ``mocks`` replace the scenario's for the tools they name, for that turn
only: its sequences start afresh each turn and do not advance the scenario's.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

import msgspec

__all__ = ["ERROR_KEY", "Failure", "MockAnswers", "answers", "failure", "merged"]

ERROR_KEY = "$error"


class Failure(msgspec.Struct, frozen=True):
    """A scripted failure: the tool fails with ``error``."""

    error: str


def failure(answer: Any) -> Failure | None:
    """``answer`` as a scripted failure, or None when it is a result."""
    if isinstance(answer, dict) and set(answer) == {ERROR_KEY}:
        return Failure(str(answer[ERROR_KEY]))
    return None


def answers(mock: Any) -> list[Any]:
    """A mock's answers in order: the items of a sequence, else the one result."""
    return list(mock) if isinstance(mock, list) and mock else [mock]


def merged(mocks: Iterable[Mapping[str, Any]]) -> dict[str, list[Any]]:
    """Every answer any of ``mocks`` gives each tool, once each, as a sequence: what
    explore tries (a scenario file's mocks, each a branch)."""
    found: dict[str, dict[str, Any]] = {}
    for given in mocks:
        for name, mock in given.items():
            for answer in answers(mock):
                found.setdefault(name, {})[json.dumps(answer, sort_keys=True)] = answer
    return {name: list(distinct.values()) for name, distinct in found.items()}


class MockAnswers:
    """The answers of a conversation's mocked tools, consumed one per call."""

    def __init__(self, mocks: Mapping[str, Any] | None = None) -> None:
        self._scenario = {name: answers(mock) for name, mock in (mocks or {}).items()}
        self._turn: dict[str, list[Any]] = {}
        self._calls: dict[tuple[bool, str], int] = {}

    def __contains__(self, tool: str) -> bool:
        return tool in self._turn or tool in self._scenario

    def for_turn(self, mocks: Mapping[str, Any] | None) -> None:
        """Replace the scenario's mocks of the tools ``mocks`` names until the next turn
        (None or empty: the scenario's again)."""
        self._turn = {name: answers(mock) for name, mock in (mocks or {}).items()}
        self._calls = {k: n for k, n in self._calls.items() if not k[0]}

    def next(self, tool: str) -> Any:
        """The answer to this call of ``tool`` (a result, or its ``$error`` object)."""
        in_turn = tool in self._turn
        sequence = self._turn[tool] if in_turn else self._scenario[tool]
        count = self._calls.get((in_turn, tool), 0)
        self._calls[in_turn, tool] = count + 1
        return sequence[min(count, len(sequence) - 1)]
