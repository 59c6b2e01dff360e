"""Drawn graphs by (tenant, flow, version): a version never changes, so neither does its
drawing, and a flow page draws it once."""

from __future__ import annotations

import asyncio
from collections import OrderedDict

from flowctl.console.graph import Drawing, draw
from flowctl.engine.errors import FlowInvalidError
from flowctl.engine.store import TenantStore, Version

__all__ = ["Drawings"]


class Drawings:
    def __init__(self, maxsize: int = 128) -> None:
        self.maxsize = maxsize
        self._entries: OrderedDict[tuple[str, str, int], Drawing | str] = OrderedDict()

    async def get(self, tenant: TenantStore, stored: Version) -> Drawing | str:
        """The drawing of ``stored``, or why there is none (a version that no longer
        compiles: lint's message)."""
        key = (tenant.tenant_id, stored.flow_id, stored.version)
        found = self._entries.get(key)
        if found is not None:
            self._entries.move_to_end(key)
            return found
        from flowctl.engine.cache import compile_version

        boundary = await tenant.boundary()

        def work() -> Drawing | str:
            try:
                compiled = compile_version(tenant.tenant_id, stored, boundary=boundary)
            except FlowInvalidError as exc:
                return str(exc)
            return draw(compiled, stored.findings)

        # Compiling a flow of a megabyte takes milliseconds the event loop owes others.
        found = self._entries[key] = await asyncio.to_thread(work)
        while len(self._entries) > self.maxsize:
            self._entries.popitem(last=False)
        return found
