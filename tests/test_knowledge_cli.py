"""`flowctl knowledge` through click's CliRunner on a real store (both backends): exit
code first, then the exact output on the right stream."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from conftest import FLOWS, ROOT
from storekit import store_url

from flowctl.cli.main import cli

DOCUMENTS = FLOWS / "knowledge" / "clinic"
TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")


def run(url: str, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(
        cli, [*args, "--store", url], env={"FLOWCTL_USER": "ana", "FLOWCTL_TENANT": "acme"}
    )
    return result.exit_code, TIME.sub("<time>", result.stdout), result.stderr


@pytest.fixture
def url(store_target: Any) -> str:
    url = store_url(store_target)
    assert run(url, "store", "init")[0] == 0
    assert run(url, "tenants", "create", "acme")[0] == 0
    return url


@pytest.fixture
def clinic(url: str) -> str:
    assert run(url, "knowledge", "add", "clinic", str(DOCUMENTS)) == (
        0,
        "clinic/hours-and-location.md: revision 1, 4 passages\n"
        "clinic/services.html: revision 1, 3 passages\n"
        "clinic/visits.md: revision 1, 3 passages\n",
        "",
    )
    return url


def test_knowledge_add_lists_what_it_stored_and_skips_what_did_not_change(
    clinic: str, tmp_path: Path
) -> None:
    again = run(clinic, "knowledge", "add", "clinic", str(DOCUMENTS / "visits.md"))
    assert again == (0, "clinic/visits.md: unchanged (revision 1)\n", "")
    changed = tmp_path / "visits.md"
    changed.write_text("# Visits\n\nCome 10 minutes early.\n")
    assert run(clinic, "knowledge", "add", "clinic", str(changed)) == (
        0,
        "clinic/visits.md: revision 2, 1 passage\n",
        "",
    )
    assert run(clinic, "knowledge", "list") == (
        0,
        "BASE    DOCUMENTS  PASSAGES  BYTES  UPDATED\nclinic  3          8         2,130  <time>\n",
        "",
    )
    assert run(clinic, "knowledge", "list", "clinic") == (
        0,
        "DOCUMENT               REVISION  FORMAT    PASSAGES  BYTES  UPDATED               BY\n"
        "hours-and-location.md  r1        markdown  4         961    <time>  ana\n"
        "services.html          r1        html      3         1,136  <time>  ana\n"
        "visits.md              r2        markdown  1         33     <time>  ana\n",
        "",
    )
    code, out, _ = run(clinic, "knowledge", "history", "clinic", "visits.md")
    assert code == 0
    assert [line.split()[0] for line in out.splitlines()] == ["REVISION", "r1", "r2"]
    assert run(clinic, "knowledge", "show", "clinic", "visits.md", "--revision", "1") == (
        0,
        (DOCUMENTS / "visits.md").read_text(),
        "",
    )
    assert run(clinic, "knowledge", "show", "clinic", "visits.md")[1] == (
        "# Visits\n\nCome 10 minutes early.\n"
    )


def test_knowledge_search_shows_each_passage_with_its_source(clinic: str) -> None:
    assert run(clinic, "knowledge", "search", "clinic", "where", "can", "I", "park?") == (
        0,
        "1.00  hours-and-location.md (Maple Grove Family Clinic › Parking)\n"
        "    Parking is free in the lot behind the building; enter from Elm Street. Two "
        "accessible\n"
        "    spaces are next to the rear entrance, and the elevator is just inside it.\n",
        "",
    )
    code, out, err = run(clinic, "knowledge", "search", "clinic", "what is it", "--top-k", "1")
    assert (code, out, err) == (0, "", "No passage of `clinic` matches 'what is it'\n")


def test_knowledge_delete_removes_a_document_for_good(clinic: str) -> None:
    assert run(clinic, "knowledge", "delete", "clinic", "visits.md") == (
        0,
        "Deleted clinic/visits.md (1 revision)\n",
        "",
    )
    assert run(clinic, "knowledge", "show", "clinic", "visits.md") == (
        2,
        "",
        "flowctl: error: Unknown document `clinic/visits.md` for tenant `acme`\n",
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("search", "nosuch", "hours"),
            "flowctl: error: Unknown knowledge base `nosuch` for tenant `acme`\n",
        ),
        (("add", "clinic", "nosuch.md"), "flowctl: error: No file or folder `nosuch.md`\n"),
        (
            ("add", "clinic", str(ROOT / "pyproject.toml")),
            f"flowctl: error: `{ROOT}/pyproject.toml` is not a document of a known format "
            "(.txt, .text, .md, .markdown, .html, .htm)\n",
        ),
    ],
    ids=["unknown-base", "missing-file", "unknown-format"],
)
def test_knowledge_refusals_are_usage_errors(url: str, args: tuple[str, ...], message: str) -> None:
    assert run(url, "knowledge", *args) == (2, "", message)


def test_knowledge_list_says_how_to_add_the_first_documents(url: str) -> None:
    assert run(url, "knowledge", "list") == (
        0,
        "",
        "No knowledge bases for tenant `acme`; add documents with "
        f"`flowctl knowledge add -t acme BASE FILE... --store {shlex.quote(url)}`\n",
    )


def test_knowledge_commands_never_import_livekit_or_the_web_stack(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'flowctl.db'}"
    code = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from flowctl.cli.main import cli\n"
        f"env = {{'FLOWCTL_STORE': {url!r}, 'FLOWCTL_TENANT': 'acme', 'FLOWCTL_USER': 'ci'}}\n"
        f"for args in (['store', 'init'], ['tenants', 'create', 'acme'],\n"
        f"             ['knowledge', 'add', 'clinic', {str(DOCUMENTS)!r}],\n"
        "             ['knowledge', 'list', 'clinic'], ['knowledge', 'search', 'clinic', 'hours']):\n"
        "    result = CliRunner().invoke(cli, args, env=env)\n"
        "    assert result.exit_code == 0, (args, result.output)\n"
        "print(sorted({n.split('.')[0] if not n.startswith('flowctl.') else '.'.join(n.split('.')[:2])\n"
        "              for n in sys.modules} & {'livekit', 'litestar', 'uvicorn', 'flowctl.worker', 'flowctl.api'}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
    )
    assert out.stdout.strip() == "[]"
