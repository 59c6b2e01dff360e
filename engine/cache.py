"""``FlowCache``: compiled flows by (tenant, flow, version), shared by a worker's sessions.

A stored version never changes, so an entry is never stale: a publish only changes
which version the store's pointer names, and the next lookup asks the store for that
(one indexed read) before using the cache. The least recently used entries go when the
cache is full. Concurrent misses on one key compile once; the others wait for it.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from typing import TYPE_CHECKING

from engine.compile import CompiledFlow, compile_flow
from engine.errors import FlowInvalidError

if TYPE_CHECKING:
    from engine.store import TenantStore, Version

__all__ = ["FlowCache", "compile_version"]

Key = tuple[str, str, int]


def compile_version(tenant_id: str, version: Version) -> CompiledFlow:
    """Compile a stored version (lint's error rules run again: a flowctl upgrade may
    have added one since the version was published)."""
    from engine.load import load_bytes

    name = f"{tenant_id}/{version.flow_id}@v{version.version}"
    loaded = load_bytes(version.document.encode(), name, stem=version.flow_id)
    if loaded.flow is None:
        raise FlowInvalidError(f"`{name}` does not decode as a flow", loaded.findings)
    return compile_flow(loaded.flow)


class FlowCache:
    """Compiled flows for one process. Not thread-safe: one event loop uses it."""

    def __init__(self, maxsize: int = 256) -> None:
        if maxsize < 1:
            raise ValueError("maxsize must be at least 1")
        self.maxsize = maxsize
        self.hits = 0
        self.misses = 0
        self._entries: OrderedDict[Key, CompiledFlow] = OrderedDict()
        self._loading: dict[Key, asyncio.Task[CompiledFlow]] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, tenant_id: str, flow_id: str, version: int) -> CompiledFlow | None:
        key = (tenant_id, flow_id, version)
        compiled = self._entries.get(key)
        if compiled is not None:
            self._entries.move_to_end(key)
        return compiled

    def put(self, tenant_id: str, flow_id: str, version: int, compiled: CompiledFlow) -> None:
        key = (tenant_id, flow_id, version)
        self._entries[key] = compiled
        self._entries.move_to_end(key)
        while len(self._entries) > self.maxsize:
            self._entries.popitem(last=False)

    async def compiled(
        self, store: TenantStore, flow_id: str, version: int | None = None
    ) -> CompiledFlow:
        """The compiled flow of ``version`` (None: the published one) of ``store``'s
        tenant. Raises the store's ``NotFound`` when there is none."""
        if version is None:
            version = await store.published(flow_id)
            if version is None:
                from engine.store import NotFound

                raise NotFound(
                    f"Flow `{flow_id}` of tenant `{store.tenant_id}` has no published version"
                )
        compiled = self.get(store.tenant_id, flow_id, version)
        if compiled is not None:
            self.hits += 1
            return compiled
        key = (store.tenant_id, flow_id, version)
        task = self._loading.get(key)
        if task is None:
            self.misses += 1
            task = asyncio.ensure_future(self._load(store, flow_id, version))
            self._loading[key] = task
            task.add_done_callback(lambda _: self._loading.pop(key, None))
        return await asyncio.shield(task)

    async def _load(self, store: TenantStore, flow_id: str, version: int) -> CompiledFlow:
        stored = await store.version(flow_id, version)
        compiled = compile_version(store.tenant_id, stored)
        self.put(store.tenant_id, flow_id, version, compiled)
        return compiled
