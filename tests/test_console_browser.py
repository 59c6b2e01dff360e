"""The console in Debian's Chromium, as a person uses it (issue 19's walk-through): sign
in, open a flow, see a lint finding on its graph, publish and roll back (and a viewer who
cannot), open a recorded call and replay it, chat with a version and save the scenario,
then run that scenario with `flowctl simulate`. Each page's screenshot lands in
docs/console/ for docs/console.md."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from apikit import SERVE, Server
from conftest import ROOT
from consolekit import SHOTS, VIEWPORT, front_desk, launched, sign_in


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    served = Server(tmp_path_factory.mktemp("console"))
    yield served
    served.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    yield from launched()


def _push(server: Server, document: dict[str, Any], publish: int | None = None) -> int:
    with server.client("acme-developer") as api:
        text = json.dumps(document, indent=2)  # as a person writes it: rows mean something
        answer = api.post("/api/v1/flows", content=text)
        if answer.status_code == 409:
            answer = api.put(f"/api/v1/flows/{document['flow_id']}", content=text)
        assert answer.status_code in (200, 201), answer.text
        version: int = answer.json()["version"]
        if publish is not None:
            moved = api.post(
                f"/api/v1/flows/{document['flow_id']}/publish", json={"version": publish}
            )
            assert moved.status_code == 200, moved.text
    return version


def _unlabelled(page: Any) -> list[str]:
    """The page's form controls that no label names (each must have one)."""
    found: list[str] = page.evaluate(
        """() => [...document.querySelectorAll(
                 'input:not([type=hidden]), select, textarea')]
               .filter(el => el.labels.length === 0 && !el.getAttribute('aria-label'))
               .map(el => el.name || el.id)"""
    )
    return found


def _message(page: Any) -> str:
    return str(page.locator(".message").first.inner_text())


def test_console_sign_in_lists_the_tenants_flows(server: Server, browser: Any) -> None:
    _push(server, front_desk(), publish=1)
    anonymous = browser.new_context(viewport=VIEWPORT)
    login = anonymous.new_page()
    login.goto(f"{server.base}/flows/front_desk")
    assert login.url == f"{server.base}/login?next=%2Fflows%2Ffront_desk"
    login.get_by_label("API key").fill("fk_not_a_key")
    login.get_by_role("button", name="Sign in").click()
    assert _message(login) == "Invalid API key"
    login.screenshot(path=SHOTS / "login.png")
    login.get_by_label("API key").fill(server.keys["acme-viewer"])
    login.get_by_role("button", name="Sign in").click()
    assert login.url == f"{server.base}/flows/front_desk"  # where it was going
    anonymous.close()
    page = sign_in(browser, server.base, server.keys["acme-developer"])
    row = page.get_by_role("row", name=re.compile("front_desk"))
    assert row.get_by_role("cell").all_inner_texts()[:4] == ["front_desk", "v1", "v1", "live"]
    assert page.locator(".who").inner_text() == (
        f"tenant acme · developer key {server.keys['acme-developer'][:15]}"
    )
    page.screenshot(path=SHOTS / "flows.png")
    page.context.close()


