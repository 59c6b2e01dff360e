"""`flowctl simulate` with knowledge bases: the scenario file's `knowledge` and
`--knowledge BASE=PATH` indexed in memory by the store's own embedded index, each
search's passages shown, and `retrieved` expectations checked."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

pytest.importorskip("livekit.agents")

from click.testing import CliRunner
from conftest import FLOWS

from flowctl.cli.main import cli

CLINIC = FLOWS / "clinic.json"
DOCUMENTS = FLOWS / "knowledge" / "clinic"
GREETING = (
    "agent: You're speaking with the Maple Grove Family Clinic front-desk assistant. I can book, "
    "change or cancel an appointment, check your insurance, or connect you with our clinical "
    "team. How can I help you?"
)
# every session ends with its summary (flowctl.engine.summary)
SUMMARY = "summary: IntakeAgent; ended in IntakeAgent (hangup)"
HOURS_PASSAGES = [
    '  tool clinic_info -> 2 passages of `clinic` for "What are your opening hours?":',
    "    1.00 hours-and-location.md (Maple Grove Family Clinic › Opening hours): We are open "
    "Monday to Friday from 8 AM to 6 PM, and on Saturday from 9 AM to 1…",
    "    0.35 services.html (Our services › What we offer): - Annual physicals and well-child "
    "checkups - Sick visits, same day when you cal…",
]


def run(*args: str, text: str | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["simulate", *args], input=text)
    return result.exit_code, result.stdout, result.stderr


def hours_scenario(tmp_path: Path, **expect: object) -> Path:
    """A scenario file in ``tmp_path`` whose `knowledge` is a copy of the clinic's
    documents beside it (paths relative to the file)."""
    shutil.copytree(DOCUMENTS, tmp_path / "docs")
    turn = {
        "user": "What are your opening hours?",
        "model": [
            {"call": "clinic_info", "args": {"query": "What are your opening hours?"}},
            {"say": "Monday to Friday from 8 to 6, and Saturday from 9 to 1."},
        ],
        "expect": {"tools_ok": ["clinic_info"], **expect},
    }
    doc = {
        "flow": str(CLINIC),
        "knowledge": {"clinic": ["docs"]},
        "scenarios": [{"name": "the opening hours", "turns": [turn]}],
    }
    path = tmp_path / "hours.scenarios.json"
    path.write_text(json.dumps(doc))
    return path


def test_a_scenario_answers_from_its_knowledge_and_shows_the_passages(tmp_path: Path) -> None:
    path = hours_scenario(tmp_path, retrieved=["hours-and-location.md", "services.html"])
    code, out, err = run("--scenario", str(path))
    assert (code, err) == (0, "1 scenario: 1 passed, 0 failed\n")
    assert out.splitlines() == [
        "PASS  the opening hours",
        "    " + GREETING,
        "    user: What are your opening hours?",
        *("    " + line for line in HOURS_PASSAGES),
        "    agent: Monday to Friday from 8 to 6, and Saturday from 9 to 1.",
        "    " + SUMMARY,
    ]


def test_retrieved_names_the_documents_found_when_they_differ(tmp_path: Path) -> None:
    path = hours_scenario(tmp_path, retrieved=["visits.md"])
    code, out, err = run("--scenario", str(path))
    assert (code, err) == (1, "1 scenario: 0 passed, 1 failed\n")
    assert out.splitlines()[-2:] == [
        '    ✗ turn 1: retrieved: expected ["visits.md"], got '
        '["hours-and-location.md","services.html"]',
        "    " + SUMMARY,
    ]


def test_knowledge_given_on_the_command_line_answers_the_offline_model() -> None:
    code, out, err = run(
        str(CLINIC), "--knowledge", f"clinic={DOCUMENTS}", text="What are your opening hours?\n"
    )
    assert (code, err) == (0, "")
    assert out.splitlines() == [
        GREETING,
        "user: What are your opening hours?",
        *HOURS_PASSAGES,
        SUMMARY,
    ]


def test_a_knowledge_tool_without_its_base_says_how_to_give_it() -> None:
    code, out, _ = run(str(CLINIC), text="What are your opening hours?\n")
    assert code == 0
    assert out.splitlines()[2] == (
        "  tool clinic_info -> error: Tool `clinic_info` cannot search knowledge base `clinic`: "
        "this session has no knowledge bases; give its documents in the scenario file's "
        "`knowledge`, or with `flowctl simulate --knowledge BASE=PATH`"
    )
    code, out, _ = run(
        str(CLINIC), "--knowledge", f"faq={DOCUMENTS}", text="What are your opening hours?\n"
    )
    assert out.splitlines()[2] == (
        "  tool clinic_info -> error: Tool `clinic_info` cannot search: Knowledge base `clinic` "
        "is not given to this session; give its documents in the scenario file's `knowledge`, "
        "or with `flowctl simulate --knowledge BASE=PATH`"
    )


@pytest.mark.parametrize(
    ("pair", "message"),
    [
        ("clinic", "flowctl: error: `--knowledge clinic`: write BASE=PATH (a file or a folder)\n"),
        ("clinic=nosuch", "flowctl: error: No file or folder `nosuch`\n"),
    ],
)
def test_bad_knowledge_is_a_usage_error(pair: str, message: str) -> None:
    code, out, err = run(str(CLINIC), "--knowledge", pair, text="")
    assert (code, out, err) == (2, "", message)


def test_knowledge_files_the_store_refuses_are_named(tmp_path: Path) -> None:
    (tmp_path / "title.md").write_text("# Only a title\n")
    code, _, err = run(str(CLINIC), "--knowledge", f"clinic={tmp_path}", text="hi\n")
    assert (code, err) == (
        2,
        f"flowctl: error: `{tmp_path}/title.md`: Document `clinic/title.md` has no text to index\n",
    )


def test_the_knowledge_example_of_the_docs_runs_as_printed(tmp_path: Path) -> None:
    """docs/simulation.md's knowledge example: its scenario file, beside copies of the
    clinic and its documents, prints what the doc shows (`...` ends a line cut short)."""
    text = (FLOWS.parent / "docs" / "simulation.md").read_text()
    section = text.split("### Knowledge bases\n", 1)[1]
    scenario, after = section.split("```json\n", 1)[1].split("```\n", 1)
    shown = after.split("```\n", 1)[1].split("```", 1)[0].splitlines()
    shutil.copy(CLINIC, tmp_path / "clinic.json")
    shutil.copytree(DOCUMENTS, tmp_path / "knowledge" / "clinic")
    path = tmp_path / "doc.scenarios.json"
    path.write_text(scenario)
    code, out, err = run("--scenario", str(path))
    assert (code, err) == (0, "1 scenario: 1 passed, 0 failed\n")
    lines = out.splitlines()
    assert len(lines) == len(shown)
    for line, doc in zip(lines, shown, strict=True):
        assert line.startswith(doc[:-4]) if doc.endswith(" ...") else line == doc


def test_a_scenario_can_mock_what_a_knowledge_tool_finds(tmp_path: Path) -> None:
    answer = {
        "base": "clinic",
        "query": "opening hours",
        "passages": [{"source": "hours.md", "score": 1.0, "text": "Open 9 to 5, every day."}],
    }
    turn = {
        "user": "When are you open?",
        "model": [{"call": "clinic_info", "args": {"query": "opening hours"}}, {"say": "9 to 5."}],
        "expect": {"tools_ok": ["clinic_info"], "retrieved": ["hours.md"]},
    }
    doc = {
        "flow": str(CLINIC),
        "scenarios": [{"name": "mocked", "mocks": {"clinic_info": answer}, "turns": [turn]}],
    }
    path = tmp_path / "mocked.scenarios.json"
    path.write_text(json.dumps(doc))
    code, out, err = run("--scenario", str(path))
    assert (code, err) == (0, "1 scenario: 1 passed, 0 failed\n")
    assert out.splitlines()[3:5] == [
        '      tool clinic_info -> 1 passage of `clinic` for "opening hours":',
        "        1.00 hours.md: Open 9 to 5, every day.",
    ]
