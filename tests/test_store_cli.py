"""``flowctl store``, ``tenants`` and ``sessions`` through click's CliRunner, on real
SQLite files: exit code first, then the exact output on the right stream."""

from __future__ import annotations

import asyncio
import json
import shlex
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from conftest import FLOWS
from storekit import T0, Clock, broken_doc, flow_doc, opened, store_url, warned_doc

from flowctl.cli.main import cli
from flowctl.engine.runtime import Ended, Entered, Fired, RefusedEvent, ToolCalled, ToolReturned
from flowctl.engine.store import Turn
from flowctl.engine.store.documents import push_document
from flowctl.engine.store.sqlite.schema import LATEST as SQLITE_LATEST


@pytest.fixture
def url(store_target: Any) -> str:
    """The store's URL, once per backend (conftest's ``store_target``)."""
    return store_url(store_target)


def run(url: str, *args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(
        cli,
        [*args, "--store", url],
        env={"FLOWCTL_USER": "ana", "FLOWCTL_TENANT": "acme", **(env or {})},
    )
    return result.exit_code, result.stdout, result.stderr


def write(path: Path, data: bytes) -> str:
    path.write_bytes(data)
    return str(path)


@pytest.fixture
def acme(url: str) -> str:
    assert run(url, "store", "init")[0] == 0
    assert run(url, "tenants", "create", "acme", "--name", "Acme")[0] == 0
    return url


def test_default_url_is_the_engines() -> None:
    import flowctl.cli.store_common
    import flowctl.engine.store

    assert (
        flowctl.cli.store_common.DEFAULT_URL
        == flowctl.engine.store.DEFAULT_URL
        == "sqlite:///flowctl.db"
    )


def test_init_creates_then_finds_it_up_to_date(url: str) -> None:
    from flowctl.engine.store.postgres.schema import LATEST as POSTGRES
    from flowctl.engine.store.sqlite.schema import LATEST as SQLITE

    latest = POSTGRES if url.startswith("postgresql") else SQLITE
    assert run(url, "store", "init") == (0, f"Created store {url} (schema {latest})\n", "")
    assert run(url, "store", "init") == (
        0,
        f"Store {url} is up to date (schema {latest})\n",
        "",
    )


def test_push_publish_list_show(acme: str, tmp_path: Path) -> None:
    one = write(tmp_path / "clinic.json", flow_doc())
    code, out, err = run(acme, "store", "push", one)
    assert (code, err) == (0, "")
    assert out.startswith("clinic v1 pushed (") and out.endswith(", clean)\n")
    assert run(acme, "store", "push", one) == (0, "clinic v1 unchanged (same content)\n", "")
    assert run(acme, "store", "publish", "clinic", "1") == (
        0,
        "clinic v1 published (was none)\n",
        "",
    )
    assert run(acme, "store", "publish", "clinic", "1") == (
        0,
        "clinic v1 is already published\n",
        "",
    )
    two = write(tmp_path / "v2.json", warned_doc())
    code, out, err = run(acme, "store", "push", two, "--publish")
    assert code == 0
    assert out.splitlines()[0].endswith(", 1 warning)")
    assert out.splitlines()[1] == "clinic v2 published (was v1)"
    assert err == (
        "clinic@v2:10:26: FL404 Description of `finish` is 3 characters; say when to call "
        "it in at least 20 - at `$.agents[0].edges[0].description`\n"
    )
    code, out, _ = run(acme, "store", "list")
    assert code == 0
    assert out.splitlines()[0].split() == [
        "FLOW",
        "PUBLISHED",
        "LATEST",
        "PUBLISHED",
        "AT",
        "STATUS",
    ]
    assert out.splitlines()[1].split()[:3] == ["clinic", "v2", "v2"]
    code, out, _ = run(acme, "store", "list", "clinic")
    assert code == 0
    rows = [line.split() for line in out.splitlines()]
    assert [r[0] for r in rows] == ["VERSION", "v1", "v2"]
    assert rows[2][1] == "*"
    assert (rows[1][-1], rows[2][-2:]) == ("clean", ["1", "warning"])
    code, out, _ = run(acme, "store", "show", "clinic", "--format", "json")
    shown = json.loads(out)
    assert (shown["version"]["version"], shown["published"]) == (2, 2)
    assert [(p["version"], p["previous"]) for p in shown["history"]] == [(1, None), (2, 1)]
    assert run(acme, "store", "show", "clinic", "1", "--document") == (
        0,
        flow_doc().decode() + "\n",
        "",
    )


def test_show_prints_a_version_its_lint_and_the_history(acme: str) -> None:

    async def record() -> None:
        async with await opened(acme, Clock()) as s:
            t = s.tenant("acme")
            await push_document(t, warned_doc(), actor="ana")
            await push_document(t, flow_doc(), actor="bo")
            await t.publish("clinic", 1, actor="ana")
            await t.publish("clinic", 2, actor="bo")
            await t.rollback("clinic", actor="cy")

    asyncio.run(record())
    code, out, err = run(acme, "store", "show", "clinic")
    assert (code, err) == (0, "")
    digest = json.loads(run(acme, "store", "show", "clinic", "--format", "json")[1])["version"]
    assert out == (
        "clinic v1 (published)\n"
        f"hash     sha256:{digest['hash']}\n"
        "author   ana\n"
        "created  2023-11-14T22:13:21Z\n"
        "lint     1 warning\n"
        "  10:26: FL404 Description of `finish` is 3 characters; say when to call it in at "
        "least 20 - at `$.agents[0].edges[0].description`\n"
        "history\n"
        "  #1  2023-11-14T22:13:23Z  publish   v1 by ana\n"
        "  #2  2023-11-14T22:13:24Z  publish   v2 (was v1) by bo\n"
        "  #3  2023-11-14T22:13:25Z  rollback  v1 (was v2) by cy\n"
    )
    assert run(acme, "store", "show", "clinic", "2")[1].splitlines()[0] == (
        "clinic v2 (published: v1)"
    )


def test_push_refuses_a_scenario_file(acme: str) -> None:
    scenarios = str(FLOWS / "clinic.scenarios.json")
    assert run(acme, "store", "push", scenarios) == (
        2,
        "",
        f"flowctl: error: `{scenarios}` is a scenario file, not a flow; nothing was pushed\n",
    )
    assert run(acme, "store", "list")[:2] == (0, "")


def test_push_with_lint_errors_is_stored_and_exits_1(acme: str, tmp_path: Path) -> None:
    bad = write(tmp_path / "clinic.json", broken_doc())
    code, out, err = run(acme, "store", "push", bad, "--publish")
    assert code == 1
    assert out.startswith("clinic v1 pushed (") and out.endswith(", 1 error)\n")
    assert err == (
        "clinic@v1:15:9: FL104 Unknown tool `nosuch` - at `$.agents[0].tools[0]`\n"
        "flowctl: error: clinic v1 has lint errors; it cannot be published\n"
    )
    assert run(acme, "store", "publish", "clinic", "1") == (
        1,
        "",
        "flowctl: error: Cannot publish `clinic` v1: it has 1 lint error: 15:9: FL104 Unknown "
        "tool `nosuch` - at `$.agents[0].tools[0]`. Fix them and push a new version\n",
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["store", "publish", "nosuch", "1"], "Unknown flow `nosuch` for tenant `acme`"),
        (["store", "show", "clinic", "7"], "Flow `clinic` of tenant `acme` has no version 7"),
        (
            ["store", "rollback", "clinic"],
            "`clinic` v1 is the earliest version ever published; nothing earlier to roll back to",
        ),
        (
            ["store", "publish", "clinic", "1", "--expect", "soon"],
            "`--expect soon`: give a version number, or `none`",
        ),
        (["sessions", "show", "nosuch"], "Unknown session `nosuch` for tenant `acme`"),
        (["tenants", "create", "acme"], "Tenant `acme` already exists"),
        (
            ["tenants", "show", "ghost"],
            "Unknown tenant `ghost`; create it with `flowctl tenants create ghost --store {url}`",
        ),
        (
            ["tenants", "set-limits", "acme", "--max-sessions", "0"],
            "`--max-sessions 0`: give a whole number from 1, or `none`",
        ),
        (["tenants", "set-routing", "acme"], "give a ROUTING file, or --clear"),
        (
            ["store", "push", "missing.json"],
            "Cannot read `missing.json`: No such file or directory",
        ),
    ],
    ids=[
        "flow",
        "version",
        "rollback",
        "expect",
        "session",
        "tenant-twice",
        "tenant",
        "limit",
        "routing",
        "file",
    ],
)
def test_user_errors_exit_2_without_a_traceback(
    acme: str, tmp_path: Path, args: list[str], message: str
) -> None:
    run(acme, "store", "push", write(tmp_path / "clinic.json", flow_doc()), "--publish")
    hinted = message.format(url=shlex.quote(acme))  # a hint keeps the --store given
    assert run(acme, *args) == (2, "", f"flowctl: error: {hinted}\n")


