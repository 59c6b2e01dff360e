"""A push through the API is linted once, in a worker thread (issue 12, item 5): the
store keeps the document the API prepared instead of linting it again on the event
loop, which once froze `/health` and every tenant for the length of a lint."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from storekit import flow_doc, opened

import flowctl.engine.lint
from flowctl.api.auth import Caller
from flowctl.api.versions import pushed
from flowctl.engine.store import Store


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    s = await opened(tmp_path / "flowctl.db")
    await s.create_tenant("acme", actor="ana")
    yield s
    await s.close()


async def test_api_push_lints_once_off_the_event_loop(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    linted_in: list[threading.Thread] = []
    lint = flowctl.engine.lint.check

    def counting(*args: Any, **kwargs: Any) -> Any:
        linted_in.append(threading.current_thread())
        return lint(*args, **kwargs)

    monkeypatch.setattr(flowctl.engine.lint, "check", counting)
    caller = Caller(
        key_id="k1", tenant_id="acme", role="developer", platform=False, tenant=store.tenant("acme")
    )
    result = await pushed(caller, flow_doc(), None)
    assert (result.flow_id, result.version, result.errors) == ("clinic", 1, 0)
    assert len(linted_in) == 1
    assert linted_in[0] is not threading.main_thread()
