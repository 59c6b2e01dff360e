"""A finding: one problem in a flow, at a JSON path, under a stable rule code."""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

import msgspec

from flowctl.engine.source import Path, format_path

__all__ = ["Finding", "Severity", "Suggester", "did_you_mean"]

# Codes about the file as text (not a place in the document): shown without a path.
_TEXT_LEVEL = frozenset({"FL001", "FL006", "FL007"})


def did_you_mean(word: str, options: Iterable[str]) -> str:
    """``"; did you mean `x`?"`` for the closest of ``options``, or ``""``."""
    import difflib  # only when there is something to suggest: it costs 2 ms to import

    close = difflib.get_close_matches(word, list(options), n=1, cutoff=0.6)
    return f"; did you mean `{close[0]}`?" if close else ""


class Suggester:
    """:func:`did_you_mean` on a budget; one per document checked.

    difflib compares the word with every option, up to ``len(word) * len(option)``
    steps each: a flow naming thousands of unknown states among thousands of real ones
    would cost their product (5 s for 200 KB). Each call is charged that bound; once
    the budget is spent, names get no suggestion (the findings are otherwise the same).
    A few hundred typos among a few hundred names fit in it.
    """

    BUDGET = 1_000_000

    def __init__(self, budget: int = BUDGET) -> None:
        self._left = budget

    def __call__(self, word: str, options: Iterable[str]) -> str:
        if self._left <= 0:
            return ""
        candidates = list(options)
        self._left -= len(word) * sum(map(len, candidates))
        return did_you_mean(word, candidates) if self._left >= 0 else ""


class Severity(StrEnum):
    """How bad a finding is. Only ``error`` findings make ``flowctl lint`` exit 1."""

    ERROR = "error"
    WARNING = "warning"


class Finding(msgspec.Struct, frozen=True):
    """``code`` names the rule; ``message`` says what is wrong (the path is appended
    when shown, see :attr:`text`); ``path`` points into the document as written (for a
    seed-001 document, into its own shape); ``at_key`` locates an object member's key
    rather than its value (an unknown field, a duplicate name)."""

    code: str
    message: str
    path: Path = ()
    at_key: bool = False
    # Set when the finding was located in the text itself (malformed JSON, a secret
    # found by scanning the source): 1-based (row, column). Its ``path`` is then
    # already in the document's own shape.
    position: tuple[int, int] | None = None
    # Which document of a flow built on templates ``path`` (or ``position``) is in: 0
    # the flow's own, 1 its template, 2 that template's... (flowctl.engine.extends).
    # None: ``path`` is a path of the flow as resolved, found in the document that
    # wrote it when the finding is located.
    document: int | None = None

    @property
    def where(self) -> str:
        return format_path(self.path)

    @property
    def text(self) -> str:
        """The message as shown: what is wrong, then where, like msgspec's errors."""
        if not self.path and self.code in _TEXT_LEVEL:
            return self.message
        return f"{self.message} - at `{self.where}`"
