"""API keys on the SQLite store: a tenant's handle creates, lists and revokes its own
keys (each change audited); the store checks a presented key (``authenticate``), the
one read that starts from a key rather than a tenant. See ``flowctl.engine.store.keys``.
"""

from __future__ import annotations

from flowctl.engine.store.documents import check_actor
from flowctl.engine.store.errors import NotFound, StoreError
from flowctl.engine.store.keys import ROLES, hash_key, key_id_of, matches, new_key
from flowctl.engine.store.records import ApiKey
from flowctl.engine.store.sqlite_db import Db, Row, TenantPart, audit

__all__ = ["KEY_COLUMNS", "KeysMixin", "authenticate", "key_record"]

KEY_COLUMNS = "key_id, tenant_id, role, name, created_at, created_by, revoked_at, revoked_by"
# Compared against when a key id is unknown, so an unknown id costs what a wrong
# secret costs (key ids are not secret, but the answer's timing need not say more).
_DUMMY_HASH = hash_key("fk_000000000000_" + "0" * 43)


def key_record(row: Row) -> ApiKey:
    return ApiKey(
        key_id=row[0],
        tenant_id=row[1],
        role=row[2],
        name=row[3],
        created_at=row[4],
        created_by=row[5],
        revoked_at=row[6],
        revoked_by=row[7],
    )


async def authenticate(db: Db, key: str) -> ApiKey | None:
    """The key's record when ``key`` is a key the store issued (revoked ones included:
    the caller tells them apart by ``revoked_at``), else None."""
    key_id = key_id_of(key)
    row = None
    if key_id is not None:
        row = await db.one(f"SELECT {KEY_COLUMNS}, hash FROM api_keys WHERE key_id = ?", (key_id,))
    if not matches(key, _DUMMY_HASH if row is None else row[8]) or row is None:
        return None
    return key_record(row)


class KeysMixin(TenantPart):
    """The key half of :class:`SQLiteTenantStore`."""

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
                f"INSERT INTO api_keys ({KEY_COLUMNS}, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (key_id, self._tenant_id, role, name, now, actor, None, None, hash_key(key)),
            )
            detail = {"role": role, "name": name}
            await audit(tx, self._tenant_id, actor, "key.create", key_id, detail, now)
        record = ApiKey(
            key_id=key_id,
            tenant_id=self._tenant_id,
            role=role,  # type: ignore[arg-type]
            name=name,
            created_at=now,
            created_by=actor,
        )
        return record, key

    async def keys(self) -> list[ApiKey]:
        await self._require_tenant(self._r)
        rows = await self._r.all(
            f"SELECT {KEY_COLUMNS} FROM api_keys WHERE tenant_id = ? ORDER BY created_at, key_id",
            (self._tenant_id,),
        )
        return [key_record(r) for r in rows]

    async def revoke_key(self, key_id: str, *, actor: str) -> ApiKey:
        """Revoke a key: every request made with it is refused from now on. Revoking it
        again changes nothing (the first revocation stays)."""
        check_actor(actor)
        now = self._clock()
        async with self._w.transaction() as tx:
            row = await tx.one(
                f"SELECT {KEY_COLUMNS} FROM api_keys WHERE tenant_id = ? AND key_id = ?",
                (self._tenant_id, key_id),
            )
            if row is None:
                raise NotFound(f"Unknown key `{key_id}` for tenant `{self._tenant_id}`")
            if row[6] is not None:
                return key_record(row)
            await tx.run(
                "UPDATE api_keys SET revoked_at = ?, revoked_by = ? WHERE key_id = ?",
                (now, actor, key_id),
            )
            await audit(tx, self._tenant_id, actor, "key.revoke", key_id, None, now)
        return key_record((*row[:6], now, actor))