def test_publish_expect_conflict_exits_1(acme: str, tmp_path: Path) -> None:
    run(acme, "store", "push", write(tmp_path / "clinic.json", flow_doc()), "--publish")
    run(acme, "store", "push", write(tmp_path / "v2.json", flow_doc(note="2")))
    assert run(acme, "store", "publish", "clinic", "2", "--expect", "none") == (
        1,
        "",
        "flowctl: error: Cannot publish `clinic` v2: expected no version to be published, but "
        "v1 is (someone changed it in between); look again with `flowctl store show clinic "
        f"--store {shlex.quote(acme)}` and retry\n",
    )
    assert run(acme, "store", "publish", "clinic", "2", "--expect", "1") == (
        0,
        "clinic v2 published (was v1)\n",
        "",
    )
    assert run(acme, "store", "rollback", "clinic", "--expect", "2") == (
        0,
        "clinic rolled back to v1 (was v2)\n",
        "",
    )


def test_diff_shows_a_unified_diff_of_pretty_json(acme: str, tmp_path: Path) -> None:
    run(acme, "store", "push", write(tmp_path / "clinic.json", flow_doc()))
    compact = json.dumps(json.loads(flow_doc(note="Be brief.")))  # formatting does not matter
    run(acme, "store", "push", write(tmp_path / "v2.json", compact.encode()))
    code, out, err = run(acme, "store", "diff", "clinic", "1")
    assert (code, err) == (0, "")
    assert out == (
        "--- clinic@v1\n"
        "+++ clinic@v2\n"
        "@@ -3,7 +3,7 @@\n"
        '   "agents": [\n'
        "     {\n"
        '       "name": "Main",\n'
        '-      "instructions": "Help the caller with their question.",\n'
        '+      "instructions": "Help the caller with their question. Be brief.",\n'
        '       "edges": [\n'
        "         {\n"
        '           "name": "finish",\n'
    )
    assert run(acme, "store", "diff", "clinic", "2", "2") == (0, "", "")


