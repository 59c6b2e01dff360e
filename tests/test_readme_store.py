"""The README's store section runs top to bottom as written, in an empty folder with the
repo's flows: each command exits 0, with the answers the comments promise; `CALL_ID` is
the first session `simulate --record` printed (`recorded: ID`), as a reader pastes it."""

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
    return [line for block in blocks for line in block.splitlines() if line.strip()]


def test_the_readme_store_loop_runs_as_written(tmp_path: Path) -> None:
    shutil.copytree(FLOWS, tmp_path / "flows")
    bin_dir = str(Path(sys.executable).parent)
    env = {**os.environ, "PATH": bin_dir + os.pathsep + os.environ["PATH"]}
    for name in ("FLOWCTL_STORE", "FLOWCTL_TENANT"):
        env.pop(name, None)
    said = []
    call_id = None
    for command in store_commands():
        if "CALL_ID" in command and not command.lstrip().startswith("#"):
            assert call_id is not None, f"no session recorded before: {command}"
            command = command.replace("CALL_ID", call_id)
        done = subprocess.run(
            ["bash", "-c", command], cwd=tmp_path, env=env, capture_output=True, text=True
        )
        assert done.returncode == 0, (command, done.stdout, done.stderr)
        said.append(done.stdout)
        recorded = [line for line in done.stderr.splitlines() if line.startswith("recorded: ")]
        if recorded and call_id is None:
            call_id = recorded[0].removeprefix("recorded: ")
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
    # the clinic's two scenarios that ask for a callback booked one each; one is claimed
    assert out.count("  pending  ") == 2 and "callback_window=tomorrow morning" in out
    assert any(line.startswith("Callback 1 claimed by ") for line in out.splitlines())
    assert f"session  {call_id}" in out.splitlines()
    assert f"same path: 2 turns of {call_id} replayed on clinic v2 (recorded on v1)" in out
