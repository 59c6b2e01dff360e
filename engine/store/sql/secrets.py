"""A tenant's secrets in the store: what ``${NAME}`` and ``api_key_env`` mean in
its flows (``engine/boundary.py``). Set, rotated and deleted by name, each change
audited with the name only; listed by name only. :meth:`Secrets.secret_values`,
the one read of values, is for the worker that runs the tenant's calls.
"""

from __future__ import annotations

import re

from flowctl.engine.store.documents import check_actor
from flowctl.engine.store.errors import StoreError
from flowctl.engine.store.records import SecretInfo
from flowctl.engine.store.sql.db import audit, bump_changes
from flowctl.engine.store.sql.part import TenantPart

__all__ = ["MAX_SECRETS", "MAX_SECRET_BYTES", "Secrets", "check_secret_name"]

# A key, a token, a PEM certificate: all fit in 16 KiB.
MAX_SECRET_BYTES = 16 * 1024
# Per tenant: a flow needs a handful; a thousand is a mistake or an attack.
MAX_SECRETS = 1000
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")


def check_secret_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise StoreError(
            f"Invalid secret name `{name}`: use letters, digits and `_`, starting with a "
            "letter or `_` (as `${NAME}` in a flow), at most 128 characters"
        )
    return name


class Secrets(TenantPart):
    """The secrets part of :class:`~flowctl.engine.store.sql.tenant.SQLTenantStore`."""

    async def secrets(self) -> list[SecretInfo]:
        return await self._listing(SecretInfo, "secrets", "name")

    async def set_secret(self, name: str, value: str, *, actor: str) -> SecretInfo:
        """Set or rotate a secret. The audit log records its name, never its value."""
        check_secret_name(name)
        check_actor(actor)
        if not isinstance(value, str) or not value:
            raise StoreError(f"Secret `{name}` needs a value")
        if len(value.encode()) > MAX_SECRET_BYTES:
            raise StoreError(
                f"Secret `{name}` is {len(value.encode()):,} bytes; secrets are limited to "
                f"{MAX_SECRET_BYTES // 1024} KiB"
            )
        now = self._clock()
        async with self._w.transaction() as tx:
            await self._require_tenant(tx)
            row = await self._row(tx, "created_at", "secrets", name=name)
            if row is None:
                count = await tx.one(
                    "SELECT count(*) AS kept FROM secrets WHERE tenant_id = ?", (self._tenant_id,)
                )
                if count is not None and count["kept"] >= MAX_SECRETS:
                    raise StoreError(
                        f"Tenant `{self._tenant_id}` has {MAX_SECRETS} secrets, the most it "
                        "may keep; delete one first"
                    )
            created = now if row is None else row["created_at"]
            await tx.run(
                "INSERT INTO secrets (tenant_id, name, value, created_at, updated_at, "
                "updated_by) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (tenant_id, name) DO UPDATE "
                "SET value = excluded.value, updated_at = excluded.updated_at, "
                "updated_by = excluded.updated_by",
                (self._tenant_id, name, value, created, now, actor),
            )
            action = "secret.set" if row is None else "secret.rotate"
            await audit(tx, self._tenant_id, actor, action, name, {"name": name}, now)
            await bump_changes(tx)  # workers reread what the tenant's flows may use
        return SecretInfo(name=name, created_at=created, updated_at=now, updated_by=actor)

    async def delete_secret(self, name: str, *, actor: str) -> None:
        check_secret_name(name)
        check_actor(actor)
        now = self._clock()
        async with self._w.transaction() as tx:
            await self._require_tenant(tx)
            if await self._row(tx, "1", "secrets", name=name) is None:
                raise self._unknown("secret", name)
            await tx.run(
                "DELETE FROM secrets WHERE tenant_id = ? AND name = ?", (self._tenant_id, name)
            )
            await audit(tx, self._tenant_id, actor, "secret.delete", name, {"name": name}, now)
            await bump_changes(tx)

    async def secret_values(self) -> dict[str, str]:
        """Every secret's value by name: for the worker running the tenant's calls only
        (no API or CLI command returns them)."""
        await self._require_tenant(self._r)
        rows = await self._r.all(
            "SELECT name, value FROM secrets WHERE tenant_id = ?", (self._tenant_id,)
        )
        return {r["name"]: r["value"] for r in rows}
