"""Knowledge bases in the engine: documents read into sections (text, Markdown, HTML),
cut into overlapping chunks, queries read into terms, passages scored, files indexed
in memory, and the knowledge tool searching them."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import msgspec
import pytest
from conftest import FLOWS, lint_doc, minimal

from flowctl.engine.describe import describe
from flowctl.engine.events import ToolReturned
from flowctl.engine.knowledge import (
    Answer,
    Passage,
    Section,
    answer_in,
    chunk,
    format_for,
    query_terms,
    ranked,
    sections,
)
from flowctl.engine.knowledge.chunks import chunk_document
from flowctl.engine.knowledge.documents import html_to_markdown
from flowctl.engine.knowledge.files import FileKnowledge, KnowledgeError
from flowctl.engine.spec import KnowledgeTool, Tool
from flowctl.engine.tools import ToolRegistry, ToolResult

CLINIC = FLOWS / "knowledge" / "clinic"

# --- documents ---------------------------------------------------------------------------


def test_markdown_headings_open_sections_with_their_path() -> None:
    text = (
        "Intro before any heading.\n\n# Clinic\n\n## Hours\nOpen 8 to 6.\n\nSaturdays 9 to 1.\n"
        "### Holidays\nClosed on Christmas.\n## Parking #\n```\n# not a heading\n```\n"
        "# Other\n#\nText under an empty heading.\n"
    )
    assert sections(text, "markdown") == [
        Section((), ["Intro before any heading."]),
        Section(("Clinic", "Hours"), ["Open 8 to 6.", "Saturdays 9 to 1."]),
        Section(("Clinic", "Hours", "Holidays"), ["Closed on Christmas."]),
        Section(("Clinic", "Parking"), ["```\n# not a heading\n```"]),
        Section((), ["Text under an empty heading."]),
    ]
    assert sections(text, "markdown")[2].heading == "Clinic › Hours › Holidays"


def test_text_is_paragraphs_under_no_heading() -> None:
    assert sections("# not a heading\n\n\nsecond  \nline\n", "text") == [
        Section((), ["# not a heading", "second\nline"])
    ]
    assert sections("\n \n", "text") == []


def test_html_is_read_as_its_text() -> None:
    page = (
        "<html><head><title>T</title><style>p {}</style></head><body>"
        "<nav><a>Home</a></nav><script>x()</script>"
        "<h1>Our  <em>services</em></h1><p>We care for\n  every age.</p>"
        "<ul><li>Checkups</li><li>Vaccines &amp; flu shots</li></ul>"
        "<table><tr><th>Day</th><th>Hours</th></tr><tr><td>Mon</td><td>8-6</td></tr></table>"
        "<pre>line one\n  line two</pre><p># not a heading</p>Trailing<br>text"
        "<svg><text>drawn</text></svg></body></html>"
    )
    assert html_to_markdown(page) == (
        "# Our services\n\nWe care for every age.\n\n- Checkups\n- Vaccines & flu shots\n\n"
        "Day | Hours\nMon | 8-6\n\nline one\n  line two\n\n\\# not a heading\n\nTrailing\ntext\n"
    )
    assert [s.path for s in sections(page, "html")] == [("Our services",)]


@pytest.mark.parametrize(
    ("name", "fmt"),
    [("a.md", "markdown"), ("A.MARKDOWN", "markdown"), ("b.htm", "html"), ("c.txt", "text")],
)
def test_format_for_reads_the_extension(name: str, fmt: str) -> None:
    assert format_for(name) == fmt


def test_format_for_knows_no_pdf() -> None:
    assert format_for("notes.pdf") is None


# --- chunks ------------------------------------------------------------------------------


def test_chunks_never_run_across_a_heading() -> None:
    found = chunk_document("# A\none\n\ntwo\n# B\nthree\n", "markdown")
    assert [(c.seq, c.section, c.text) for c in found] == [
        (0, "A", "one\n\ntwo"),
        (1, "B", "three"),
    ]


def test_a_long_section_is_cut_between_sentences_and_overlaps() -> None:
    paragraph = " ".join(f"Sentence {n} is here." for n in range(12))  # 19-20 characters each
    found = chunk([Section(("S",), [paragraph])], max_chars=100, overlap=45)
    # each chunk after the first starts with the last whole sentences (<= 45 characters)
    # of the one before
    assert [c.text for c in found] == [
        "Sentence 0 is here. Sentence 1 is here. Sentence 2 is here. Sentence 3 is here. "
        "Sentence 4 is here.",
        "Sentence 3 is here. Sentence 4 is here. Sentence 5 is here. Sentence 6 is here. "
        "Sentence 7 is here.",
        "Sentence 6 is here. Sentence 7 is here. Sentence 8 is here. Sentence 9 is here. "
        "Sentence 10 is here.",
        "Sentence 9 is here. Sentence 10 is here. Sentence 11 is here.",
    ]
    assert all(len(c.text) <= 100 for c in found)


def test_a_sentence_longer_than_a_chunk_is_cut_between_words() -> None:
    found = chunk([Section((), ["word " * 30 + "x" * 50])], max_chars=40, overlap=0)
    assert [c.text for c in found] == [
        "word word word word word word word word",
        "word word word word word word word word",
        "word word word word word word word word",
        "word word word word word word",
        "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
        "xxxxxxxxxx",
    ]


def test_chunk_sizes_must_leave_room() -> None:
    with pytest.raises(ValueError) as refused:
        chunk([], max_chars=100, overlap=50)
    assert str(refused.value) == "chunks need max_chars >= 20 and 0 <= overlap < max_chars / 2"


# --- queries and scores ------------------------------------------------------------------


def test_query_terms_drop_common_words_and_repeats() -> None:
    assert query_terms("What are YOUR opening hours, and your hours on Sat?") == [
        "opening",
        "hours",
        "sat",
    ]
    assert query_terms("Is a 5 o'clock visit okay in Zürich?") == [
        "5",
        "clock",
        "visit",
        "okay",
        "zürich",
    ]
    assert query_terms("what is it?") == []
    assert len(query_terms(" ".join(f"term{n}" for n in range(40)))) == 24


def test_ranked_scores_relative_to_the_best() -> None:
    assert ranked([("a.md", "A", "one", 4.0), ("b.md", "", "two", 1.0)]) == [
        Passage(source="a.md", section="A", score=1.0, text="one"),
        Passage(source="b.md", section=None, score=0.25, text="two"),
    ]
    assert ranked([]) == []


def test_answer_in_reads_a_knowledge_answer_only() -> None:
    answer = Answer(base="b", query="q", passages=[Passage(source="s", score=1.0, text="t")])
    assert answer_in(msgspec.to_builtins(answer)) == answer
    assert answer_in({"passages": "not a list"}) is None
    assert answer_in({"status": "booked"}) is None
    assert answer_in(["passages"]) is None


# --- files -------------------------------------------------------------------------------


async def test_file_knowledge_indexes_folders_and_files() -> None:
    async with FileKnowledge({"clinic": [CLINIC], "visits": [CLINIC / "visits.md"]}) as k:
        found = await k.search("clinic", "Where can I park?")
        assert [(p.source, p.section, p.score) for p in found] == [
            ("hours-and-location.md", "Maple Grove Family Clinic › Parking", 1.0)
        ]
        assert [p.source for p in await k.search("visits", "parking hours", top_k=5)] == [
            "visits.md"
        ]
        with pytest.raises(KnowledgeError) as missing:
            await k.search("billing", "fees")
    assert str(missing.value) == "Knowledge base `billing` is not given to this session"


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"missing.md": None}, "No file or folder `{tmp}/missing.md`"),
        (
            {"notes.pdf": b"%PDF-1.7"},
            "`{tmp}/notes.pdf` is not a document of a known format "
            "(.txt, .text, .md, .markdown, .html, .htm) (convert a PDF to text first: `pdftotext FILE`)",
        ),
        ({"latin.txt": "caf\xe9".encode("latin-1")}, "`{tmp}/latin.txt` is not UTF-8 text"),
        (
            {"empty/": None},
            "`{tmp}/empty` holds no documents (.txt, .text, .md, .markdown, .html, .htm)",
        ),
    ],
    ids=["missing", "pdf", "not-utf8", "empty-folder"],
)
def test_file_knowledge_refuses_what_it_cannot_read(
    tmp_path: Path, files: dict[str, bytes | None], message: str
) -> None:
    for name, data in files.items():
        if name.endswith("/"):
            (tmp_path / name).mkdir()
        elif data is not None:
            (tmp_path / name).write_bytes(data)
    with pytest.raises(KnowledgeError) as refused:
        FileKnowledge({"kb": [tmp_path / next(iter(files)).rstrip("/")]})
    assert str(refused.value) == message.format(tmp=tmp_path)


def test_file_knowledge_refuses_two_documents_of_one_name(tmp_path: Path) -> None:
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "faq.md").write_text("Same name.")
    with pytest.raises(KnowledgeError) as refused:
        FileKnowledge({"kb": [tmp_path / "a", tmp_path / "b"]})
    assert str(refused.value) == (
        f"Knowledge base `kb` is given two documents named `faq.md`: `{tmp_path}/a/faq.md` "
        f"and `{tmp_path}/b/faq.md`"
    )


async def test_file_knowledge_names_the_file_the_store_refuses(tmp_path: Path) -> None:
    (tmp_path / "title.md").write_text("# Only a title\n")
    knowledge = FileKnowledge({"kb": [tmp_path]})
    with pytest.raises(KnowledgeError) as refused:
        await knowledge.open()
    assert str(refused.value) == (
        f"`{tmp_path}/title.md`: Document `kb/title.md` has no text to index"
    )


# --- the knowledge tool ---------------------------------------------------------------------


def knowledge_tool(**fields: Any) -> KnowledgeTool:
    t = msgspec.convert(
        {"kind": "knowledge", "name": "clinic_info", "base": "clinic", **fields}, Tool
    )
    assert isinstance(t, KnowledgeTool)
    return t


async def search(t: KnowledgeTool, query: str, **kwargs: Any) -> ToolResult:
    reg = ToolRegistry({t.name: t}, **kwargs)
    try:
        return await reg.call(t, {"query": query}, {})
    finally:
        await reg.close()


async def test_the_knowledge_tool_answers_with_passages_and_their_sources() -> None:
    async with FileKnowledge({"clinic": [CLINIC]}) as k:
        result = await search(knowledge_tool(top_k=2), "are you open on Christmas?", retriever=k)
    assert result.ok and result.error is None
    answer = answer_in(result.value)
    assert answer is not None
    assert (answer.base, answer.query) == ("clinic", "are you open on Christmas?")
    assert [(p.source, p.section, p.score) for p in answer.passages] == [
        ("hours-and-location.md", "Maple Grove Family Clinic › Holidays", 1.0),
        ("hours-and-location.md", "Maple Grove Family Clinic › Opening hours", 0.818),
    ]
    assert answer.passages[0].text.startswith("We are closed on New Year's Day")


async def test_the_knowledge_tool_leaves_out_passages_below_min_score() -> None:
    async with FileKnowledge({"clinic": [CLINIC]}) as k:
        result = await search(
            knowledge_tool(min_score=0.9), "are you open on Christmas?", retriever=k
        )
        nothing = await search(knowledge_tool(), "what is it?", retriever=k)
    assert [p["section"] for p in result.value["passages"]] == [
        "Maple Grove Family Clinic › Holidays"
    ]
    assert nothing == ToolResult(
        ok=True, value={"base": "clinic", "query": "what is it?", "passages": []}
    )


async def test_the_knowledge_tool_fails_saying_why_it_cannot_search() -> None:
    assert await search(knowledge_tool(), "hours", no_knowledge="; serve it from a store") == (
        ToolResult(
            ok=False,
            error="Tool `clinic_info` cannot search knowledge base `clinic`: this session has no "
            "knowledge bases; serve it from a store",
        )
    )
    async with FileKnowledge({"other": [CLINIC]}, hint="; list it") as k:
        unknown = await search(knowledge_tool(), "hours", retriever=k)
    assert unknown == ToolResult(
        ok=False,
        error="Tool `clinic_info` cannot search: Knowledge base `clinic` is not given to this "
        "session; list it",
    )


class _RemoteRetriever:
    """A retriever behind a network (a vector service, say) that does not answer."""

    async def search(self, base: str, query: str, *, top_k: int = 3) -> list[Passage]:
        await asyncio.sleep(10)
        return []


async def test_the_knowledge_tool_gives_up_on_a_retriever_that_does_not_answer() -> None:
    result = await search(knowledge_tool(timeout=0.05), "hours", retriever=_RemoteRetriever())
    assert result == ToolResult(ok=False, error="Tool `clinic_info` timed out after 0.05 s")


async def test_a_mocked_knowledge_tool_answers_as_mocked() -> None:
    mocked = {"passages": [{"source": "faq.md", "score": 1.0, "text": "Open 9 to 5."}]}
    result = await search(knowledge_tool(), "hours", mocks={"clinic_info": mocked})
    assert result == ToolResult(ok=True, value=mocked)


def test_a_knowledge_tool_takes_one_parameter_the_query() -> None:
    t = knowledge_tool()
    assert list(t.parameters) == ["query"]
    doc = minimal(tools=["clinic_info"])
    doc["tools"] = [
        {
            "kind": "knowledge",
            "name": "clinic_info",
            "base": "clinic",
            "description": "Clinic facts",
            "parameters": {},
        }
    ]
    assert lint_doc(doc) == [
        "29:7 FL004 Object contains unknown field `parameters` - at `$.tools[0].parameters`"
    ]


def test_a_transcript_shows_the_passages_found() -> None:
    answer = Answer(
        base="clinic",
        query="parking?",
        passages=[
            Passage(
                source="hours.md",
                section="Clinic › Parking",
                score=1.0,
                text="Free\nparking " + "x" * 90,
            ),
            Passage(source="notes.txt", score=0.5, text="Park on the street."),
        ],
    )
    event = ToolReturned(at=0.0, tool="clinic_info", ok=True, value=msgspec.to_builtins(answer))
    assert describe(event).brief == (
        'tool clinic_info -> 2 passages of `clinic` for "parking?":\n'
        "  1.00 hours.md (Clinic › Parking): Free parking " + "x" * 66 + "…\n"
        "  0.50 notes.txt: Park on the street."
    )
    none = ToolReturned(
        at=0.0, tool="clinic_info", ok=True, value={"base": "clinic", "query": "zz", "passages": []}
    )
    assert describe(none).brief == 'tool clinic_info -> no passage of `clinic` for "zz"'


def test_public_surface_of_engine_knowledge() -> None:
    import flowctl.engine.knowledge as knowledge

    assert knowledge.__all__ == [
        "FORMATS",
        "MAX_CHARS",
        "MAX_TOP_K",
        "NAME_PATTERN",
        "OVERLAP",
        "Answer",
        "Chunk",
        "DocumentFormat",
        "FileKnowledge",
        "Passage",
        "Retriever",
        "Section",
        "answer_in",
        "chunk",
        "format_for",
        "query_terms",
        "ranked",
        "sections",
    ]
    for name in knowledge.__all__:
        assert getattr(knowledge, name) is not None, name
