"""``/login`` and ``/logout``: an API key exchanged for a console session
(``flowctl.console.signin``), and the session ended."""

from __future__ import annotations

import secrets
from typing import Any

from litestar import Controller, Request, get, post
from litestar.datastructures import Cookie
from litestar.response import Redirect, Template

from flowctl.api.auth import authorize
from flowctl.api.errors import ApiError
from flowctl.console.app import page
from flowctl.console.signin import COOKIE, LOGIN_COOKIE, same_token

__all__ = ["LoginController"]

# The sign-in form's own token lives this long: time enough to paste a key.
LOGIN_SECONDS = 900


def _secure(request: Request[Any, Any, Any]) -> bool:
    """Whether the browser reached us over HTTPS (then the cookies say ``Secure``)."""
    return request.url.scheme == "https"


def _next(value: Any) -> str:
    """Where to go after signing in: a path of this site only, never another site."""
    # `//host` and `/\host` are other sites to a browser.
    if isinstance(value, str) and value.startswith("/") and value[1:2] not in ("/", "\\"):
        return value
    return "/flows"


def _form(
    request: Request[Any, Any, Any], status: int = 200, *, after: Any = None, **context: Any
) -> Template:
    """The sign-in form; ``after``: where to go once signed in (default: the page's
    ``?next=``)."""
    token = secrets.token_urlsafe(32)
    going = after if after is not None else request.query_params.get("next")
    answer = page(request, "login.html", status, login_token=token, next=_next(going), **context)
    answer.cookies.append(
        Cookie(
            key=LOGIN_COOKIE,
            value=token,
            path="/login",
            max_age=LOGIN_SECONDS,
            httponly=True,
            samesite="strict",
            secure=_secure(request),
        )
    )
    return answer


class LoginController(Controller):
    path = "/"

    @get("/login")
    async def login_form(self, request: Request[Any, Any, Any]) -> Template:
        """The sign-in form."""
        revoked = request.query_params.get("revoked")
        error = (
            f"API key `{revoked}` no longer signs in (revoked): sign in with another"
            if revoked
            else None
        )
        return _form(request, error=error)

    @post("/login")
    async def login(self, request: Request[Any, Any, Any]) -> Template | Redirect:
        """Check the key as the API does; on success a session cookie, never the key."""
        form = await request.form()
        if not same_token(form.get("login_token"), request.cookies.get(LOGIN_COOKIE, "")):
            return _form(
                request, 403, after=form.get("next"), error="The sign-in form expired: try again"
            )
        key = str(form.get("key", "")).strip()
        if not key:
            return _form(
                request,
                400,
                after=form.get("next"),
                error="Paste an API key (`flowctl keys create`)",
            )
        state = request.app.state
        try:
            caller = await authorize(state.store, key, state.settings.platform_tenant, "viewer")
        except ApiError as exc:
            return _form(request, 401, after=form.get("next"), error=exc.message)
        console = state.console
        sid, _ = console.signins.open(
            key, key_id=caller.key_id, tenant_id=caller.tenant_id, role=caller.role
        )
        answer = Redirect(_next(form.get("next")), status_code=303)
        answer.cookies.append(
            Cookie(
                key=COOKIE,
                value=sid,
                path="/",
                httponly=True,
                # Lax: a link to a console page from elsewhere opens it signed in; what
                # changes anything is a POST, which needs the session's CSRF token too.
                samesite="lax",
                secure=_secure(request),
            )
        )
        answer.cookies.append(Cookie(key=LOGIN_COOKIE, value="", path="/login", max_age=0))
        return answer

    @post("/logout", opt={"need": "viewer"})
    async def logout(self, request: Request[Any, Any, Any]) -> Redirect:
        """End the session: the cookie is cleared and the session forgotten."""
        request.app.state.console.signins.close(request.cookies.get(COOKIE))
        answer = Redirect("/login", status_code=303)
        answer.cookies.append(
            Cookie(key=COOKIE, value="", path="/", max_age=0, httponly=True, samesite="lax")
        )
        return answer
