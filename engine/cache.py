"""``FlowCache``: compiled flows by (tenant, flow, version), shared by a worker's sessions.

Everything in the store is a tenant's flow, so a version compiles under its tenant's
:class:`~flowctl.engine.boundary.Boundary` (the policy it is held to, the operator's catalog its
catalog tools resolve in). A stored version never changes, but its tenant's policy may:
an entry remembers the policy and catalog it was compiled under, and a lookup under
others compiles again. A publish only changes which version the store's pointer names,
and the next lookup asks the store for that (one indexed read) before using the cache.
The least recently used entries go when the cache is full. Concurrent misses on one key
compile once; the others wait for it.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import OrderedDict
from typing import TYPE_CHECKING

import msgspec

from flowctl.engine.boundary import Boundary
from flowctl.engine.compile import CompiledFlow, compile_flow
from flowctl.engine.errors import FlowInvalidError
from flowctl.engine.extends import TemplateLookup
from flowctl.engine.findings import Severity

if TYPE_CHECKING:
    from flowctl.engine.store import TenantStore, Version

__all__ = ["FlowCache", "compile_stored", "compile_version"]

Key = tuple[str, str, int]


def compile_version(
    tenant_id: str,
    version: Version,
    *,
    boundary: Boundary,
    templates: TemplateLookup | None = None,
) -> CompiledFlow:
    """Compile a stored version as ``boundary``'s flow (lint's error rules run again: a
    flowctl upgrade may have added one since the version was published, and the
    tenant's policy may have changed), resolved with the template versions it pinned
    (``templates``: ``flowctl.engine.store.templates.pinned_templates``). Raises
    ``FlowInvalidError`` listing the findings."""
    from flowctl.engine.lint.registry import RULES
    from flowctl.engine.load import load_bytes

    name = f"{tenant_id}/{version.flow_id}@v{version.version}"
    loaded = load_bytes(version.document.encode(), name, stem=version.flow_id, templates=templates)
    if loaded.flow is None:
        raise FlowInvalidError(f"`{name}` does not decode as a flow", loaded.findings)
    unresolved = [f for f in loaded.findings if RULES[f.code].severity is Severity.ERROR]
    if unresolved:  # a part its template leaves abstract, say: nothing to run
        raise FlowInvalidError(f"`{name}` does not resolve with its templates", unresolved)
    return compile_flow(loaded.flow, boundary=boundary)


async def compile_stored(
    store: TenantStore, version: Version, *, boundary: Boundary
) -> CompiledFlow:
    """:func:`compile_version` of one of ``store``'s tenant's versions, with the template
    versions it pinned read from the store."""
    from flowctl.engine.store.templates import pinned_templates

    templates = await pinned_templates(store, version.template)
    return compile_version(store.tenant_id, version, boundary=boundary, templates=templates)


def _compiled_under(boundary: Boundary) -> str:
    """What of ``boundary`` a compiled flow depends on: the policy and the catalog (the
    secrets' names only change warnings)."""
    encoded = msgspec.json.encode([boundary.tenant_id, boundary.policy, boundary.catalog])
    return hashlib.sha256(encoded).hexdigest()


class FlowCache:
    """Compiled flows for one process. Not thread-safe: one event loop uses it."""

    def __init__(self, maxsize: int = 256) -> None:
        if maxsize < 1:
            raise ValueError("maxsize must be at least 1")
        self.maxsize = maxsize
        self.hits = 0
        self.misses = 0
        self._entries: OrderedDict[Key, tuple[str, CompiledFlow]] = OrderedDict()
        self._loading: dict[tuple[str, str, int, str], asyncio.Task[CompiledFlow]] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def get(
        self, tenant_id: str, flow_id: str, version: int, boundary: Boundary | None = None
    ) -> CompiledFlow | None:
        """The cached compiled flow; with ``boundary``, only one compiled under it."""
        key = (tenant_id, flow_id, version)
        entry = self._entries.get(key)
        if entry is None or (boundary is not None and entry[0] != _compiled_under(boundary)):
            return None
        self._entries.move_to_end(key)
        return entry[1]

    def put(
        self,
        tenant_id: str,
        flow_id: str,
        version: int,
        compiled: CompiledFlow,
        *,
        boundary: Boundary,
    ) -> None:
        """Keep ``compiled``, the version compiled under ``boundary``."""
        key = (tenant_id, flow_id, version)
        self._entries[key] = (_compiled_under(boundary), compiled)
        self._entries.move_to_end(key)
        while len(self._entries) > self.maxsize:
            self._entries.popitem(last=False)

    async def compiled(
        self,
        store: TenantStore,
        flow_id: str,
        version: int | None = None,
        *,
        boundary: Boundary | None = None,
    ) -> CompiledFlow:
        """The compiled flow of ``version`` (None: the published one) of ``store``'s
        tenant, as that tenant's flow: under ``boundary``, by default the one the store
        holds now (``store.boundary()``; a caller holding a snapshot passes its own).
        Raises the store's ``NotFound`` when there is no such version, and
        ``FlowInvalidError`` when the version does not compile under the boundary."""
        if boundary is None:
            boundary = await store.boundary()
        if version is None:
            version = await store.published(flow_id)
            if version is None:
                from flowctl.engine.store import NotFound

                raise NotFound(
                    f"Flow `{flow_id}` of tenant `{store.tenant_id}` has no published version"
                )
        compiled = self.get(store.tenant_id, flow_id, version, boundary)
        if compiled is not None:
            self.hits += 1
            return compiled
        key = (store.tenant_id, flow_id, version, _compiled_under(boundary))
        task = self._loading.get(key)
        if task is None:
            self.misses += 1
            task = asyncio.ensure_future(self._load(store, flow_id, version, boundary))
            self._loading[key] = task
            task.add_done_callback(lambda _: self._loading.pop(key, None))
        return await asyncio.shield(task)

    async def _load(
        self, store: TenantStore, flow_id: str, version: int, boundary: Boundary
    ) -> CompiledFlow:
        stored = await store.version(flow_id, version)
        compiled = await compile_stored(store, stored, boundary=boundary)
        self.put(store.tenant_id, flow_id, version, compiled, boundary=boundary)
        return compiled
