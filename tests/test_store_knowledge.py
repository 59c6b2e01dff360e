"""Knowledge bases in the store, on both backends: documents added, replaced (every
revision kept), listed and deleted (for good, audited), their chunks indexed and
searched by the backend's own full-text ranking."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from storekit import T0, Clock, opened

from flowctl.engine.knowledge import Passage
from flowctl.engine.store import (
    DocumentRevision,
    KnowledgeBase,
    NotFound,
    QuotaExceeded,
    Store,
    StoreError,
    TenantStore,
)
from flowctl.engine.store.sql import knowledge

HOURS = """# Maple Grove Clinic

## Opening hours
We are open Monday to Friday from 8 AM to 6 PM, and on Saturdays from 9 AM to 1 PM.
The clinic is closed on Sundays and public holidays.

## Parking
Free parking is behind the building; the entrance is on Elm Street.
"""
VISITING = """<html><head><title>Visiting</title><script>track()</script></head><body>
<nav><a href="/">Home</a> <a href="/hours">Opening hours</a></nav>
<h1>Your first visit</h1>
<p>Bring a photo ID, your insurance card and a list of your medications.</p>
<h2>Cancellations</h2>
<p>Cancel at least 24 hours ahead, or a <b>$25</b> fee applies.</p>
</body></html>
"""


@pytest.fixture
async def store(store_target: Any) -> AsyncIterator[Store]:
    s = await opened(store_target, Clock())
    await s.create_tenant("acme", actor="admin")  # T0 + 1
    yield s
    await s.close()


@pytest.fixture
async def acme(store: Store) -> TenantStore:
    t = store.tenant("acme")
    await t.put_document("clinic", "hours.md", HOURS, actor="ana")  # T0 + 2
    await t.put_document("clinic", "visiting.html", VISITING, actor="ana")  # T0 + 3
    return t


async def test_knowledge_added_documents_are_listed_with_their_chunks(acme: TenantStore) -> None:
    assert await acme.knowledge_bases() == [
        KnowledgeBase(
            base="clinic",
            documents=2,
            chunks=4,
            bytes=len(HOURS.encode()) + len(VISITING.encode()),
            updated_at=T0 + 3,
        )
    ]
    listed = await acme.documents("clinic")
    assert [(d.name, d.revision, d.format, d.chunks, d.updated_by) for d in listed] == [
        ("hours.md", 1, "markdown", 2, "ana"),
        ("visiting.html", 1, "html", 2, "ana"),
    ]
    doc = await acme.document("clinic", "hours.md")
    assert (doc.revision, doc.format, doc.content, doc.author, doc.created_at) == (
        1,
        "markdown",
        HOURS,
        "ana",
        T0 + 2,
    )
    assert doc.hash == listed[0].hash and len(doc.hash) == 64


async def test_knowledge_search_ranks_the_passage_that_answers(acme: TenantStore) -> None:
    found = await acme.search("clinic", "What are your opening hours on Saturday?")
    assert found[0] == Passage(
        source="hours.md",
        section="Maple Grove Clinic › Opening hours",
        score=1.0,
        text="We are open Monday to Friday from 8 AM to 6 PM, and on Saturdays from 9 AM "
        "to 1 PM.\nThe clinic is closed on Sundays and public holidays.",
    )
    assert [p.source for p in found] == ["hours.md", "visiting.html"]  # "hours ahead"
    assert found[1].score < 0.5  # BM25 and cover density alike: a weaker match
    parking = await acme.search("clinic", "where do I park", top_k=1)
    assert [(p.section, p.score) for p in parking] == [("Maple Grove Clinic › Parking", 1.0)]
    # HTML is read as its text: the menu and the script are not indexed
    assert await acme.search("clinic", "track home") == []
    fee = await acme.search("clinic", "is there a cancellation fee?", top_k=1)
    assert [(p.source, p.section, p.text) for p in fee] == [
        (
            "visiting.html",
            "Your first visit › Cancellations",
            "Cancel at least 24 hours ahead, or a $25 fee applies.",
        )
    ]


async def test_knowledge_search_of_only_common_words_finds_nothing(acme: TenantStore) -> None:
    assert await acme.search("clinic", "what are you?") == []
    assert await acme.search("clinic", "") == []


async def test_knowledge_replacing_keeps_every_revision_and_reindexes(
    acme: TenantStore,
) -> None:
    put = await acme.put_document(
        "clinic", "hours.md", "Open every day, 7 to 7.", format="text", actor="bo"
    )
    assert (put.changed, put.document.revision, put.document.format) == (True, 2, "text")
    assert [
        (r.revision, r.format, r.author) for r in await acme.revisions("clinic", "hours.md")
    ] == [
        (1, "markdown", "ana"),
        (2, "text", "bo"),
    ]
    assert (await acme.document("clinic", "hours.md", 1)).content == HOURS
    assert (await acme.document("clinic", "hours.md")).content == "Open every day, 7 to 7."
    # the old chunks are gone from the index, the new ones in it
    assert [p.source for p in await acme.search("clinic", "Saturdays")] == []
    assert [p.text for p in await acme.search("clinic", "every day")] == ["Open every day, 7 to 7."]
    actions = [(e.action, e.subject, e.detail.get("revision")) for e in await acme.audit()]
    assert actions == [
        ("knowledge.replace", "clinic/hours.md", 2),
        ("knowledge.add", "clinic/visiting.html", 1),
        ("knowledge.add", "clinic/hours.md", 1),
        ("tenant.create", "acme", None),
    ]


async def test_knowledge_the_same_content_again_changes_nothing(acme: TenantStore) -> None:
    before = await acme.audit()
    put = await acme.put_document("clinic", "hours.md", HOURS, actor="bo")
    assert not put.changed
    assert (put.document.revision, put.document.updated_by) == (1, "ana")
    assert await acme.audit() == before


async def test_knowledge_deleting_removes_every_revision_for_good(acme: TenantStore) -> None:
    await acme.put_document("clinic", "hours.md", "Open every day.", format="text", actor="bo")
    gone = await acme.delete_document("clinic", "hours.md", actor="cy")
    assert (gone.name, gone.revision) == ("hours.md", 2)
    with pytest.raises(NotFound) as missing:
        await acme.revisions("clinic", "hours.md")
    assert str(missing.value) == "Unknown document `clinic/hours.md` for tenant `acme`"
    assert [d.name for d in await acme.documents("clinic")] == ["visiting.html"]
    assert await acme.search("clinic", "open every day") == []
    entry = (await acme.audit())[0]
    assert (entry.actor, entry.action, entry.subject, entry.detail) == (
        "cy",
        "knowledge.delete",
        "clinic/hours.md",
        {"base": "clinic", "name": "hours.md", "revision": 2, "hash": gone.hash},
    )
    await acme.delete_document("clinic", "visiting.html", actor="cy")
    assert await acme.knowledge_bases() == []
    with pytest.raises(NotFound) as base:
        await acme.search("clinic", "visit")
    assert str(base.value) == "Unknown knowledge base `clinic` for tenant `acme`"


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda t: t.documents("nosuch"),
            "Unknown knowledge base `nosuch` for tenant `acme`",
        ),
        (
            lambda t: t.search("nosuch", "opening hours"),
            "Unknown knowledge base `nosuch` for tenant `acme`",
        ),
        (
            lambda t: t.document("clinic", "nosuch.md"),
            "Unknown document `clinic/nosuch.md` for tenant `acme`",
        ),
        (
            lambda t: t.document("clinic", "hours.md", 7),
            "Document `clinic/hours.md` of tenant `acme` has no revision 7",
        ),
        (
            lambda t: t.delete_document("clinic", "nosuch.md", actor="cy"),
            "Unknown document `clinic/nosuch.md` for tenant `acme`",
        ),
    ],
    ids=["documents", "search", "document", "revision", "delete"],
)
async def test_knowledge_missing_things_are_not_found(
    acme: TenantStore, call: Any, message: str
) -> None:
    with pytest.raises(NotFound) as found:
        await call(acme)
    assert str(found.value) == message


@pytest.mark.parametrize(
    ("base", "name", "content", "fmt", "message"),
    [
        (
            "my base",
            "a.md",
            "text",
            None,
            "Invalid knowledge base id `my base`: use 1-128 letters, digits, `_`, `.` or `-`, "
            "starting with a letter or digit",
        ),
        (
            "clinic",
            "../a.md",
            "text",
            None,
            "Invalid document id `../a.md`: use 1-128 letters, digits, `_`, `.` or `-`, "
            "starting with a letter or digit",
        ),
        (
            "clinic",
            "notes.pdf",
            "text",
            None,
            "Cannot tell the format of document `notes.pdf` from its name (.txt, .text, .md, "
            ".markdown, .html, .htm); name one: text, markdown or html",
        ),
        (
            "clinic",
            "notes",
            "text",
            "pdf",
            "Unknown document format `pdf`; expected one of `text`, `markdown`, `html`",
        ),
        (
            "clinic",
            "empty.md",
            "\n\n# Title only\n",
            None,
            "Document `clinic/empty.md` has no text to index",
        ),
        (
            "clinic",
            "big.txt",
            "x" * (1024 * 1024 + 1),
            None,
            "Document `clinic/big.txt` is 1,048,577 bytes; documents are limited to "
            "1,048,576 bytes (1 MiB): split it",
        ),
    ],
    ids=["base", "name", "extension", "format", "empty", "too-large"],
)
async def test_knowledge_bad_documents_are_refused(
    store: Store, base: str, name: str, content: str, fmt: str | None, message: str
) -> None:
    acme = store.tenant("acme")
    with pytest.raises(StoreError) as refused:
        await acme.put_document(base, name, content, format=fmt, actor="ana")
    assert str(refused.value) == message
    assert await acme.knowledge_bases() == []


async def test_knowledge_top_k_is_bounded(acme: TenantStore) -> None:
    with pytest.raises(StoreError) as refused:
        await acme.search("clinic", "hours", top_k=21)
    assert str(refused.value) == "`top_k` is a whole number from 1 to 20, not `21`"


async def test_knowledge_past_the_tenants_limit_nothing_is_added(
    acme: TenantStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    kept = len(HOURS.encode()) + len(VISITING.encode())
    monkeypatch.setattr(knowledge, "MAX_KNOWLEDGE_BYTES", kept + 10)
    with pytest.raises(QuotaExceeded) as refused:
        await acme.put_document("clinic", "more.txt", "Eleven bytes", actor="ana")
    assert str(refused.value) == (
        f"Tenant `acme` keeps {kept:,} bytes of documents; this 12-byte one would pass the "
        f"limit of {kept + 10:,} bytes (64 MiB, every revision counted); delete documents first"
    )
    assert [d.name for d in await acme.documents("clinic")] == ["hours.md", "visiting.html"]


async def test_knowledge_an_unknown_tenant_is_named(store: Store) -> None:
    with pytest.raises(NotFound) as missing:
        await store.tenant("nobody").put_document("clinic", "a.md", "Hi there", actor="ana")
    assert (
        str(missing.value)
        == "Unknown tenant `nobody`; create it with `flowctl tenants create nobody`"
    )


async def test_knowledge_bases_are_part_of_the_tenants_boundary(acme: TenantStore) -> None:
    assert (await acme.boundary()).knowledge == frozenset({"clinic"})
    await acme.put_document("faq", "billing.txt", "We bill monthly.", actor="ana")
    await acme.set_secret("CRM_TOKEN", "s3cret", actor="ana")
    boundary = await acme.boundary()
    assert (boundary.knowledge, boundary.secrets) == (
        frozenset({"clinic", "faq"}),
        frozenset({"CRM_TOKEN"}),
    )


def test_knowledge_revision_records_read_their_columns() -> None:
    assert DocumentRevision.__struct_fields__ == (
        "revision",
        "format",
        "hash",
        "bytes",
        "author",
        "created_at",
    )


async def test_knowledge_search_leaves_out_terms_most_chunks_hold(store: Store) -> None:
    t = store.tenant("acme")
    texts = {
        "a.txt": "Opening hours of the clinic: eight to six.",
        "b.txt": "The clinic lab opens at eight.",
        "c.txt": "Clinic parking is behind the building.",
        "d.txt": "Vaccines are given at the clinic without an appointment.",
    }
    for name, text in texts.items():
        await t.put_document("faq", name, text, actor="ana")
    # `clinic` is in all four chunks: left out, `parking` finds the one that answers
    assert [p.source for p in await t.search("faq", "clinic parking", top_k=4)] == ["c.txt"]
    # only common terms (`clinic`; `eight` is in two of four, not more than half: kept)
    assert sorted(p.source for p in await t.search("faq", "clinic eight", top_k=4)) == [
        "a.txt",
        "b.txt",
    ]
    # a query of common terms only asks for chunks holding every one of them
    assert sorted(p.source for p in await t.search("faq", "clinic", top_k=4)) == list(texts)
    assert [p.source for p in await t.search("faq", "clinic lab", top_k=4)] == ["b.txt"]
    for name in ("b.txt", "c.txt", "d.txt"):
        await t.delete_document("faq", name, actor="ana")
    # the counts followed the deletes: `clinic` is in the one chunk left, so searched
    assert [p.source for p in await t.search("faq", "clinic parking")] == ["a.txt"]


async def test_knowledge_search_leaves_out_terms_past_the_common_count(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(knowledge, "COMMON_CHUNKS", 2)
    t = store.tenant("acme")
    for n in range(8):
        extra = " Parking is free." if n == 5 else ""
        await t.put_document(
            "faq", f"{n}.txt", f"Note {n} about the clinic hours.{extra}", actor="a"
        )
    # `clinic` and `hours` are in 8 chunks (past 2), `parking` in one
    assert [p.source for p in await t.search("faq", "clinic hours parking")] == ["5.txt"]
    # replacing the document moves its counts: `parking` is in none now, `spaces` in one
    await t.put_document("faq", "5.txt", "Note 5: twelve spaces.", actor="a")
    assert await t.search("faq", "parking") == []
    assert [p.source for p in await t.search("faq", "clinic spaces")] == ["5.txt"]
