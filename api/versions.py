"""What the flow endpoints share: linting and storing a document as a version (422
with the findings, nothing stored, when it has errors), the version an edit starts
from, and a cache of immutable versions for the hot read."""

from __future__ import annotations

import asyncio
import json
from collections import OrderedDict
from typing import Any

import msgspec

from flowctl.api.auth import Caller
from flowctl.api.errors import ApiError
from flowctl.api.models import Pushed, view
from flowctl.engine import edits
from flowctl.engine.store import TenantStore, Version
from flowctl.engine.store.documents import Prepared, lint_errors, prepare_for

__all__ = ["MAX_VERSION", "VersionCache", "base_document", "edit", "prepared_document", "pushed"]

# Version numbers are SQLite integers; a bound keeps a number SQLite cannot hold (a
# property-based run sent 47956742967991656775680) a 400, not a 500.
MAX_VERSION = 2**31


async def prepared_document(
    caller: Caller, document: bytes | str, flow_id: str | None = None
) -> Prepared:
    """The document linted as the caller's tenant's flow (held to its policy), its flow
    id and hash worked out; in a thread, as lint of a large flow takes milliseconds the
    event loop owes other requests. The store keeps it as prepared: each push is
    linted once."""
    return await prepare_for(caller.tenant, document, flow_id=flow_id)


async def pushed(
    caller: Caller,
    document: bytes | str,
    flow_id: str | None,
    base: int | None = None,
    prepared: Prepared | None = None,
) -> Pushed:
    """Lint ``document`` and store it as the flow's next version; 422 with the findings
    (and nothing stored) when it has errors."""
    if prepared is None:
        prepared = await prepared_document(caller, document, flow_id)
    if prepared.errors:
        errors = [f for f in prepared.findings if f.severity == "error"]
        raise ApiError(
            422,
            "lint_errors",
            f"`{prepared.flow_id}` has {lint_errors(errors)}. Nothing was stored; fix the "
            "document and send it again",
            {"findings": msgspec.to_builtins(prepared.findings)},
        )
    result = await caller.tenant.push(prepared, actor=caller.actor)
    return view(
        Pushed, result.version, created=result.created, findings=prepared.findings, base=base
    )


async def base_document(caller: Caller, flow_id: str, base: int | None) -> tuple[int, str]:
    """The version an edit starts from (``base``, else the latest) and its document."""
    if base is None:
        base = (await caller.tenant.versions(flow_id))[-1].version
    stored = await caller.tenant.version(flow_id, base)
    return base, stored.document


async def edit(caller: Caller, flow_id: str, base: int | None, change: Any) -> Pushed:
    """``change`` applied to the base version's document, pushed as the next version.
    Decoding, changing and encoding a document up to a megabyte run in a thread."""
    number, document = await base_document(caller, flow_id, base)
    text = await asyncio.to_thread(lambda: edits.render(change(json.loads(document))))
    return await pushed(caller, text, flow_id, number)


class VersionCache:
    """Stored versions with their decoded documents, by (tenant, flow, version). A
    version never changes, so an entry is never stale: reading the published flow
    costs one indexed read (which version is published) and no decoding."""

    def __init__(self, maxsize: int = 256) -> None:
        self.maxsize = maxsize
        self._entries: OrderedDict[tuple[str, str, int], tuple[Version, dict[str, Any]]] = (
            OrderedDict()
        )

    async def get(
        self, tenant: TenantStore, flow_id: str, version: int
    ) -> tuple[Version, dict[str, Any]]:
        key = (tenant.tenant_id, flow_id, version)
        found = self._entries.get(key)
        if found is not None:
            self._entries.move_to_end(key)
            return found
        stored = await tenant.version(flow_id, version)
        decoded = await asyncio.to_thread(json.loads, stored.document)  # up to a megabyte
        found = self._entries[key] = (stored, decoded)
        while len(self._entries) > self.maxsize:
            self._entries.popitem(last=False)
        return found
