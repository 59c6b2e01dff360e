"""The rule registry: every lint rule's code, name, severity and documentation.

A rule is a function ``check(ctx) -> Iterable[Finding]`` decorated with :func:`rule`;
its docstring is the rule's documentation (``flowctl rules CODE``, ``docs/rules.md``).
Document-level rules (FL0xx) are reported by the loader and registered with
:func:`declare`, without a check.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

import msgspec

from flowctl.engine.findings import Finding, Severity

if TYPE_CHECKING:
    from flowctl.engine.lint.context import FlowContext

__all__ = ["RULES", "Check", "Rule", "declare", "rule"]

Check = Callable[["FlowContext"], Iterable[Finding]]


class Rule(msgspec.Struct, frozen=True):
    code: str
    name: str
    severity: Severity
    summary: str
    doc: str
    check: Check | None = None

    @property
    def url(self) -> str:
        return f"docs/rules.md#{self.code.lower()}-{self.name}"


RULES: dict[str, Rule] = {}


def _register(r: Rule) -> None:
    if r.code in RULES:
        raise ValueError(f"rule code {r.code} registered twice")
    RULES[r.code] = r


def declare(code: str, name: str, severity: Severity, summary: str, doc: str) -> None:
    """Register a rule whose findings come from elsewhere (the loader)."""
    _register(Rule(code, name, severity, summary, inspect.cleandoc(doc)))


def rule(code: str, name: str, severity: Severity, summary: str) -> Callable[[Check], Check]:
    """Register ``check`` as rule ``code``; its docstring is the rule's doc."""

    def decorate(check: Check) -> Check:
        _register(Rule(code, name, severity, summary, inspect.cleandoc(check.__doc__ or ""), check))
        return check

    return decorate
