"""Flows on the SQLite store: pushing versions, reading them, and moving the published
pointer (publish, rollback) under ``BEGIN IMMEDIATE`` with an optional optimistic check.
"""

from __future__ import annotations

import asyncio
from types import EllipsisType

import msgspec

from flowctl.engine.boundary import Boundary, TenantPolicy
from flowctl.engine.store.documents import Prepared, check_actor, prepare
from flowctl.engine.store.errors import (
    NotFound,
    NotPublishable,
    QuotaExceeded,
    StoreConflict,
    StoreError,
)
from flowctl.engine.store.records import (
    FlowInfo,
    Publication,
    PushResult,
    StoredFinding,
    Version,
    VersionInfo,
)
from flowctl.engine.store.sqlite_db import Row, TenantPart, Tx, audit, bump_changes

__all__ = ["FlowsMixin"]

_VERSION_COLUMNS = "flow_id, version, hash, author, created_at, errors, warnings"
_PUBLICATION_COLUMNS = "flow_id, seq, version, previous, action, actor, at"
_findings = msgspec.json.Decoder(list[StoredFinding])


def _version_info(row: Row) -> VersionInfo:
    return VersionInfo(
        flow_id=row[0],
        version=row[1],
        hash=row[2],
        author=row[3],
        created_at=row[4],
        errors=row[5],
        warnings=row[6],
    )


def _publication(row: Row) -> Publication:
    return Publication(
        flow_id=row[0],
        seq=row[1],
        version=row[2],
        previous=row[3],
        action=row[4],
        actor=row[5],
        at=row[6],
    )


def _prepared(
    document: bytes | str | Prepared,
    filename: str | None,
    flow_id: str | None,
    boundary: Boundary,
) -> tuple[Prepared, str]:
    """The document prepared (linted as the tenant's flow), unless it already is, and
    its findings as the JSON the version keeps."""
    if isinstance(document, Prepared):
        if flow_id is not None and flow_id != document.flow_id:
            raise StoreError(
                f"The document is a version of `{document.flow_id}`, not of `{flow_id}`"
            )
        prepared = document
    else:
        prepared = prepare(document, filename, flow_id=flow_id, boundary=boundary)
    return prepared, msgspec.json.encode(prepared.findings).decode()


def _v(version: int | None) -> str:
    return "no version" if version is None else f"v{version}"


def _expect(
    doing: str, flow_id: str, expected: int | EllipsisType | None, current: int | None
) -> None:
    """The optimistic check of a pointer move: ``expected`` (``...``: no check) must be
    what is published now."""
    if expected is not ... and expected != current:
        raise StoreConflict(
            f"Cannot {doing}: expected {_v(expected)} to be published, but {_v(current)} "
            f"is (someone changed it in between); look again with `flowctl store show "
            f"{flow_id}` and retry"
        )


