"""Signing in to the console: an API key exchanged for a server-side session.

The browser holds only a random session id, in a cookie it cannot read from script
(``HttpOnly``), that other sites cannot make it send with a change (``SameSite=Lax``), and
over HTTPS only when the console is served over HTTPS (``Secure``). The key stays in this
process's memory, with the session: every page checks it again, through the API's own
check (``flowctl.api.auth.authorize``), so a key revoked or a role changed takes effect
on the next click, and no page can do what the key could not do through the API.

Every change (a POST) carries the session's CSRF token, in a form field or (from htmx)
an ``X-CSRF-Token`` header; a request without the right one is refused before anything
is read. The sign-in form itself carries a token bound to a short-lived cookie of its
own (a double submit), so no other site can sign a browser in with a key of its choosing.

Sessions live as long as the process, or until ``IDLE_SECONDS`` pass without a click, or
sign-out: restarting ``flowctl serve`` signs everyone out.
"""

from __future__ import annotations

import hmac
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["COOKIE", "IDLE_SECONDS", "LOGIN_COOKIE", "SignIn", "SignIns", "same_token"]

COOKIE = "flowctl_console"
LOGIN_COOKIE = "flowctl_login"
# A working day without a click signs a browser out.
IDLE_SECONDS = 8 * 3600.0
# Sessions held at once; past this the least recently used go first (each is a few
# hundred bytes, so the bound is about memory an anonymous flood of sign-ins could take,
# and a sign-in needs a valid key).
MAX_SIGNINS = 10_000


def same_token(given: str | None, expected: str) -> bool:
    """Whether ``given`` is ``expected``, compared in constant time."""
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())


@dataclass(slots=True)
class SignIn:
    """One signed-in browser. ``key`` is the API key it signed in with (never sent back
    to the browser); ``flash`` holds messages for the next page it shows."""

    key: str
    key_id: str
    tenant_id: str
    role: str
    csrf: str
    seen: float
    flash: list[tuple[str, str]] = field(default_factory=list)

    def say(self, kind: str, text: str) -> None:
        """A message (``ok`` or ``error``) for the next page this browser shows."""
        self.flash.append((kind, text))

    def messages(self) -> list[tuple[str, str]]:
        """The messages kept for this page, once."""
        out, self.flash = self.flash, []
        return out


class SignIns:
    """The console's sessions by id."""

    def __init__(
        self, *, idle: float = IDLE_SECONDS, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._idle = idle
        self._clock = clock
        self._by_id: OrderedDict[str, SignIn] = OrderedDict()

    def open(self, key: str, *, key_id: str, tenant_id: str, role: str) -> tuple[str, SignIn]:
        """A new session for ``key``: its id (the cookie's value) and the session."""
        sid = secrets.token_urlsafe(32)
        signin = SignIn(
            key=key,
            key_id=key_id,
            tenant_id=tenant_id,
            role=role,
            csrf=secrets.token_urlsafe(32),
            seen=self._clock(),
        )
        self._by_id[sid] = signin
        while len(self._by_id) > MAX_SIGNINS:
            self._by_id.popitem(last=False)
        return sid, signin

    def get(self, sid: str | None) -> SignIn | None:
        """The live session of ``sid``, its idle clock restarted; None when there is none
        (never was, signed out, or idle too long)."""
        if not sid:
            return None
        signin = self._by_id.get(sid)
        if signin is None:
            return None
        now = self._clock()
        if now - signin.seen > self._idle:
            del self._by_id[sid]
            return None
        signin.seen = now
        self._by_id.move_to_end(sid)
        return signin

    def close(self, sid: str | None) -> None:
        """Sign ``sid`` out (nothing when it is not signed in)."""
        if sid:
            self._by_id.pop(sid, None)

    def __len__(self) -> int:
        return len(self._by_id)
