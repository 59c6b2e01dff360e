"""One tenant's handle in the store: :class:`SQLTenantStore`, the tenant's own
settings (routing, limits, policy) and audit log here, its flows in ``flows``, its
templates in ``templates``, its sessions in ``sessions`` (reaping them in ``leases``)
and their callbacks in ``callbacks``, its API keys in ``keys``, its secrets in
``secrets``, its webhooks in ``webhooks``, what it remembers about callers in
``memory`` and its knowledge bases in ``knowledge``, each a part over
``part.TenantPart``. Every statement names the handle's tenant, so no method can reach
another tenant's rows (the operator's shared templates are read, never written).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import msgspec

from flowctl.engine.boundary import Boundary, TenantPolicy
from flowctl.engine.memory import DAY
from flowctl.engine.store.documents import check_actor, check_limit
from flowctl.engine.store.errors import StoreError
from flowctl.engine.store.records import AuditEntry, Tenant
from flowctl.engine.store.sql.callbacks import Callbacks
from flowctl.engine.store.sql.db import Row, audit, bump_changes
from flowctl.engine.store.sql.flows import Flows
from flowctl.engine.store.sql.keys import Keys
from flowctl.engine.store.sql.knowledge import Knowledge
from flowctl.engine.store.sql.leases import TenantLeases
from flowctl.engine.store.sql.memory import Memory, check_memory_days
from flowctl.engine.store.sql.rows import columns, json_value, policy_value, record
from flowctl.engine.store.sql.secrets import Secrets
from flowctl.engine.store.sql.sessions import Sessions
from flowctl.engine.store.sql.templates import Templates
from flowctl.engine.store.sql.webhooks import Webhooks

__all__ = ["TENANT_COLUMNS", "SQLTenantStore", "check_policy", "check_routing", "tenant_record"]


def check_routing(
    tenant_id: str, routing: Any, validate: Callable[[Any], None] | None
) -> str | None:
    """The routing document as stored (JSON text), or None. Accepts the decoded value
    or its JSON text; it must be an object, and pass ``validate`` when one is set."""
    if routing is None:
        return None
    if isinstance(routing, bytes | str):
        try:
            routing = json.loads(routing)
        except ValueError as exc:
            raise StoreError(f"Routing for tenant `{tenant_id}` is not valid JSON: {exc}") from None
    if not isinstance(routing, dict):
        raise StoreError(f"Routing for tenant `{tenant_id}` must be a JSON object")
    if validate is not None:
        try:
            validate(routing)
        except ValueError as exc:
            raise StoreError(f"Invalid routing for tenant `{tenant_id}`: {exc}") from None
    return msgspec.json.encode(routing).decode()


def _checked_routing(
    tenant_id: str, routing: Any, validate: Callable[[Any], None] | None
) -> tuple[str | None, Any]:
    """:func:`check_routing`'s text, and its value for the audit log."""
    text = check_routing(tenant_id, routing, validate)
    return text, json_value(text)


TENANT_COLUMNS = columns(Tenant)


def tenant_record(row: Row) -> Tenant:
    return record(Tenant, row, routing=json_value, policy=policy_value)


def check_policy(tenant_id: str, policy: Any) -> str | None:
    """The policy as stored (JSON text; None for the default, which grants nothing).
    Accepts a :class:`TenantPolicy` or its decoded JSON; raises :class:`StoreError`
    naming what is wrong."""
    if policy is None:
        return None
    try:
        checked = msgspec.convert(
            msgspec.to_builtins(policy) if isinstance(policy, TenantPolicy) else policy,
            TenantPolicy,
        )
    except msgspec.ValidationError as exc:
        raise StoreError(f"Invalid policy for tenant `{tenant_id}`: {exc}") from None
    return msgspec.json.encode(checked).decode()


