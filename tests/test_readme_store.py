"""The README's store section runs top to bottom as written, in an empty folder with the
repo's flows: every command but those that need a call a worker recorded (`CALL_ID`),
each exiting 0, with the answers the comments promise."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from conftest import FLOWS, ROOT


def store_commands() -> list[str]:
    """The README's ``sh`` blocks of "## The store", a command a line."""
    section = (ROOT / "README.md").read_text().split("## The store\n", 1)[1].split("\n## ", 1)[0]
    blocks = [part.split("```", 1)[0] for part in section.split("```sh\n")[1:]]
    return [line for block in blocks for line in block.splitlines() if "CALL_ID" not in line]


def test_the_readme_store_loop_runs_as_written(tmp_path: Path) -> None:
    shutil.copytree(FLOWS, tmp_path / "flows")
    bin_dir = str(Path(sys.executable).parent)
    env = {**os.environ, "PATH": bin_dir + os.pathsep + os.environ["PATH"]}
    for name in ("FLOWCTL_STORE", "FLOWCTL_TENANT"):
        env.pop(name, None)
    said = []
    for command in store_commands():
        done = subprocess.run(
            ["bash", "-c", command], cwd=tmp_path, env=env, capture_output=True, text=True
        )
        assert done.returncode == 0, (command, done.stdout, done.stderr)
        said.append(done.stdout)
    out = "".join(said)
    for line in (
        "clinic v1 published (was none)",
        "clinic v1 unchanged (same content)",
        "clinic v2 published (was v1)",
        "clinic rolled back to v1 (was v2)",
        '+    "temperature": 0.5,',
    ):
        assert line in out.splitlines(), out
    assert "clinic v2 pushed (" in out
