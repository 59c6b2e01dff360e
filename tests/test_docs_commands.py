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
  times, ISO (``2026-12-01T10:42:07Z``) or Unix seconds (``1795325340.692038``), are
  compared as ``<time>``;
- what a run makes up fresh (a recorded session's id, an API key's id or secret) stands,
  where the doc shows one, for the one the run printed, in the output and the commands
  after it (a reader pastes the id they got): ``docskit.MINTED``;
- a block's commands run one after another in one shell, so what one exports the next
  sees (as in a reader's terminal);
- what a block assumes the doc did before it (a store, a tenant) runs first: ``SETUP``.

docs/api.md is one walkthrough against a running ``flowctl serve``: every command of it
runs, ``curl`` and ``export`` included, in one shell, against a server the test starts
where the doc starts it, on a free port of loopback (the doc's ``127.0.0.1:8000``
stands for it), with LiveKit settings so that tokens are minted.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from docskit import (
    Block,
    Shell,
    doc_blocks,
    expected_code,
    free_port,
    matches,
    minted,
    renamed,
)

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
    ("docs/api.md", 'curl -s -X POST $API/callbacks/1/claim -H "Authorization: Bearer $DEV"'): (
        "no call of the walkthrough promised a callback; tests/test_callbacks_cli_api.py "
        "claims and completes one through the API"
    ),
    (
        "README.md",
        "flowctl tenants policy acme --grant-tool lookup_order --allow-host api.acme.example",
    ): "my-flow.json and tools.json stand for the reader's own files",
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
    ("docs/webhooks.md", "flowctl tenants policy acme --allow-host hooks.acme.example"): ACME,
    ("docs/console.md", "flowctl keys create --tenant acme --role developer --name console"): ACME,
    ("docs/store.md", "flowctl callbacks list -t acme"): (
        *ACME,
        "flowctl tenants policy acme --allow-transfer tel:+15555550100",
        "flowctl store push flows/clinic.json -t acme --publish",
        "flowctl simulate flows/clinic.json --scenario flows/clinic.scenarios.json "
        "--record -t acme",
    ),
    ("docs/store.md", "flowctl callers list -t acme"): (
        *ACME,
        "flowctl tenants policy acme --allow-transfer tel:+15555550100",
        "flowctl store push flows/clinic.json -t acme --publish",
        "flowctl simulate flows/clinic.memory.scenarios.json --record -t acme",
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
# docs/templates.md's store walkthrough: a shared template and two flows on it, then v2.
TEMPLATES = (
    "flowctl store init",
    "flowctl tenants create coastal-care",
    "flowctl store templates push flows/templates/clinic_desk.json --shared --publish",
    "flowctl store push flows/dental.json flows/vet.json -t coastal-care --publish",
)
TEMPLATE_V2 = "flowctl store templates push docs/templates/clinic_desk.json --shared --publish"
SETUP[("docs/templates.md", TEMPLATE_V2)] = TEMPLATES
SETUP[("docs/templates.md", "flowctl store push flows/vet.json -t coastal-care --publish")] = (
    *TEMPLATES,
    TEMPLATE_V2,
)
API_DOC = "docs/api.md"
API_ADDRESS = "127.0.0.1:8000"  # where docs/api.md's server listens
LIVEKIT_ENV = {
    "LIVEKIT_URL": "wss://acme.livekit.cloud",
    "LIVEKIT_API_KEY": "APIkey",
    "LIVEKIT_API_SECRET": "a-secret-long-enough-for-hmac-sha256-keys",
}


def runnable(command: str) -> bool:
    words = command.split("#", 1)[0] if not command.startswith("printf") else command
    starts = words.lstrip().startswith("flowctl ") or "| flowctl " in words
    return starts and not any(word in words for word in SKIP_WORDS)


def block_skip(block: Block) -> str | None:
    if block.doc == "README.md" and block.section == "The store":
        return "tests/test_readme_store.py runs the README's store section"
    if block.doc == API_DOC:
        return "test_api_walkthrough_runs_against_a_real_server runs docs/api.md"
    if block.key in SKIPPED:
        return SKIPPED[block.key]
    return None


ALL_BLOCKS = [b for b in doc_blocks() if any(runnable(step.command) for step in b.steps)]
BLOCKS = [b for b in ALL_BLOCKS if block_skip(b) is None]


def test_every_block_left_out_is_named_with_its_reason() -> None:
    left_out = {b.key for b in doc_blocks() if b.key in SKIPPED}
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
        ('{"at": 1795325340.963456}', '{"at": 1796120669.5}\n', True),
        ('{"count": 17953253}', '{"count": 17961206}\n', False),
    ],
    ids=[
        "trailing-space",
        "other-line",
        "extra-line",
        "elided-text",
        "elided-lines",
        "time",
        "time-format",
        "unix-time",
        "number",
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


def test_minted_values_pair_in_order_and_rename_longest_first() -> None:
    shown = '{"key_id": "fk_46326e1f3a69", "secret": "fk_46326e1f3a69_9h2Z...Mpac"}'
    got = '{"key_id": "fk_0123456789ab", "secret": "fk_0123456789ab_Xy-9_zz"}\n'
    ids = {"fk_9ba31d3a6720": "fk_ffffffffffff"}  # the bootstrap key, seen before
    ids.update(minted(shown + " by fk_9ba31d3a6720", got + " by fk_ffffffffffff", ids))
    assert ids == {
        "fk_9ba31d3a6720": "fk_ffffffffffff",
        "fk_46326e1f3a69_9h2Z...Mpac": "fk_0123456789ab_Xy-9_zz",
        "fk_46326e1f3a69": "fk_0123456789ab",
    }
    assert renamed("export ADMIN=fk_46326e1f3a69_9h2Z...Mpac", ids) == (
        "export ADMIN=fk_0123456789ab_Xy-9_zz"
    )


@pytest.mark.parametrize("block", BLOCKS, ids=[f"{b.doc}:{b.line}" for b in BLOCKS])
def test_doc_commands_run_as_shown(block: Block, tmp_path: Path) -> None:
    shell = Shell(tmp_path)
    for command in SETUP.get(block.key, ()):
        assert shell.run(command).returncode == 0, command
    ids: dict[str, str] = {}  # a value the doc shows -> the one this run made
    for step in block.steps:
        if not runnable(step.command):
            continue
        done = shell.run(renamed(step.command, ids))
        ids.update(minted(step.output, done.stdout, ids))
        assert done.returncode == expected_code(step.output), (step.command, done.stdout)
        if step.output:
            shown = renamed(step.output, ids)
            assert matches(shown, done.stdout), (step.command, shown, done.stdout)


def test_api_walkthrough_runs_against_a_real_server(tmp_path: Path) -> None:
    """docs/api.md top to bottom, ``curl`` and ``jq`` included, against ``flowctl
    serve`` started where the doc starts it."""
    shell = Shell(tmp_path, **LIVEKIT_ENV)
    port = free_port()
    host, _, shown_port = API_ADDRESS.partition(":")
    ids = {API_ADDRESS: f"{host}:{port}", f"--port {shown_port}": f"--port {port}"}
    steps = [
        step
        for block in doc_blocks()
        if block.doc == API_DOC and block.key not in SKIPPED
        for step in block.steps
    ]
    server = None
    try:
        for step in steps:
            command = renamed(step.command, ids)
            if command.startswith("flowctl serve "):
                assert server is None, "docs/api.md starts the server twice"
                server, got = shell.start(command, ready="Uvicorn running")
            else:
                done = shell.run(command)
                got = done.stdout
                assert done.returncode == expected_code(step.output), (step.command, got)
            ids.update(minted(step.output, got, ids))
            if step.output:
                shown = renamed(step.output, ids)
                assert matches(shown, got), (step.command, shown, got)
        assert server is not None, "docs/api.md never starts `flowctl serve`"
    finally:
        if server is not None:
            shell.stop(server)
