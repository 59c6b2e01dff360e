"""Running the commands docs show, as a reader would (tests/test_docs_commands.py says
what runs and how output is compared): the console and sh blocks of the README and
docs/*.md, a shell that keeps what one command exports for the next, and the matcher
that holds a command's output to what the doc shows."""

from __future__ import annotations

import os
import re
import select
import shlex
import shutil
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from conftest import ROOT

TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z|\b1\d{9}(?:\.\d+)?\b")
# Values a run makes up fresh, which a doc can only show one instance of. Secrets come
# before key ids: a secret starts with its key's id.
MINTED = (
    re.compile(r"^recorded: (\w+)$", re.M),  # a session recorded by simulate --record
    re.compile(r"\b(fk_[0-9a-f]{12}_[\w.-]+)"),  # an API key's secret (a doc shortens it)
    re.compile(r"\b(fk_[0-9a-f]{12})\b"),  # an API key's id
)


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


def open_quote(text: str) -> bool:
    """Whether ``text`` ends inside a quoted string (a command going on, quote and all,
    on the next line)."""
    try:
        shlex.split(text, comments=True)
    except ValueError:
        return True
    return False


def continued(text: str) -> bool:
    """Whether the command ``text`` goes on on the next line: a trailing backslash, or
    a quote still open."""
    return text.endswith("\\") or open_quote(text)


def joined(lines: list[str]) -> list[str]:
    """Lines with a trailing backslash joined to the next, as a shell reads them; a line
    ending inside a quote goes on with the next, the line break kept in the string."""
    out: list[str] = []
    for line in lines:
        if out and out[-1].endswith("\\"):
            out[-1] = out[-1][:-1].rstrip() + " " + line.strip()
        elif out and open_quote(out[-1]):
            out[-1] += "\n" + line
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
            while continued(joined(command)[0]) and i + 1 < len(lines):
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


def expected_code(output: str | None) -> int:
    if output is None:
        return 0
    if "flowctl: error:" in output:
        return 2
    if re.search(r"^Found \d+ errors?", output, re.M):
        return 1
    return 0


def minted(shown: str | None, got: str, ids: dict[str, str]) -> dict[str, str]:
    """The fresh values (``MINTED``) ``shown`` has that ``ids`` does not know yet, each
    paired in order with the one the run printed in their place (``got``): a reader
    pastes the id they got, not the doc's."""
    new: dict[str, str] = {}
    for pattern in MINTED:
        doc = [v for v in dict.fromkeys(pattern.findall(shown or "")) if v not in ids]
        run = [v for v in dict.fromkeys(pattern.findall(got)) if v not in ids.values()]
        new.update(zip(doc, run, strict=False))
    return new


def renamed(text: str, ids: dict[str, str]) -> str:
    """``text`` with each value the doc shows replaced by the run's (longest first: a
    key's secret holds its id)."""
    for shown in sorted(ids, key=len, reverse=True):
        text = text.replace(shown, ids[shown])
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


class Shell:
    """A reader's terminal: commands run one after another in a copy of the repository's
    ``flows/``, ``tests/fixtures/`` and ``docs/``, with the venv's ``flowctl`` first on
    PATH; what one exports (``export API=...``) the next sees."""

    def __init__(self, tmp_path: Path, **env: str) -> None:
        self.cwd = tmp_path / "repo"
        for folder in ("flows", "tests/fixtures", "docs"):
            shutil.copytree(ROOT / folder, self.cwd / folder)
        self._state = tmp_path / "exported.sh"
        self._reader: threading.Thread | None = None
        bin_dir = str(Path(sys.executable).parent)
        self.env = {**os.environ, "PATH": bin_dir + os.pathsep + os.environ["PATH"]}
        self.env.update(FLOWCTL_USER="ana", CRM_TOKEN="s3cret", COLUMNS="200", **env)
        for name in ("FLOWCTL_STORE", "FLOWCTL_TENANT"):
            self.env.pop(name, None)

    def _script(self, command: str) -> str:
        state = shlex.quote(str(self._state))
        return f"[ -f {state} ] && source {state}\n{command}\n"

    def run(self, command: str) -> subprocess.CompletedProcess[str]:
        """``command``'s exit code and what it printed (stdout and stderr, as a terminal
        shows them)."""
        state = shlex.quote(str(self._state))
        script = self._script(command) + f"status=$?\nexport -p > {state}\nexit $status\n"
        return subprocess.run(
            ["bash", "-c", script],
            cwd=self.cwd,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=60,
        )

    def start(self, command: str, ready: str) -> tuple[subprocess.Popen[str], str]:
        """``command`` left running (a server), and what it printed up to the line
        holding ``ready``; what it prints after that is read and dropped, so it never
        blocks on a full pipe."""
        process = subprocess.Popen(
            ["bash", "-c", self._script(f"exec {command}")],
            cwd=self.cwd,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        assert process.stdout is not None
        lines: list[str] = []
        deadline = time.monotonic() + 30
        while not lines or ready not in lines[-1]:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([process.stdout], [], [], left)[0]:
                process.kill()
                raise AssertionError(f"`{command}` did not print `{ready}`: {lines}")
            line = process.stdout.readline()
            if not line:
                raise AssertionError(f"`{command}` ended: {lines}")
            lines.append(line)
        self._reader = threading.Thread(target=process.stdout.read, daemon=True)
        self._reader.start()
        return process, "".join(lines)

    def stop(self, process: subprocess.Popen[str]) -> None:
        """End what :meth:`start` left running."""
        process.terminate()
        process.wait(timeout=30)
        if self._reader is not None:
            self._reader.join(timeout=30)
        assert process.stdout is not None
        process.stdout.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


# Blocks with nothing to run (all `make`, `curl`, `worker` ...) are left out, and so are
# the ones `block_skip` names with their reason: not pytest skips, which would read as a
# missing dependency; a test below keeps the list of those reasons exact.