def test_tenants_routing_and_limits(acme: str, tmp_path: Path) -> None:
    routing = write(tmp_path / "routing.json", b'{"default": "clinic"}')
    assert run(acme, "tenants", "set-routing", "acme", routing) == (
        0,
        "Routing of tenant acme updated\n",
        "",
    )
    assert run(acme, "tenants", "set-limits", "acme", "--max-sessions", "5") == (
        0,
        "Tenant acme: max sessions 5\n",
        "",
    )
    assert run(acme, "tenants", "create", "globex", "--max-sessions", "2")[0] == 0
    code, out, _ = run(acme, "tenants", "list")
    assert code == 0
    assert [line.split() for line in out.splitlines()] == [
        ["TENANT", "NAME", "MAX", "SESSIONS", "ROUTING"],
        ["acme", "Acme", "5", "yes"],
        ["globex", "-", "2", "-"],
    ]
    code, out, _ = run(acme, "tenants", "show", "acme", "--format", "json")
    shown = json.loads(out)
    assert (shown["routing"], shown["max_concurrent_sessions"]) == ({"default": "clinic"}, 5)
    code, out, _ = run(acme, "tenants", "show", "acme", "--audit")
    assert code == 0
    audit = out.split("audit\n")[1].splitlines()
    assert [line.split()[1:3] for line in audit] == [
        ["ana", "tenant.limits"],
        ["ana", "tenant.routing"],
        ["ana", "tenant.create"],
    ]
    assert run(acme, "tenants", "set-routing", "acme", "--clear")[1] == (
        "Routing of tenant acme cleared\n"
    )
    bad = write(tmp_path / "bad.json", b"[]")
    assert run(acme, "tenants", "set-routing", "acme", bad) == (
        2,
        "",
        "flowctl: error: Routing for tenant `acme` must be a JSON object\n",
    )


