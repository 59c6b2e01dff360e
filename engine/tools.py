"""Running tools: ``python`` functions, ``http`` webhooks, ``knowledge`` searches and
``mock`` results.

(The builtins — end or transfer the call, save variables, callbacks — act on the
conversation itself and live in ``flowctl.engine.runtime``.)

A tool never raises into the conversation: an exception, a timeout, an HTTP error, a
response that is not JSON, or arguments its function does not accept all become a
:class:`ToolResult` with ``ok=False`` and an ``error`` written for the model.

A knowledge tool asks the registry's retriever (``flowctl.engine.knowledge.retrieval``:
one tenant's bases, never another's) for the passages that answer the model's query.

Plain python functions run in the registry's own bounded threads (``flowctl.engine.threads``).
Webhooks obey the registry's :class:`~flowctl.engine.egress.EgressPolicy` when it has one (tenant
flows); without one (the operator's flows) they may call any host. Either way a value
in the URL is one path segment (it is quoted, and `.` or `..` is refused), and a
redirect is followed only within the tool's own origin (scheme, host and port), at most
``MAX_REDIRECTS`` times, so the tool's headers never reach another host.
"""

from __future__ import annotations

import asyncio
import functools
import importlib
import inspect
import os
import re
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote, urlsplit

import msgspec

from flowctl.engine.boundary import Secrets
from flowctl.engine.egress import EgressPolicy, EgressRefused, check_url, client_session
from flowctl.engine.errors import FlowError
from flowctl.engine.knowledge.retrieval import Answer, Retriever
from flowctl.engine.mocks import MockAnswers, failure
from flowctl.engine.spec import HttpTool, KnowledgeTool, MockTool, PythonTool, Tool
from flowctl.engine.templates import render, scan_template
from flowctl.engine.threads import MAX_STUCK_CALLS, ThreadsBusy, ToolThreads

__all__ = ["MAX_REDIRECTS", "ToolRegistry", "ToolResult", "mapped"]

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_MAX_ERROR_BODY = 200
# Redirects followed within a tool's origin before giving up (browsers allow 20; a
# webhook that needs more than a few is misconfigured).
MAX_REDIRECTS = 5
_REDIRECTS = frozenset({301, 302, 303, 307, 308})


class _Refused(Exception):
    """A tool that may not run or whose answer is refused; the message is the error."""


class ToolResult(msgspec.Struct, frozen=True, kw_only=True):
    """What a tool returned. ``sets``: the variables its ``sets`` mapping takes from the
    value (the conversation stores them, checked against their types)."""

    ok: bool
    value: Any = None
    error: str | None = None
    sets: dict[str, Any] = {}


def _query_value(value: Any) -> str:
    """JSON's spelling for booleans (a list becomes repeated parameters)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _dig(value: Any, path: str) -> Any:
    """``value["a"]["b"][0]`` for ``"a.b.0"``; a KeyError when a step is missing."""
    for step in path.split("."):
        if isinstance(value, list) and step.isdigit() and int(step) < len(value):
            value = value[int(step)]
        elif isinstance(value, dict) and step in value:
            value = value[step]
        else:
            raise KeyError(step)
    return value


def _read_shape(fn: Callable[..., Any]) -> tuple[inspect.Signature, bool]:
    """A python tool's signature, and whether calling it gives a coroutine."""
    is_async = inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(type(fn).__call__)
    return inspect.signature(fn), is_async


# Read once per function: ``inspect.signature`` costs more than most calls it checks.
_cached_shape = functools.lru_cache(maxsize=1024)(_read_shape)


def _shape(fn: Callable[..., Any]) -> tuple[inspect.Signature, bool]:
    try:
        return _cached_shape(fn)
    except TypeError:  # a callable that cannot be hashed is read every call
        return _read_shape(fn)


def mapped(tool: Tool, value: Any) -> ToolResult:
    """``value`` as ``tool``'s answer: ok with the variables its ``sets`` take from it, or
    failed naming the first field it lacks (explore reads answers the same way)."""
    sets: dict[str, Any] = {}
    for var, field in tool.sets.items():
        try:
            sets[var] = _dig(value, field)
        except KeyError:
            return ToolResult(
                ok=False, value=value, error=f"Tool `{tool.name}` returned no `{field}`"
            )
    return ToolResult(ok=True, value=value, sets=sets)


