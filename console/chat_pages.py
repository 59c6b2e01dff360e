"""``/try``: the try-it chat's pages (``flowctl.console.chat``): open a chat with a
version, say something (or call one of the offered functions), see the state, variables
and offered functions beside the transcript, and save the chat as a scenario file.

Chatting runs the flow's tools in this process, as ``flowctl simulate`` does on a
developer's machine: it needs a developer key."""

from __future__ import annotations

import json
from typing import Annotated, Any
from urllib.parse import quote

from litestar import Controller, Request, Response, get, post
from litestar.params import Parameter
from litestar.response import Redirect, Template

from flowctl.api.auth import Caller
from flowctl.api.errors import ApiError
from flowctl.console.app import page
from flowctl.console.chat import Chat, ChatClosed, Chats
from flowctl.console.signin import SignIn

__all__ = ["ChatController"]

RUN = {"need": "developer"}
ChatId = Annotated[str, Parameter(max_length=64)]


def _chats(request: Request[Any, Any, Any]) -> Chats:
    chats: Chats = request.app.state.console.chats
    return chats


def _chat(request: Request[Any, Any, Any], caller: Caller, chat_id: str) -> Chat:
    chat = _chats(request).get(chat_id, tenant_id=caller.tenant_id, key_id=caller.key_id)
    if chat is None:
        raise ApiError(404, "not_found", f"No chat `{chat_id}` (chats close after 30 idle minutes)")
    return chat


class ChatController(Controller):
    path = "/try"
    opt = RUN

    @post("/")
    async def open_chat(self, request: Request[Any, Any, Any], caller: Caller) -> Redirect:
        """A new chat with the form's ``flow_id`` and ``version``, compiled as the
        tenant's flow (held to its policy), as a worker would run it."""
        from flowctl.engine.replay import stored_version

        form = await request.form()
        flow_id = str(form.get("flow_id", ""))
        version = form.get("version")
        number = int(version) if isinstance(version, str) and version.isdigit() else None
        number, compiled = await stored_version(caller.tenant, flow_id, number)
        try:
            chat = await _chats(request).open(
                tenant_id=caller.tenant_id,
                key_id=caller.key_id,
                flow_id=flow_id,
                version=number,
                compiled=compiled,
            )
        except ChatClosed as exc:
            raise ApiError(400, "bad_request", str(exc)) from None
        return Redirect(f"/try/{chat.chat_id}", status_code=303)

    @get("/{chat_id:str}")
    async def chat_page(
        self, request: Request[Any, Any, Any], caller: Caller, chat_id: ChatId
    ) -> Template:
        """The chat so far, with the state, variables and offered functions."""
        return page(request, "try.html", chat=_chat(request, caller, chat_id))

    @post("/{chat_id:str}/say")
    async def say(
        self, request: Request[Any, Any, Any], caller: Caller, signin: SignIn, chat_id: ChatId
    ) -> Template | Redirect:
        """A user turn: the form's ``text``, and, when ``call`` names an offered function,
        that function called with the JSON object ``args`` in place of the offline
        model's choice."""
        chat = _chat(request, caller, chat_id)
        form = await request.form()
        text = str(form.get("text", "")).strip()
        call = str(form.get("call", "")).strip()
        problem = None
        planned: tuple[str, dict[str, Any]] | None = None
        if call:
            try:
                args = json.loads(str(form.get("args", "") or "{}"))
            except json.JSONDecodeError as exc:
                args, problem = None, f"Arguments are not JSON: {exc.msg} at column {exc.colno}"
            if args is not None and not isinstance(args, dict):
                problem = "Arguments must be a JSON object"
            elif args is not None:
                planned = (call, args)
            text = text or f"(calls {call})"
        if not text:
            problem = "Say something first"
        lines = []
        if problem is None:
            try:
                lines = await chat.say(text, planned)
            except (ChatClosed, TimeoutError) as exc:
                problem = str(exc) or "No answer in time; the chat stops here"
        if not request.headers.get("hx-request"):
            if problem:
                signin.say("error", problem)
            return Redirect(f"/try/{quote(chat_id)}", status_code=303)
        return page(request, "_chat_turn.html", chat=chat, lines=lines, problem=problem)

    @get("/{chat_id:str}/scenario.json")
    async def scenario(
        self, request: Request[Any, Any, Any], caller: Caller, chat_id: ChatId
    ) -> Response[bytes]:
        """The chat as a scenario file: save it beside the version's document (the flow
        page's download, ``FLOW_ID.json``) and run ``flowctl simulate`` on it."""
        chat = _chat(request, caller, chat_id)
        name = f"{chat.flow_id}.scenarios.json"
        return Response(
            chat.scenario_file(f"{chat.flow_id}.json"),
            media_type="application/json",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )
