"""``{{var}}`` templates: parsing, shared by lint and (later) the runtime.

A placeholder is ``{{name}}`` or ``{{name | fallback text}}``. Names are identifiers.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Container, Mapping
from typing import Any, Literal

import msgspec

__all__ = [
    "MAX_DATA_CHARS",
    "MAX_SPOKEN_CHARS",
    "Placeholder",
    "TemplateError",
    "parse_template",
    "render",
    "scan_template",
]

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
    found, error = scan_template(text)
    if error is not None:
        raise TemplateError(error)
    return found


def _fast(text: str) -> list[Placeholder] | None:
    """The placeholders when every `{{` and `}}` belongs to a well-formed one (the usual
    case, one regex pass), else None."""
    found = [
        Placeholder(m.group(1), m.group(2).strip() if m.group(2) is not None else None, *m.span())
        for m in _WELL_FORMED.finditer(text)
    ]
    if text.count("{{") == len(found) == text.count("}}"):
        return found
    return None


def scan_template(text: str) -> tuple[list[Placeholder], str | None]:
    """Every well-formed placeholder of ``text``, and what is wrong with the first
    malformed one (None when all are well formed)."""
    found = _fast(text)
    if found is not None:
        return found, None
    out: list[Placeholder] = []
    error: str | None = None
    pos = 0
    find_open, find_close = _finder(text, "{{"), _finder(text, "}}")
    while True:
        opener, closer = find_open(pos), find_close(pos)
        if opener < 0 and closer < 0:
            break
        if closer >= 0 and (opener < 0 or closer < opener):
            error = error or "`}}` without an opening `{{`"
            pos = closer + 2
            continue
        end, again = find_close(opener + 2), find_open(opener + 2)
        if end < 0 or 0 <= again < end:
            error = error or "`{{` is never closed with `}}`"
            pos = opener + 2
            continue
        body = text[opener + 2 : end]
        name, bar, fallback = body.partition("|")
        name = name.strip()
        if _NAME.match(name):
            out.append(Placeholder(name, fallback.strip() if bar else None, opener, end + 2))
        else:
            error = error or f"`{{{{{body}}}}}` does not name a variable"
        pos = end + 2
    return out, error


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
    """``text`` with its placeholders filled in, in one pass: an inserted value is
    never expanded again, so a caller named ``{{secret}}`` stays a name.

    ``context`` says where the text goes; a value from outside the flow (``untrusted``:
    the caller, the model, a tool) then goes in as data:

    - ``"prompt"`` (instructions): a JSON string literal, newlines escaped, cut to
      ``MAX_DATA_CHARS``, so "ignore all instructions" cannot start a line of its own;
    - ``"speech"`` (greetings, an edge's ``say``: spoken, and kept in the model's
      history as the agent's words): no quotes, which a voice would read out, but on
      one line: control characters and line breaks become spaces, bidirectional
      controls are dropped, runs of spaces become one, and the value is cut to
      ``MAX_SPOKEN_CHARS`` (then stripped of spaces at its ends).

    The flow's own values (its defaults) go in as written. ``escape`` is applied to
    every inserted value (URL-quoting for webhooks). An unset variable renders its
    fallback, or nothing. Malformed placeholders stay as written.
    """
    placeholders, _ = scan_template(text) if "{{" in text else ([], None)
    if not placeholders:
        return text
    out: list[str] = []
    pos = 0
    for p in placeholders:
        out.append(text[pos : p.start])
        value = values.get(p.name)
        if value is None:  # the fallback is the flow's own text: inserted as written
            out.append(p.fallback or "")
        else:
            piece = _show(value)
            if context is not None and p.name in untrusted:
                piece = _as_data(piece, context)
            out.append(escape(piece) if escape is not None else piece)
        pos = p.end
    out.append(text[pos:])
    return "".join(out)


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
