"""Documents as sections: what a knowledge base's documents are made of before they are
cut into chunks (``flowctl.engine.knowledge.chunks``).

Three formats, each read into :class:`Section` objects (a heading path and the
paragraphs under it):

- ``text``: paragraphs separated by blank lines, under no heading;
- ``markdown``: ``#`` headings (ATX, levels 1-6) open sections, a heading's path is the
  headings above it (``Clinic › Opening hours``); fenced code is kept as it is;
- ``html``: read with the standard library's parser into the same shape (``h1``-``h6``
  are headings; block elements end paragraphs; list items keep their lines; scripts,
  styles and navigation menus are left out), then read as Markdown is.

PDF is not read: convert it to text first (``pdftotext FILE``); docs/knowledge.md says
how a reader would be added.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Literal, NamedTuple, get_args

__all__ = ["FORMATS", "DocumentFormat", "Section", "format_for", "sections"]

DocumentFormat = Literal["text", "markdown", "html"]
# Each format and the file extensions that mean it.
FORMATS: dict[DocumentFormat, tuple[str, ...]] = {
    "text": (".txt", ".text"),
    "markdown": (".md", ".markdown"),
    "html": (".html", ".htm"),
}
assert set(FORMATS) == set(get_args(DocumentFormat))

# What a section's heading path reads as, in passages and their sources.
HEADING_SEPARATOR = " › "


class Section(NamedTuple):
    """Paragraphs under one heading; ``path`` is that heading and the ones above it
    (empty before the first heading)."""

    path: tuple[str, ...]
    paragraphs: list[str]

    @property
    def heading(self) -> str:
        return HEADING_SEPARATOR.join(self.path)


def format_for(filename: str) -> DocumentFormat | None:
    """The format a file's extension names (None: none of ours)."""
    lower = filename.lower()
    for fmt, extensions in FORMATS.items():
        if lower.endswith(extensions):
            return fmt
    return None


def sections(content: str, fmt: DocumentFormat) -> list[Section]:
    """``content`` in ``fmt`` as its sections, in order; sections with no text are left
    out (a heading directly above another lives on in the path of the one below)."""
    if fmt == "html":
        content = html_to_markdown(content)
    if fmt == "text":
        return [s for s in [Section((), _paragraphs(content.splitlines()))] if s.paragraphs]
    return _markdown_sections(content)


_ATX = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(```|~~~)")


def _markdown_sections(content: str) -> list[Section]:
    found: list[Section] = []
    path: list[tuple[int, str]] = []  # (level, heading) from the top
    lines: list[str] = []
    fence: str | None = None

    def close() -> None:
        paragraphs = _paragraphs(lines)
        if paragraphs:
            found.append(Section(tuple(h for _, h in path), paragraphs))
        lines.clear()

    for line in content.splitlines():
        opened = _FENCE.match(line)
        if fence is not None:
            if opened is not None and opened.group(1) == fence:
                fence = None
            lines.append(line)
            continue
        if opened is not None:
            fence = opened.group(1)
            lines.append(line)
            continue
        heading = _ATX.match(line)
        if heading is None:
            lines.append(line)
            continue
        close()
        level, text = len(heading.group(1)), (heading.group(2) or "").strip()
        while path and path[-1][0] >= level:
            path.pop()
        if text:
            path.append((level, text))
    close()
    return found


def _paragraphs(lines: list[str]) -> list[str]:
    """Blank-line separated paragraphs, each with its lines' ends stripped."""
    paragraphs: list[str] = []
    current: list[str] = []
    for line in lines:
        if line.strip():
            current.append(line.rstrip())
        elif current:
            paragraphs.append("\n".join(current).strip("\n"))
            current = []
    if current:
        paragraphs.append("\n".join(current).strip("\n"))
    return [p.strip() for p in paragraphs if p.strip()]


# --- HTML -------------------------------------------------------------------------------

# Content people do not read as the page's text: left out with everything inside.
_SKIPPED = frozenset(
    {"script", "style", "noscript", "template", "svg", "canvas", "nav", "head", "iframe"}
)
# Elements that end a paragraph where they start and where they end.
_BLOCKS = frozenset(
    {
        "p", "div", "section", "article", "main", "header", "footer", "aside", "ul", "ol",
        "table", "blockquote", "pre", "dl", "form", "figure", "figcaption", "address",
        "hr", "details", "summary", "body",
    }
)  # fmt: skip
# Elements that start a new line of the same paragraph.
_LINES = frozenset({"li", "tr", "dt", "dd", "br"})
_HEADINGS = {f"h{n}": n for n in range(1, 7)}
_VOID = frozenset({"br", "hr", "img", "input", "meta", "link", "wbr", "area", "source"})


class _Text(HTMLParser):
    """An HTML page as Markdown-shaped text: headings as ``#`` lines, paragraphs apart."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []  # finished lines; "" between paragraphs
        self.line: list[str] = []
        self.skipping: list[str] = []  # open skipped elements, innermost last
        self.heading: int | None = None
        self.pre = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.skipping:
            if tag in _SKIPPED and tag not in _VOID:
                self.skipping.append(tag)
            return
        if tag in _SKIPPED:
            self.skipping.append(tag)
        elif tag in _HEADINGS:
            self._paragraph()
            self.heading = _HEADINGS[tag]
        elif tag in _BLOCKS:
            self._paragraph()
            if tag == "pre":
                self.pre += 1
        elif tag in _LINES:
            self._newline()
            if tag == "li":
                self.line.append("- ")
        elif tag in ("td", "th") and self.line and self.line[-1].strip():
            self.line.append(" | ")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if not self.skipping and tag == "br":
            self._newline()
        elif not self.skipping and tag == "hr":
            self._paragraph()

    def handle_endtag(self, tag: str) -> None:
        if self.skipping:
            if tag == self.skipping[-1]:
                self.skipping.pop()
            return
        if tag in _HEADINGS and self.heading is not None:
            text = " ".join("".join(self.line).split())
            self.line = []
            if text:
                if self.out and self.out[-1] != "":
                    self.out.append("")
                self.out += ["#" * self.heading + " " + text, ""]
            self.heading = None
        elif tag in _BLOCKS:
            self._paragraph()
            if tag == "pre" and self.pre:
                self.pre -= 1

    def handle_data(self, data: str) -> None:
        if self.skipping:
            return
        if self.pre:
            for k, part in enumerate(data.split("\n")):
                if k:
                    self._newline()
                self.line.append(part)
            return
        text = re.sub(r"\s+", " ", data)
        if not self.line or "".join(self.line).endswith((" ", "- ")):
            text = text.lstrip()
        self.line.append(text)

    def _newline(self) -> None:
        text = "".join(self.line).rstrip()
        if text.strip() and text.strip() != "-":
            text = text if self.pre else text.strip()
            # A line of the page's text that Markdown would read as a heading or a fence
            if _ATX.match(text) or _FENCE.match(text):
                text = "\\" + text
            self.out.append(text)
        self.line = []

    def _paragraph(self) -> None:
        self._newline()
        if self.out and self.out[-1] != "":
            self.out.append("")


def html_to_markdown(page: str) -> str:
    """The readable text of an HTML page, shaped as Markdown (headings, paragraphs,
    list items), for :func:`sections`."""
    parser = _Text()
    parser.feed(page)
    parser.close()
    parser._paragraph()
    return "\n".join(parser.out).strip() + "\n"