class ToolRegistry:
    """Runs a flow's tools for one conversation.

    ``mocks`` replace any tool's result by name (scenarios: a result, a sequence of
    them or a scripted failure, as ``flowctl.engine.mocks`` reads them; a turn's own
    go through ``answers.for_turn``); ``env`` resolves ``${VAR}``
    in http headers (default: the process environment; a tenant's flow gets its
    ``flowctl.engine.boundary.Secrets``); ``allow_network=False`` refuses
    http tools that are not mocked (dry runs never reach the network by accident);
    ``http_session_factory`` makes the aiohttp session (default: a plain one).

    ``egress``: where http tools may connect (tenant flows get the tenant's allowlist:
    ``EgressPolicy(hosts=...)``). None, for the operator's own flows: any host, no size
    limit. A policy brings its own session, so it cannot be combined with
    ``http_session_factory``.

    ``max_stuck_calls``: plain python functions still running after their timeout
    before new plain-function calls are refused (``flowctl.engine.threads``).

    ``retriever``: where knowledge tools search (a tenant's store handle, the files of
    a dry run); None: nowhere, and a knowledge tool that is not mocked fails saying so
    (``no_knowledge``: how this session could have had some, for that error).

    :meth:`close` releases the HTTP session and the threads; the conversation that uses
    the registry awaits it when it ends (``Conversation.aclose``).
    """

    def __init__(
        self,
        tools: Mapping[str, Tool],
        *,
        mocks: Mapping[str, Any] | None = None,
        env: Mapping[str, str] | None = None,
        allow_network: bool = True,
        http_session_factory: Callable[[], Any] | None = None,
        egress: EgressPolicy | None = None,
        max_stuck_calls: int = MAX_STUCK_CALLS,
        retriever: Retriever | None = None,
        no_knowledge: str = "",
    ) -> None:
        if egress is not None and http_session_factory is not None:
            raise ValueError("an egress policy makes its own HTTP session; give no factory")
        self.tools = tools
        self.mocks = dict(mocks or {})
        self.answers = MockAnswers(self.mocks)  # consumed one per call (flowctl.engine.mocks)
        self.env = env if env is not None else os.environ
        self.allow_network = allow_network
        self.egress = egress
        self.retriever = retriever
        self.no_knowledge = no_knowledge
        self.threads = ToolThreads(max_stuck=max_stuck_calls)
        self._functions: dict[str, Callable[..., Any]] = {}
        self._session: Any = None
        self._session_factory = http_session_factory

    async def call(
        self, tool: Tool, args: dict[str, Any], variables: Mapping[str, Any]
    ) -> ToolResult:
        if tool.name in self.answers:
            answer = self.answers.next(tool.name)
            scripted = failure(answer)
            if scripted is not None:
                return ToolResult(ok=False, error=scripted.error)
            return mapped(tool, answer)
        if isinstance(tool, MockTool):
            return mapped(tool, tool.result)
        try:
            if isinstance(tool, PythonTool):
                return await self._python(tool, args)
            if isinstance(tool, HttpTool):
                return await self._http(tool, args, variables)
            if isinstance(tool, KnowledgeTool):
                return await self._knowledge(tool, args)
        except _Refused as exc:
            return ToolResult(ok=False, error=str(exc))
        except EgressRefused as exc:
            return ToolResult(
                ok=False, error=f"Tool `{tool.name}` may not call `{exc.host}`: {exc.reason}"
            )
        except (Exception, SystemExit) as exc:  # a tool's bug must not end the call
            return ToolResult(
                ok=False, error=f"Tool `{tool.name}` failed: {type(exc).__name__}: {exc}"
            )
        return ToolResult(ok=False, error=f"Tool `{tool.name}` cannot run here")

    @property
    def http_session(self) -> Any:
        """The HTTP session this registry's http tools share: None until the first call
        that needs one, and again after :meth:`close` has closed it."""
        return self._session

    async def close(self) -> None:
        """Close the HTTP session and stop the threads (without waiting for stuck ones).
        Safe to call more than once."""
        self.threads.close()
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()

    # --- python ------------------------------------------------------------------------

    def _function(self, tool: PythonTool) -> Callable[..., Any]:
        fn = self._functions.get(tool.function)
        if fn is None:
            module_name, _, attr = tool.function.partition(":")
            module = importlib.import_module(module_name)
            fn = self._functions[tool.function] = getattr(module, attr)
        return fn

    async def _python(self, tool: PythonTool, args: dict[str, Any]) -> ToolResult:
        try:
            fn = self._function(tool)
        except (ImportError, AttributeError) as exc:
            return ToolResult(ok=False, error=f"Tool `{tool.name}` cannot be imported: {exc}")
        signature, is_async = _shape(fn)
        try:
            signature.bind(**args)
        except TypeError as exc:
            return ToolResult(ok=False, error=f"Tool `{tool.name}` rejects these arguments: {exc}")
        try:
            async with asyncio.timeout(tool.timeout):
                if is_async:
                    value = await fn(**args)
                else:
                    value = await self.threads.run(fn, args, name=tool.name)
                if inspect.isawaitable(value):  # a plain function that returned a coroutine
                    value = await value
        except TimeoutError:
            return ToolResult(
                ok=False, error=f"Tool `{tool.name}` timed out after {tool.timeout:g} s"
            )
        except ThreadsBusy as exc:
            return ToolResult(
                ok=False,
                error=f"Tool `{tool.name}` was not run: {exc.stuck} earlier calls of python "
                "tools timed out and are still running",
            )
        try:
            value = msgspec.to_builtins(value)
        except TypeError as exc:
            return ToolResult(
                ok=False, error=f"Tool `{tool.name}` returned something that is not data: {exc}"
            )
        return mapped(tool, value)

    # --- knowledge -----------------------------------------------------------------------

    async def _knowledge(self, tool: KnowledgeTool, args: dict[str, Any]) -> ToolResult:
        """The passages of the tool's base that answer the model's ``query`` (as an
        ``Answer``), the weaker than ``min_score`` left out."""
        if self.retriever is None:
            raise _Refused(
                f"Tool `{tool.name}` cannot search knowledge base `{tool.base}`: this session "
                f"has no knowledge bases{self.no_knowledge}"
            )
        query = str(args.get("query", ""))
        try:
            async with asyncio.timeout(tool.timeout):
                found = await self.retriever.search(tool.base, query, top_k=tool.top_k)
        except TimeoutError:
            raise _Refused(f"Tool `{tool.name}` timed out after {tool.timeout:g} s") from None
        except FlowError as exc:  # no such base, the store unavailable
            raise _Refused(f"Tool `{tool.name}` cannot search: {exc}") from None
        kept = [p for p in found if p.score >= tool.min_score]
        answer = Answer(base=tool.base, query=query, passages=kept)
        return mapped(tool, msgspec.to_builtins(answer))

    # --- http ----------------------------------------------------------------------------

    def _headers(self, tool: HttpTool) -> dict[str, str] | str:
        headers: dict[str, str] = {}
        for name, value in tool.headers.items():
            missing = [v for v in _ENV_REF.findall(value) if v not in self.env]
            if missing:
                if isinstance(self.env, Secrets):  # a tenant's flow: never the environment
                    return f"Tool `{tool.name}` needs {self.env.missing(missing[0])}"
                return f"Tool `{tool.name}` needs the environment variable `{missing[0]}`"
            headers[name] = _ENV_REF.sub(lambda m: self.env[m.group(1)], value)
        return headers

    async def _http(
        self, tool: HttpTool, args: dict[str, Any], variables: Mapping[str, Any]
    ) -> ToolResult:
        if not self.allow_network:
            return ToolResult(
                ok=False, error=f"Tool `{tool.name}` would call the network; mock it or allow it"
            )
        headers = self._headers(tool)
        if isinstance(headers, str):
            return ToolResult(ok=False, error=headers)
        values = {**variables, **args}
        missing = [
            p.name
            for p in scan_template(tool.url)[0]
            if values.get(p.name) is None and p.fallback is None
        ]
        if missing:
            return ToolResult(
                ok=False,
                error=f"Tool `{tool.name}` needs `{missing[0]}` for its URL; it is not set",
            )
        url = _render_url(tool, values)
        if self.egress is not None:
            check_url(self.egress, url)  # before any connection
        import aiohttp  # only when a webhook runs: lint and compile never need it

        if self._session is None:
            if self.egress is not None:
                self._session = client_session(self.egress)
            else:
                self._session = (self._session_factory or aiohttp.ClientSession)()
        kwargs: dict[str, Any] = {"headers": headers}
        if tool.method == "GET":
            kwargs["params"] = [
                (k, _query_value(item))
                for k, v in args.items()
                for item in (v if isinstance(v, list) else [v])
            ]
        else:
            kwargs["json"] = args
        try:
            async with asyncio.timeout(tool.timeout):
                status, body = await self._send(tool, url, kwargs)
        except TimeoutError:
            return ToolResult(
                ok=False, error=f"Tool `{tool.name}` timed out after {tool.timeout:g} s"
            )
        except aiohttp.ClientError as exc:
            return ToolResult(ok=False, error=f"Tool `{tool.name}` could not connect: {exc}")
        if status >= 400:
            text = body[:_MAX_ERROR_BODY].decode("utf-8", errors="replace")
            return ToolResult(ok=False, error=f"Tool `{tool.name}` got HTTP {status}: {text}")
        if not body.strip():
            return mapped(tool, None)
        try:
            value = msgspec.json.decode(body)
        except msgspec.DecodeError:
            return ToolResult(
                ok=False, error=f"Tool `{tool.name}` returned a response that is not JSON"
            )
        return mapped(tool, value)

    async def _send(self, tool: HttpTool, url: str, kwargs: dict[str, Any]) -> tuple[int, bytes]:
        """The final status and body of ``tool``'s request, following redirects within the
        tool's origin only (and only when the egress policy allows redirects)."""
        method = tool.method
        origin: str | None = None
        limit = self.egress.max_response_bytes if self.egress is not None else None
        for _ in range(MAX_REDIRECTS + 1):
            async with self._session.request(
                method, url, allow_redirects=False, **kwargs
            ) as response:
                # Origins compare as aiohttp parsed the URLs (response.url is its yarl URL).
                origin = origin or _origin(str(response.url))
                status = response.status
                location = response.headers.get("Location")
                if status not in _REDIRECTS or location is None:
                    body, cut = await _read(response, limit)
                    if cut and status < 400:
                        raise _Refused(
                            f"Tool `{tool.name}` returned a response larger than {limit} bytes"
                        )
                    return status, body
                url = str(response.url.join(type(response.url)(location)))
            target = _origin(url)
            if self.egress is not None and not self.egress.follow_redirects:
                raise _Refused(
                    f"Tool `{tool.name}` got HTTP {status}, a redirect to `{target}`; "
                    "redirects are not followed"
                )
            if target != origin:
                raise _Refused(
                    f"Tool `{tool.name}` got HTTP {status}, a redirect to `{target}`; "
                    f"only redirects within `{origin}` are followed"
                )
            if self.egress is not None:
                check_url(self.egress, url)
            if status == 303 or (status in (301, 302) and method == "POST"):
                method = "GET"  # as browsers do: the body is not sent again
                kwargs = {k: v for k, v in kwargs.items() if k != "json"}
            kwargs = {k: v for k, v in kwargs.items() if k != "params"}  # in the new URL
        raise _Refused(f"Tool `{tool.name}` was redirected more than {MAX_REDIRECTS} times")


