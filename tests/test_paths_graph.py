"""Edge-covering paths and the graph command."""

from __future__ import annotations

import json
from typing import Any

import pytest
from click.testing import CliRunner
from conftest import EXAMPLES, FIXTURES, FLOWS
from flowkit import bistro, compile_doc, compile_example, compile_file

from flowctl.cli.main import cli
from flowctl.engine.graph import to_json, to_mermaid
from flowctl.engine.paths import Step, cover
from flowctl.engine.runtime import Conversation, Refused
from flowctl.engine.tools import ToolRegistry


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
async def test_paths_cover_every_edge_of_every_example_and_replay_on_the_engine(path) -> None:  # type: ignore[no-untyped-def]
    compiled = compile_file(path)
    coverage = cover(compiled)
    assert coverage.uncovered == ()
    fired: set[str] = set()
    for test_path in coverage.paths:
        # Every path replays on the real runtime without a refusal.
        conv = Conversation(compiled, tools=ToolRegistry(compiled.tools, allow_network=False))
        for name in compiled.flow.variables:
            if compiled.flow.variables[name].input:
                conv.variables.setdefault(name, "x")
        await conv.start()
        for step in test_path.steps:
            if not step.edge:
                continue
            before = conv.state
            outcome = await conv.fire(step.edge, step.args)
            assert not isinstance(outcome, Refused), (step, outcome)
            fired.add(f"{before}.{step.edge}")
            assert conv.state == step.state
        conv.close()
    edges = {
        f"{s.name}.{e.name}"
        for s in compiled.states
        if not s.end
        for e in s.edges
        if not e.automatic
    }
    assert edges <= fired


GUARDED: dict[str, Any] = {
    "variables": bistro("party_size"),
    "agents": [
        {
            "name": "Host",
            "instructions": "x",
            "edges": [
                {
                    "name": "book",
                    "description": "The caller wants to book a table",
                    "parameters": bistro("party_size"),
                    "target_agent": "Check",
                }
            ],
        },
        {
            "name": "Check",
            "instructions": "x",
            "edges": [
                {"name": "big", "when": "party_size > 8", "target_agent": "Events"},
                {"name": "small", "when": "party_size <= 8", "target_agent": "Done"},
            ],
        },
        {
            "name": "Events",
            "instructions": "x",
            "edges": [
                {
                    "name": "planned",
                    "description": "The event is planned and confirmed",
                    "target_agent": "Done",
                }
            ],
        },
        {"name": "Done", "instructions": "x", "end": True},
        {
            "name": "Island",
            "instructions": "x",
            "edges": [
                {
                    "name": "leave",
                    "description": "Leave the island state for good",
                    "target_agent": "Done",
                }
            ],
        },
    ],
}


def test_paths_choose_arguments_on_both_sides_of_a_guard() -> None:
    compiled = compile_doc(GUARDED, check=False)
    coverage = cover(compiled)
    assert [[(s.edge, s.args, s.state, s.automatic) for s in p.steps] for p in coverage.paths] == [
        [("book", {"party_size": 8}, "Done", ("small",))],
        [("book", {"party_size": 9}, "Events", ("big",)), ("planned", {}, "Done", ())],
    ]
    assert coverage.uncovered == ("Island.leave",)
    assert isinstance(coverage.paths[0].steps[0], Step)


def test_mermaid_of_the_clinic() -> None:
    compiled = compile_example("clinic")
    assert to_mermaid(compiled) == (
        "stateDiagram-v2\n"
        "    [*] --> IntakeAgent\n"
        "    IntakeAgent --> SpecialistAgent: transfer_to_specialist\n"
        "    IntakeAgent --> Goodbye: wrap_up_call\n"
        "    SpecialistAgent --> IntakeAgent: return_to_intake\n"
        "    SpecialistAgent --> Goodbye: wrap_up_call\n"
        "    Goodbye --> [*]\n"
        "    note right of IntakeAgent: in every state - transfer_to_staff, request_callback, hang_up\n"
    )


