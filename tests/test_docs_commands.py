"""Every command the README and docs/*.md show runs as written, when it needs no LiveKit,
network or keys.

Blocks: a ```` ```console ```` block's lines starting ``$ `` are commands and the lines up
to the next ``$ `` are the output it shows (stdout and stderr, as a terminal shows them);
a ```` ```sh ```` block is commands only. A line ending in ``\\`` continues on the next.
Each block runs top to bottom in its own temp folder holding copies of ``flows/``,
``tests/fixtures/`` and ``docs/``, with the venv's ``flowctl`` first on PATH.

What runs, and what is compared:
- a command runs when it starts with ``flowctl`` or pipes into it (``printf … | flowctl``);
  other lines (``make``, ``export``, ``sed``, ``ssh`` loops, comments) are not run;
- skipped, by word: ``worker start``, ``worker dev``, ``serve``, ``curl``, ``token``,
  ``LIVEKIT``, ``--llm openai``, ``CALL_ID`` (a live server, LiveKit, a model or an id
  only an earlier run prints);
- skipped, by block: the README's "## The store" section (tests/test_readme_store.py
  runs it) and the blocks in ``SKIPPED`` below, each with its reason;
- the exit code is 0, 1 when the output shown reports lint errors (``Found N errors``),
  2 when it shows ``flowctl: error:``;
- output, where a console block shows any, must equal what ran (trailing whitespace
  ignored); ``...`` stands for any text, a line of only ``...`` for any lines, and
  ISO timestamps (``2026-12-01T10:42:07Z``) are compared as ``<time>``.
- a session id a ``recorded: ID`` line shows stands, in the lines after it, for the id
  the run recorded (a reader pastes the id they got);
- what a block assumes the doc did before it (a store, a tenant) runs first: ``SETUP``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import ROOT

SKIP_WORDS = (
    "worker start",
    "worker dev",
    "serve",
    "curl",
    "token",
    "LIVEKIT",
    "--llm openai",
    "CALL_ID",
)
# Blocks that cannot run standalone, named by (doc, first command) with the reason.
SKIPPED = {
    (
        "README.md",
        "flowctl tenants policy acme --grant-tool lookup_order --allow-host api.acme.example",
    ): "my-flow.json and tools.json stand for the reader's own files",
    ("docs/api.md", "flowctl store init"): "walkthrough against a running `flowctl serve`",
    ("docs/api.md", "curl -s -i $API/flows"): "keys were created through the running API",
    ("docs/deployment.md", "pip install 'flowctl-voice[postgres]'"): (
        "a PostgreSQL server at db.internal and a store to copy from; "
        "tests/test_store_copy.py runs `store init` and `store copy` against a real one"
    ),
    ("docs/store.md", "flowctl store push clinic.json -t acme"): (
        "needs an edited clinic.json and the v1 pushed earlier in the walkthrough"
    ),
}
# What a block assumes the reader already did, earlier in the same doc.
ACME = ("flowctl store init", "flowctl tenants create acme")
SETUP = {
    (
        "docs/simulation.md",
        "flowctl simulate flows/clinic.json --scenario "
        "flows/clinic.scenarios.json --record -t acme",
    ): (
        *ACME,
        "flowctl tenants policy acme --allow-transfer tel:+15555550100",
        "flowctl store push flows/clinic.json -t acme --publish",
    ),
    ("README.md", "flowctl keys create --tenant acme --role developer --name ci"): ACME,
    ("docs/store.md", "flowctl callbacks list -t acme"): (
        *ACME,
        "flowctl tenants policy acme --allow-transfer tel:+15555550100",
        "flowctl store push flows/clinic.json -t acme --publish",
        "flowctl simulate flows/clinic.json --scenario flows/clinic.scenarios.json "
        "--record -t acme",
    ),
    ("docs/store.md", "flowctl store list --store sqlite:///team.db -t acme"): (
        "flowctl store init --store sqlite:///team.db",
    ),
    (
        "docs/security.md",
        "flowctl tenants policy acme --grant-tool lookup_order "
        "--allow-host api.acme.example --allow-transfer +15550100",
    ): ACME,
    ("docs/security.md", 'printf %s "$CRM_TOKEN" | flowctl secrets set -t acme CRM_TOKEN'): ACME,
}
TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")


@dataclass(frozen=True)
class Step:
    command: str
    output: str | None  # None: the doc shows no output (an ``sh`` block)


@dataclass(frozen=True)
class Block:
    doc: str
    line: int
    section: str
    steps: tuple[Step, ...]

    @property
    def key(self) -> tuple[str, str]:
        """(doc, first command without its comment): names a block in SKIPPED and SETUP."""
        return (self.doc, self.steps[0].command.split("  #")[0].rstrip() if self.steps else "")


def joined(lines: list[str]) -> list[str]:
    """Lines with a trailing backslash joined to the next, as a shell reads them."""
    out: list[str] = []
    for line in lines:
        if out and out[-1].endswith("\\"):
            out[-1] = out[-1][:-1].rstrip() + " " + line.strip()
        else:
            out.append(line)
    return out


def parse(kind: str, body: str) -> tuple[Step, ...]:
    if kind == "sh":
        return tuple(Step(line, None) for line in joined(body.splitlines()) if line.strip())
    steps: list[tuple[str, list[str]]] = []
    lines = body.splitlines()
    i = 0
    while i < len(lines):
        if lines[i].startswith("$ "):
            command = [lines[i][2:]]
            while command[-1].endswith("\\") and i + 1 < len(lines):
                i += 1
                command.append(lines[i])
            steps.append((joined(command)[0], []))
        elif steps:
            steps[-1][1].append(lines[i])
        i += 1
    return tuple(Step(command, "\n".join(out)) for command, out in steps)


def doc_blocks() -> list[Block]:
    blocks = []
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        text = path.read_text()
        for match in re.finditer(r"^```(console|sh)\n(.*?)^```", text, re.S | re.M):
            before = text[: match.start()]
            headings = re.findall(r"^## (.+)$", before, re.M)
            blocks.append(
                Block(
                    doc=str(path.relative_to(ROOT)),
                    line=before.count("\n") + 1,
                    section=headings[-1] if headings else "",
                    steps=parse(match.group(1), match.group(2)),
                )
            )
    return blocks


def runnable(command: str) -> bool:
    words = command.split("#", 1)[0] if not command.startswith("printf") else command
    starts = words.lstrip().startswith("flowctl ") or "| flowctl " in words
    return starts and not any(word in words for word in SKIP_WORDS)


def block_skip(block: Block) -> str | None:
    if block.doc == "README.md" and block.section == "The store":
        return "tests/test_readme_store.py runs the README's store section"
    if block.key in SKIPPED:
        return SKIPPED[block.key]
    return None


def expected_code(output: str | None) -> int:
    if output is None:
        return 0
    if "flowctl: error:" in output:
        return 2
    if re.search(r"^Found \d+ errors?", output, re.M):
        return 1
    return 0


def recorded_ids(shown: str | None, got: str) -> dict[str, str]:
    """The ids ``recorded: ID`` lines show, paired with the ones the run printed: a
    reader pastes the id they got, not the doc's."""
    pattern = re.compile(r"^recorded: (\w+)$", re.M)
    return dict(zip(pattern.findall(shown or ""), pattern.findall(got), strict=False))