class SQLTenantStore(
    Flows,
    Templates,
    Sessions,
    TenantLeases,
    Callbacks,
    Keys,
    Secrets,
    Webhooks,
    Memory,
    Knowledge,
):
    """The :class:`flowctl.engine.store.TenantStore` of one tenant on an SQL store."""

    @property
    def tenant_id(self) -> str:
        return self._tenant_id

    def __repr__(self) -> str:
        return f"<TenantStore {self._tenant_id!r}>"

    # --- the tenant -----------------------------------------------------------------------

    async def info(self) -> Tenant:
        row = await self._r.one(
            f"SELECT {TENANT_COLUMNS} FROM tenants WHERE tenant_id = ?", (self._tenant_id,)
        )
        if row is None:
            await self._require_tenant(self._r)
        assert row is not None
        return tenant_record(row)

    async def set_routing(self, routing: Any, *, actor: str) -> Tenant:
        # Decoding, checking and encoding a document up to a megabyte: off the loop.
        text, detail = await asyncio.to_thread(
            _checked_routing, self._tenant_id, routing, self._validate_routing
        )
        await self._update_tenant("routing", text, "tenant.routing", detail, actor)
        return await self.info()

    async def set_limits(self, *, max_concurrent_sessions: int | None, actor: str) -> Tenant:
        value = check_limit(max_concurrent_sessions)
        detail = {"max_concurrent_sessions": value}
        await self._update_tenant("max_concurrent_sessions", value, "tenant.limits", detail, actor)
        return await self.info()

    async def set_retention(self, *, memory_days: int | None, actor: str) -> Tenant:
        days = check_memory_days(memory_days)
        check_actor(actor)
        now = self._clock()
        async with self._w.transaction() as tx:
            await self._require_tenant(tx)
            await tx.run(
                "UPDATE tenants SET memory_days = ?, updated_at = ? WHERE tenant_id = ?",
                (days, now, self._tenant_id),
            )
            if days is not None:  # what is kept now is held to the new cap at once
                await tx.run(
                    "UPDATE caller_memory SET expires_at = updated_at + ? "
                    "WHERE tenant_id = ? AND expires_at > updated_at + ?",
                    (days * DAY, self._tenant_id, days * DAY),
                )
            detail = {"memory_days": days}
            await audit(
                tx, self._tenant_id, actor, "tenant.retention", self._tenant_id, detail, now
            )
        return await self.info()

    async def set_policy(self, policy: TenantPolicy | None, *, actor: str) -> Tenant:
        text = check_policy(self._tenant_id, policy)
        detail = msgspec.to_builtins(TenantPolicy() if policy is None else policy)
        await self._update_tenant("policy", text, "tenant.policy", detail, actor)
        return await self.info()

    async def boundary(self) -> Boundary:
        # One read (the tenant's policy beside each secret's name, then the names of its
        # knowledge bases), as every session start asks for it.
        rows = await self._r.all(
            "SELECT 'secret' AS kind, t.policy AS policy, s.name AS name FROM tenants t "
            "LEFT JOIN secrets s ON s.tenant_id = t.tenant_id WHERE t.tenant_id = ? "
            "UNION ALL SELECT 'base' AS kind, CAST(NULL AS TEXT) AS policy, base AS name "
            "FROM knowledge_documents WHERE tenant_id = ? GROUP BY base",
            (self._tenant_id, self._tenant_id),
        )
        secrets = [r for r in rows if r["kind"] == "secret"]
        if not secrets:
            self._known = False
            await self._require_tenant(self._r)
        return Boundary(
            tenant_id=self._tenant_id,
            policy=policy_value(secrets[0]["policy"]),
            catalog=self._catalog,
            secrets=frozenset(r["name"] for r in secrets if r["name"] is not None),
            knowledge=frozenset(r["name"] for r in rows if r["kind"] == "base"),
        )

    async def _update_tenant(
        self, column: str, value: Any, action: str, detail: Any, actor: str
    ) -> None:
        check_actor(actor)
        now = self._clock()
        async with self._w.transaction() as tx:
            await self._require_tenant(tx)
            await tx.run(
                f"UPDATE tenants SET {column} = ?, updated_at = ? WHERE tenant_id = ?",
                (value, now, self._tenant_id),
            )
            await audit(tx, self._tenant_id, actor, action, self._tenant_id, detail, now)
            await bump_changes(tx)

    async def audit(self, *, limit: int = 100) -> list[AuditEntry]:
        await self._require_tenant(self._r)
        rows = await self._r.all(
            f"SELECT {columns(AuditEntry)} FROM audit "
            "WHERE tenant_id = ? ORDER BY entry_id DESC LIMIT ?",
            (self._tenant_id, limit),
        )
        return [record(AuditEntry, r, detail=json_value) for r in rows]
