"""API keys in the store: a tenant's handle creates, lists and revokes its own
keys (each change audited); the store checks a presented key (``authenticate``), the
one read that starts from a key rather than a tenant. See ``flowctl.engine.store.keys``.
"""

from __future__ import annotations

import msgspec

from flowctl.engine.store.documents import check_actor
from flowctl.engine.store.errors import StoreError
from flowctl.engine.store.keys import ROLES, hash_key, key_id_of, matches, new_key
from flowctl.engine.store.records import ApiKey
from flowctl.engine.store.sql.db import Db, audit
from flowctl.engine.store.sql.part import TenantPart
from flowctl.engine.store.sql.rows import columns, record

__all__ = ["Keys", "authenticate"]

_KEY = columns(ApiKey)
# Compared against when a key id is unknown, so an unknown id costs what a wrong
# secret costs (key ids are not secret, but the answer's timing need not say more).
_DUMMY_HASH = hash_key("fk_000000000000_" + "0" * 43)


async def authenticate(db: Db, key: str) -> ApiKey | None:
    """The key's record when ``key`` is a key the store issued (revoked ones included:
    the caller tells them apart by ``revoked_at``), else None."""
    key_id = key_id_of(key)
    row = None
    if key_id is not None:
        row = await db.one(f"SELECT {_KEY}, hash FROM api_keys WHERE key_id = ?", (key_id,))
    if not matches(key, _DUMMY_HASH if row is None else row["hash"]) or row is None:
        return None
    return record(ApiKey, row)


class Keys(TenantPart):
    """The keys part of :class:`~flowctl.engine.store.sql.tenant.SQLTenantStore`."""

    async def create_key(self, role: str, *, actor: str, name: str = "") -> tuple[ApiKey, str]:
        if role not in ROLES:
            allowed = ", ".join(f"`{r}`" for r in ROLES)
            raise StoreError(f"Unknown role `{role}`; expected one of {allowed}")
        check_actor(actor)
        key_id, key = new_key()
        now = self._clock()
        async with self._w.transaction() as tx:
            await self._require_tenant(tx)
            await tx.run(
                "INSERT INTO api_keys (key_id, tenant_id, role, name, created_at, created_by, "
                "hash) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (key_id, self._tenant_id, role, name, now, actor, hash_key(key)),
            )
            detail = {"role": role, "name": name}
            await audit(tx, self._tenant_id, actor, "key.create", key_id, detail, now)
        record = ApiKey(
            key_id=key_id,
            tenant_id=self._tenant_id,
            role=role,  # type: ignore[arg-type]  # one of ROLES, checked above
            name=name,
            created_at=now,
            created_by=actor,
        )
        return record, key

    async def keys(self) -> list[ApiKey]:
        return await self._listing(ApiKey, "api_keys", "created_at, key_id")

    async def revoke_key(self, key_id: str, *, actor: str) -> ApiKey:
        """Revoke a key: every request made with it is refused from now on. Revoking it
        again changes nothing (the first revocation stays)."""
        check_actor(actor)
        now = self._clock()
        async with self._w.transaction() as tx:
            row = await self._row(tx, _KEY, "api_keys", key_id=key_id)
            if row is None:
                raise self._unknown("key", key_id)
            found = record(ApiKey, row)
            if found.revoked_at is not None:
                return found
            await tx.run(
                "UPDATE api_keys SET revoked_at = ?, revoked_by = ? WHERE key_id = ?",
                (now, actor, key_id),
            )
            await audit(tx, self._tenant_id, actor, "key.revoke", key_id, None, now)
        return msgspec.structs.replace(found, revoked_at=now, revoked_by=actor)
