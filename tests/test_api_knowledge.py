"""`/api/v1/knowledge`: a tenant's knowledge bases through the API: documents added,
replaced, read by revision, listed, searched and deleted, with the roles of the rest of
the API (read: viewer; change: developer) and the store's refusals as statuses."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from apikit import App, error, in_process

HOURS = "# Opening hours\n\nWe are open Monday to Friday from 8 AM to 6 PM.\n"
PARKING = "<h1>Parking</h1><p>Free parking behind the building.</p>"
HOURS_PATH = "/api/v1/knowledge/clinic/documents/hours.md"


@pytest.fixture
def api(tmp_path: Path) -> Iterator[App]:
    yield from in_process(tmp_path)


def put(api: App, path: str, content: str, key: str = "acme-developer", **body: Any) -> Any:
    with api.client(key) as c:
        return c.put(path, json={"content": content, **body})


def test_a_developer_adds_documents_and_a_viewer_reads_and_searches_them(api: App) -> None:
    added = put(api, HOURS_PATH, HOURS)
    assert added.status_code == 200, added.text
    body = added.json()
    assert body["changed"] is True
    assert {k: body["document"][k] for k in ("base", "name", "revision", "format", "chunks")} == {
        "base": "clinic",
        "name": "hours.md",
        "revision": 1,
        "format": "markdown",
        "chunks": 1,
    }
    parking = put(api, "/api/v1/knowledge/clinic/documents/parking", PARKING, format="html")
    assert parking.status_code == 200 and parking.json()["document"]["format"] == "html"
    with api.client("acme-viewer") as c:
        bases = c.get("/api/v1/knowledge").json()
        assert [(b["base"], b["documents"], b["chunks"]) for b in bases] == [("clinic", 2, 2)]
        listed = c.get("/api/v1/knowledge/clinic/documents").json()
        assert [d["name"] for d in listed] == ["hours.md", "parking"]
        doc = c.get(HOURS_PATH).json()
        assert (doc["content"], doc["revision"], doc["author"]) == (
            HOURS,
            1,
            added.json()["document"]["updated_by"],
        )
        found = c.post("/api/v1/knowledge/clinic/search", json={"query": "Where do I park?"})
    assert found.status_code == 200
    assert found.json() == {
        "base": "clinic",
        "query": "Where do I park?",
        "passages": [
            {
                "source": "parking",
                "section": "Parking",
                "score": 1.0,
                "text": "Free parking behind the building.",
            }
        ],
    }


def test_replacing_a_document_keeps_its_revisions(api: App) -> None:
    put(api, HOURS_PATH, HOURS)
    again = put(api, HOURS_PATH, HOURS)
    assert (again.json()["changed"], again.json()["document"]["revision"]) == (False, 1)
    replaced = put(api, HOURS_PATH, "# Opening hours\n\nOpen every day, 7 to 7.\n")
    assert replaced.json()["document"]["revision"] == 2
    with api.client("acme-viewer") as c:
        revisions = c.get(HOURS_PATH + "/revisions").json()
        assert [r["revision"] for r in revisions] == [1, 2]
        assert c.get(HOURS_PATH, params={"revision": 1}).json()["content"] == HOURS
        missing = c.get(HOURS_PATH, params={"revision": 3})
    assert (missing.status_code, missing.json()) == (
        404,
        error("not_found", "Document `clinic/hours.md` of tenant `acme` has no revision 3"),
    )


def test_deleting_a_document_answers_it_as_it_was(api: App) -> None:
    put(api, HOURS_PATH, HOURS)
    with api.client("acme-developer") as c:
        gone = c.delete(HOURS_PATH)
        assert (gone.status_code, gone.json()["name"]) == (200, "hours.md")
        again = c.delete(HOURS_PATH)
        assert (again.status_code, again.json()) == (
            404,
            error("not_found", "Unknown document `clinic/hours.md` for tenant `acme`"),
        )
        assert c.get("/api/v1/knowledge").json() == []


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("PUT", HOURS_PATH, {"content": HOURS}),
        ("DELETE", HOURS_PATH, None),
    ],
    ids=["put", "delete"],
)
def test_changing_knowledge_needs_a_developer_key(
    api: App, method: str, path: str, body: Any
) -> None:
    with api.client("acme-viewer") as c:
        answer = c.request(method, path, json=body)
    assert answer.status_code == 403
    assert answer.json()["error"]["message"].startswith("This needs a developer key; key `fk_")


def test_reading_knowledge_needs_a_key(api: App) -> None:
    with api.client() as c:
        answer = c.get("/api/v1/knowledge")
    assert answer.status_code == 401


@pytest.mark.parametrize(
    ("path", "body", "status", "code", "message"),
    [
        (
            "/api/v1/knowledge/clinic/documents/notes.pdf",
            {"content": "text"},
            400,
            "bad_request",
            "Cannot tell the format of document `notes.pdf` from its name (.txt, .text, .md, "
            ".markdown, .html, .htm); name one: text, markdown or html",
        ),
        (
            "/api/v1/knowledge/clinic/documents/notes.txt",
            {"content": "text", "format": "pdf"},
            400,
            "invalid_body",
            "Request body is invalid: Invalid enum value 'pdf' - at `$.format`",
        ),
        (
            "/api/v1/knowledge/clinic/documents/title.md",
            {"content": "# Only a title"},
            400,
            "bad_request",
            "Document `clinic/title.md` has no text to index",
        ),
        (
            "/api/v1/knowledge/my%20base/documents/a.md",
            {"content": "Text"},
            400,
            "bad_request",
            "Invalid knowledge base id `my base`: use 1-128 letters, digits, `_`, `.` or `-`, "
            "starting with a letter or digit",
        ),
    ],
    ids=["format-unknown", "format-invalid", "no-text", "base-name"],
)
def test_documents_the_store_refuses_are_bad_requests(
    api: App, path: str, body: dict[str, Any], status: int, code: str, message: str
) -> None:
    with api.client("acme-developer") as c:
        answer = c.put(path, json=body)
    assert answer.status_code == status
    assert answer.json()["error"]["code"] == code
    assert answer.json()["error"]["message"] == message


def test_search_of_a_base_that_is_not_there_is_not_found(api: App) -> None:
    with api.client("acme-viewer") as c:
        answer = c.post("/api/v1/knowledge/clinic/search", json={"query": "hours", "top_k": 2})
    assert (answer.status_code, answer.json()) == (
        404,
        error("not_found", "Unknown knowledge base `clinic` for tenant `acme`"),
    )