def test_mermaid_marks_guards_actions_and_automatic_edges() -> None:
    doc = json.loads(json.dumps(GUARDED))
    doc["agents"][0]["edges"].append(
        {
            "name": "note",
            "action": "action",
            "tool": "save_data",
            "description": "Write a note for the staff",
        }
    )
    doc["agents"][0]["name"] = "Host desk"
    compiled = compile_doc(doc, check=False)
    text = to_mermaid(compiled)
    assert '    state "Host desk" as state_0\n' in text
    assert "    state_0 --> state_0: note (action)\n" in text
    assert "    Check --> Events: big (auto) [party_size > 8]\n" in text


def test_graph_json_lists_states_and_transitions() -> None:
    compiled = compile_doc(GUARDED, check=False)
    data = to_json(compiled)
    assert data["start"] == "Host"
    assert data["states"][1] == {
        "name": "Check",
        "end": False,
        "functions": [],
        "automatic": ["big", "small"],
    }
    assert data["transitions"][1] == {
        "trigger": "big",
        "source": "Check",
        "dest": "Events",
        "kind": "auto",
        "conditions": ["party_size > 8"],
    }


def test_graph_command() -> None:
    runner = CliRunner()
    result = runner.invoke(cli, ["graph", str(FLOWS / "clinic.json")])
    assert result.exit_code == 0
    assert result.stdout.startswith("stateDiagram-v2\n    [*] --> IntakeAgent\n")
    result = runner.invoke(cli, ["graph", "--format", "json", str(FLOWS / "clinic.json")])
    assert result.exit_code == 0
    assert json.loads(result.stdout)["flow_id"] == "clinic"
    result = runner.invoke(cli, ["graph", str(FIXTURES / "seed000.json")])
    assert result.exit_code == 1
    assert result.stderr.endswith(
        f"flowctl: error: `{FIXTURES / 'seed000.json'}` has errors; fix them to draw its graph\n"
    )
    result = runner.invoke(cli, ["graph", "missing.json"])
    assert (result.exit_code, result.stderr) == (
        2,
        "flowctl: error: Cannot read `missing.json`: No such file or directory\n",
    )


def test_paths_try_the_literals_guards_compare_tool_results_and_lists_with() -> None:
    tags = {"tags": {"type": "list[str]", "description": "Tags"}}
    doc = {
        "variables": {"status": {"type": "str", "description": "Review status"}, **tags},
        "tools": [
            {
                "kind": "python",
                "name": "review",
                "function": "toolbox:lookup_patient",
                "description": "Ask the back office to review",
                "sets": {"status": "status"},
            }
        ],
        "agents": [
            {
                "name": "A",
                "instructions": "x",
                "tools": ["review"],
                "edges": [
                    {"name": "approve", "when": 'status == "approved"', "target_agent": "Done"},
                    {
                        "name": "tag",
                        "description": "The caller tells us their membership tags",
                        "parameters": tags,
                        "target_agent": "B",
                    },
                ],
            },
            {
                "name": "B",
                "instructions": "x",
                "edges": [
                    {"name": "vip", "when": '"vip" in tags', "target_agent": "Done"},
                    {
                        "name": "other",
                        "description": "Anything else the caller needs today",
                        "target_agent": "Done",
                    },
                ],
            },
            {"name": "Done", "instructions": "x", "end": True},
        ],
    }
    coverage = cover(compile_doc(doc, check=False))
    assert coverage.uncovered == ()
    assert {"A.approve", "B.vip"} <= coverage.covered


def test_paths_try_a_list_of_one_item_where_a_guard_tests_emptiness() -> None:
    order = {"order": {"type": "list[str]", "description": "Items ordered"}}
    doc = {
        "variables": order,
        "agents": [
            {
                "name": "A",
                "instructions": "x",
                "edges": [
                    {
                        "name": "take",
                        "description": "The caller tells us what they would like",
                        "parameters": order,
                        "target_agent": "B",
                    }
                ],
            },
            {
                "name": "B",
                "instructions": "x",
                "edges": [{"name": "pay", "when": "order is not empty", "target_agent": "Done"}],
            },
            {"name": "Done", "instructions": "x", "end": True},
        ],
    }
    coverage = cover(compile_doc(doc, check=False))
    assert coverage.uncovered == ()
    assert [[(s.edge, s.args, s.automatic) for s in p.steps] for p in coverage.paths] == [
        [("take", {"order": []}, ())],
        [("take", {"order": ["example"]}, ("pay",))],
    ]