def test_console_flow_shows_a_finding_on_its_graph_publishes_and_rolls_back(
    server: Server, browser: Any
) -> None:
    flow = front_desk(target_agent="Goodbye") | {"flow_id": "desk_graph"}
    _push(server, front_desk() | {"flow_id": "desk_graph"}, publish=1)
    assert _push(server, flow) == 2
    page = sign_in(browser, server.base, server.keys["acme-developer"])
    page.get_by_role("link", name="desk_graph").click()
    assert page.locator("h1").inner_text() == "desk_graph v1"
    page.get_by_role("link", name="v2", exact=True).click()
    # v2 hands the booking off to Goodbye: Booking is unreachable, and its box says so
    booking = page.get_by_role("link", name="State Booking, 1 lint finding")
    assert booking.locator(".finding").get_attribute("data-codes") == "FL201"
    assert booking.locator("title").text_content() == (
        "Booking\nFL201 State `Booking` is unreachable from the start state `Greeting` - at "
        "`$.agents[1].name`"
    )
    assert page.locator(".findings li").all_inner_texts() == [
        "FL201 40:15 State `Booking` is unreachable from the start state `Greeting` - at "
        "`$.agents[1].name`"
    ]
    page.screenshot(path=SHOTS / "flow.png")
    booking.focus()  # a state is a link: the keyboard reaches it, Enter opens its panel
    page.keyboard.press("Enter")
    assert page.url.endswith("#state-1")
    assert page.locator("#state-1 summary").inner_text() == "Booking"
    page.get_by_role("link", name="diff with v2").click()
    changed = page.locator("table.diff tr.changed td")
    assert changed.all_text_contents() == [
        "22",
        'removed:           "target_agent": "Booking",',  # the words screen readers hear
        "22",
        'added:           "target_agent": "Goodbye",',
    ]
    page.screenshot(path=SHOTS / "diff.png")
    page.go_back()
    page.go_back()
    page.get_by_role("button", name="Publish v2").click()
    assert _message(page) == "Published v2 of `desk_graph`: new calls get it"
    page.get_by_role("button", name="Roll back").click()
    assert _message(page) == "Rolled `desk_graph` back from v2 to v1: new calls get it"
    assert page.locator(".badge.live").first.inner_text() == "live"
    history = page.locator("#history + table tbody tr").all_inner_texts()
    assert [re.split(r"\t", h)[1:4] for h in history] == [
        ["rollback", "v2", "v1"],
        ["publish", "v1", "v2"],
        ["publish", "-", "v1"],
    ]
    page.context.close()


def test_console_refuses_a_publish_from_a_stale_page(server: Server, browser: Any) -> None:
    _push(server, front_desk() | {"flow_id": "desk_stale"}, publish=1)
    _push(server, front_desk(target_agent="Goodbye") | {"flow_id": "desk_stale"})
    page = sign_in(browser, server.base, server.keys["acme-developer"])
    page.goto(f"{server.base}/flows/desk_stale?version=2")
    with server.client("acme-developer") as api:  # someone else publishes meanwhile
        assert api.post("/api/v1/flows/desk_stale/publish", json={"version": 2}).status_code == 200
        assert api.delete("/api/v1/flows/desk_stale").status_code == 200  # unpublished
    page.get_by_role("button", name="Publish v2").click()
    assert _message(page) == (
        "Nothing changed: this page showed v1 as published, but no version is now (someone "
        "else moved it since the page was loaded). Look at the versions below and publish "
        "again if you still mean it."
    )
    page.screenshot(path=SHOTS / "stale.png")
    page.context.close()


def test_console_viewer_sees_no_publishing_and_is_refused_one(server: Server, browser: Any) -> None:
    _push(server, front_desk() | {"flow_id": "desk_viewer"}, publish=1)
    page = sign_in(browser, server.base, server.keys["acme-viewer"])
    page.goto(f"{server.base}/flows/desk_viewer")
    assert page.get_by_role("button", name=re.compile("Publish|Roll back|Unpublish")).count() == 0
    assert page.locator("main > p.muted").first.inner_text() == (
        "Your viewer key can read this flow; publishing, editing and trying it need a "
        "developer key."
    )
    # The form a developer would see, sent anyway with the viewer's own CSRF token.
    csrf = page.locator("form[action='/logout'] input[name=csrf]").get_attribute("value")
    answer = page.request.post(
        f"{server.base}/flows/desk_viewer/rollback", form={"csrf": csrf or ""}
    )
    assert answer.status == 403
    assert "This needs a developer key; key" in answer.text()
    page.context.close()


