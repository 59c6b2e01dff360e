"""Where things are in a flow's source text: JSON paths to rows and columns.

Findings carry a *path* into the document (``("agents", 0, "edges", 1, "target_agent")``,
shown as ``$.agents[0].edges[1].target_agent``). Only when findings are reported are
those paths mapped back to the text, by one scan that records just the spans asked for.
Decoding itself stays in msgspec's C code, so a clean file pays nothing for this.
"""

from __future__ import annotations

import json
import re
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Iterator
from typing import Any

import msgspec

__all__ = ["Path", "Source", "Span", "format_path", "parse_path"]

Path = tuple[str | int, ...]

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# One JSON token: a string, a structural character, or a bare literal/number.
_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[{}\[\]:,]|[^\s{}\[\]:,"]+')
_PATH_PART = re.compile(r'\.([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]|\[("(?:[^"\\]|\\.)*")\]')


def format_path(path: Path) -> str:
    """``("agents", 0, "name")`` as ``$.agents[0].name``, the way msgspec writes it."""
    out = ["$"]
    for part in path:
        if isinstance(part, int):
            out.append(f"[{part}]")
        elif _IDENT.match(part):
            out.append(f".{part}")
        else:
            out.append(f"[{json.dumps(part)}]")
    return "".join(out)


def parse_path(text: str) -> Path:
    """The inverse of :func:`format_path`; stops at the first part it cannot read."""
    parts: list[str | int] = []
    pos = 1 if text.startswith("$") else 0
    while pos < len(text):
        m = _PATH_PART.match(text, pos)
        if not m:
            break
        name, index, quoted = m.groups()
        parts.append(name if name is not None else int(index) if index else json.loads(quoted))
        pos = m.end()
    return tuple(parts)


class Span(msgspec.Struct, frozen=True):
    """A region of the text: 1-based rows and columns (columns count characters)."""

    row: int
    column: int
    end_row: int
    end_column: int


class Source:
    """A flow file's text, and the means to locate JSON paths in it."""

    __slots__ = ("_line_starts", "filename", "text")

    def __init__(self, filename: str, text: str) -> None:
        self.filename = filename
        self.text = text
        self._line_starts: list[int] | None = None

    def __repr__(self) -> str:
        return f"Source({self.filename!r}, <{len(self.text)} characters>)"

    def position(self, offset: int) -> tuple[int, int]:
        """Row and column (1-based) of a character offset."""
        if self._line_starts is None:
            self._line_starts = [0] + [m.end() for m in re.finditer("\n", self.text)]
        row = bisect_right(self._line_starts, offset)
        return row, offset - self._line_starts[row - 1] + 1

    def span(self, start: int, end: int) -> Span:
        row, col = self.position(start)
        end_row, end_col = self.position(end)
        return Span(row, col, end_row, end_col)

    def paths_at(self, offsets: Iterable[int]) -> dict[int, Path]:
        """The path of the innermost value (or object key) holding each offset, in one
        scan of the text (values come innermost first, so the first hit is the one)."""
        pending = sorted(set(offsets))
        found: dict[int, Path] = {}
        # next_open[i]: the first index from i whose offset has no path yet (a union-find
        # with path halving), so placing an offset costs no shifting of a list (popping
        # each from the middle cost hits^2 for a flow full of secrets).
        next_open = list(range(len(pending) + 1))

        def first_open(i: int) -> int:
            while next_open[i] != i:
                next_open[i] = next_open[next_open[i]]
                i = next_open[i]
            return i

        for path, start, end, ks, ke in _values(self.text):
            for lo, hi in ((start, end), (ks, ke)):
                if lo < 0:
                    continue
                i = first_open(bisect_left(pending, lo))
                while i < len(pending) and pending[i] < hi:
                    found[pending[i]] = path
                    next_open[i] = i + 1
                    i = first_open(i + 1)
            if len(found) == len(pending):
                break
        for offset in pending:
            found.setdefault(offset, ())
        return found

    def locate(self, paths: Iterable[tuple[Path, bool]]) -> dict[tuple[Path, bool], Span]:
        """Spans of many ``(path, at_key)`` pairs in one scan of the text.

        ``at_key`` asks for the span of an object member's key rather than its value
        (where an unknown field is named). A path that does not exist in the text (a
        default the document left out) falls back to its nearest existing ancestor.
        """
        requests = list(dict.fromkeys(paths))
        wanted: set[Path] = set()
        for path, _ in requests:
            wanted.update(path[:i] for i in range(len(path) + 1))
        found = _scan(self.text, wanted)
        result: dict[tuple[Path, bool], Span] = {}
        for path, at_key in requests:
            probe = path
            while probe not in found and probe:
                probe = probe[:-1]
            entry = found.get(probe)
            if entry is None:
                result[path, at_key] = Span(1, 1, 1, 1)
                continue
            start, end, key_start, key_end = entry
            if at_key and probe == path and key_start >= 0:
                result[path, at_key] = self.span(key_start, key_end)
            else:
                result[path, at_key] = self.span(start, end)
        return result


def _key(token: str) -> str:
    """An object key token's text (escapes decoded when they are valid)."""
    if "\\" not in token:
        return token[1:-1]
    try:
        return str(json.loads(token))
    except ValueError:
        return token[1:-1]


def _scan(text: str, wanted: set[Path]) -> dict[Path, tuple[int, int, int, int]]:
    """Spans (value start, value end, key start, key end) of the wanted paths; stops as
    soon as every wanted path has been seen."""
    found: dict[Path, tuple[int, int, int, int]] = {}
    depth = max((len(p) for p in wanted), default=0)
    for path, start, end, ks, ke in _values(text, depth):
        if path in wanted:
            found[path] = (start, end, ks, ke)
            if len(found) == len(wanted):
                break
    return found


def _values(text: str, max_depth: int | None = None) -> Iterator[tuple[Path, int, int, int, int]]:
    """Every value of a JSON text as it completes: ``(path, start, end, key_start,
    key_end)`` (key offsets are -1 outside objects). Scalars come when read, containers
    when closed.

    Iterative, so a document nested 100,000 levels deep cannot exhaust the stack; values
    deeper than ``max_depth`` are skipped without building their paths (which would
    cost memory quadratic in the depth). Malformed text simply ends the walk.
    """
    # A frame per open container: [path, is_object, next_index, key, key_start, key_end,
    # start]. ``key`` is the member name awaiting its value (objects only).
    stack: list[list[Any]] = []
    key_span = (-1, -1)
    expect_key = False

    for m in _TOKEN.finditer(text):
        tok = m.group()
        c = tok[0]
        if expect_key:
            if c == '"':
                stack[-1][3] = _key(tok)
                key_span = (m.start(), m.end())
                expect_key = False
                continue
            if c != "}":
                return
        if c in ",:":
            if c == "," and stack and stack[-1][1]:
                expect_key = True
            continue
        if c in "}]":
            if not stack:
                return
            expect_key = False
            closed, _, _, _, ks, ke, start = stack.pop()
            if closed is not None:
                yield closed, start, m.end(), ks, ke
            if not stack:
                return
            continue
        path: Path | None
        if stack:
            frame = stack[-1]
            parent = frame[0]
            if frame[1]:
                key: str | int = frame[3]
                ks, ke = key_span
            else:
                key = frame[2]
                frame[2] += 1
                ks, ke = -1, -1
            deep = parent is None or (max_depth is not None and len(parent) >= max_depth)
            path = None if deep else (*parent, key)
        else:
            path, ks, ke = (), -1, -1
        if c in "{[":
            stack.append([path, c == "{", 0, None, ks, ke, m.start()])
            expect_key = c == "{"
        else:
            if path is not None:
                yield path, m.start(), m.end(), ks, ke
            if not stack:
                return
