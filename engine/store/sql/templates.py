"""Templates in the store (``flowctl.engine.extends``), versioned as flows are (the
steps both take are ``versioned``'s): pushed as immutable versions, one of them
published. Flows pushed from then on are resolved against the published one, and each
flow version pins what it was resolved against (``flow_versions.template``), so
publishing a template changes no flow until it is pushed again.

A template belongs to one owner: a tenant (``templates.owner`` is its id) or the
operator, whose templates every tenant may extend (``owner`` ``''``).
:class:`TemplateShelf` holds one owner's; a tenant's handle (:class:`Templates`) writes
its own and reads the operator's beside them, and the store hands the operator's shelf
out for writing (``Store.shared_templates``). No statement names another tenant:
a tenant's flow can only ever extend its own templates or the operator's.
"""

from __future__ import annotations

from typing import Any

from flowctl.engine.store.documents import Prepared, check_actor
from flowctl.engine.store.errors import NotFound
from flowctl.engine.store.records import (
    TemplateInfo,
    TemplatePushResult,
    TemplateRef,
    TemplateUse,
    TemplateVersion,
    TemplateVersionInfo,
)
from flowctl.engine.store.sql.db import Row
from flowctl.engine.store.sql.part import Shared, TenantPart
from flowctl.engine.store.sql.rows import columns, findings_value, record, template_ref
from flowctl.engine.store.sql.versioned import Versioned

__all__ = ["SHARED", "TemplateShelf", "Templates"]

SHARED = ""  # the owner of the operator's templates
_SHARED_COLUMN = "CASE WHEN owner = '' THEN 1 ELSE 0 END"
_INFO = columns(TemplateInfo, shared=_SHARED_COLUMN)
_VERSION_INFO = columns(TemplateVersionInfo, shared=_SHARED_COLUMN)
_VERSION = columns(TemplateVersion, shared=_SHARED_COLUMN)


def _info(row: Row) -> TemplateInfo:
    return record(TemplateInfo, row, shared=bool)


def _version_info(row: Row) -> TemplateVersionInfo:
    return record(TemplateVersionInfo, row, shared=bool, template=template_ref)


def _no_version(template_id: str, version: int) -> NotFound:
    return NotFound(f"Template `{template_id}` has no version {version}")


_TEMPLATES = Versioned(
    kind="template",
    table="templates",
    versions="template_versions",
    key=("owner", "template_id"),
    info=TemplateVersionInfo,
    select=_VERSION_INFO,
    read=_version_info,
)


