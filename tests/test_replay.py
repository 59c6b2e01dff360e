"""Replays: a session recorded in the store, re-run against another version of its
flow, reports the first turn whose path differs."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("livekit.agents")

from click.testing import CliRunner
from conftest import FLOWS
from flowkit import compile_example
from storekit import EXAMPLE_POLICY

from flowctl.cli.main import cli
from flowctl.engine.replay import scenario_from_events
from flowctl.engine.runtime import Conversation, ToolReturned
from flowctl.engine.scenario import Expect, ModelStep
from flowctl.engine.store import open_store
from flowctl.engine.store.documents import push_document
from flowctl.engine.store.events import Turn

CLINIC = (FLOWS / "clinic.json").read_text()
SPECIALIST = {"caller_name": "Ana", "specialist_question": "Can I take ibuprofen?"}


async def record(
    conv: Conversation, turns: list[tuple[str, list[tuple[str, dict[str, Any]]]]]
) -> list[Any]:
    """A call as the worker records it: the engine's history with the transcript."""
    events: list[Any] = []
    mark = 0
    for user, calls in turns:
        events.extend(conv.history[mark:])
        events.append(Turn(at=conv.clock(), role="user", text=user))
        mark = len(conv.history)
        for name, args in calls:
            await conv.fire(name, args)
    events.extend(conv.history[mark:])
    return events


CALL = [
    ("I'd like to ask about a medicine", [("transfer_to_specialist", {})]),
    ("I'm Ana; can I take ibuprofen?", [("transfer_to_specialist", SPECIALIST)]),
    ("Thanks, that's all", [("return_to_intake", {})]),
]


def test_a_recording_becomes_a_scenario() -> None:
    compiled = compile_example("clinic")
    conv = Conversation(compiled, variables={"caller_name": "Ana"})
    events = asyncio.run(record(conv, CALL))
    scenario = scenario_from_events("replay", events)
    assert scenario.variables == {"caller_name": "Ana"}
    assert [t.user for t in scenario.turns] == [u for u, _ in CALL]
    assert scenario.turns[1].model == [ModelStep(call="transfer_to_specialist", args=SPECIALIST)]
    assert scenario.turns[0].expect == Expect(
        state="IntakeAgent", edges=[], refused=["transfer_to_specialist"]
    )
    assert scenario.turns[1].expect == Expect(
        state="SpecialistAgent", edges=["transfer_to_specialist"], refused=[]
    )
    conv.close()


def test_a_recorded_list_answer_replays_as_that_one_answer() -> None:
    events = [
        Turn(at=0.0, role="user", text="What times are free?"),
        ToolReturned(at=0.0, tool="free_times", ok=True, value=["5 PM", "6 PM"]),
        ToolReturned(at=0.0, tool="party_size", ok=True, value={"max": 8}),
    ]
    scenario = scenario_from_events("replay", events)
    # A bare list would be a sequence of answers (flowctl.engine.mocks): it is wrapped.
    assert scenario.mocks == {"free_times": [["5 PM", "6 PM"]], "party_size": {"max": 8}}


@pytest.fixture
def store_with_a_call(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'flowctl.db'}"

    async def setup() -> None:
        async with await open_store(url, create=True) as store:
            await store.create_tenant("clinic-co", actor="test", policy=EXAMPLE_POLICY)
            ts = store.tenant("clinic-co")
            await push_document(ts, CLINIC, actor="test", flow_id="clinic")
            await ts.publish("clinic", 1, actor="test")
            # v2: the specialist now also needs the date of birth first
            doc = json.loads(CLINIC)
            edge = next(
                e for e in doc["agents"][0]["edges"] if e["name"] == "transfer_to_specialist"
            )
            edge["requires"] = ["date_of_birth"]
            doc["variables"].setdefault("date_of_birth", {"type": "str"})
            await push_document(ts, json.dumps(doc), actor="test", flow_id="clinic")
            info = await ts.start_session("clinic", session_id="call-1")
            compiled = compile_example("clinic")
            conv = Conversation(compiled)
            await ts.append_events(info.session_id, await record(conv, CALL))
            await ts.end_session(info.session_id, reason="end_call")
            conv.close()

    asyncio.run(setup())
    return url


def replay(url: str, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(
        cli, ["simulate", "--replay", "call-1", "--store", url, "-t", "clinic-co", *args]
    )
    return result.exit_code, result.stdout, result.stderr


def test_replaying_on_the_recorded_version_takes_the_same_path(store_with_a_call: str) -> None:
    assert replay(store_with_a_call) == (
        0,
        "same path: 3 turns of call-1 replayed on clinic v1 (recorded on v1)\n",
        "",
    )


def test_replaying_on_a_changed_version_names_the_first_divergence(store_with_a_call: str) -> None:
    code, out, err = replay(store_with_a_call, "--against", "2")
    assert (code, err) == (1, "")
    assert out == (
        'diverges on clinic v2 (recorded on v1): turn 2 ("I\'m Ana; can I take ibuprofen?"): '
        'state: expected "SpecialistAgent", got "IntakeAgent"; '
        'edges: expected ["transfer_to_specialist"], got []; '
        'refused: expected [], got ["transfer_to_specialist"]\n'
    )


def test_replay_against_a_file_and_bad_requests(store_with_a_call: str, tmp_path: Path) -> None:
    code, out, _ = replay(store_with_a_call, "--against", str(FLOWS / "clinic.json"))
    assert code == 0 and out.startswith("same path: 3 turns of call-1 replayed on ")
    result = CliRunner().invoke(
        cli, ["simulate", "--replay", "call-1", "--store", store_with_a_call]
    )
    assert (result.exit_code, result.stderr) == (
        2,
        "flowctl: error: --replay needs --tenant (or FLOWCTL_TENANT)\n",
    )


def test_another_tenants_session_is_not_found(store_with_a_call: str) -> None:
    async def other() -> None:
        async with await open_store(store_with_a_call) as store:
            await store.create_tenant("other-co", actor="test", policy=EXAMPLE_POLICY)

    asyncio.run(other())
    result = CliRunner().invoke(
        cli, ["simulate", "--replay", "call-1", "--store", store_with_a_call, "-t", "other-co"]
    )
    assert result.exit_code == 2
    assert result.stderr == "flowctl: error: Unknown session `call-1` for tenant `other-co`\n"
