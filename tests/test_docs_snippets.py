"""Docs that show code or promise output say what runs: docs/engine.md's snippet runs as
written from the repo's root, and `flowctl graph --help` describes what it prints."""

from __future__ import annotations

import subprocess
import sys

from click.testing import CliRunner
from conftest import ROOT

from flowctl.cli.main import cli


def test_the_engine_snippet_runs_as_written() -> None:
    text = (ROOT / "docs" / "engine.md").read_text()
    snippet = text.split("```python\n", 1)[1].split("```", 1)[0]
    done = subprocess.run(
        [sys.executable, "-c", snippet], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert (done.returncode, done.stdout, done.stderr) == (
        0,
        "handed off to SpecialistAgent\n",
        "",
    )


def test_graph_help_says_what_it_prints() -> None:
    result = CliRunner().invoke(cli, ["graph", "--help"])
    assert result.exit_code == 0
    assert result.stdout.splitlines()[2:4] == [
        "  The compiled state machine of FLOW: a Mermaid state diagram, or (--format",
        "  json) its states and transitions as JSON.",
    ]
    assert "table" not in result.stdout
