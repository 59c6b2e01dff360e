"""The store over any SQL backend: tenants created and listed, keys looked up, the
change counter read, sessions' leases renewed and lapsed ones reaped (``leases``), and
one :class:`~flowctl.engine.store.sql.tenant.SQLTenantStore` handed out per tenant.
Opening a database (connecting, checking it is a flowctl store, migrating it) is each
backend's (``flowctl.engine.store.sqlite.store``, ``flowctl.engine.store.postgres.store``).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Self, Unpack

from flowctl.engine.boundary import ToolCatalog
from flowctl.engine.store.documents import check_actor, check_id, check_limit
from flowctl.engine.store.errors import AlreadyExists
from flowctl.engine.store.records import (
    AbandonedSession,
    ApiKey,
    Lease,
    Outbound,
    Tenant,
    TenantSettings,
    check_options,
)
from flowctl.engine.store.sql import leases
from flowctl.engine.store.sql.db import Db, audit, bump_changes
from flowctl.engine.store.sql.keys import authenticate
from flowctl.engine.store.sql.memory import check_memory_days
from flowctl.engine.store.sql.outbox import claim, finish
from flowctl.engine.store.sql.part import Shared
from flowctl.engine.store.sql.templates import SHARED
from flowctl.engine.store.sql.templates import TemplateShelf as SharedShelf
from flowctl.engine.store.sql.tenant import (
    TENANT_COLUMNS,
    SQLTenantStore,
    check_policy,
    check_routing,
    tenant_record,
)

if TYPE_CHECKING:
    from flowctl.engine.store import TemplateShelf, TenantStore

__all__ = ["SQLStore"]


class SQLStore:
    """The :class:`flowctl.engine.store.Store` on an SQL database; each backend's
    ``open`` connects, migrates and builds it. Close it (or ``async with``)."""

    def __init__(self, url: str, shared: Shared) -> None:
        self.url = url
        self.migrated: tuple[int, int] | None = None
        self.schema_version = 0
        self._shared = shared
        self._tenants: dict[str, SQLTenantStore] = {}

    @property
    def catalog(self) -> ToolCatalog | None:
        """The operator's tool catalog, which tenants' flows are linted against."""
        return self._shared.catalog

    async def close(self) -> None:
        shared = self._shared
        await shared.events.drain()
        if shared.reader is not shared.writer:
            await shared.reader.close()
        await shared.writer.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # --- tenants ------------------------------------------------------------------------

    def tenant(self, tenant_id: str) -> TenantStore:
        handle = self._tenants.get(tenant_id)
        if handle is None:
            check_id("tenant", tenant_id)
            handle = SQLTenantStore(tenant_id, self._shared)
            self._tenants[tenant_id] = handle
        return handle

    async def create_tenant(
        self, tenant_id: str, *, actor: str, **settings: Unpack[TenantSettings]
    ) -> Tenant:
        check_options("create_tenant", settings, TenantSettings)
        name = settings.get("name", "")
        routing = settings.get("routing")
        max_concurrent_sessions = settings.get("max_concurrent_sessions")
        policy = settings.get("policy")
        memory_days = check_memory_days(settings.get("memory_days"))
        check_id("tenant", tenant_id)
        routing_text = check_routing(tenant_id, routing, self._shared.validate_routing)
        policy_text = check_policy(tenant_id, policy)
        check_limit(max_concurrent_sessions)
        check_actor(actor)
        now = self._shared.clock()
        async with self._shared.writer.transaction() as tx:
            if await tx.one("SELECT 1 FROM tenants WHERE tenant_id = ?", (tenant_id,)):
                raise AlreadyExists(f"Tenant `{tenant_id}` already exists")
            await tx.run(
                "INSERT INTO tenants (tenant_id, name, routing, max_concurrent_sessions, policy, "
                "memory_days, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    tenant_id,
                    name,
                    routing_text,
                    max_concurrent_sessions,
                    policy_text,
                    memory_days,
                    now,
                    now,
                ),
            )
            detail = {
                "name": name,
                "routing": routing,
                "max_concurrent_sessions": max_concurrent_sessions,
            }
            if policy_text is not None:
                detail["policy"] = json.loads(policy_text)
            if memory_days is not None:
                detail["memory_days"] = memory_days
            await audit(tx, tenant_id, actor, "tenant.create", tenant_id, detail, now)
            await bump_changes(tx)
        return await self.tenant(tenant_id).info()

    async def list_tenants(self) -> list[Tenant]:
        rows = await self._shared.reader.all(
            f"SELECT {TENANT_COLUMNS} FROM tenants ORDER BY tenant_id"
        )
        return [tenant_record(row) for row in rows]

    def shared_templates(self) -> TemplateShelf:
        return SharedShelf(SHARED, self._shared)

    async def authenticate(self, key: str) -> ApiKey | None:
        return await authenticate(self._shared.reader, key)

    @property
    def db(self) -> Db:
        """The connection its statements run on (``flowctl.engine.store.sql.copy``)."""
        return self._shared.writer

    async def _after_copy(self) -> None:
        """After rows were copied in with their ids (``sql.copy`` calls it): make the
        ids the database hands out next follow them."""

    async def wait_for_change(self, seen: int, timeout: float) -> int:
        """The change counter after ``timeout`` (a backend that is told of changes
        answers as soon as it differs from ``seen``)."""
        await asyncio.sleep(timeout)
        return await self.changes()

    async def claim_deliveries(
        self, *, holder: str, limit: int = 100, lease: float = 30.0
    ) -> list[Outbound]:
        return await claim(
            self._shared.writer, holder=holder, now=self._shared.clock(), limit=limit, lease=lease
        )

    async def finish_deliveries(
        self, results: Sequence[tuple[str, str, str | None, float | None]], *, holder: str
    ) -> None:
        await finish(self._shared.writer, results, holder=holder, now=self._shared.clock())

    async def changes(self) -> int:
        row = await self._shared.reader.one("SELECT counter FROM changes WHERE id = 1")
        assert row is not None
        return int(row["counter"])

    # --- sessions' leases (``leases``) ------------------------------------------------------

    async def renew(self, lease: Lease) -> int:
        return await leases.renew(self._shared.writer, lease, self._shared.clock)

    async def reap(self, *, actor: str) -> list[AbandonedSession]:
        shared = self._shared
        return await leases.reap(shared.writer, shared.reader, shared.clock(), actor=actor)