def test_sessions_list_and_show_a_timeline(acme: str, tmp_path: Path) -> None:

    async def record() -> None:
        async with await opened(acme, Clock(T0 + 100)) as s:
            t = s.tenant("acme")
            await push_document(t, flow_doc(), actor="ana")
            await t.publish("clinic", 1, actor="ana")
            await t.start_session("clinic", session_id="call-1", routing={"rule": "default"})
            start = T0 + 103
            await t.append_events(
                "call-1",
                [
                    Entered(at=start, state="Main"),
                    Turn(at=start + 1.5, role="user", text="Can I book for Tuesday?"),
                    ToolCalled(at=start + 2, tool="check_table", args={"day": "Tue"}),
                    ToolReturned(
                        at=start + 2.25, tool="check_table", ok=True, value={"free": True}
                    ),
                    ToolReturned(at=start + 2.5, tool="crm", ok=False, error="timed out"),
                    RefusedEvent(at=start + 3, name="book", reason="`book` needs `name` first."),
                    Turn(at=start + 4, role="agent", text="Booked. Anything else?"),
                    Fired(
                        at=start + 5,
                        edge="finish",
                        source="Main",
                        target="Goodbye",
                        args={"why": "done"},
                    ),
                    Entered(at=start + 5, state="Goodbye", via="finish"),
                    Ended(at=start + 5, reason="end_state", state="Goodbye"),
                ],
            )
            await t.end_session("call-1", reason="end_state")
            await t.start_session("clinic", session_id="call-2")

    asyncio.run(record())
    code, out, _ = run(acme, "sessions", "list")
    assert code == 0
    assert [line.split() for line in out.splitlines()] == [
        ["SESSION", "FLOW", "VERSION", "STARTED", "ENDED", "REASON", "EVENTS"],
        ["call-2", "clinic", "v1", "2023-11-14T22:15:05Z", "-", "running", "0"],
        [
            "call-1",
            "clinic",
            "v1",
            "2023-11-14T22:15:03Z",
            "2023-11-14T22:15:04Z",
            "end_state",
            "10",
        ],
    ]
    assert run(acme, "sessions", "list", "--running")[1].splitlines()[1].split()[0] == "call-2"
    code, out, err = run(acme, "sessions", "show", "call-1")
    assert (code, err) == (0, "")
    assert out == (
        "session  call-1\n"
        "flow     clinic v1\n"
        "started  2023-11-14T22:15:03Z\n"
        "ended    2023-11-14T22:15:04Z (end_state)\n"
        'routing  {"rule": "default"}\n'
        "events   10\n"
        "\n"
        "    +0.00s  entered  Main\n"
        "    +1.50s  user     Can I book for Tuesday?\n"
        '    +2.00s  tool     check_table {"day": "Tue"}\n'
        '    +2.25s  result   check_table ok {"free": true}\n'
        "    +2.50s  result   crm failed: timed out\n"
        "    +3.00s  refused  book: `book` needs `name` first.\n"
        "    +4.00s  agent    Booked. Anything else?\n"
        '    +5.00s  fired    finish: Main -> Goodbye {"why": "done"}\n'
        "    +5.00s  entered  Goodbye via finish\n"
        "    +5.00s  ended    end_state in Goodbye\n"
    )
    code, out, _ = run(acme, "sessions", "show", "call-1", "--format", "json")
    shown = json.loads(out)
    assert shown["session"]["events"] == 10
    assert [e["kind"] for e in shown["events"]][:3] == ["entered", "turn", "tool_called"]


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (
            "postgresql://db/flowctl?schema=Acme",
            "Store URL `postgresql://db/flowctl?schema=Acme`: `schema` is a lower-case SQL "
            "name (letters, digits, `_`), not `Acme`",
        ),
        (
            "flowctl.db",
            "Store URL `flowctl.db` has no scheme; did you mean `sqlite:///flowctl.db`?",
        ),
    ],
    ids=["postgresql", "no-scheme"],
)
def test_bad_store_urls_exit_2(url: str, message: str) -> None:
    assert run(url, "store", "list") == (2, "", f"flowctl: error: {message}\n")


