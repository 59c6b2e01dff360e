"""The console in a real browser: Debian's Chromium driven by Playwright, against a real
`flowctl serve` (``apikit.Server``) with the flows of ``tests/fixtures/console``.

Playwright's own browser download is never used (this machine reaches no browser
host): it launches ``/usr/bin/chromium``, which `make test` installs where missing.
Without it the browser tests skip, saying why, unless FLOWCTL_REQUIRE_BROWSER is set
(`.ci/run` sets it): then they fail, so CI never passes without having run them.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import FIXTURES, ROOT

__all__ = [
    "FRONT_DESK",
    "SHOTS",
    "VIEWPORT",
    "Browserless",
    "chromium",
    "csrf_of",
    "front_desk",
    "launched",
    "sign_in",
    "signed_in",
]

FRONT_DESK = FIXTURES / "console" / "front_desk.json"
# The screenshots docs/console.md shows, taken by the browser test on every run.
SHOTS = ROOT / "docs" / "console"
VIEWPORT = {"width": 1100, "height": 760}
DEBIAN_CHROMIUM = Path("/usr/bin/chromium")


def chromium() -> str:
    """Chromium's path; skips the test (or fails it, with FLOWCTL_REQUIRE_BROWSER) when
    there is none."""
    found = shutil.which("chromium") or (str(DEBIAN_CHROMIUM) if DEBIAN_CHROMIUM.exists() else None)
    if found is None:
        reason = "no chromium (`make test` installs Debian's: apt-get install chromium)"
        if os.environ.get("FLOWCTL_REQUIRE_BROWSER"):
            pytest.fail(f"FLOWCTL_REQUIRE_BROWSER is set but there is {reason}")
        pytest.skip(reason)
    return found


def front_desk(**changes: Any) -> dict[str, Any]:
    """The front-desk flow, with ``changes`` to its first state's first edge."""
    document: dict[str, Any] = json.loads(FRONT_DESK.read_text())
    document["agents"][0]["edges"][0].update(changes)
    return document


def launched() -> Iterator[Any]:
    """A Playwright browser on Debian's Chromium, closed afterwards."""
    from playwright.sync_api import sync_playwright

    path = chromium()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=path, args=["--no-sandbox"])
        try:
            yield browser
        finally:
            browser.close()


def sign_in(browser: Any, base: str, key: str) -> Any:
    """A page of a fresh browser context, signed in with ``key``."""
    context = browser.new_context(viewport=VIEWPORT, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.goto(f"{base}/flows")
    page.get_by_label("API key").fill(key)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base}/flows")
    return page


def csrf_of(html: str) -> str:
    """The CSRF token a console page puts in its forms."""
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found is not None, html[:500]
    return found.group(1)


class Browserless:
    """A console session without a browser: an httpx client holding the session cookie
    (as a browser would), and the CSRF token its pages carry."""

    def __init__(self, client: httpx.Client, csrf: str, answer: httpx.Response) -> None:
        self.client = client
        self.csrf = csrf
        self.answer = answer  # what the sign-in answered (its cookies)

    def post(self, path: str, **form: str) -> httpx.Response:
        """A form posted with the session's CSRF token."""
        return self.client.post(path, data={"csrf": self.csrf, **form})


def signed_in(api: Any, key: str, base: str | None = None) -> Browserless:
    """Sign in to ``api`` (``apikit.App`` or ``Server``) with ``key`` (a name from its
    keys, or a key) through the sign-in form."""
    client = api.client()
    if base is not None:
        client.base_url = httpx.URL(base)
    form = client.get("/login")
    token = re.search(r'name="login_token" value="([^"]+)"', form.text)
    assert token is not None, form.text
    answer = client.post(
        "/login",
        data={"key": api.keys.get(key, key), "login_token": token.group(1), "next": "/flows"},
    )
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == "/flows"
    return Browserless(client, csrf_of(client.get("/flows").text), answer)
