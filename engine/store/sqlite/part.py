"""What every part of one tenant's handle (its settings, flows, sessions, keys, secrets)
stands on: the tenant's id, the two connections, the clock, and the checks and
``NotFound`` messages they share. Each part is a class over this one, and
:class:`~flowctl.engine.store.sqlite.tenant.SQLiteTenantStore` joins them; a part uses
only what is defined here or in itself.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flowctl.engine.boundary import ToolCatalog
from flowctl.engine.store.errors import NotFound
from flowctl.engine.store.sqlite.db import Db, Tx
from flowctl.engine.store.sqlite.events import EventWriter

__all__ = ["TenantPart"]


class TenantPart:
    """One tenant's rows; every statement of a part names ``_tenant_id``."""

    def __init__(
        self,
        tenant_id: str,
        writer: Db,
        reader: Db,
        events: EventWriter,
        *,
        clock: Callable[[], float],
        validate_routing: Callable[[Any], None] | None,
        catalog: ToolCatalog | None = None,
    ) -> None:
        self._tenant_id = tenant_id
        self._catalog = catalog
        self._w = writer
        self._r = reader
        self._events = events
        self._clock = clock
        self._validate_routing = validate_routing
        self._known = False  # tenants are never deleted: once seen, no need to look again

    async def _require_tenant(self, db: Db | Tx) -> None:
        if self._known:
            return
        if await db.one("SELECT 1 FROM tenants WHERE tenant_id = ?", (self._tenant_id,)) is None:
            raise NotFound(
                f"Unknown tenant `{self._tenant_id}`; create it with "
                f"`flowctl tenants create {self._tenant_id}`"
            )
        self._known = True

    def _unknown(self, kind: str, name: str) -> NotFound:
        """``Unknown flow `clinic` for tenant `acme```: also what another tenant's is."""
        return NotFound(f"Unknown {kind} `{name}` for tenant `{self._tenant_id}`")

    def _no_version(self, flow_id: str, version: int) -> NotFound:
        return NotFound(f"Flow `{flow_id}` of tenant `{self._tenant_id}` has no version {version}")