class FlowsMixin(TenantPart):
    """The flow half of :class:`SQLiteTenantStore`."""

    def _unknown_flow(self, flow_id: str) -> NotFound:
        return NotFound(f"Unknown flow `{flow_id}` for tenant `{self._tenant_id}`")

    async def _check_quota(self, tx: Tx, policy: TenantPolicy, size: int) -> None:
        row = await tx.one(
            "SELECT stored_versions, stored_bytes FROM tenants WHERE tenant_id = ?",
            (self._tenant_id,),
        )
        assert row is not None  # _require_tenant ran in this transaction
        versions, stored = row
        if versions + 1 > policy.max_versions:
            raise QuotaExceeded(
                f"Tenant `{self._tenant_id}` keeps {versions:,} versions, its quota "
                f"(`max_versions` {policy.max_versions:,}); nothing was pushed"
            )
        if stored + size > policy.max_stored_bytes:
            raise QuotaExceeded(
                f"Tenant `{self._tenant_id}` keeps {stored:,} bytes of flows; this "
                f"{size:,}-byte version would pass its quota (`max_stored_bytes` "
                f"{policy.max_stored_bytes:,}); nothing was pushed"
            )

    async def push(
        self,
        document: bytes | str | Prepared,
        *,
        actor: str,
        flow_id: str | None = None,
        filename: str | None = None,
    ) -> PushResult:
        check_actor(actor)
        boundary = await self.boundary()  # its quotas, and what raw documents are held to
        # Lint, hashing and encoding cost time in proportion to the document: in a
        # thread (the loop serves every other request meanwhile), outside the lock.
        prepared, findings = await asyncio.to_thread(
            _prepared, document, filename, flow_id, boundary
        )
        flow_id = prepared.flow_id
        size = len(prepared.document.encode())
        key = (self._tenant_id, flow_id)
        now = self._clock()
        async with self._w.transaction() as tx:
            await self._require_tenant(tx)
            row = await tx.one("SELECT latest FROM flows WHERE tenant_id = ? AND flow_id = ?", key)
            if row is None:
                await tx.run(
                    "INSERT INTO flows (tenant_id, flow_id, created_at) VALUES (?, ?, ?)",
                    (*key, now),
                )
                latest = 0
            else:
                latest = row[0]
                same = await tx.one(
                    f"SELECT {_VERSION_COLUMNS} FROM flow_versions "
                    "WHERE tenant_id = ? AND flow_id = ? AND hash = ?",
                    (*key, prepared.hash),
                )
                if same is not None:
                    return PushResult(version=_version_info(same), created=False)
            await self._check_quota(tx, boundary.policy, size)
            version = latest + 1
            await tx.run(
                "UPDATE tenants SET stored_versions = stored_versions + 1, "
                "stored_bytes = stored_bytes + ? WHERE tenant_id = ?",
                (size, self._tenant_id),
            )
            await tx.run(
                "INSERT INTO flow_versions (tenant_id, flow_id, version, hash, document, "
                "author, created_at, findings, errors, warnings) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    *key,
                    version,
                    prepared.hash,
                    prepared.document,
                    actor,
                    now,
                    findings,
                    prepared.errors,
                    prepared.warnings,
                ),
            )
            await tx.run(
                "UPDATE flows SET latest = ? WHERE tenant_id = ? AND flow_id = ?",
                (version, *key),
            )
            detail = {
                "version": version,
                "hash": prepared.hash,
                "errors": prepared.errors,
                "warnings": prepared.warnings,
            }
            await audit(tx, self._tenant_id, actor, "flow.push", flow_id, detail, now)
        info = VersionInfo(
            flow_id=flow_id,
            version=version,
            hash=prepared.hash,
            author=actor,
            created_at=now,
            errors=prepared.errors,
            warnings=prepared.warnings,
        )
        return PushResult(version=info, created=True)

    async def flows(self) -> list[FlowInfo]:
        await self._require_tenant(self._r)
        rows = await self._r.all(
            "SELECT flow_id, latest, published, published_at, created_at FROM flows "
            "WHERE tenant_id = ? ORDER BY flow_id",
            (self._tenant_id,),
        )
        return [
            FlowInfo(flow_id=r[0], latest=r[1], published=r[2], published_at=r[3], created_at=r[4])
            for r in rows
        ]

    async def versions(self, flow_id: str) -> list[VersionInfo]:
        rows = await self._r.all(
            f"SELECT {_VERSION_COLUMNS} FROM flow_versions "
            "WHERE tenant_id = ? AND flow_id = ? ORDER BY version",
            (self._tenant_id, flow_id),
        )
        if not rows:
            raise self._unknown_flow(flow_id)
        return [_version_info(r) for r in rows]

    async def published(self, flow_id: str) -> int | None:
        row = await self._r.one(
            "SELECT published FROM flows WHERE tenant_id = ? AND flow_id = ?",
            (self._tenant_id, flow_id),
        )
        if row is None:
            raise self._unknown_flow(flow_id)
        return row[0]  # type: ignore[no-any-return]

    async def version(self, flow_id: str, version: int | None = None) -> Version:
        if version is None:
            version = await self.published(flow_id)
            if version is None:
                raise NotFound(
                    f"Flow `{flow_id}` of tenant `{self._tenant_id}` has no published "
                    f"version; publish one with `flowctl store publish {flow_id} VERSION`"
                )
        row = await self._r.one(
            f"SELECT {_VERSION_COLUMNS}, document, findings FROM flow_versions "
            "WHERE tenant_id = ? AND flow_id = ? AND version = ?",
            (self._tenant_id, flow_id, version),
        )
        if row is None:
            await self.published(flow_id)  # NotFound for the flow itself
            raise NotFound(
                f"Flow `{flow_id}` of tenant `{self._tenant_id}` has no version {version}"
            )
        info = _version_info(row)
        return Version(
            **msgspec.structs.asdict(info), document=row[7], findings=_findings.decode(row[8])
        )

    async def history(self, flow_id: str) -> list[Publication]:
        await self.published(flow_id)
        rows = await self._r.all(
            f"SELECT {_PUBLICATION_COLUMNS} FROM publications "
            "WHERE tenant_id = ? AND flow_id = ? ORDER BY seq",
            (self._tenant_id, flow_id),
        )
        return [_publication(r) for r in rows]

    # --- publishing -----------------------------------------------------------------------

    async def publish(
        self,
        flow_id: str,
        version: int,
        *,
        actor: str,
        expected_current: int | EllipsisType | None = ...,
    ) -> Publication:
        check_actor(actor)
        async with self._w.transaction() as tx:
            current, seq = await self._pointer(tx, flow_id)
            _expect(f"publish `{flow_id}` v{version}", flow_id, expected_current, current)
            if current == version:  # already there: nothing moves, nothing is recorded
                row = await tx.one(
                    f"SELECT {_PUBLICATION_COLUMNS} FROM publications "
                    "WHERE tenant_id = ? AND flow_id = ? AND seq = ?",
                    (self._tenant_id, flow_id, seq),
                )
                assert row is not None
                return _publication(row)
            await self._check_publishable(tx, flow_id, version, "publish")
            return await self._move(tx, flow_id, version, current, seq, "publish", actor)

    async def rollback(
        self,
        flow_id: str,
        *,
        actor: str,
        to: int | None = None,
        expected_current: int | EllipsisType | None = ...,
    ) -> Publication:
        check_actor(actor)
        async with self._w.transaction() as tx:
            current, seq = await self._pointer(tx, flow_id)
            _expect(f"roll back `{flow_id}`", flow_id, expected_current, current)
            if current is None:
                if seq:
                    raise StoreError(
                        f"`{flow_id}` is unpublished; publish a version to serve it again"
                    )
                raise StoreError(f"`{flow_id}` has never been published; nothing to roll back")
            if to is None:
                row = await tx.one(
                    "SELECT max(version) FROM publications "
                    "WHERE tenant_id = ? AND flow_id = ? AND version < ?",
                    (self._tenant_id, flow_id, current),
                )
                if row is None or row[0] is None:
                    raise StoreError(
                        f"`{flow_id}` v{current} is the earliest version ever published; "
                        "nothing earlier to roll back to"
                    )
                to = int(row[0])
            elif to >= current:
                raise StoreError(
                    f"v{to} is not earlier than the published v{current}; "
                    f"use `flowctl store publish {flow_id} {to}`"
                )
            await self._check_publishable(tx, flow_id, to, "roll back to")
            return await self._move(tx, flow_id, to, current, seq, "rollback", actor)

    async def unpublish(
        self,
        flow_id: str,
        *,
        actor: str,
        expected_current: int | EllipsisType | None = ...,
    ) -> Publication:
        check_actor(actor)
        async with self._w.transaction() as tx:
            current, seq = await self._pointer(tx, flow_id)
            _expect(f"unpublish `{flow_id}`", flow_id, expected_current, current)
            if current is None:
                raise StoreError(f"`{flow_id}` is not published; nothing to unpublish")
            return await self._move(tx, flow_id, None, current, seq, "unpublish", actor)

    async def _pointer(self, tx: Tx, flow_id: str) -> tuple[int | None, int]:
        """The published version and the number of publications, read under the lock."""
        row = await tx.one(
            "SELECT published, publications FROM flows WHERE tenant_id = ? AND flow_id = ?",
            (self._tenant_id, flow_id),
        )
        if row is None:
            raise self._unknown_flow(flow_id)
        return row[0], row[1]

    async def _check_publishable(self, tx: Tx, flow_id: str, version: int, verb: str) -> None:
        row = await tx.one(
            "SELECT errors, findings FROM flow_versions "
            "WHERE tenant_id = ? AND flow_id = ? AND version = ?",
            (self._tenant_id, flow_id, version),
        )
        if row is None:
            raise NotFound(
                f"Flow `{flow_id}` of tenant `{self._tenant_id}` has no version {version}"
            )
        if row[0]:
            errors = [f for f in _findings.decode(row[1]) if f.severity == "error"]
            shown = "; ".join(f"{f.row}:{f.column}: {f.code} {f.message}" for f in errors[:3])
            more = f"; and {len(errors) - 3} more" if len(errors) > 3 else ""
            noun = "error" if len(errors) == 1 else "errors"
            raise NotPublishable(
                f"Cannot {verb} `{flow_id}` v{version}: it has {len(errors)} lint {noun}: "
                f"{shown}{more}. Fix them and push a new version",
                errors,
            )

    async def _move(
        self,
        tx: Tx,
        flow_id: str,
        version: int | None,
        current: int | None,
        seq: int,
        action: str,
        actor: str,
    ) -> Publication:
        now = self._clock()
        seq += 1
        await tx.run(
            f"INSERT INTO publications (tenant_id, {_PUBLICATION_COLUMNS}) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (self._tenant_id, flow_id, seq, version, current, action, actor, now),
        )
        await tx.run(
            "UPDATE flows SET published = ?, published_at = ?, publications = ? "
            "WHERE tenant_id = ? AND flow_id = ?",
            (version, None if version is None else now, seq, self._tenant_id, flow_id),
        )
        detail = {"version": version, "previous": current}
        await audit(tx, self._tenant_id, actor, f"flow.{action}", flow_id, detail, now)
        await bump_changes(tx)
        return Publication(
            flow_id=flow_id,
            seq=seq,
            version=version,
            previous=current,
            action=action,  # type: ignore[arg-type]
            actor=actor,
            at=now,
        )
