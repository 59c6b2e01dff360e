"""Cutting a document into chunks: the passages a knowledge base indexes and returns.

A chunk is part of one section (``flowctl.engine.knowledge.documents``): chunks never
run across a heading, so each has one heading path, which is indexed with its text
and shown with it as the passage's ``section``. Within a section, paragraphs are
packed into chunks of at most ``max_chars`` characters; a paragraph longer than that
is cut between sentences, and a sentence longer than that between words. Each chunk
after the first of a section starts with the last sentences (at most ``overlap``
characters) of the one before it, so a fact cut in two by the boundary is whole in one
of them.

Why these sizes: a passage is read by the model, so it should hold an answer with its
context (a few paragraphs, ~150-250 words) and three of them should fit a prompt
easily; BM25 and ``ts_rank_cd`` also rank short, focused chunks better than long ones.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence

import msgspec

from flowctl.engine.knowledge.documents import DocumentFormat, Section, sections

__all__ = ["MAX_CHARS", "OVERLAP", "Chunk", "chunk", "chunk_document"]

MAX_CHARS = 1000
OVERLAP = 150

_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+")


class Chunk(msgspec.Struct, frozen=True):
    """One passage of a document: its ``section`` (the heading path, "" before the
    first heading), its text, and its place in the document (0, 1, 2...)."""

    seq: int
    section: str
    text: str


def chunk_document(
    content: str, fmt: DocumentFormat, *, max_chars: int = MAX_CHARS, overlap: int = OVERLAP
) -> list[Chunk]:
    """``content`` read as ``fmt`` and cut into chunks."""
    return chunk(sections(content, fmt), max_chars=max_chars, overlap=overlap)


def chunk(
    found: Sequence[Section], *, max_chars: int = MAX_CHARS, overlap: int = OVERLAP
) -> list[Chunk]:
    """The chunks of ``found`` sections, in order (see the module's docstring)."""
    if max_chars < 20 or not 0 <= overlap < max_chars // 2:
        raise ValueError("chunks need max_chars >= 20 and 0 <= overlap < max_chars / 2")
    chunks: list[Chunk] = []
    for section in found:
        for text in _pack(_pieces(section.paragraphs, max_chars), max_chars, overlap):
            chunks.append(Chunk(len(chunks), section.heading, text))
    return chunks


def _pieces(paragraphs: Sequence[str], max_chars: int) -> Iterator[tuple[str, str]]:
    """Each paragraph, or its sentences, or a long sentence's runs of words, none over
    ``max_chars``, with what joins it to the piece before: a blank line between
    paragraphs, a space within one."""
    for paragraph in paragraphs:
        if len(paragraph) <= max_chars:
            yield paragraph, "\n\n"
            continue
        joiner = "\n\n"
        for sentence in _SENTENCE_END.split(paragraph):
            for piece in _words(sentence, max_chars):
                yield piece, joiner
                joiner = " "


def _words(sentence: str, max_chars: int) -> Iterator[str]:
    """``sentence`` in runs of whole words of at most ``max_chars`` (a word longer
    than that is cut)."""
    if len(sentence) <= max_chars:
        yield sentence
        return
    run = ""
    for word in sentence.split():
        while len(word) > max_chars:
            if run:
                yield run
                run = ""
            yield word[:max_chars]
            word = word[max_chars:]
        if run and len(run) + 1 + len(word) > max_chars:
            yield run
            run = ""
        run = f"{run} {word}" if run else word
    if run:
        yield run


def _pack(pieces: Iterator[tuple[str, str]], max_chars: int, overlap: int) -> Iterator[str]:
    """Pieces packed into chunks of at most ``max_chars``, each after the first
    starting with the end of the one before (at most ``overlap`` characters)."""
    current = ""
    for text, joiner in pieces:
        if not current:
            current = text
        elif len(current) + len(joiner) + len(text) <= max_chars:
            current += joiner + text
        else:
            yield current
            tail = _tail(current, overlap)
            fits = tail and len(tail) + 1 + len(text) <= max_chars
            current = f"{tail} {text}" if fits else text
    if current:
        yield current


def _tail(text: str, overlap: int) -> str:
    """The end of ``text``, at most ``overlap`` characters, starting where a sentence
    starts when one does within them, else at a word."""
    if overlap == 0:
        return ""
    window = text[-overlap:]
    if len(text) <= overlap:
        return text
    starts = [m.end() for m in _SENTENCE_END.finditer(window)]
    if starts:
        return window[starts[0] :].strip()
    space = window.find(" ")
    return window[space + 1 :].strip() if space >= 0 else ""
