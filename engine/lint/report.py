"""Lint output formats: text (``file:row:col: CODE message``), JSON, GitHub annotations."""

from __future__ import annotations

import msgspec

from flowctl.engine.findings import Severity
from flowctl.engine.lint.runner import LintResult, Located

__all__ = ["format_github", "format_json", "format_text", "summary"]


def _each(result: LintResult) -> list[tuple[str, Located]]:
    """Each finding with the file it is in: the file linted, or a template it extends."""
    return [(loc.filename or f.filename, loc) for f in result.files for loc in f.findings]


def format_text(result: LintResult) -> str:
    lines = [
        f"{name}:{loc.span.row}:{loc.span.column}: {loc.finding.code} {loc.finding.text}"
        for name, loc in _each(result)
    ]
    return "".join(line + "\n" for line in lines)


def format_json(result: LintResult) -> str:
    items = [
        {
            "code": loc.finding.code,
            "name": loc.rule.name,
            "severity": loc.rule.severity.value,
            "message": loc.finding.text,
            "filename": name,
            "path": loc.finding.where,
            "location": {"row": loc.span.row, "column": loc.span.column},
            "end_location": {"row": loc.span.end_row, "column": loc.span.end_column},
            "url": loc.rule.url,
        }
        for name, loc in _each(result)
    ]
    return msgspec.json.format(msgspec.json.encode(items), indent=2).decode() + "\n"


def _escape(text: str, *, prop: bool = False) -> str:
    """GitHub workflow-command escaping (properties also escape `:` and `,`)."""
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    if prop:
        text = text.replace(":", "%3A").replace(",", "%2C")
    return text


def format_github(result: LintResult) -> str:
    out = []
    for name, loc in _each(result):
        level = "error" if loc.rule.severity is Severity.ERROR else "warning"
        title = _escape(f"flowctl ({loc.finding.code})", prop=True)
        out.append(
            f"::{level} title={title},file={_escape(name, prop=True)},"
            f"line={loc.span.row},col={loc.span.column},"
            f"endLine={loc.span.end_row},endColumn={loc.span.end_column}"
            f"::{_escape(loc.finding.text)}\n"
        )
    return "".join(out)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def summary(result: LintResult) -> str:
    """One line for stderr."""
    checked = len(result.files)
    errors, warnings = result.count(Severity.ERROR), result.count(Severity.WARNING)
    unread = f"{_plural(len(result.errors), 'path')} could not be read" if result.errors else ""
    if errors or warnings:
        dirty = sum(1 for f in result.files if f.findings)
        line = (
            f"Found {_plural(errors, 'error')} and {_plural(warnings, 'warning')} "
            f"in {dirty} of {_plural(checked, 'file')}"
        )
        return f"{line}; {unread}." if unread else f"{line}."
    if unread:
        return f"No findings in {_plural(checked, 'file')}; {unread}."
    return f"All checks passed ({_plural(checked, 'file')})."
