"""The console's parts without a server: the graph's layout and where findings land,
the side-by-side diff, sign-in sessions, the chat's scenario, and the vendored files."""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

import pytest
from conftest import ROOT
from consolekit import front_desk

from flowctl.console.diff import Row, side_by_side
from flowctl.console.graph import draw, finding_state
from flowctl.console.signin import SignIns
from flowctl.engine.compile import compile_flow
from flowctl.engine.load import load_bytes
from flowctl.engine.store import StoredFinding

CONSOLE = ROOT / "console"


def _compiled(document: dict[str, Any]) -> Any:
    loaded = load_bytes(json.dumps(document).encode(), "flow.json")
    assert loaded.flow is not None
    return compile_flow(loaded.flow)


def _finding(code: str, at: str) -> StoredFinding:
    return StoredFinding(code=code, severity="warning", message=f"m - at `{at}`", row=1, column=1)


@pytest.mark.parametrize(
    ("message", "state"),
    [
        ("State `B` is unreachable - at `$.agents[1].name`", (1, None)),
        ("Unknown agent - at `$.agents[12].edges[3].target_agent`", (12, 3)),
        ("Unused - at `$.variables.venue`", None),
        ("File starts with a UTF-8 byte order mark; save it without one", None),
    ],
    ids=["state", "edge", "flow", "no-path"],
)
def test_finding_state_reads_the_path_of_a_findings_message(
    message: str, state: tuple[int, int | None] | None
) -> None:
    assert finding_state(message) == state


def test_draw_lays_states_out_by_depth_and_puts_findings_on_their_boxes() -> None:
    # v2 of the front desk: booking hands off to Goodbye, so Booking is unreachable
    compiled = _compiled(front_desk(target_agent="Goodbye"))
    findings = [
        _finding("FL201", "$.agents[1].name"),
        _finding("FL404", "$.agents[0].edges[1].description"),
        _finding("FL303", "$.variables.venue"),
    ]
    drawing = draw(compiled, findings)
    boxes = [(b.name, b.y, b.note, [f.code for f in b.findings], b.severity) for b in drawing.boxes]
    assert boxes == [
        ("Greeting", 52.0, "start", ["FL404"], "warning"),
        ("Booking", 348.0, "", ["FL201"], "warning"),  # unreached: a layer of its own, last
        ("Goodbye", 200.0, "end", [], None),
    ]
    curves = [(c.source, c.target, c.label, c.label_y, c.flagged, c.back) for c in drawing.curves]
    assert curves == [
        ("Greeting", "Goodbye", "start_booking", 150.0, False, False),
        # a second label at the same place moves down rather than cover the first
        ("Greeting", "Goodbye", "finish", 166.0, True, False),
        ("Booking", "Goodbye", "finish", 298.0, False, True),  # up: around the right side
    ]
    assert [f.code for f in drawing.flow_findings] == ["FL303"]
    assert drawing.states[0].reads == ["venue"]
    assert drawing.states[0].edges[0] == {
        "name": "start_booking",
        "kind": "handoff",
        "target": "Goodbye",
        "description": "The caller wants to book a table.",
        "parameters": [],
        "requires": [],
    }


def test_draw_labels_guards_and_marks_automatic_edges() -> None:
    document = front_desk(when="venue == 'x'", description="")
    drawing = draw(_compiled(document), [])
    (booking,) = [c for c in drawing.curves if c.target == "Booking"]
    assert (booking.label, booking.automatic) == ("start_booking [venue == 'x']", True)


