"""What every part of one tenant's handle (its settings, flows, sessions, keys, secrets)
stands on: the tenant's id, what the store shares with every handle (:class:`Shared`),
and the lookups, checks and ``NotFound`` messages the parts share. Each part is a class
over this one, and :class:`~flowctl.engine.store.sql.tenant.SQLTenantStore` joins
them; a part uses only what is defined here or in itself.

The lookups here name the tenant first in every statement they run, so a part that
uses them cannot forget to, and another tenant's row is never found.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import msgspec

from flowctl.engine.boundary import ToolCatalog
from flowctl.engine.store.errors import NotFound, QuotaExceeded
from flowctl.engine.store.sql.db import Db, Row, Tx
from flowctl.engine.store.sql.rows import columns, policy_value, record

if TYPE_CHECKING:  # the event writer books callbacks, a part of its own
    from flowctl.engine.store.sql.events import EventWriter
    from flowctl.engine.store.sql.knowledge import TextSearch

__all__ = ["Shared", "TenantPart", "charge_quota"]

R = TypeVar("R", bound=msgspec.Struct)


@dataclass(frozen=True, slots=True)
class Shared:
    """What the store hands every tenant's handle, once: its two connections, the event
    writer that groups sessions' events, the clock, the routing check, the backend's
    full-text query over knowledge bases and the operator's tool catalog
    (``open_store``'s)."""

    writer: Db
    reader: Db
    events: EventWriter
    clock: Callable[[], float]
    validate_routing: Callable[[Any], None] | None
    search: TextSearch
    catalog: ToolCatalog | None = None


class TenantPart:
    """One tenant's rows; every statement of a part names ``_tenant_id``."""

    def __init__(self, tenant_id: str, shared: Shared) -> None:
        self._tenant_id = tenant_id
        self._catalog = shared.catalog
        self._w = shared.writer
        self._r = shared.reader
        self._events = shared.events
        self._clock = shared.clock
        self._validate_routing = shared.validate_routing
        self._search = shared.search
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

    async def _row(self, db: Db | Tx, select: str, table: str, **key: Any) -> Row | None:
        """The tenant's row of ``table`` whose columns in ``key`` hold its values (None:
        no such row here), with the columns ``select`` names."""
        where = "".join(f" AND {column} = ?" for column in key)
        return await db.one(
            f"SELECT {select} FROM {table} WHERE tenant_id = ?{where}",
            (self._tenant_id, *key.values()),
        )

    async def _listing(self, cls: type[R], table: str, order: str) -> list[R]:
        """Every row of the tenant's in ``table`` as ``cls`` records, sorted by
        ``order``: an unknown tenant is :class:`NotFound`, not an empty list."""
        await self._require_tenant(self._r)
        rows = await self._r.all(
            f"SELECT {columns(cls)} FROM {table} WHERE tenant_id = ? ORDER BY {order}",
            (self._tenant_id,),
        )
        return [record(cls, r) for r in rows]

    def _unknown(self, kind: str, name: str) -> NotFound:
        """``Unknown flow `clinic` for tenant `acme```: also what another tenant's is."""
        return NotFound(f"Unknown {kind} `{name}` for tenant `{self._tenant_id}`")

    def _no_version(self, flow_id: str, version: int) -> NotFound:
        return NotFound(f"Flow `{flow_id}` of tenant `{self._tenant_id}` has no version {version}")


async def charge_quota(tx: Tx, tenant_id: str, size: int) -> None:
    """Count one more version (of a flow or a template) of ``size`` bytes against the
    tenant's quotas, in the transaction that stores it; :class:`QuotaExceeded` when
    its policy does not allow it."""
    row = await tx.one(
        "SELECT stored_versions, stored_bytes, policy FROM tenants WHERE tenant_id = ?",
        (tenant_id,),
    )
    assert row is not None  # the tenant was required in this transaction
    policy = policy_value(row["policy"])
    versions, stored = row["stored_versions"], row["stored_bytes"]
    if versions + 1 > policy.max_versions:
        raise QuotaExceeded(
            f"Tenant `{tenant_id}` keeps {versions:,} versions, its quota "
            f"(`max_versions` {policy.max_versions:,}); nothing was pushed"
        )
    if stored + size > policy.max_stored_bytes:
        raise QuotaExceeded(
            f"Tenant `{tenant_id}` keeps {stored:,} bytes of flows; this "
            f"{size:,}-byte version would pass its quota (`max_stored_bytes` "
            f"{policy.max_stored_bytes:,}); nothing was pushed"
        )
    await tx.run(
        "UPDATE tenants SET stored_versions = stored_versions + 1, "
        "stored_bytes = stored_bytes + ? WHERE tenant_id = ?",
        (size, tenant_id),
    )
