"""The console's part of ``flowctl serve``: its routes, templates and static files, and the
check every page goes through before its handler.

A page names the role it needs as the API's handlers do (``opt={"need": "viewer"}``),
and :func:`_before_page` checks the signed-in key for it with the API's own
``authorize``: a viewer's browser is refused a publish exactly as a viewer's key is
refused ``POST /api/v1/flows/{id}/publish``. Errors become pages through the API's own
mapping (``flowctl.api.errors.handle_exception``): the same status and message, in HTML.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from litestar import Request, Response, Router, get
from litestar.di import Provide
from litestar.response import Redirect, Template
from litestar.static_files import create_static_files_router
from litestar.template.config import TemplateConfig

from flowctl.api.auth import LEVELS, Caller, authorize
from flowctl.api.errors import ApiError, ErrorBody, handle_exception
from flowctl.console.signin import COOKIE, SignIn, SignIns, same_token
from flowctl.engine import __version__

if TYPE_CHECKING:
    from litestar.contrib.jinja import JinjaTemplateEngine

__all__ = ["HERE", "Console", "console_routes", "page", "template_config"]

logger = logging.getLogger(__name__)

HERE = Path(__file__).parent
SAFE = frozenset({"GET", "HEAD", "OPTIONS"})


class Console:
    """What the console keeps between requests: sign-ins, drawn graphs, running chats."""

    def __init__(self) -> None:
        from flowctl.console.chat import Chats
        from flowctl.console.drawings import Drawings

        self.signins = SignIns()
        self.drawings = Drawings()
        self.chats = Chats()

    async def close(self) -> None:
        await self.chats.close()


def _console(request: Request[Any, Any, Any]) -> Console:
    console: Console = request.app.state.console
    return console


async def _csrf_given(request: Request[Any, Any, Any]) -> str | None:
    header = request.headers.get("x-csrf-token")
    if header is not None:
        return header
    if request.content_type[0] in ("application/x-www-form-urlencoded", "multipart/form-data"):
        value = (await request.form()).get("csrf")
        return value if isinstance(value, str) else None
    return None


async def _before_page(request: Request[Any, Any, Any]) -> Response[Any] | None:
    """Sign-in, CSRF and role, before a page's handler: an anonymous browser goes to the
    sign-in page, a change without the session's CSRF token is refused (403), and the
    key must hold the page's role now (the API's check)."""
    need = request.route_handler.opt.get("need")
    if need is None:  # the sign-in page, static files
        return None
    console = _console(request)
    sid = request.cookies.get(COOKIE)
    signin = console.signins.get(sid)
    if signin is None:
        if request.method in SAFE:
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return Redirect(f"/login?next={quote(target, safe='')}", status_code=303)
        raise ApiError(401, "unauthorized", "Not signed in (or signed out): sign in again")
    request.state.signin = signin  # error pages show who is signed in
    if request.method not in SAFE and not same_token(await _csrf_given(request), signin.csrf):
        raise ApiError(
            403,
            "csrf",
            "This change came without the page's CSRF token, so it was refused: reload the "
            "page and try again",
        )
    state = request.app.state
    try:
        caller = await authorize(state.store, signin.key, state.settings.platform_tenant, need)
    except ApiError as exc:
        if exc.status != 401:
            raise
        console.signins.close(sid)  # revoked since: that sign-in is over
        return Redirect(f"/login?revoked={quote(signin.key_id)}", status_code=303)
    request.state.caller = caller
    return None


async def _provide_caller(request: Request[Any, Any, Any]) -> Caller:
    caller: Caller = request.state.caller  # put there by _before_page
    return caller


async def _provide_signin(request: Request[Any, Any, Any]) -> SignIn:
    signin: SignIn = request.state.signin
    return signin


def page(
    request: Request[Any, Any, Any], name: str, status_code: int = 200, **context: Any
) -> Template:
    """The page ``name`` (a template), with what every page shows: who is signed in, the
    CSRF token for its forms, and the messages kept for it."""
    signin: SignIn | None = request.state.get("signin")
    caller: Caller | None = request.state.get("caller")
    context |= {
        "me": signin,
        "csrf": signin.csrf if signin is not None else None,
        "messages": signin.messages() if signin is not None else [],
        "can_write": caller is not None and LEVELS.get(caller.role, 0) >= LEVELS["developer"],
        "path": request.url.path,
        "version": __version__,
    }
    return Template(template_name=name, context=context, status_code=status_code)


def _error_page(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """Any failure of a page as a page: the API's status and message for it."""
    answer = handle_exception(request, exc)
    status = answer.status_code or 500
    body = answer.content
    assert isinstance(body, ErrorBody)
    if status == 401 and request.method in SAFE:
        return Redirect("/login", status_code=303)
    if request.headers.get("hx-request"):
        # htmx swaps the answer in place (templates say where): a message, not a page.
        return page(request, "_message.html", status, kind="error", text=body.error.message)
    return page(
        request,
        "error.html",
        status,
        status=status,
        code=body.error.code,
        text=body.error.message,
    )


@get("/", opt={"need": "viewer"}, include_in_schema=False)
async def home() -> Redirect:
    return Redirect("/flows", status_code=303)


def template_config() -> TemplateConfig[JinjaTemplateEngine]:
    """Jinja templates from ``console/templates``, escaping everything by default."""
    from jinja2 import Environment, FileSystemLoader, StrictUndefined
    from litestar.contrib.jinja import JinjaTemplateEngine as Engine

    from flowctl.console.filters import FILTERS

    environment = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters.update(FILTERS)
    return TemplateConfig(engine=Engine.from_environment(environment))


def console_routes() -> list[Router]:
    """The console's routes (under ``/``) and its static files (``/static``)."""
    from flowctl.console.calls import CallsController
    from flowctl.console.chat_pages import ChatController
    from flowctl.console.edit import EditController, flow_schema
    from flowctl.console.flows import FlowsController
    from flowctl.console.login import LoginController

    pages = Router(
        path="/",
        route_handlers=[
            home,
            flow_schema,
            LoginController,
            FlowsController,
            EditController,
            CallsController,
            ChatController,
        ],
        before_request=_before_page,
        dependencies={"caller": Provide(_provide_caller), "signin": Provide(_provide_signin)},
        exception_handlers={Exception: _error_page},
        include_in_schema=False,
    )
    static = create_static_files_router(
        path="/static",
        directories=[HERE / "static"],
        opt={"public": True},
        include_in_schema=False,
        # The files change only with flowctl; the URLs carry its version (base.html).
        cache_control=None,
    )
    return [pages, static]
