"""What flows and templates share in the store: each is a row (its latest and published
versions) over immutable versions, pushed and published the same way. A
:class:`Versioned` says where one kind is kept, and does the steps both take: storing
a prepared document as the next version (or finding it stored already), refusing to
publish a version with lint errors, and moving the published pointer.

What is one kind's alone stays in its part: a flow's deletion, its publications
(history, rollback, the optimistic check) and the changes workers route by
(``flows``); a template's owners, the operator's charged to no one (``templates``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar

import msgspec

from flowctl.engine.store.documents import Prepared, check_actor, lint_errors
from flowctl.engine.store.errors import NotFound, NotPublishable, StoreError
from flowctl.engine.store.sql.db import Row, Tx, audit
from flowctl.engine.store.sql.part import charge_quota
from flowctl.engine.store.sql.rows import findings_value, ref_text

__all__ = ["Versioned"]

V = TypeVar("V", bound=msgspec.Struct)  # a kind's version info

Kind = Literal["flow", "template"]
# The command that pushes each kind, for the message refusing the other kind.
_PUSH: dict[Kind, str] = {"flow": "flowctl store push", "template": "flowctl store templates push"}


@dataclass(frozen=True, slots=True)
class Versioned(Generic[V]):
    """Where one kind of document is kept: a row of ``table`` per document, named by
    the columns ``key`` (its owner's, then its id's), and its versions in ``versions``.
    A version's info is ``info``, named by the same columns; ``read`` reads it from a
    row of ``versions`` selected with ``select``. ``marks_deleted``: a deleted
    document's row is marked (``deleted_at``), and pushing it again brings it back."""

    kind: Kind
    table: str
    versions: str
    key: tuple[str, str]
    info: type[V]
    select: str
    read: Callable[[Row], V]
    marks_deleted: bool = False

    @property
    def _where(self) -> str:
        return f"{self.key[0]} = ? AND {self.key[1]} = ?"

    def check_push(self, prepared: Prepared, actor: str) -> None:
        """Refuse, before any statement runs, a push by no one or of the other kind."""
        check_actor(actor)
        if prepared.kind != self.kind:
            raise StoreError(
                f"`{prepared.flow_id}` is a {prepared.kind}, not a {self.kind}; push it with "
                f"`{_PUSH[prepared.kind]}`"
            )

    async def push(
        self,
        tx: Tx,
        owner: str,
        prepared: Prepared,
        *,
        actor: str,
        now: float,
        charged: str | None,
        columns: Mapping[str, Any],
        fields: Mapping[str, Any],
        audited: Mapping[str, Any],
    ) -> tuple[V, bool]:
        """Store ``prepared`` as the owner's next version, in ``tx``, counted against the
        quota of tenant ``charged`` (None: no one's): its info, and True. When the
        document (with what it extends) is a version already: that one's, and False.
        ``columns``: the version's columns only this kind has; ``fields``: its info's
        fields no column holds; ``audited``: what the audit notes besides."""
        key = (owner, prepared.flow_id)
        select = "latest, deleted_at" if self.marks_deleted else "latest"
        row = await tx.one(f"SELECT {select} FROM {self.table} WHERE {self._where}", key)
        if self.marks_deleted and row is not None and row["deleted_at"] is not None:
            # pushed again: it is back
            await tx.run(f"UPDATE {self.table} SET deleted_at = NULL WHERE {self._where}", key)
        if row is None:
            await tx.run(
                f"INSERT INTO {self.table} ({', '.join(self.key)}, created_at) VALUES (?, ?, ?)",
                (*key, now),
            )
            latest = 0
        else:
            latest = row["latest"]
            same = await tx.one(
                f"SELECT {self.select} FROM {self.versions} WHERE {self._where} AND hash = ?",
                (*key, prepared.hash),
            )
            if same is not None:
                return self.read(same), False
        if charged is not None:
            await charge_quota(tx, charged, len(prepared.document.encode()))
        version = latest + 1
        stored = {
            self.key[0]: owner,
            self.key[1]: prepared.flow_id,
            "version": version,
            "hash": prepared.hash,
            "document": prepared.document,
            "author": actor,
            "created_at": now,
            "findings": msgspec.json.encode(prepared.findings).decode(),
            "errors": prepared.errors,
            "warnings": prepared.warnings,
            **columns,
            "template": ref_text(prepared.template),
        }
        await tx.run(
            f"INSERT INTO {self.versions} ({', '.join(stored)}) "
            f"VALUES ({', '.join('?' for _ in stored)})",
            tuple(stored.values()),
        )
        await tx.run(f"UPDATE {self.table} SET latest = ? WHERE {self._where}", (version, *key))
        detail = {
            "version": version,
            "hash": prepared.hash,
            "errors": prepared.errors,
            "warnings": prepared.warnings,
            **audited,
        }
        await audit(tx, owner, actor, f"{self.kind}.push", prepared.flow_id, detail, now)
        info = self.info(
            **{self.key[1]: prepared.flow_id},
            version=version,
            hash=prepared.hash,
            author=actor,
            created_at=now,
            errors=prepared.errors,
            warnings=prepared.warnings,
            template=prepared.template,
            **fields,
        )
        return info, True

    async def check_publishable(
        self, tx: Tx, key: tuple[str, str], version: int, doing: str, missing: NotFound
    ) -> None:
        """Refuse to publish a version with lint errors (``doing`` says what was asked
        in the message, as ``"publish `clinic`"``); raise ``missing`` when there is no
        such version."""
        row = await tx.one(
            f"SELECT errors, findings FROM {self.versions} WHERE {self._where} AND version = ?",
            (*key, version),
        )
        if row is None:
            raise missing
        if row["errors"]:
            errors = [f for f in findings_value(row["findings"]) if f.severity == "error"]
            raise NotPublishable(
                f"Cannot {doing} v{version}: it has {lint_errors(errors)}. "
                "Fix them and push a new version",
                errors,
            )

    async def move(
        self,
        tx: Tx,
        key: tuple[str, str],
        version: int | None,
        previous: int | None,
        *,
        action: str,
        actor: str,
        now: float,
        columns: Mapping[str, Any],
    ) -> None:
        """Point the published pointer at ``version`` (None: at none) from ``previous``,
        audited as ``action``; ``columns``: what else the row's move sets."""
        sets = {"published": version, "published_at": None if version is None else now}
        sets.update(columns)
        await tx.run(
            f"UPDATE {self.table} SET {', '.join(f'{c} = ?' for c in sets)} WHERE {self._where}",
            (*sets.values(), *key),
        )
        detail = {"version": version, "previous": previous}
        await audit(tx, key[0], actor, f"{self.kind}.{action}", key[1], detail, now)