def _record(server: Server, flow: Path, *lines: str) -> str:
    """A call on the tenant's published version, recorded as a worker records one (by
    `flowctl simulate --record`, the offline model answering ``lines``); its id."""
    ran = subprocess.run(
        [sys.executable, "-c", SERVE, "simulate", str(flow), "--record", "-t", "acme",
         "--store", server.url],
        input="\n".join(lines) + "\n", capture_output=True, text=True, cwd=ROOT, timeout=60,
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    (session_id,) = re.findall(r"^recorded: (\S+)$", ran.stderr, re.MULTILINE)
    return session_id


def test_console_opens_a_recorded_call_and_replays_it(
    server: Server, browser: Any, tmp_path: Path
) -> None:
    flow = tmp_path / "desk_calls.json"
    flow.write_text(json.dumps(front_desk() | {"flow_id": "desk_calls"}))
    _push(server, front_desk() | {"flow_id": "desk_calls"}, publish=1)
    _push(server, front_desk(target_agent="Goodbye") | {"flow_id": "desk_calls"})
    session_id = _record(server, flow, "I'd like to book a table", "That's all, thanks")
    page = sign_in(browser, server.base, server.keys["acme-developer"])
    page.get_by_role("link", name="Calls", exact=True).click()
    page.get_by_label("Flow").select_option("desk_calls")
    page.get_by_label("Outcome").select_option("end_state")
    # htmx swaps the table in place and keeps the filters in the address (a link to share)
    page.wait_for_function(
        "location.search == '?flow=desk_calls&version=&outcome=end_state&since=&until='"
    )
    rows = page.locator("#calls tbody tr")
    assert rows.count() == 1
    row = rows.first
    assert row.get_by_role("cell").all_inner_texts()[:3] == [session_id, "desk_calls", "v1"]
    page.screenshot(path=SHOTS / "calls.png")
    assert _unlabelled(page) == []
    row.get_by_role("link").click()
    assert page.locator("h1").inner_text() == f"Call {session_id}"
    timeline = page.locator("table.timeline tbody tr").all_inner_texts()
    kinds = [t.split("\t")[1] for t in timeline]
    assert kinds[:4] == ["entered", "agent", "user", "called"]
    assert "start_booking: Greeting -> Booking" in "\n".join(timeline)
    # Against v2, where booking hands off to Goodbye: the first turn already differs.
    page.get_by_label("Against version").select_option("2")
    page.get_by_role("button", name="Replay").click()
    verdict = page.locator("#replay .message")
    verdict.wait_for()
    assert verdict.inner_text() == (
        "Diverges on desk_calls v2 at turn 1 (“I'd like to book a table”): state: expected "
        '"Booking", got "Goodbye"'
    )
    page.screenshot(path=SHOTS / "call.png", full_page=True)
    page.get_by_label("Against version").select_option("1")
    page.get_by_role("button", name="Replay").click()
    page.get_by_text("Same path: 2 turns").wait_for()
    page.context.close()


def test_console_chat_saves_a_scenario_flowctl_simulate_runs(
    server: Server, browser: Any, tmp_path: Path
) -> None:
    _push(server, front_desk() | {"flow_id": "desk_chat"}, publish=1)
    page = sign_in(browser, server.base, server.keys["acme-developer"])
    page.goto(f"{server.base}/flows/desk_chat")
    page.get_by_role("button", name="Try v1 in a chat").click()
    chat = page.locator("#chat")
    assert chat.locator("p").all_inner_texts() == [
        "agent: Hello, you've reached the Blue Door. How can I help?"
    ]
    assert page.locator("#chat-state").inner_text() == "Greeting"
    page.get_by_label("You say").fill("I'd like to book a table")
    page.get_by_label("You say").press("Enter")
    page.locator("#chat-state").filter(has_text="Booking").wait_for()
    assert chat.locator("p").all_inner_texts()[1:] == [
        "user: I'd like to book a table",
        "  start_booking: Greeting -> Booking",
        "agent: Happy to book you in. For which day, and how many guests?",
    ]
    assert page.locator("#chat-offered li").all_inner_texts()[0].startswith("finish() [handoff]")
    page.get_by_label("You say").fill("What's the weather like?")  # nothing matches
    page.get_by_label("You say").press("Enter")
    page.get_by_text("user: What's the weather like?").wait_for()
    page.get_by_label("You say").fill("Perfect, goodbye")
    page.get_by_label("You say").press("Enter")
    page.locator("#chat-state").filter(has_text="Goodbye (ended: end_state)").wait_for()
    page.screenshot(path=SHOTS / "try.png")
    assert _unlabelled(page) == []
    with page.expect_download() as scenario:
        page.get_by_role("link", name="Save as scenario").click()
    with page.expect_download() as document:
        page.get_by_role("link", name="and desk_chat.json (v1)").click()
    assert scenario.value.suggested_filename == "desk_chat.scenarios.json"
    assert document.value.suggested_filename == "desk_chat.json"
    scenario.value.save_as(tmp_path / "desk_chat.scenarios.json")
    document.value.save_as(tmp_path / "desk_chat.json")
    page.context.close()
    saved = json.loads((tmp_path / "desk_chat.scenarios.json").read_text())
    assert [t["user"] for t in saved["scenarios"][0]["turns"]] == [
        "I'd like to book a table",
        "What's the weather like?",
        "Perfect, goodbye",
    ]
    ran = subprocess.run(
        [sys.executable, "-c", SERVE, "simulate", str(tmp_path / "desk_chat.scenarios.json")],
        capture_output=True, text=True, cwd=ROOT, timeout=60,
    )  # fmt: skip
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert ran.stderr == "1 scenario: 1 passed, 0 failed\n"
    assert ran.stdout.splitlines()[0] == "PASS  chat with desk_chat v1 (console)"


def test_console_edits_a_flow_by_form_and_in_the_json_editor(server: Server, browser: Any) -> None:
    _push(server, front_desk() | {"flow_id": "desk_edit"}, publish=1)
    page = sign_in(browser, server.base, server.keys["acme-developer"])
    page.goto(f"{server.base}/flows/desk_edit")
    page.get_by_role("link", name="Edit").click()
    page.get_by_label("Field name").fill("caller_mood")
    page.get_by_label("Type").select_option("enum")
    page.get_by_label("Enum values (comma-separated)").fill("calm, upset")
    page.get_by_label("Description").fill("How the caller sounds.")
    page.get_by_role("button", name="Add field").click()
    # Linted before saving: structured output needs a field to speak.
    assert _message(page) == (
        "`desk_edit` has 1 lint error: 63:15: FL606 No field to speak: add `system_response` "
        "or mark a field `use_in_tts` - at `$.output.fields`. Nothing was stored; fix the "
        "document and send it again"
    )
    page.get_by_label("Field name").fill("system_response")
    page.get_by_label("Description").fill("What the agent says.")
    page.get_by_role("button", name="Add field").click()
    assert _message(page) == "Saved as v2 (0 errors, 0 warnings); publish it when it is ready"
    assert page.locator("h1").inner_text() == "desk_edit v2"
    with server.client("acme-viewer") as api:
        document = api.get("/api/v1/flows/desk_edit", params={"version": 2}).json()["document"]
    assert document["output"] == {
        "fields": [
            {
                "field_name": "system_response",
                "field_type": "str",
                "description": "What the agent says.",
            }
        ]
    }
    page.get_by_role("link", name="Edit").click()
    editor = page.get_by_label("JSON (Ctrl+Space completes from the flow schema)")
    # Completion: inside the first state, Ctrl+Space offers the state's own fields.
    text = editor.input_value()
    editor.evaluate(
        "(el, at) => { el.focus(); el.setSelectionRange(at, at); }",
        text.index('"name": "Greeting",') + len('"name": "Greeting",'),
    )
    editor.press("Control+Space")
    options = page.get_by_role("listbox", name="Completions").get_by_role("option")
    assert options.all_inner_texts()[:3] == [
        "name Unique state name, e.g. `IntakeAgent`.",
        "instructions System prompt of this state; may use `{{var}}`.",
        "on_enter_prompt Greeting spoken on entering the state; may use `{{var}}`.",
    ]
    assert editor.get_attribute("aria-activedescendant") == "completion-0"
    editor.press("ArrowDown")
    assert editor.get_attribute("aria-activedescendant") == "completion-1"
    editor.press("Escape")
    # Inline lint: a handoff to a state that does not exist, named as lint names it.
    editor.fill(text.replace('"target_agent": "Booking"', '"target_agent": "Bookin"'))
    finding = page.locator("#lint .findings li").first
    finding.wait_for()
    assert finding.inner_text() == (
        "FL102 22:27 Unknown agent `Bookin`; did you mean `Booking`? - at "
        "`$.agents[0].edges[0].target_agent`"
    )
    page.screenshot(path=SHOTS / "edit.png")
    assert _unlabelled(page) == []
    page.get_by_role("button", name="Save as a new version").click()
    assert _message(page) == (
        "`desk_edit` has 1 lint error: 22:27: FL102 Unknown agent `Bookin`; did you mean "
        "`Booking`? - at `$.agents[0].edges[0].target_agent`. Nothing was stored; fix the "
        "document and send it again"
    )
    assert page.get_by_label("JSON (Ctrl+Space completes from the flow schema)").input_value() == (
        text.replace('"target_agent": "Booking"', '"target_agent": "Bookin"')
    )
    page.context.close()