class TemplateShelf:
    """One owner's templates (``flowctl.engine.store.TemplateShelf``): a tenant's, or
    the operator's shared ones (``owner`` :data:`SHARED`)."""

    def __init__(self, owner: str, shared: Shared) -> None:
        self._owner = owner
        self._w = shared.writer
        self._r = shared.reader
        self._clock = shared.clock

    @property
    def shared(self) -> bool:
        return self._owner == SHARED

    def __repr__(self) -> str:
        return f"<TemplateShelf {'shared' if self.shared else repr(self._owner)}>"

    def _unknown(self, template_id: str) -> NotFound:
        if self.shared:
            return NotFound(f"Unknown shared template `{template_id}`")
        return NotFound(f"Unknown template `{template_id}` for tenant `{self._owner}`")

    async def push_template(self, prepared: Prepared, *, actor: str) -> TemplatePushResult:
        _TEMPLATES.check_push(prepared, actor)
        template = None if prepared.template is None else str(prepared.template)
        now = self._clock()
        async with self._w.transaction() as tx:
            info, created = await _TEMPLATES.push(
                tx,
                self._owner,
                prepared,
                actor=actor,
                now=now,
                charged=None if self.shared else self._owner,
                columns={},
                fields={"shared": self.shared},
                audited={"template": template},
            )
        return TemplatePushResult(version=info, created=created)

    async def publish_template(self, template_id: str, version: int, *, actor: str) -> TemplateInfo:
        """Make ``version`` the one flows pushed from now on are resolved against
        (lint-clean only). Flows pushed before keep the version they pinned."""
        check_actor(actor)
        key = (self._owner, template_id)
        async with self._w.transaction() as tx:
            row = await tx.one(
                "SELECT published FROM templates WHERE owner = ? AND template_id = ?", key
            )
            if row is None:
                raise self._unknown(template_id)
            doing = f"publish template `{template_id}`"
            missing = _no_version(template_id, version)
            await _TEMPLATES.check_publishable(tx, key, version, doing, missing)
            if row["published"] != version:
                await _TEMPLATES.move(
                    tx,
                    key,
                    version,
                    row["published"],
                    action="publish",
                    actor=actor,
                    now=self._clock(),
                    columns={},
                )
            info = await tx.one(
                f"SELECT {_INFO} FROM templates WHERE owner = ? AND template_id = ?", key
            )
        assert info is not None
        return _info(info)

    async def templates(self) -> list[TemplateInfo]:
        rows = await self._r.all(
            f"SELECT {_INFO} FROM templates WHERE owner = ? ORDER BY template_id",
            (self._owner,),
        )
        return [_info(r) for r in rows]

    async def template_versions(self, template_id: str) -> list[TemplateVersionInfo]:
        rows = await self._r.all(
            f"SELECT {_VERSION_INFO} FROM template_versions "
            "WHERE owner = ? AND template_id = ? ORDER BY version",
            (self._owner, template_id),
        )
        if not rows:
            raise self._unknown(template_id)
        return [_version_info(r) for r in rows]

    async def template(self, template_id: str, version: int | None = None) -> TemplateVersion:
        """One version with its document (None: the published one)."""
        key = (self._owner, template_id)
        if version is None:
            row = await self._r.one(
                "SELECT published FROM templates WHERE owner = ? AND template_id = ?", key
            )
            if row is None:
                raise self._unknown(template_id)
            version = row["published"]
            if version is None:
                raise NotFound(
                    f"Template `{template_id}` has no published version; publish one with "
                    f"`flowctl store templates publish {template_id} VERSION`"
                )
        found = await self._r.one(
            f"SELECT {_VERSION} FROM template_versions "
            "WHERE owner = ? AND template_id = ? AND version = ?",
            (*key, version),
        )
        if found is None:
            if version is not None and await self._r.one(
                "SELECT 1 FROM templates WHERE owner = ? AND template_id = ?", key
            ):
                raise _no_version(template_id, version)
            raise self._unknown(template_id)
        return record(
            TemplateVersion, found, shared=bool, template=template_ref, findings=findings_value
        )


class Templates(TenantPart):
    """The templates part of :class:`~flowctl.engine.store.sql.tenant.SQLTenantStore`:
    the tenant's own shelf, and the operator's for reading."""

    def __init__(self, tenant_id: str, shared: Shared) -> None:
        super().__init__(tenant_id, shared)
        self._own = TemplateShelf(tenant_id, shared)
        self._shared_shelf = TemplateShelf(SHARED, shared)

    def _shelf(self, shared: bool) -> TemplateShelf:
        return self._shared_shelf if shared else self._own

    async def push_template(self, prepared: Prepared, *, actor: str) -> TemplatePushResult:
        await self._require_tenant(self._r)
        return await self._own.push_template(prepared, actor=actor)

    async def publish_template(self, template_id: str, version: int, *, actor: str) -> TemplateInfo:
        await self._require_tenant(self._r)
        return await self._own.publish_template(template_id, version, actor=actor)

    async def templates(self) -> list[TemplateInfo]:
        await self._require_tenant(self._r)
        return [*await self._own.templates(), *await self._shared_shelf.templates()]

    async def template_versions(
        self, template_id: str, *, shared: bool = False
    ) -> list[TemplateVersionInfo]:
        await self._require_tenant(self._r)
        return await self._shelf(shared).template_versions(template_id)

    async def template(
        self, template_id: str, version: int | None = None, *, shared: bool = False
    ) -> TemplateVersion:
        await self._require_tenant(self._r)
        return await self._shelf(shared).template(template_id, version)

    async def template_usage(self) -> list[TemplateUse]:
        await self._require_tenant(self._r)
        rows = await self._r.all(
            "SELECT v.flow_id AS flow_id, v.version AS version, v.template AS template, "
            "CASE WHEN f.published = v.version THEN 1 ELSE 0 END AS published "
            "FROM flow_versions v JOIN flows f "
            "ON f.tenant_id = v.tenant_id AND f.flow_id = v.flow_id "
            "WHERE v.tenant_id = ? AND v.template IS NOT NULL AND f.deleted_at IS NULL "
            "ORDER BY v.flow_id, v.version",
            (self._tenant_id,),
        )
        return [record(TemplateUse, r, published=bool, template=_pinned) for r in rows]


def _pinned(text: Any) -> TemplateRef:
    ref = template_ref(text)
    assert ref is not None  # the query reads only pinned versions
    return ref
