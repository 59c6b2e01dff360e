"""Flows in the store: storing prepared versions, reading them, moving the
published pointer (publish, rollback, unpublish) in a write transaction with an
optional optimistic check, disabling and enabling a flow, and deleting a flow no one
can get any more.

A flow is enabled (routed to) unless it is disabled (``flows.disabled_at``) or its
published version says ``"enabled": false`` (``flow_versions.enabled``, kept at push),
so routing reads it with the flow's row and never reads a document.

A deleted flow is marked (``flows.deleted_at``), not erased: versions are immutable
and the sessions recorded on them stay readable. Every read here skips it, so it is
an unknown flow; pushing its id again brings it back, with its versions.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from flowctl.engine.store.documents import Prepared, check_actor
from flowctl.engine.store.errors import (
    FlowInUse,
    NotFound,
    PointerRefused,
    StoreConflict,
    StoreError,
)
from flowctl.engine.store.records import (
    Expected,
    FlowInfo,
    Move,
    Publication,
    PushResult,
    Version,
    VersionInfo,
    version_name,
)
from flowctl.engine.store.routing import routes_to
from flowctl.engine.store.sql.db import Db, Row, Tx, audit, bump_changes
from flowctl.engine.store.sql.part import TenantPart
from flowctl.engine.store.sql.rows import (
    columns,
    findings_value,
    json_value,
    record,
    template_ref,
)
from flowctl.engine.store.sql.versioned import Versioned

__all__ = ["Flows"]

_VERSION = columns(VersionInfo)
_PUBLICATION = columns(Publication)
# 1 when the flow is not disabled and its published version (if any) is enabled.
_ENABLED = (
    "CASE WHEN disabled_at IS NULL AND coalesce((SELECT v.enabled FROM flow_versions v "
    "WHERE v.tenant_id = flows.tenant_id AND v.flow_id = flows.flow_id "
    "AND v.version = flows.published), 1) = 1 THEN 1 ELSE 0 END"
)
_FLOW = columns(FlowInfo, enabled=_ENABLED)


def _flow_info(row: Row) -> FlowInfo:
    return record(FlowInfo, row, enabled=bool)


def _version_info(row: Row) -> VersionInfo:
    return record(VersionInfo, row, template=template_ref)


_FLOWS = Versioned(
    kind="flow",
    table="flows",
    versions="flow_versions",
    key=("tenant_id", "flow_id"),
    info=VersionInfo,
    select=_VERSION,
    read=_version_info,
    marks_deleted=True,
)


class Flows(TenantPart):
    """The flows part of :class:`~flowctl.engine.store.sql.tenant.SQLTenantStore`."""

    async def _flow(self, db: Db | Tx, select: str, flow_id: str) -> Row | None:
        """The flow's row with the columns ``select`` names; None when there is no such
        flow here, or it was deleted."""
        return await db.one(
            f"SELECT {select} FROM flows "
            "WHERE tenant_id = ? AND flow_id = ? AND deleted_at IS NULL",
            (self._tenant_id, flow_id),
        )

    async def push(
        self, prepared: Prepared, *, actor: str, flow_id: str | None = None
    ) -> PushResult:
        _FLOWS.check_push(prepared, actor)
        if flow_id is not None and flow_id != prepared.flow_id:
            raise StoreError(
                f"The document is a version of `{prepared.flow_id}`, not of `{flow_id}`"
            )
        template = prepared.template
        now = self._clock()
        async with self._w.transaction() as tx:
            await self._require_tenant(tx)
            info, created = await _FLOWS.push(
                tx,
                self._tenant_id,
                prepared,
                actor=actor,
                now=now,
                charged=self._tenant_id,
                columns={"enabled": int(prepared.enabled)},
                fields={},
                audited={} if template is None else {"template": str(template)},
            )
        return PushResult(version=info, created=created)

    async def flows(self) -> list[FlowInfo]:
        await self._require_tenant(self._r)
        rows = await self._r.all(
            f"SELECT {_FLOW} FROM flows WHERE tenant_id = ? AND deleted_at IS NULL "
            "ORDER BY flow_id",
            (self._tenant_id,),
        )
        return [_flow_info(r) for r in rows]

    async def versions(self, flow_id: str) -> list[VersionInfo]:
        if await self._flow(self._r, "1", flow_id) is None:
            raise self._unknown("flow", flow_id)
        rows = await self._r.all(
            f"SELECT {_VERSION} FROM flow_versions "
            "WHERE tenant_id = ? AND flow_id = ? ORDER BY version",
            (self._tenant_id, flow_id),
        )
        if not rows:
            raise self._unknown("flow", flow_id)
        return [_version_info(r) for r in rows]

    async def published(self, flow_id: str) -> int | None:
        row = await self._flow(self._r, "published", flow_id)
        if row is None:
            raise self._unknown("flow", flow_id)
        published: int | None = row["published"]
        return published

    async def version(self, flow_id: str, version: int | None = None) -> Version:
        published = await self.published(flow_id)  # NotFound for the flow itself
        if version is None:
            version = published
            if version is None:
                raise NotFound(
                    f"Flow `{flow_id}` of tenant `{self._tenant_id}` has no published "
                    f"version; publish one with `flowctl store publish {flow_id} VERSION`"
                )
        row = await self._row(
            self._r, columns(Version), "flow_versions", flow_id=flow_id, version=version
        )
        if row is None:
            raise self._no_version(flow_id, version)
        return record(Version, row, findings=findings_value, template=template_ref)

    async def history(self, flow_id: str) -> list[Publication]:
        await self.published(flow_id)
        rows = await self._r.all(
            f"SELECT {_PUBLICATION} FROM publications "
            "WHERE tenant_id = ? AND flow_id = ? ORDER BY seq",
            (self._tenant_id, flow_id),
        )
        return [record(Publication, r) for r in rows]

    # --- publishing -----------------------------------------------------------------------

    async def publish(
        self, flow_id: str, version: int, *, actor: str, expected_current: Expected = ...
    ) -> Publication:
        doing = f"publish `{flow_id}` v{version}"
        async with self._moving(flow_id, actor, expected_current, doing) as (tx, current, seq):
            if current == version:  # already there: nothing moves, nothing is recorded
                row = await tx.one(
                    f"SELECT {_PUBLICATION} FROM publications "
                    "WHERE tenant_id = ? AND flow_id = ? AND seq = ?",
                    (self._tenant_id, flow_id, seq),
                )
                assert row is not None
                return record(Publication, row)
            await self._check_publishable(tx, flow_id, version, "publish")
            return await self._move(tx, flow_id, version, current, seq, "publish", actor)

    async def rollback(
        self, flow_id: str, *, actor: str, to: int | None = None, expected_current: Expected = ...
    ) -> Publication:
        doing = f"roll back `{flow_id}`"
        async with self._moving(flow_id, actor, expected_current, doing) as (tx, current, seq):
            if current is None:
                if seq:
                    raise PointerRefused(
                        f"`{flow_id}` is unpublished; publish a version to serve it again"
                    )
                raise PointerRefused(f"`{flow_id}` has never been published; nothing to roll back")
            if to is None:
                row = await tx.one(
                    "SELECT max(version) AS earlier FROM publications "
                    "WHERE tenant_id = ? AND flow_id = ? AND version < ?",
                    (self._tenant_id, flow_id, current),
                )
                if row is None or row["earlier"] is None:
                    raise PointerRefused(
                        f"`{flow_id}` v{current} is the earliest version ever published; "
                        "nothing earlier to roll back to"
                    )
                to = int(row["earlier"])
            elif to >= current:
                raise PointerRefused(
                    f"v{to} is not earlier than the published v{current}; "
                    f"use `flowctl store publish {flow_id} {to}`"
                )
            await self._check_publishable(tx, flow_id, to, "roll back to")
            return await self._move(tx, flow_id, to, current, seq, "rollback", actor)

    async def unpublish(
        self, flow_id: str, *, actor: str, expected_current: Expected = ...
    ) -> Publication:
        doing = f"unpublish `{flow_id}`"
        async with self._moving(flow_id, actor, expected_current, doing) as (tx, current, seq):
            if current is None:
                raise PointerRefused(f"`{flow_id}` is not published; nothing to unpublish")
            return await self._move(tx, flow_id, None, current, seq, "unpublish", actor)

    async def delete(self, flow_id: str, *, actor: str) -> FlowInfo:
        check_actor(actor)
        async with self._w.transaction() as tx:
            row = await self._flow(tx, _FLOW, flow_id)
            if row is None:
                raise self._unknown("flow", flow_id)
            flow = _flow_info(row)
            if flow.published is not None:
                raise FlowInUse(
                    f"Cannot delete `{flow_id}`: v{flow.published} is published; unpublish "
                    f"it first with `flowctl store unpublish {flow_id}`"
                )
            tenant = await tx.one(
                "SELECT routing FROM tenants WHERE tenant_id = ?", (self._tenant_id,)
            )
            assert tenant is not None  # the flow is the tenant's
            routed = routes_to(json_value(tenant["routing"]), flow_id)
            if routed:
                raise FlowInUse(
                    f"Cannot delete `{flow_id}`: the routing of tenant `{self._tenant_id}` "
                    f"names it (at `{'`, `'.join(routed)}`); remove it from the tenant's "
                    f"routing first with `flowctl tenants set-routing {self._tenant_id} ROUTING`"
                )
            now = self._clock()
            await tx.run(
                "UPDATE flows SET deleted_at = ? WHERE tenant_id = ? AND flow_id = ?",
                (now, self._tenant_id, flow_id),
            )
            detail = {"versions": flow.latest}
            await audit(tx, self._tenant_id, actor, "flow.delete", flow_id, detail, now)
            await bump_changes(tx)
        return flow

    async def disable(self, flow_id: str, *, actor: str) -> FlowInfo:
        return await self._set_disabled(flow_id, True, actor)

    async def enable(self, flow_id: str, *, actor: str) -> FlowInfo:
        return await self._set_disabled(flow_id, False, actor)

    async def _set_disabled(self, flow_id: str, disabled: bool, actor: str) -> FlowInfo:
        """Set or clear the flag; audited, and counted as a change (workers route by
        it), when it moves. Asking for what is so already changes nothing."""
        check_actor(actor)
        async with self._w.transaction() as tx:
            row = await self._flow(tx, "disabled_at, published", flow_id)
            if row is None:
                raise self._unknown("flow", flow_id)
            if (row["disabled_at"] is not None) != disabled:
                now = self._clock()
                await tx.run(
                    "UPDATE flows SET disabled_at = ? WHERE tenant_id = ? AND flow_id = ?",
                    (now if disabled else None, self._tenant_id, flow_id),
                )
                action = "flow.disable" if disabled else "flow.enable"
                detail = {"published": row["published"]}
                await audit(tx, self._tenant_id, actor, action, flow_id, detail, now)
                await bump_changes(tx)
            row = await self._flow(tx, _FLOW, flow_id)
        assert row is not None
        return _flow_info(row)

    @asynccontextmanager
    async def _moving(
        self, flow_id: str, actor: str, expected: Expected, doing: str
    ) -> AsyncIterator[tuple[Tx, int | None, int]]:
        """A write transaction moving the flow's pointer (``doing``, for messages): yields
        it with the published version and the number of publications, read under its
        lock, once the optimistic check passed: ``expected`` (``...``: no check) must be
        what is published now."""
        check_actor(actor)
        async with self._w.transaction() as tx:
            row = await self._flow(tx, "published, publications", flow_id)
            if row is None:
                raise self._unknown("flow", flow_id)
            current: int | None = row["published"]
            if expected is not ... and expected != current:
                raise StoreConflict(
                    f"Cannot {doing}: expected {version_name(expected)} to be published, but "
                    f"{version_name(current)} is (someone changed it in between)",
                    f"look again with `flowctl store show {flow_id}` and retry",
                    expected=expected,
                    current=current,
                )
            yield tx, current, row["publications"]

    async def _check_publishable(self, tx: Tx, flow_id: str, version: int, verb: str) -> None:
        key = (self._tenant_id, flow_id)
        missing = self._no_version(flow_id, version)
        await _FLOWS.check_publishable(tx, key, version, f"{verb} `{flow_id}`", missing)

    async def _move(
        self,
        tx: Tx,
        flow_id: str,
        version: int | None,
        current: int | None,
        seq: int,
        action: Move,
        actor: str,
    ) -> Publication:
        now = self._clock()
        seq += 1
        await tx.run(
            f"INSERT INTO publications (tenant_id, {_PUBLICATION}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (self._tenant_id, flow_id, seq, version, current, action, actor, now),
        )
        await _FLOWS.move(
            tx,
            (self._tenant_id, flow_id),
            version,
            current,
            action=action,
            actor=actor,
            now=now,
            columns={"publications": seq},
        )
        await bump_changes(tx)
        return Publication(
            flow_id=flow_id,
            seq=seq,
            version=version,
            previous=current,
            action=action,
            actor=actor,
            at=now,
        )
