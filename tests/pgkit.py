"""The PostgreSQL half of the store suite: a server to test against, and a schema of
its own for each test, dropped after it.

The server is ``$FLOWCTL_TEST_POSTGRES`` (default: the one every development and CI
machine of this project runs, ``postgresql://postgres@127.0.0.1:5432/test``). Where it
cannot be reached the PostgreSQL tests skip with the reason, except under
``FLOWCTL_REQUIRE_POSTGRES=1`` (``.ci/run`` sets it), where they fail: CI never passes
with the half of the suite that checks PostgreSQL left out.
"""

from __future__ import annotations

import os
import uuid

import pytest

DEFAULT = "postgresql://postgres@127.0.0.1:5432/test"


def server_url() -> str:
    return os.environ.get("FLOWCTL_TEST_POSTGRES", DEFAULT)


_probed: list[str | None] = []


async def unreachable() -> str | None:
    """Why the test server cannot be used (None: it can). Asked once per run."""
    if not _probed:
        import asyncpg

        try:
            conn = await asyncpg.connect(server_url(), timeout=3)
            await conn.close()
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            _probed.append(f"no PostgreSQL server at {server_url()} ({type(exc).__name__}: {exc})")
        else:
            _probed.append(None)
    return _probed[0]


async def require_server() -> str:
    """The server's URL, or skip (fail under FLOWCTL_REQUIRE_POSTGRES=1) saying why not."""
    reason = await unreachable()
    if reason is not None:
        if os.environ.get("FLOWCTL_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"FLOWCTL_REQUIRE_POSTGRES=1 but {reason}", pytrace=False)
        pytest.skip(reason)
    return server_url()


def new_schema() -> str:
    return f"flowctl_test_{uuid.uuid4().hex[:12]}"


async def schema_url(schema: str) -> str:
    base = await require_server()
    return f"{base}{'&' if '?' in base else '?'}schema={schema}"


async def drop_schema(schema: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(server_url(), timeout=5)
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await conn.close()