def _render_url(tool: HttpTool, values: Mapping[str, Any]) -> str:
    """``tool.url`` with its placeholders filled in, each value quoted as one path
    segment. A value of `.` or `..` would still be a dot-segment (URL parsers resolve
    it: ``/patients/..`` is ``/``), so a path segment that only a value made `.` or
    `..` is refused; one the flow wrote itself is its own business."""
    url = render(tool.url, values, escape=lambda v: quote(v, safe=""))
    # The same template with every value replaced by `x`: values never contain `/`, so
    # both have the same segments, and a segment that differs came from a value.
    plain = render(tool.url, values, escape=lambda v: "x")
    for segment, written in zip(_segments(url), _segments(plain), strict=False):
        if segment in (".", "..") and written != segment:
            raise _Refused(
                f"Tool `{tool.name}` cannot use `{segment}` as a path segment of its URL: "
                "a value may not be `.` or `..`"
            )
    return url


def _segments(url: str) -> list[str]:
    """The `/`-separated pieces of ``url`` before its query or fragment."""
    return re.split(r"[?#]", url, maxsplit=1)[0].split("/")


def _origin(url: str) -> str:
    """``scheme://host[:port]``, the port only when it is not the scheme's default."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    default = {"http": 80, "https": 443}.get(scheme)
    return f"{scheme}://{host}" if port in (None, default) else f"{scheme}://{host}:{port}"


async def _read(response: Any, limit: int | None) -> tuple[bytes, bool]:
    """The body, and whether it was cut off at ``limit`` bytes (None: read it all).
    Read as it arrives, so a huge or endless response never fills memory."""
    if limit is None:
        return await response.read(), False
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.content.iter_any():
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            return b"".join(chunks)[:limit], True
    return b"".join(chunks), False
