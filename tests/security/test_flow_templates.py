"""Templates are untrusted input too (issue 18): a tenant's flow extends only its own
templates or the operator's shared ones, never another tenant's (in the store and
through the API, answered exactly as a template that does not exist); the operator's
shared templates extend only shared ones; loops, deep chains and oversized chains are
refused with the place that causes them; resolving costs time in proportion to the
chain."""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from apikit import App
from storekit import extending_doc, opened, template_doc

from flowctl.engine.extends import Found, Missing
from flowctl.engine.load import load_bytes
from flowctl.engine.store import Store
from flowctl.engine.store.documents import (
    push_document,
    push_shared_template,
    push_template_document,
)
from flowctl.engine.store.templates import published_templates


@pytest.fixture
async def two(store_target: Any) -> AsyncIterator[Store]:
    """acme with a published template `private_desk`; globex with `desk`."""
    s = await opened(store_target)
    for tenant, template in (("acme", "private_desk"), ("globex", "desk")):
        await s.create_tenant(tenant, actor="admin")
        t = s.tenant(tenant)
        await push_template_document(t, template_doc(template), actor="admin")
        await t.publish_template(template, 1, actor="admin")
    yield s
    await s.close()


async def _messages(s: Store, tenant: str, flow_id: str) -> list[str]:
    version = await s.tenant(tenant).version(flow_id, 1)
    return [f"{f.row}:{f.column} {f.code} {f.message}" for f in version.findings]


async def test_a_tenants_flow_cannot_extend_another_tenants_template(two: Store) -> None:
    globex = two.tenant("globex")
    await push_document(globex, extending_doc("theirs", template="private_desk"), actor="m")
    await push_document(globex, extending_doc("nowhere", template="nosuch_desk"), actor="m")
    # worded exactly as a template that exists nowhere
    assert await _messages(two, "globex", "theirs") == [
        "3:14 FL701 Unknown template `private_desk` - at `$.extends`"
    ]
    assert await _messages(two, "globex", "nowhere") == [
        "3:14 FL701 Unknown template `nosuch_desk` - at `$.extends`"
    ]
    # what a did-you-mean may suggest: globex's own and the operator's, never acme's
    lookup = await published_templates(globex, extending_doc(template="private_dsk"))
    assert lookup is not None and lookup("private_dsk", 1) == Missing(known=("desk",))
    assert [t.template_id for t in await globex.templates()] == ["desk"]
    # the reads a pinned version would use refuse acme's rows as missing ones
    for shared in (False, True):
        with pytest.raises(Exception) as across:
            await globex.template("private_desk", 1, shared=shared)
        assert "private_desk" in str(across.value) and "acme" not in str(across.value)


async def test_the_operators_shared_templates_extend_only_shared_ones(two: Store) -> None:
    shelf = two.shared_templates()
    pushed = await push_shared_template(
        shelf, template_doc("base", extends="private_desk"), actor="op"
    )
    version = await shelf.template("base", 1)
    assert [(f.code, f.message) for f in version.findings] == [
        ("FL701", "Unknown template `private_desk` - at `$.extends`")
    ]
    assert pushed.version.errors == 1 and pushed.version.template is None


async def test_loops_and_deep_chains_of_stored_templates_are_refused(two: Store) -> None:
    acme = two.tenant("acme")
    # a loop: `loop_a` v2 extends `loop_b`, which extends `loop_a` (v1, pinned)
    await push_template_document(acme, template_doc("loop_a"), actor="a")
    await acme.publish_template("loop_a", 1, actor="a")
    await push_template_document(acme, template_doc("loop_b", extends="loop_a"), actor="a")
    await acme.publish_template("loop_b", 1, actor="a")
    looped = await push_template_document(acme, template_doc("loop_a", extends="loop_b"), actor="a")
    assert looped.version.errors == 1
    [finding] = (await acme.template("loop_a", 2)).findings
    assert (finding.file, finding.code, finding.message) == (
        "loop_b@v1",
        "FL702",
        "Templates extend each other in a loop: `loop_a` → `loop_b` → `loop_a` - at `$.extends`",
    )
    # a chain: t1 ... t6, each extending the one before; a flow on t6 is six deep
    for i in range(1, 7):
        more = {"extends": f"t{i - 1}"} if i > 1 else {}
        await push_template_document(acme, template_doc(f"t{i}", **more), actor="a")
        await acme.publish_template(f"t{i}", 1, actor="a")
    await push_document(acme, extending_doc("deep", template="t6"), actor="a")
    [finding] = (await acme.version("deep", 1)).findings
    assert (finding.file, finding.code, finding.message) == (
        "t2@v1",
        "FL702",
        "Templates extend each other more than 5 deep: `t6` → `t5` → `t4` → `t3` → `t2` → "
        "`t1` - at `$.extends`",
    )


