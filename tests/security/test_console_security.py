"""The console's boundary (issue 19): a change without the page's CSRF token is refused
and changes nothing, the session cookie is HttpOnly and SameSite (and Secure over
HTTPS) and never the key, another tenant's pages answer 404 exactly like missing ones,
and every text a flow provides is shown as text, never run as markup."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest
from apikit import App
from consolekit import front_desk, signed_in

from flowctl.engine.events import Entered, Turn
from flowctl.engine.store import open_store

# Markup in every text a flow may carry: instructions, greetings, descriptions, examples,
# variable descriptions, guards' refusals, the flow's name.
HOSTILE = '<script>alert("pwned")</script><img src=x onerror=alert(1)>'


@pytest.fixture
def api(tmp_path: Any) -> Iterator[App]:
    app = App(tmp_path)
    with app.client("acme-developer") as dev:
        assert dev.post("/api/v1/flows", json=front_desk()).status_code == 201
        assert dev.post("/api/v1/flows/front_desk/publish", json={"version": 1}).status_code == 200
    with app.client("globex-developer") as other:
        theirs = front_desk() | {"flow_id": "globex_desk"}
        assert other.post("/api/v1/flows", json=theirs).status_code == 201
        assert (
            other.post("/api/v1/flows/globex_desk/publish", json={"version": 1}).status_code == 200
        )
    asyncio.run(_call(app.url, "globex", "globex_desk", "globex-call"))
    yield app
    app.close()


async def _call(url: str, tenant: str, flow_id: str, session_id: str) -> None:
    """A recorded call of ``tenant``'s."""
    async with await open_store(url) as store:
        t = store.tenant(tenant)
        await t.start_session(flow_id, 1, session_id=session_id)
        await t.append_events(
            session_id,
            [Entered(at=1.0, state="Greeting", via=None), Turn(at=2.0, role="user", text="hi")],
        )
        await t.end_session(session_id, reason="hangup")


def _published(api: App) -> int | None:
    with api.client("acme-viewer") as c:
        published: int | None = c.get("/api/v1/flows/front_desk").json()["published"]
        return published


def test_console_refuses_a_change_without_the_pages_csrf_token(api: App) -> None:
    me = signed_in(api, "acme-developer")
    with api.client("acme-developer") as dev:
        dev.put("/api/v1/flows/front_desk", json=front_desk(target_agent="Goodbye"))
    for sent in ({}, {"csrf": "forged"}, {"csrf": ""}):
        answer = me.client.post("/flows/front_desk/publish", data={"version": "2", **sent})
        assert answer.status_code == 403
        assert (
            "This change came without the page&#39;s CSRF token, so it was refused: reload "
            "the page and try again" in answer.text
        )
    # another browser's token is no better
    other = signed_in(api, "acme-developer")
    answer = me.client.post("/flows/front_desk/publish", data={"version": "2", "csrf": other.csrf})
    assert answer.status_code == 403
    assert _published(api) == 1
    # htmx sends it as a header; a form field does as well
    assert (
        me.client.post(
            "/flows/front_desk/publish", data={"version": "2"}, headers={"X-CSRF-Token": me.csrf}
        ).status_code
        == 303
    )
    assert _published(api) == 2
    assert me.post("/flows/front_desk/rollback").status_code == 303
    assert _published(api) == 1


def test_console_sign_in_refuses_a_form_it_did_not_give(api: App) -> None:
    client = api.client()
    answer = client.post("/login", data={"key": api.keys["acme-developer"], "login_token": "x"})
    assert answer.status_code == 403
    assert "The sign-in form expired: try again" in answer.text
    assert "flowctl_console" not in answer.headers.get("set-cookie", "")


