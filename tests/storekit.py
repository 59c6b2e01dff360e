"""Helpers for the store tests: a fake clock, flow documents, an opened store."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from conftest import minimal

from flowctl.engine.boundary import TenantPolicy
from flowctl.engine.store import Store, open_store

T0 = 1_700_000_000.0  # 2023-11-14T22:13:20Z


class Clock:
    """Each reading is one second after the last, starting at T0 + 1."""

    def __init__(self, start: float = T0) -> None:
        self.now = start

    def __call__(self) -> float:
        self.now += 1
        return self.now

    def reads(self, then: float) -> None:
        """Make the next reading ``then`` (and those after it one second apart)."""
        self.now = then - 1


# What a tenant needs granted to publish the example flows (flows/*.json): the numbers
# and SIP URIs their transfer_call tools go to. Tenants' flows get nothing ungranted.
EXAMPLE_POLICY = TenantPolicy(
    transfer_to=[
        "tel:+15555550100",
        "tel:+15555550142",
        "tel:+15555550177",
        "sip:support@shiftwise.example",
    ]
)


def flow_doc(flow_id: str = "clinic", note: str = "", **main: Any) -> bytes:
    """A lint-clean two-state flow, pretty-printed; ``note`` makes another version."""
    doc = minimal(**main)
    doc = {"flow_id": flow_id, **doc}
    if note:
        doc["agents"][0]["instructions"] += f" {note}"
    return json.dumps(doc, indent=2).encode()


def template_doc(template_id: str = "desk", note: str = "", **more: Any) -> bytes:
    """A lint-clean template: the two states of :func:`flow_doc`, the first greeting
    with ``note`` (another version), its instructions reading the abstract variable
    `company`, which each extension gives a value; ``more``: top-level fields."""
    doc: dict[str, Any] = {
        "template_id": template_id,
        "abstract": {"variables": {"company": "The company's name, said in the greeting"}},
        "variables": {"company": {"type": "str", "description": "The company's name."}},
        **minimal(on_enter_prompt=f"Thanks for calling {{{{company}}}}.{note}"),
        **more,
    }
    return json.dumps(doc, indent=2).encode()


def extending_doc(flow_id: str = "clinic", template: str = "desk", **more: Any) -> bytes:
    """A flow that extends ``template`` (a :func:`template_doc`), giving `company` a
    value; ``more``: top-level fields."""
    doc = {
        "flow_id": flow_id,
        "extends": template,
        "variables": {"company": {"default": "Acme"}},
        **more,
    }
    return json.dumps(doc, indent=2).encode()


def broken_doc(flow_id: str = "clinic") -> bytes:
    """A flow with one lint error: FL104 at 15:9."""
    return flow_doc(flow_id, tools=["nosuch"])


def warned_doc(flow_id: str = "clinic") -> bytes:
    """A flow with one lint warning: FL404 at 10:26."""
    doc = json.loads(flow_doc(flow_id))
    doc["agents"][0]["edges"][0]["description"] = "bye"
    return json.dumps(doc, indent=2).encode()


def store_url(target: Any) -> str:
    """A store's URL: ``target`` itself when it is one (``store_target``'s PostgreSQL
    schema), else the SQLite file at that path."""
    return target if isinstance(target, str) and "://" in target else f"sqlite:///{target}"


async def opened(target: Any, clock: Clock | None = None, **kwargs: Any) -> Store:
    return await open_store(store_url(target), create=True, clock=clock or Clock(), **kwargs)


@asynccontextmanager
async def with_tenants(path: Any, **names: str) -> AsyncIterator[Store]:
    """A new store at ``path`` with a tenant per keyword (its id = its name), closed after."""
    store = await opened(path)
    for tenant_id, name in names.items():
        await store.create_tenant(tenant_id, actor="ana", name=name)
    yield store
    await store.close()


async def raw_rows(target: Any, sql: str) -> list[tuple[Any, ...]]:
    """The rows ``sql`` reads from the store at ``target`` straight through its driver,
    past the store, as tuples. The database's own refusal is raised as ``RawRefusal``."""
    if isinstance(target, str) and target.startswith("postgresql"):
        import asyncpg

        from flowctl.engine.store.postgres.store import parse_url

        dsn, schema, _, _ = parse_url(target, None)
        conn = await asyncpg.connect(dsn, server_settings={"search_path": schema})
        try:
            return [tuple(r) for r in await conn.fetch(sql)]
        except asyncpg.PostgresError as exc:
            raise RawRefusal(str(exc)) from None
        finally:
            await conn.close()
    import sqlite3

    db = sqlite3.connect(target)
    try:
        rows = [tuple(r) for r in db.execute(sql).fetchall()]
        db.commit()
        return rows
    except sqlite3.Error as exc:
        raise RawRefusal(str(exc)) from None
    finally:
        db.close()


class RawRefusal(Exception):
    """What the database itself said, refusing a statement run by :func:`raw_rows`."""


async def raw_refusal(target: Any, sql: str) -> str:
    """What the database itself says when ``sql`` runs on the store at ``target``
    (empty: it ran)."""
    try:
        await raw_rows(target, sql)
    except RawRefusal as exc:
        return str(exc)
    return ""
