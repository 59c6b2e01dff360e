"""``{{var}}`` templates: parsing, shared by lint and (later) the runtime.

A placeholder is ``{{name}}`` or ``{{name | fallback text}}``. Names are identifiers.
"""

from __future__ import annotations

import re

import msgspec

__all__ = ["Placeholder", "TemplateError", "parse_template"]

_PLACEHOLDER = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_WELL_FORMED = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*(?:\|([^{}]*))?\}\}")


class Placeholder(msgspec.Struct, frozen=True):
    name: str
    fallback: str | None  # None: no fallback given
    start: int
    end: int


class TemplateError(ValueError):
    """A malformed placeholder; the message says which and why."""


def parse_template(text: str) -> list[Placeholder]:
    """The placeholders of ``text``, in order. Raises :class:`TemplateError`."""
    # Fast path: every `{{` and `}}` belongs to a well-formed placeholder.
    found = [
        Placeholder(m.group(1), m.group(2).strip() if m.group(2) is not None else None, *m.span())
        for m in _WELL_FORMED.finditer(text)
    ]
    if text.count("{{") == len(found) == text.count("}}"):
        return found
    return _parse_slowly(text)


def _parse_slowly(text: str) -> list[Placeholder]:
    """Find the first malformed placeholder and say what is wrong with it."""
    if "{{" not in text:
        if "}}" in text:
            raise TemplateError("`}}` without an opening `{{`")
        return []
    out: list[Placeholder] = []
    pos = 0
    for m in _PLACEHOLDER.finditer(text):
        if "{{" in text[pos : m.start()] or "}}" in text[pos : m.start()]:
            break
        body = m.group(1)
        name, bar, fallback = body.partition("|")
        name = name.strip()
        if not _NAME.match(name):
            raise TemplateError(f"`{{{{{body}}}}}` does not name a variable")
        out.append(Placeholder(name, fallback.strip() if bar else None, m.start(), m.end()))
        pos = m.end()
    rest = text[pos:]
    if "{{" in rest:
        raise TemplateError("`{{` is never closed with `}}`")
    if "}}" in rest:
        raise TemplateError("`}}` without an opening `{{`")
    return out