def test_console_session_cookie_is_httponly_samesite_and_never_the_key(api: App) -> None:
    me = signed_in(api, "acme-developer")
    (cookie,) = [
        c for c in me.answer.headers.get_list("set-cookie") if c.startswith("flowctl_console=")
    ]
    value = cookie.split(";")[0].removeprefix("flowctl_console=")
    flags = [part.strip() for part in cookie.split(";")[1:]]
    assert sorted(flags) == ["HttpOnly", "Path=/", "SameSite=lax"]
    key = api.keys["acme-developer"]
    assert key not in value and len(value) == 43
    # no page hands the key back
    for path in ("/flows", "/flows/front_desk", "/calls", "/flows/front_desk/edit"):
        assert key not in me.client.get(path).text


def test_console_session_cookie_is_secure_over_https(api: App) -> None:
    me = signed_in(api, "acme-developer", base="https://testserver.local")
    (cookie,) = [
        c for c in me.answer.headers.get_list("set-cookie") if c.startswith("flowctl_console=")
    ]
    assert sorted(part.strip() for part in cookie.split(";")[1:]) == [
        "HttpOnly", "Path=/", "SameSite=lax", "Secure"
    ]  # fmt: skip


def test_console_sign_out_ends_the_session(api: App) -> None:
    me = signed_in(api, "acme-developer")
    cookie = me.client.cookies["flowctl_console"]
    answer = me.post("/logout")
    assert (answer.status_code, answer.headers["location"]) == (303, "/login")
    stale = api.client()
    stale.cookies.set("flowctl_console", cookie)
    answer = stale.get("/flows/front_desk")
    assert (answer.status_code, answer.headers["location"]) == (
        303, "/login?next=%2Fflows%2Ffront_desk"
    )  # fmt: skip


def test_console_revoked_key_is_signed_out_at_the_next_click(api: App) -> None:
    with api.client("acme-admin") as admin:
        made = admin.post("/api/v1/keys", json={"role": "developer"}).json()
    me = signed_in(api, made["secret"])
    assert me.client.get("/flows").status_code == 200
    with api.client("acme-admin") as admin:
        assert admin.delete(f"/api/v1/keys/{made['key']['key_id']}").status_code in (200, 204)
    answer = me.client.get("/flows")
    assert (answer.status_code, answer.headers["location"]) == (
        303, f"/login?revoked={made['key']['key_id']}"
    )  # fmt: skip
    assert me.client.get("/flows").headers["location"] == "/login?next=%2Fflows"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/flows/globex_desk"),
        ("GET", "/flows/globex_desk?version=1"),
        ("GET", "/flows/globex_desk/diff?old=1"),
        ("GET", "/flows/globex_desk/versions/1/document.json"),
        ("GET", "/flows/globex_desk/edit"),
        ("GET", "/calls/globex-call"),
        ("POST", "/calls/globex-call/replay"),
        ("POST", "/flows/globex_desk/publish"),
        ("POST", "/flows/globex_desk/rollback"),
        ("POST", "/flows/globex_desk/unpublish"),
        ("POST", "/flows/globex_desk/disable"),
        ("POST", "/flows/globex_desk/edit/tracing"),
        ("POST", "/flows/globex_desk/edit/document"),
        ("POST", "/try"),
    ],
)
def test_console_another_tenants_pages_are_404_like_missing_ones(
    api: App, method: str, path: str
) -> None:
    me = signed_in(api, "acme-developer")
    form = {"csrf": me.csrf, "version": "1", "flow_id": "globex_desk", "document": "{}"}
    theirs = me.client.request(method, path, data=form if method == "POST" else None)
    missing = me.client.request(
        method,
        path.replace("globex_desk", "no_such_flow").replace("globex-call", "no-such-call"),
        data=(form | {"flow_id": "no_such_flow"}) if method == "POST" else None,
    )
    assert theirs.status_code == missing.status_code == 404
    assert _flash_free(theirs.text).replace("globex_desk", "X").replace("globex-call", "X") == (
        _flash_free(missing.text).replace("no_such_flow", "X").replace("no-such-call", "X")
    )


def _flash_free(page: str) -> str:
    """A page without what differs between two renderings: its CSRF tokens."""
    import re

    return re.sub(r'(value|X-CSRF-Token&#34;: &#34;)="?[A-Za-z0-9_-]{43}', "TOKEN", page)


