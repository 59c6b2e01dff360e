"""Shared helpers: lint a document in memory, run the CLI, find fixtures."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from flowctl.engine.library import FileLibrary
from flowctl.engine.lint import check, is_flow_file
from flowctl.engine.load import load_bytes

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"
FLOWS = ROOT / "flows"
# The example flows, every `flows/*.json` that is a flow (not scenarios, not the schema).
EXAMPLES = sorted(p for p in FLOWS.glob("*.json") if is_flow_file(p))
# The examples that are our versions of other projects' published ones (issue 14), which
# the tenant `peer-examples` serves.
PEER_EXAMPLES = (
    "patient_intake",
    "restaurant_reservation",
    "insurance_quote",
    "food_ordering",
    "restaurant_agent",
)


def lint_doc(doc: dict[str, Any] | str | bytes, name: str = "flow.json") -> list[str]:
    """Lint a document given as a dict (pretty-printed first) or raw text, and return
    each finding as ``row:col CODE text``."""
    if isinstance(doc, dict):
        data = json.dumps(doc, indent=2).encode()
    elif isinstance(doc, str):
        data = doc.encode()
    else:
        data = doc
    return [
        f"{x.span.row}:{x.span.column} {x.finding.code} {x.finding.text}"
        for x in check(load_bytes(data, name, stem=Path(name).stem))
    ]


def codes(doc: dict[str, Any] | str | bytes) -> list[str]:
    return [line.split()[1] for line in lint_doc(doc)]


@pytest.fixture(scope="module")
def examples() -> FileLibrary:
    """The example flows (flows/), served as the worker serves a folder."""
    return FileLibrary.load(FLOWS)


@pytest.fixture(scope="module")
def desk() -> FileLibrary:
    """The pharmacy desk the voice tests call (tests/fixtures/voice)."""
    return FileLibrary.load(FIXTURES / "voice")


@pytest.fixture
def ran(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """What `flowctl.worker.server.run` was called with: (server, options) for each run,
    and nothing connects to LiveKit."""
    calls: list[Any] = []
    monkeypatch.setattr(
        "flowctl.worker.server.run", lambda server, **options: calls.append((server, options))
    )
    return calls


GOODBYE = {"name": "Goodbye", "instructions": "Thank the caller and say goodbye.", "end": True}
FINISH = {
    "name": "finish",
    "description": "The caller has no more questions and says goodbye",
    "target_agent": "Goodbye",
}


def minimal(**main: Any) -> dict[str, Any]:
    """A lint-clean two-state flow; keyword arguments override the first state's fields."""
    state = {
        "name": "Main",
        "instructions": "Help the caller with their question.",
        "edges": [FINISH],
    }
    state.update(main)
    return {"agents": [state, dict(GOODBYE)]}


def quiet_handoff(tmp_path: Path) -> Path:
    """A flow file whose ``to_desk`` enters ``Desk`` in silence (FL206, a warning): the
    edge has no ``say`` and ``Desk`` no greeting, so the caller hears nothing."""
    desk = {
        "name": "Desk",
        "instructions": "Answer the caller's questions for the front desk.",
        "edges": [FINISH],
    }
    to_desk = {
        "name": "to_desk",
        "description": "The caller asks for the front desk",
        "target_agent": "Desk",
    }
    doc = minimal(edges=[to_desk])
    doc["agents"].insert(1, desk)
    path = tmp_path / "quiet.json"
    path.write_text(json.dumps(doc))
    return path


@pytest.fixture
def clean_flow() -> dict[str, Any]:
    return minimal()


@pytest.fixture(scope="session")
def api(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """One real `flowctl serve` for the API tests (tests/apikit.py)."""
    from apikit import Server

    server = Server(tmp_path_factory.mktemp("api"))
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
async def store_target(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Any]:
    """Where a store test keeps its store, once per backend: an SQLite file (a path),
    or a PostgreSQL schema of its own (a URL), dropped after the test (tests/pgkit.py)."""
    if request.param == "sqlite":
        yield tmp_path / "flowctl.db"
        return
    import pgkit

    schema = pgkit.new_schema()
    url = await pgkit.schema_url(schema)
    try:
        yield url
    finally:
        await pgkit.drop_schema(schema)