def test_side_by_side_lines_up_changed_added_and_folded_lines() -> None:
    old = {"a": 1, "b": [1, 2], **{f"k{i}": i for i in range(10)}, "z": "x"}
    new = {"a": 1, "b": [1, 3], **{f"k{i}": i for i in range(10)}, "z": "x", "d": True}
    rows = side_by_side(json.dumps(old), json.dumps(new))
    assert [(r.kind, r.old_no, r.new_no) for r in rows] == [
        ("same", 2, 2),  # three lines of context before a change
        ("same", 3, 3),
        ("same", 4, 4),
        ("changed", 5, 5),
        ("same", 6, 6),
        ("same", 7, 7),
        ("same", 8, 8),
        ("fold", None, None),
        ("same", 14, 14),
        ("same", 15, 15),
        ("same", 16, 16),
        ("changed", 17, 17),
        ("added", None, 18),
        ("same", 18, 19),
    ]
    assert rows[3] == Row("changed", 5, "    2", 5, "    3")
    assert rows[12] == Row("added", None, "", 18, '  "d": true')
    assert side_by_side(json.dumps(old), json.dumps(old)) == []


def test_signins_expire_when_idle_and_on_sign_out() -> None:
    now = [1000.0]
    signins = SignIns(idle=60.0, clock=lambda: now[0])
    sid, signin = signins.open("fk_secret", key_id="fk_1", tenant_id="acme", role="viewer")
    assert len(sid) == 43 and len(signin.csrf) == 43 and sid != signin.csrf
    now[0] += 59
    assert signins.get(sid) is signin  # a click restarts the idle clock
    now[0] += 59
    assert signins.get(sid) is signin
    now[0] += 61
    assert signins.get(sid) is None
    sid, _ = signins.open("fk_secret", key_id="fk_1", tenant_id="acme", role="viewer")
    signins.close(sid)
    assert signins.get(sid) is None
    assert signins.get("") is None and signins.get(None) is None


def test_signin_messages_show_once() -> None:
    _, signin = SignIns().open("k", key_id="fk_1", tenant_id="acme", role="viewer")
    signin.say("ok", "Published v2")
    assert signin.messages() == [("ok", "Published v2")]
    assert signin.messages() == []


def test_vendored_files_are_the_ones_recorded() -> None:
    table = (CONSOLE / "static" / "VENDORED.md").read_text()
    rows = re.findall(r"^\| `([^`]+)` \|.*\| `([0-9a-f]{64})` \|$", table, re.MULTILINE)
    assert rows == [
        (
            "htmx-2.0.11.min.js",
            hashlib.sha256((CONSOLE / "static" / "htmx-2.0.11.min.js").read_bytes()).hexdigest(),
        )
    ]
    assert (CONSOLE / "static" / "htmx-LICENSE.txt").read_text().startswith("Zero-Clause BSD")
    assert (
        '<script src="/static/htmx-2.0.11.min.js" defer></script>'
        in (CONSOLE / "templates" / "base.html").read_text()
    )


def test_console_loads_nothing_from_elsewhere() -> None:
    # No CDN: every script, style and font the pages use is served from /static.
    pages = sorted((CONSOLE / "templates").glob("*.html"))
    for path in [*pages, CONSOLE / "static" / "console.js", CONSOLE / "static" / "console.css"]:
        text = path.read_text()
        assert re.findall(r"""(?:src|href)=["']?(?:https?:)?//""", text) == [], path
        assert "@import" not in text and "url(http" not in text, path


def test_browser_tests_skip_without_chromium_unless_required(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import consolekit

    monkeypatch.setattr(consolekit.shutil, "which", lambda name: None)
    monkeypatch.setattr(consolekit, "DEBIAN_CHROMIUM", ROOT / "no-such-chromium")
    monkeypatch.delenv("FLOWCTL_REQUIRE_BROWSER", raising=False)
    with pytest.raises(pytest.skip.Exception) as skipped:
        consolekit.chromium()
    assert str(skipped.value) == (
        "no chromium (`make test` installs Debian's: apt-get install chromium)"
    )
    monkeypatch.setenv("FLOWCTL_REQUIRE_BROWSER", "1")  # as .ci/run sets it
    with pytest.raises(pytest.fail.Exception) as failed:
        consolekit.chromium()
    assert str(failed.value) == (
        "FLOWCTL_REQUIRE_BROWSER is set but there is no chromium (`make test` installs "
        "Debian's: apt-get install chromium)"
    )
