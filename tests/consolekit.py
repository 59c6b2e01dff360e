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
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import FIXTURES, ROOT

__all__ = [
    "FRONT_DESK",
    "SHOTS",
    "chromium",
    "front_desk",
    "launched",
    "sign_in",
]

FRONT_DESK = FIXTURES / "console" / "front_desk.json"
# The screenshots docs/console.md shows, taken by the browser test on every run.
SHOTS = ROOT / "docs" / "console"
VIEWPORT = {"width": 1100, "height": 760}


def chromium() -> str:
    """Chromium's path; skips the test (or fails it, with FLOWCTL_REQUIRE_BROWSER) when
    there is none."""
    found = shutil.which("chromium") or (
        "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None
    )
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
