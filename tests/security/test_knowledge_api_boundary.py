"""A tenant's knowledge bases through a real `flowctl serve`: another tenant's bases,
documents and passages are 404, worded exactly as ones that do not exist, whatever
the key's role; a base of the same name is the tenant's own; nothing of another
tenant's can be changed."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from apikit import Server, error


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = Server(tmp_path_factory.mktemp("knowledge"))
    documents = {
        "globex": {
            "faq/documents/refunds.md": "# Refunds\n\nGlobex refunds purchases within 90 days.",
            "payroll/documents/salaries.md": "# Salaries\n\nThe CEO earns 2 million a year.",
        },
        "acme": {"faq/documents/refunds.md": "# Refunds\n\nAcme refunds purchases within 30 days."},
    }
    for tenant, docs in documents.items():
        with server.client(f"{tenant}-developer") as c:
            for path, content in docs.items():
                answer = c.put(f"/api/v1/knowledge/{path}", json={"content": content})
                assert answer.status_code == 200, answer.text
    yield server
    server.stop()


def test_a_tenant_lists_and_searches_only_its_own_bases(api: Server) -> None:
    with api.client("acme-admin") as c:
        assert [b["base"] for b in c.get("/api/v1/knowledge").json()] == ["faq"]
        found = c.post("/api/v1/knowledge/faq/search", json={"query": "refund within days"})
    assert [p["text"] for p in found.json()["passages"]] == [
        "Acme refunds purchases within 30 days."
    ]


@pytest.mark.parametrize("key", ["acme-viewer", "acme-developer", "acme-admin"])
@pytest.mark.parametrize(
    ("method", "theirs", "missing", "body", "message"),
    [
        (
            "GET",
            "/api/v1/knowledge/payroll/documents",
            "/api/v1/knowledge/nosuch/documents",
            None,
            "Unknown knowledge base `{base}` for tenant `acme`",
        ),
        (
            "POST",
            "/api/v1/knowledge/payroll/search",
            "/api/v1/knowledge/nosuch/search",
            {"query": "How much does the CEO earn?"},
            "Unknown knowledge base `{base}` for tenant `acme`",
        ),
        (
            "GET",
            "/api/v1/knowledge/payroll/documents/salaries.md",
            "/api/v1/knowledge/nosuch/documents/salaries.md",
            None,
            "Unknown document `{base}/salaries.md` for tenant `acme`",
        ),
        (
            "GET",
            "/api/v1/knowledge/payroll/documents/salaries.md/revisions",
            "/api/v1/knowledge/nosuch/documents/salaries.md/revisions",
            None,
            "Unknown document `{base}/salaries.md` for tenant `acme`",
        ),
    ],
    ids=["documents", "search", "document", "revisions"],
)
def test_another_tenants_knowledge_is_not_found_as_if_it_did_not_exist(
    api: Server,
    key: str,
    method: str,
    theirs: str,
    missing: str,
    body: dict[str, str] | None,
    message: str,
) -> None:
    with api.client(key) as c:
        across = c.request(method, theirs, json=body)
        absent = c.request(method, missing, json=body)
    assert (across.status_code, across.json()) == (
        404,
        error("not_found", message.format(base="payroll")),
    )
    assert (absent.status_code, absent.json()) == (
        404,
        error("not_found", message.format(base="nosuch")),
    )


def test_another_tenants_documents_cannot_be_changed(api: Server) -> None:
    with api.client("acme-developer") as c:
        gone = c.delete("/api/v1/knowledge/payroll/documents/salaries.md")
        assert (gone.status_code, gone.json()) == (
            404,
            error("not_found", "Unknown document `payroll/salaries.md` for tenant `acme`"),
        )
        # the same name is acme's own new base, not globex's
        mine = c.put(
            "/api/v1/knowledge/faq/documents/refunds.md",
            json={"content": "# Refunds\n\nAcme refunds within 45 days now."},
        )
        assert mine.json()["document"]["revision"] == 2
    with api.client("globex-viewer") as c:
        salaries = c.get("/api/v1/knowledge/payroll/documents/salaries.md")
        refunds = c.get("/api/v1/knowledge/faq/documents/refunds.md")
    assert salaries.status_code == 200
    assert (refunds.json()["revision"], refunds.json()["content"]) == (
        1,
        "# Refunds\n\nGlobex refunds purchases within 90 days.",
    )


def test_nothing_of_another_tenants_knowledge_reaches_the_audit_log(api: Server) -> None:
    with api.client("acme-admin") as c:
        audit = c.get("/api/v1/audit").json()
    assert {e["subject"] for e in audit if e["action"].startswith("knowledge.")} == {
        "faq/refunds.md"
    }
