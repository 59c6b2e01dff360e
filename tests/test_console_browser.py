"""The console in Debian's Chromium, as a person uses it (issue 19's walk-through): sign
in, open a flow, see a lint finding on its graph, publish and roll back (and a viewer who
cannot), open a recorded call and replay it, chat with a version and save the scenario,
then run that scenario with `flowctl simulate`. Each page's screenshot lands in
docs/console/ for docs/console.md."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from apikit import Server
from consolekit import SHOTS, front_desk, launched, sign_in

pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")


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


def _message(page: Any) -> str:
    return str(page.locator(".message").first.inner_text())


def test_console_sign_in_lists_the_tenants_flows(server: Server, browser: Any) -> None:
    _push(server, front_desk(), publish=1)
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
    booking.click()  # its panel opens below the drawing
    assert page.url.endswith("#state-1")
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