def test_through_the_api_another_tenants_template_is_unknown(tmp_path: Path) -> None:
    api = App(tmp_path)
    try:

        async def acme_template() -> None:
            async with await opened(api.path) as s:
                acme = s.tenant("acme")
                await push_template_document(acme, template_doc("private_desk"), actor="a")
                await acme.publish_template("private_desk", 1, actor="a")

        asyncio.run(acme_template())
        document = extending_doc("theirs", template="private_desk")
        with api.client("globex-developer") as c:
            answer = c.post("/api/v1/flows", content=document)
            assert answer.status_code == 422
            assert answer.json()["error"]["details"]["findings"] == [
                {
                    "code": "FL701",
                    "severity": "error",
                    "message": "Unknown template `private_desk` - at `$.extends`",
                    "row": 3,
                    "column": 14,
                }
            ]
            assert c.get("/api/v1/flows").json() == []
        with api.client("acme-developer") as c:  # its owner's flows extend it
            answer = c.post("/api/v1/flows", content=extending_doc("ours", template="private_desk"))
            assert answer.status_code == 201, answer.text
    finally:
        api.close()


# --- resolving costs time in proportion to the chain --------------------------------------


class _Held:
    def __init__(self, **templates: bytes) -> None:
        self.templates = templates

    def __call__(self, template_id: str, depth: int, /) -> Found | Missing:
        data = self.templates.get(template_id)
        if data is None:
            return Missing()
        return Found(template_id=template_id, data=data, name=f"{template_id}.json")


def _wide(n: int) -> tuple[bytes, bytes]:
    """A template of ``n`` states, each with an edge, and a flow that overrides every
    state's instructions, removes the edges of the even ones and merges into the odd
    ones'."""
    states = [
        {
            "name": f"S{i}",
            "instructions": "Help.",
            "ends_on_hangup": True,
            "edges": [
                {
                    "name": "next",
                    "description": "Move on to the next step",
                    "target_agent": f"S{(i + 1) % n}",
                }
            ],
        }
        for i in range(n)
    ]
    template = json.dumps({"template_id": "wide", "agents": states}).encode()
    overrides = [
        {"name": f"S{i}", "instructions": "Help more.", "edges": [{"name": "next", "say": "On."}]}
        if i % 2
        else {"name": f"S{i}", "instructions": "Help more."}
        for i in range(n)
    ]
    removal = {f"S{i}": ["next"] for i in range(0, n, 2)}
    flow = json.dumps(
        {"extends": "wide", "agents": overrides, "remove": {"edges": removal}}
    ).encode()
    return template, flow


def _seconds(n: int, runs: int) -> float:
    template, flow = _wide(n)
    lookup = _Held(wide=template)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        loaded = load_bytes(flow, "flow.json", templates=lookup)
        times.append(time.perf_counter() - start)
        assert loaded.flow is not None and len(loaded.flow.agents) == n
    return statistics.median(times)


def test_resolving_a_wide_chain_costs_time_in_proportion_to_it() -> None:
    _seconds(500, 1)  # warm
    small, large = _seconds(1_000, 5), _seconds(4_000, 3)
    assert large < 0.05 or large / small < 8, f"4x the chain took {large / small:.1f}x the time"
    template, flow = _wide(1_000)
    loaded = load_bytes(flow, "flow.json", templates=_Held(wide=template))
    assert loaded.flow is not None
    assert [len(s.edges) for s in loaded.flow.agents[:4]] == [0, 1, 0, 1]
    assert loaded.flow.agents[1].edges[0].say == "On."
    assert loaded.flow.agents[1].edges[0].target_agent == "S2"