def test_missing_and_unusable_files_exit_2(tmp_path: Path) -> None:
    path = tmp_path / "flowctl.db"
    assert run(f"sqlite:///{path}", "tenants", "list") == (
        2,
        "",
        f"flowctl: error: No store at `{path}`; create one with `flowctl store init --store "
        f"sqlite:///{path}`\n",
    )
    path.write_bytes(b"garbage" * 100)
    assert run(f"sqlite:///{path}", "store", "init") == (
        2,
        "",
        f"flowctl: error: `{path}` is not a flowctl store: it is not an SQLite database. "
        "Point --store at the right file, or restore it from a backup\n",
    )


def test_store_url_and_tenant_come_from_the_environment(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'env.db'}"
    result = CliRunner().invoke(cli, ["store", "init"], env={"FLOWCTL_STORE": url})
    assert (result.exit_code, result.stdout) == (
        0,
        f"Created store {url} (schema {SQLITE_LATEST})\n",
    )
    result = CliRunner().invoke(
        cli, ["store", "list"], env={"FLOWCTL_STORE": url, "FLOWCTL_TENANT": "ghost"}
    )
    assert (result.exit_code, result.stderr) == (
        2,
        "flowctl: error: Unknown tenant `ghost`; create it with `flowctl tenants create ghost`\n",
    )


def test_hints_keep_the_store_given_on_the_command_line(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'my store.db'}"  # quoted in the hint: it has a space
    flag = f"--store 'sqlite:///{tmp_path / 'my store.db'}'"
    assert run(url, "store", "init")[0] == 0
    assert run(url, "tenants", "list") == (
        0,
        "",
        f"No tenants; create one with `flowctl tenants create ID {flag}`\n",
    )
    assert run(url, "store", "list", "-t", "ghost") == (
        2,
        "",
        f"flowctl: error: Unknown tenant `ghost`; create it with `flowctl tenants create "
        f"ghost {flag}`\n",
    )
    assert run(url, "tenants", "create", "acme")[0] == 0
    assert run(url, "store", "list") == (
        0,
        "",
        f"No flows for tenant `acme`; push one with `flowctl store push {flag}`\n",
    )
    assert run(url, "keys", "list") == (
        0,
        "",
        f"No keys for tenant `acme`; create one with `flowctl keys create {flag}`\n",
    )


def test_hints_name_no_store_when_it_is_the_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert run("sqlite:///flowctl.db", "store", "init")[0] == 0
    assert run("sqlite:///flowctl.db", "store", "list", "-t", "ghost") == (
        2,
        "",
        "flowctl: error: Unknown tenant `ghost`; create it with `flowctl tenants create ghost`\n",
    )
