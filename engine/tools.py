"""Running tools: ``python`` functions, ``http`` webhooks and ``mock`` results.

(The builtins — end or transfer the call, save variables, callbacks — act on the
conversation itself and live in ``engine.runtime``.)

A tool never raises into the conversation: an exception, a timeout, an HTTP error, a
response that is not JSON, or arguments its function does not accept all become a
:class:`ToolResult` with ``ok=False`` and an ``error`` written for the model.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import os
import re
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote

import msgspec

from engine.spec import HttpTool, MockTool, PythonTool, Tool
from engine.templates import render, scan_template

__all__ = ["ToolRegistry", "ToolResult"]

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_MAX_ERROR_BODY = 200


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


def _with_sets(tool: Tool, value: Any) -> ToolResult:
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
    """Runs a flow's tools. ``mocks`` replace any tool's result by name (scenarios);
    ``env`` resolves ``${VAR}`` in http headers; ``allow_network=False`` refuses http
    tools that are not mocked (dry runs never reach the network by accident)."""

    def __init__(
        self,
        tools: Mapping[str, Tool],
        *,
        mocks: Mapping[str, Any] | None = None,
        env: Mapping[str, str] | None = None,
        allow_network: bool = True,
        http_session_factory: Callable[[], Any] | None = None,
    ) -> None:
        self.tools = tools
        self.mocks = dict(mocks or {})
        self.env = env if env is not None else os.environ
        self.allow_network = allow_network
        self._functions: dict[str, Callable[..., Any]] = {}
        self._session: Any = None
        self._session_factory = http_session_factory

    async def call(
        self, tool: Tool, args: dict[str, Any], variables: Mapping[str, Any]
    ) -> ToolResult:
        if tool.name in self.mocks:
            return _with_sets(tool, self.mocks[tool.name])
        if isinstance(tool, MockTool):
            return _with_sets(tool, tool.result)
        try:
            if isinstance(tool, PythonTool):
                return await self._python(tool, args)
            if isinstance(tool, HttpTool):
                return await self._http(tool, args, variables)
        except (Exception, SystemExit) as exc:  # a tool's bug must not end the call
            return ToolResult(
                ok=False, error=f"Tool `{tool.name}` failed: {type(exc).__name__}: {exc}"
            )
        return ToolResult(ok=False, error=f"Tool `{tool.name}` cannot run here")

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

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
        try:
            inspect.signature(fn).bind(**args)
        except TypeError as exc:
            return ToolResult(ok=False, error=f"Tool `{tool.name}` rejects these arguments: {exc}")
        try:
            async with asyncio.timeout(tool.timeout):
                if inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(
                    type(fn).__call__
                ):
                    value = await fn(**args)
                else:
                    value = await asyncio.to_thread(fn, **args)
                if inspect.isawaitable(value):  # a plain function that returned a coroutine
                    value = await value
        except TimeoutError:
            return ToolResult(
                ok=False, error=f"Tool `{tool.name}` timed out after {tool.timeout:g} s"
            )
        try:
            value = msgspec.to_builtins(value)
        except TypeError as exc:
            return ToolResult(
                ok=False, error=f"Tool `{tool.name}` returned something that is not data: {exc}"
            )
        return _with_sets(tool, value)

    # --- http ----------------------------------------------------------------------------

    def _headers(self, tool: HttpTool) -> dict[str, str] | str:
        headers: dict[str, str] = {}
        for name, value in tool.headers.items():
            missing = [v for v in _ENV_REF.findall(value) if v not in self.env]
            if missing:
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
        url = render(tool.url, values, escape=lambda v: quote(v, safe=""))
        import aiohttp  # only when a webhook runs: lint and compile never need it

        if self._session is None:
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
                async with self._session.request(tool.method, url, **kwargs) as response:
                    body = await response.read()
                    status = response.status
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
            return _with_sets(tool, None)
        try:
            value = msgspec.json.decode(body)
        except msgspec.DecodeError:
            return ToolResult(
                ok=False, error=f"Tool `{tool.name}` returned a response that is not JSON"
            )
        return _with_sets(tool, value)