def test_console_another_tenants_chat_is_404(api: App) -> None:
    mine = signed_in(api, "acme-developer")
    opened = mine.post("/try", flow_id="front_desk", version="1")
    assert opened.status_code == 303
    chat = opened.headers["location"]
    theirs = signed_in(api, "globex-developer")
    assert theirs.client.get(chat).status_code == 404
    assert theirs.post(f"{chat}/say", text="hi").status_code == 404
    assert theirs.client.get(f"{chat}/scenario.json").status_code == 404
    # another key of the same tenant has a chat of its own, not this one
    colleague = signed_in(api, "acme-admin")
    assert colleague.client.get(chat).status_code == 404
    assert mine.client.get(chat).status_code == 200


def _escaped(text: str) -> str:
    """``text`` as the template engine escapes it (markupsafe's entities)."""
    for raw, entity in (
        ("&", "&amp;"),
        ("<", "&lt;"),
        (">", "&gt;"),
        ('"', "&#34;"),
        ("'", "&#39;"),
    ):
        text = text.replace(raw, entity)
    return text


def _hostile_flow() -> dict[str, Any]:
    doc = front_desk(description=f"Book {HOSTILE}", examples=[f"book {HOSTILE}"])
    doc["name"] = f"Desk {HOSTILE}"
    doc["description"] = f"About {HOSTILE}"
    doc["flow_id"] = "hostile"
    doc["variables"]["venue"]["description"] = f"Venue {HOSTILE}"
    doc["agents"][0]["instructions"] = f"Greet the caller. {HOSTILE}"
    doc["agents"][0]["on_enter_prompt"] = f"Hello {HOSTILE}"
    return doc


def test_console_shows_every_text_a_flow_provides_as_text(api: App) -> None:
    with api.client("acme-developer") as dev:
        pushed = dev.post("/api/v1/flows", content=json.dumps(_hostile_flow(), indent=2))
        assert pushed.status_code == 201, pushed.text
        assert dev.post("/api/v1/flows/hostile/publish", json={"version": 1}).status_code == 200
    me = signed_in(api, "acme-developer")
    escaped = _escaped(HOSTILE)
    chat = me.post("/try", flow_id="hostile", version="1").headers["location"]
    said = me.client.post(
        f"{chat}/say",
        data={"text": f"hi {HOSTILE}"},
        headers={"X-CSRF-Token": me.csrf, "HX-Request": "true"},
    )
    pages = {
        "flow": me.client.get("/flows/hostile"),
        "edit": me.client.get("/flows/hostile/edit"),
        "diff": me.client.get("/flows/hostile/diff?old=1&new=1"),
        "chat": me.client.get(chat),
        "said": said,
    }
    for name, answer in pages.items():
        assert answer.status_code == 200, (name, answer.text[:300])
        assert "<script>alert" not in answer.text, name
        assert "<img src=x" not in answer.text, name
    flow = pages["flow"].text
    assert f"<pre>Greet the caller. {escaped}</pre>" in flow
    assert f"<pre>Hello {escaped}</pre>" in flow
    assert f"<td>Book {escaped}</td>" in flow
    # in the editor's textarea, as the document's JSON text
    assert (
        _escaped(f'"instructions": {json.dumps(f"Greet the caller. {HOSTILE}")}')
        in pages["edit"].text
    )
    assert f'<p class="user">user: hi {escaped}</p>' in pages["said"].text
    assert f'<p class="agent">agent: Hello {escaped}</p>' in pages["chat"].text


@pytest.mark.parametrize("going", ["//evil.example/x", "/\\evil.example", "https://evil.example"])
def test_console_sign_in_goes_nowhere_but_this_site(api: App, going: str) -> None:
    client = api.client()
    form = client.get("/login", params={"next": going}).text
    token = form.split('name="login_token" value="')[1].split('"')[0]
    assert 'name="next" value="/flows"' in form
    answer = client.post(
        "/login", data={"key": api.keys["acme-viewer"], "login_token": token, "next": going}
    )
    assert (answer.status_code, answer.headers["location"]) == (303, "/flows")