def renamed(text: str, ids: dict[str, str]) -> str:
    for shown, got in ids.items():
        text = text.replace(shown, got)
    return text


def matches(shown: str, got: str) -> bool:
    """``got`` is what ``shown`` shows, ``...`` standing for any text."""

    def norm(text: str) -> list[str]:
        return [TIME.sub("<time>", line.rstrip()) for line in text.strip("\n").splitlines()]

    pattern = []
    for line in norm(shown):
        if line == "...":
            pattern.append(r"(?:[^\n]*\n)*?")
        else:
            pattern.append(".*?".join(map(re.escape, line.split("..."))) + r"\n")
    return re.fullmatch("".join(pattern), "".join(line + "\n" for line in norm(got))) is not None


# Blocks with nothing to run (all `make`, `curl`, `worker` ...) are left out, and so are
# the ones `block_skip` names with their reason: not pytest skips, which would read as a
# missing dependency; a test below keeps the list of those reasons exact.
ALL_BLOCKS = [b for b in doc_blocks() if any(runnable(step.command) for step in b.steps)]
BLOCKS = [b for b in ALL_BLOCKS if block_skip(b) is None]


def test_every_block_left_out_is_named_with_its_reason() -> None:
    left_out = {b.key for b in ALL_BLOCKS if b.key in SKIPPED}
    assert left_out == set(SKIPPED), "SKIPPED names a block the docs no longer have"


@pytest.mark.parametrize(
    ("shown", "got", "same"),
    [
        ("a\nb", "a\nb  \n", True),
        ("a\nb", "a\nc\n", False),
        ("a\nb", "a\nb\nc\n", False),
        ("a ...\nb", "a long line\nb\n", True),
        ("a\n...\nz", "a\nb\nc\nz\n", True),
        ("at 2025-03-10T09:12:01Z", "at 2026-12-01T10:44:45Z\n", True),
        ("at 2025-03-10 09:12:01", "at 2026-12-01T10:44:45Z\n", False),
    ],
    ids=[
        "trailing-space",
        "other-line",
        "extra-line",
        "elided-text",
        "elided-lines",
        "time",
        "time-format",
    ],
)
def test_matches_compares_whole_output(shown: str, got: str, same: bool) -> None:
    assert matches(shown, got) is same


@pytest.mark.parametrize(
    ("output", "code"),
    [
        (None, 0),
        ("clean", 0),
        ("Found 4 errors and 1 warning in 1 of 1 file.", 1),
        ("flowctl: error: Unknown tenant `acme`", 2),
    ],
    ids=["sh", "console", "lint-errors", "error"],
)
def test_expected_code_follows_what_the_doc_shows(output: str | None, code: int) -> None:
    assert expected_code(output) == code


@pytest.mark.parametrize("block", BLOCKS, ids=[f"{b.doc}:{b.line}" for b in BLOCKS])
def test_doc_commands_run_as_shown(block: Block, tmp_path: Path) -> None:
    for folder in ("flows", "tests/fixtures", "docs"):
        shutil.copytree(ROOT / folder, tmp_path / folder)
    bin_dir = str(Path(sys.executable).parent)
    env = {**os.environ, "PATH": bin_dir + os.pathsep + os.environ["PATH"]}
    env.update(FLOWCTL_USER="ana", CRM_TOKEN="s3cret", COLUMNS="200")
    for name in ("FLOWCTL_STORE", "FLOWCTL_TENANT"):
        env.pop(name, None)

    def run(command: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["bash", "-c", command],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=60,
        )

    for command in SETUP.get(block.key, ()):
        assert run(command).returncode == 0, command
    ids: dict[str, str] = {}  # a session id the doc shows -> the one this run recorded
    for step in block.steps:
        if not runnable(step.command):
            continue
        done = run(renamed(step.command, ids))
        ids.update(recorded_ids(step.output, done.stdout))
        assert done.returncode == expected_code(step.output), (step.command, done.stdout)
        if step.output:
            shown = renamed(step.output, ids)
            assert matches(shown, done.stdout), (step.command, shown, done.stdout)
