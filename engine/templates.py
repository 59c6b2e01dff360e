"""``{{var}}`` templates filled in, for prompts, speech and URLs; shared by lint and
the runtime.

A text is parsed once (flowctl.engine.template_syntax: placeholders, formatters,
``{{#if}}`` blocks) and rendered in one pass over that tree: an inserted value is never
read again, so a caller named ``{{secret}}`` stays a name; a value from outside the flow
goes in as data (:func:`render`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Container, Mapping
from functools import lru_cache
from typing import Any, Literal

from flowctl.engine.template_syntax import (
    MAX_DEPTH,
    Node,
    Placeholder,
    Problem,
    Template,
    TemplateCondition,
    parse,
)

__all__ = [
    "MAX_DATA_CHARS",
    "MAX_DEPTH",
    "MAX_SPOKEN_CHARS",
    "Placeholder",
    "Problem",
    "Template",
    "TemplateCondition",
    "TemplateError",
    "compile_template",
    "parse_template",
    "render",
    "scan_template",
]


class TemplateError(ValueError):
    """A malformed placeholder; the message says which and why."""


def parse_template(text: str) -> list[Placeholder]:
    """The placeholders of ``text``, in order. Raises :class:`TemplateError`."""
    found, error = scan_template(text)
    if error is not None:
        raise TemplateError(error)
    return found


def scan_template(text: str) -> tuple[list[Placeholder], str | None]:
    """Every well-formed placeholder of ``text``, and what is wrong with the first
    malformed one (None when all are well formed)."""
    template = compile_template(text)
    return list(template.placeholders), template.error


# A text is parsed again each time it is rendered unless it is kept; real prompts are a
# few thousand characters, and a longer one (a tenant's flow may hold 100,000) is parsed
# each time rather than kept for the life of the process.
_CACHED_CHARS = 10_000


def compile_template(text: str) -> Template:
    """``text`` parsed; never raises (what is wrong is in ``error`` and ``problems``)."""
    return _parse_cached(text) if len(text) <= _CACHED_CHARS else parse(text)


@lru_cache(maxsize=1024)
def _parse_cached(text: str) -> Template:
    return parse(text)


# A value longer than this is cut when quoted into a prompt: a caller's "name" is not
# an essay, and a long one is more likely an attack than a name.
MAX_DATA_CHARS = 500

# A value longer than this is cut when it goes into words the agent says: about twelve
# seconds of speech, more than any name, date or address needs.
MAX_SPOKEN_CHARS = 200

# What an outside value may not carry into spoken text: control characters and line or
# paragraph separators become spaces (no new line, no new "turn"); bidirectional
# controls, which only reorder what a reader sees, are dropped.
_UNSPOKEN = {
    **{c: " " for c in [*range(0x20), *range(0x7F, 0xA0), 0x2028, 0x2029]},
    **dict.fromkeys([0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A)]),
}


def render(
    text: str,
    values: Mapping[str, Any],
    *,
    untrusted: Container[str] = (),
    context: Literal["prompt", "speech"] | None = None,
    escape: Callable[[str], str] | None = None,
) -> str:
    """``text`` with its blocks decided and its placeholders filled in, in one pass: an
    inserted value is never expanded again, so a caller named ``{{secret}}`` stays a
    name.

    ``context`` says where the text goes; a value from outside the flow (``untrusted``:
    the caller, the model, a tool) then goes in as data:

    - ``"prompt"`` (instructions): a JSON string literal, newlines escaped, cut to
      ``MAX_DATA_CHARS``, so "ignore all instructions" cannot start a line of its own;
    - ``"speech"`` (greetings, an edge's ``say``: spoken, and kept in the model's
      history as the agent's words): no quotes, which a voice would read out, but on
      one line: control characters and line breaks become spaces, bidirectional
      controls are dropped, runs of spaces become one, and the value is cut to
      ``MAX_SPOKEN_CHARS`` (then stripped of spaces at its ends).

    A formatted value (``{{total:money}}``) is made of digits and the formatter's own
    words, whoever supplied the number, so it goes in as written; a value the formatter
    cannot read goes in like any other. The flow's own values (its defaults) go in as
    written. ``escape`` is applied to every inserted value (URL-quoting for webhooks).
    An unset variable renders its fallback, or nothing. Malformed placeholders, and
    blocks that do not pair, stay as written.
    """
    if "{{" not in text:
        return text
    template = compile_template(text)
    if not template.placeholders and not template.has_blocks:
        return text

    def fill(p: Placeholder) -> str:
        value = values.get(p.name)
        if value is None:  # the fallback is the flow's own text: inserted as written
            return p.fallback or ""
        piece = None
        if p.format is not None:
            from flowctl.engine.formats import format_value  # only a text that formats

            piece = format_value(p.format, p.argument, value)
        if piece is None:
            piece = _show(value)
            if context is not None and p.name in untrusted:
                piece = _as_data(piece, context)
        return escape(piece) if escape is not None else piece

    out: list[str] = []
    _emit(template.nodes, values, fill, out)
    return "".join(out)


def _emit(
    nodes: tuple[Node, ...],
    values: Mapping[str, Any],
    fill: Callable[[Placeholder], str],
    out: list[str],
) -> None:
    for node in nodes:
        if isinstance(node, str):
            out.append(node)
        elif isinstance(node, Placeholder):
            out.append(fill(node))
        else:
            for condition, body in node.branches:
                if condition is None or condition.holds(values):
                    _emit(body, values, fill, out)
                    break


def _as_data(piece: str, context: Literal["prompt", "speech"]) -> str:
    if context == "prompt":
        return json.dumps(piece[:MAX_DATA_CHARS], ensure_ascii=False)
    return " ".join(piece.translate(_UNSPOKEN).split())[:MAX_SPOKEN_CHARS].strip()


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(_show(v) for v in value)
    return str(value)
