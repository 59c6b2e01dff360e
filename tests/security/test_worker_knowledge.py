"""A tenant's knowledge tools read its own bases and no other's: a call's tools search
through the tenant's handle of the store, so another tenant's base of the same name,
or one only another tenant has, is never read. Jobs run through the worker's
entrypoint on a real SQLite store; a folder's flows read the folder's `knowledge/`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("livekit.agents")

from conftest import FINISH, FLOWS, GOODBYE
from tenantkit import run_job, url_of

from flowctl.engine.library import FileLibrary
from flowctl.engine.runtime import Action
from flowctl.engine.store import open_store
from flowctl.engine.store.documents import push_document
from flowctl.worker.store_flows import StoreLibrary


def knowledge_flow(*bases: str) -> dict[str, Any]:
    """A flow whose one state offers a knowledge tool per base (`read_<base>`)."""
    tools = [
        {
            "kind": "knowledge",
            "name": f"read_{base}",
            "description": f"Look the answer up in the `{base}` documents.",
            "base": base,
        }
        for base in bases
    ]
    state = {
        "name": "Main",
        "instructions": "Answer the caller's questions from the documents.",
        "tools": [t["name"] for t in tools],
        "edges": [FINISH],
    }
    return {"flow_id": "desk", "tools": tools, "agents": [state, GOODBYE]}


async def _store(tmp_path: Path) -> str:
    """`acme` and `globex` each keep a base `faq` (their own refund policies); only
    `globex` keeps `payroll`. `acme` publishes a desk reading `faq` and `payroll`."""
    url = url_of(tmp_path / "flowctl.db")
    async with await open_store(url, create=True) as store:
        for tenant, days in (("acme", 30), ("globex", 90)):
            await store.create_tenant(tenant, actor="op", routing={"default": "desk"})
            t = store.tenant(tenant)
            policy = f"# Refunds\n\n{tenant.title()} refunds purchases within {days} days."
            await t.put_document("faq", "refunds.md", policy, actor="op")
        globex = store.tenant("globex")
        await globex.put_document("payroll", "salaries.md", "The CEO earns a lot.", actor="op")
        acme = store.tenant("acme")
        pushed = await push_document(
            acme, json.dumps(knowledge_flow("faq", "payroll")), actor="dev"
        )
        # `payroll` is none of acme's bases: a warning, the flow still publishes
        assert pushed.version.warnings == 1
        assert [f.message for f in (await acme.version("desk", 1)).findings] == [
            "Knowledge base `payroll` of tool `read_payroll` has no documents for tenant `acme`; "
            "add them with `flowctl knowledge add -t acme payroll FILE...` - at `$.tools[1].base`"
        ]
        await acme.publish("desk", 1, actor="dev")
    return url


async def test_a_tenants_call_reads_its_own_base_and_no_other(tmp_path: Path) -> None:
    library = StoreLibrary(await _store(tmp_path))
    try:
        job = await run_job(library, "acme", "job-1")
        conversation = job.conversation
        assert conversation is not None
        own = await conversation.fire("read_faq", {"query": "How long do I have for a refund?"})
        assert isinstance(own, Action) and own.result.ok
        assert [(p["source"], p["text"]) for p in own.result.value["passages"]] == [
            ("refunds.md", "Acme refunds purchases within 30 days.")
        ]
        other = await conversation.fire("read_payroll", {"query": "How much does the CEO earn?"})
        assert isinstance(other, Action)
        assert (other.result.ok, other.result.error) == (
            False,
            "Tool `read_payroll` cannot search: Unknown knowledge base `payroll` for tenant `acme`",
        )
        await job.hang_up()
    finally:
        await library.aclose()


async def test_a_folders_flows_read_the_folders_knowledge() -> None:
    library = FileLibrary.load(FLOWS)
    assert library.knowledge is not None and library.knowledge.bases == frozenset({"clinic"})
    try:
        job = await run_job(library, "healthcare_clinic", "job-2")  # type: ignore[arg-type]
        conversation = job.conversation
        assert conversation is not None
        found = await conversation.fire("clinic_info", {"query": "Where can I park?"})
        assert isinstance(found, Action) and found.result.ok
        assert [p["section"] for p in found.result.value["passages"]] == [
            "Maple Grove Family Clinic › Parking"
        ]
        await job.hang_up()
    finally:
        await library.knowledge.close()
