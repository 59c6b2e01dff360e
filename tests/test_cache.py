"""FlowCache: compiled flows by (tenant, flow, version), looked up through the store."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from storekit import flow_doc, opened

from flowctl.engine.cache import FlowCache
from flowctl.engine.runtime import Conversation
from flowctl.engine.store import NotFound, Store, TenantStore
from flowctl.engine.store.documents import push_document


@pytest.fixture
async def acme(tmp_path: Path) -> AsyncIterator[TenantStore]:
    store: Store = await opened(tmp_path / "flowctl.db")
    await store.create_tenant("acme", actor="ana")
    t = store.tenant("acme")
    await push_document(t, flow_doc(), actor="ana")
    await push_document(t, flow_doc(note="Be brief."), actor="ana")
    await t.publish("clinic", 1, actor="ana")
    yield t
    await store.close()


async def test_cache_compiles_the_published_version_once(acme: TenantStore) -> None:
    cache = FlowCache()
    first = await cache.compiled(acme, "clinic")
    assert await cache.compiled(acme, "clinic") is first
    assert (cache.hits, cache.misses) == (1, 1)
    conv = Conversation(first)
    assert conv.state == "Main"
    conv.close()
    await acme.publish("clinic", 2, actor="ana")
    second = await cache.compiled(acme, "clinic")
    assert second is not first
    assert "Be brief." in second.states[0].spec.instructions
    assert await cache.compiled(acme, "clinic", 1) is first  # pinned sessions keep theirs
    assert len(cache) == 2


async def test_concurrent_misses_compile_once(acme: TenantStore) -> None:
    cache = FlowCache()
    found = await asyncio.gather(*(cache.compiled(acme, "clinic") for _ in range(10)))
    assert len({id(c) for c in found}) == 1
    assert cache.misses == 1


async def test_least_recently_used_goes_first(acme: TenantStore) -> None:
    cache = FlowCache(maxsize=1)
    await cache.compiled(acme, "clinic", 1)
    await cache.compiled(acme, "clinic", 2)
    assert cache.get("acme", "clinic", 1) is None
    assert cache.get("acme", "clinic", 2) is not None


async def test_no_published_version_is_not_found(acme: TenantStore) -> None:
    await push_document(acme, flow_doc("sales"), actor="ana")
    with pytest.raises(NotFound) as caught:
        await FlowCache().compiled(acme, "sales")
    assert str(caught.value) == "Flow `sales` of tenant `acme` has no published version"
