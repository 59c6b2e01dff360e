"""Rows to records, by column name: the one row mapper of the store.

A record's fields are named as the columns that hold them, so the SELECT list of a
record is its fields (:func:`columns`) and a row becomes the record by reading each
field's column by name (:func:`record`). Adding a column or reordering a SELECT
cannot shift a value into the wrong field, as reading by position could. Where the
stored form differs from the record's (JSON text, 0 or 1), the field's converter says
how to read it.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any, TypeVar

import msgspec

from flowctl.engine.boundary import TenantPolicy
from flowctl.engine.extends import TemplateRef
from flowctl.engine.store.records import StoredFinding
from flowctl.engine.store.sql.db import Row

__all__ = [
    "columns",
    "findings_value",
    "json_value",
    "policy_value",
    "record",
    "ref_text",
    "template_ref",
]

R = TypeVar("R", bound=msgspec.Struct)
_policy = msgspec.json.Decoder(TenantPolicy)
_ref = msgspec.json.Decoder(TemplateRef)
_findings = msgspec.json.Decoder(list[StoredFinding])


@functools.cache
def _fields(cls: type[msgspec.Struct]) -> tuple[str, ...]:
    return tuple(f.name for f in msgspec.structs.fields(cls))


def columns(cls: type[msgspec.Struct], **renamed: str) -> str:
    """The SELECT list that reads ``cls``: its fields, each from the column of its name
    or from ``renamed[field]`` (``when="due"``: ``due AS "when"``)."""
    return ", ".join(
        f'{renamed[name]} AS "{name}"' if name in renamed else name for name in _fields(cls)
    )


def record(cls: type[R], row: Row, **convert: Callable[[Any], Any]) -> R:
    """The ``cls`` a row read with :func:`columns` holds; ``convert[field]`` turns a
    field's stored form into the record's."""
    values = {name: row[name] for name in _fields(cls)}
    for name, to_value in convert.items():
        values[name] = to_value(values[name])
    return cls(**values)


def json_value(text: str | None) -> Any:
    """A JSON document the store keeps as text (None: NULL)."""
    return None if text is None else json.loads(text)


def policy_value(text: str | None) -> TenantPolicy:
    """A tenant's policy as kept (NULL: the default policy, which grants nothing)."""
    return TenantPolicy() if text is None else _policy.decode(text)


def findings_value(text: str) -> list[StoredFinding]:
    """A version's lint findings as kept (JSON)."""
    return _findings.decode(text)


def template_ref(text: str | None) -> TemplateRef | None:
    """A pinned template version as a column keeps it (JSON; NULL: none)."""
    return None if text is None else _ref.decode(text)


def ref_text(ref: TemplateRef | None) -> str | None:
    return None if ref is None else msgspec.json.encode(ref).decode()
