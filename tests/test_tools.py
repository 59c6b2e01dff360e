"""Tools: python functions by import path, http webhooks against a real aiohttp server
on loopback, mocks. Every failure is an error result, never an exception."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import msgspec
import pytest
from aiohttp import web

from flowctl.engine.spec import HttpTool, MockTool, PythonTool, Tool
from flowctl.engine.tools import ToolRegistry, ToolResult


def tool(**fields: Any) -> Tool:
    return msgspec.convert({"description": "A tool used by the tests", **fields}, Tool)


def registry(*tools: Tool, **kwargs: Any) -> ToolRegistry:
    return ToolRegistry({t.name: t for t in tools}, **kwargs)


async def call(t: Tool, args: dict[str, Any] | None = None, **kwargs: Any) -> ToolResult:
    reg = registry(t, **kwargs)
    try:
        return await reg.call(t, args or {}, {})
    finally:
        await reg.close()


# --- python -----------------------------------------------------------------------------


async def test_python_tool_runs_and_maps_results_into_variables() -> None:
    t = tool(
        kind="python",
        name="lookup",
        function="toolbox:lookup_patient",
        sets={"patient_id": "patient.id"},
    )
    assert await call(t, {"phone": "555"}) == ToolResult(
        ok=True,
        value={"patient": {"id": "P-17", "name": "Ana Ruiz"}, "phone": "555"},
        sets={"patient_id": "P-17"},
    )


async def test_python_async_tool_with_a_default_argument() -> None:
    t = tool(kind="python", name="book", function="toolbox:book")
    assert await call(t, {"day": "Tue"}) == ToolResult(
        ok=True, value={"status": "booked", "slot": "Tue 10:00"}
    )


@pytest.mark.parametrize(
    ("function", "args", "timeout", "error"),
    [
        ("toolbox:explode", {}, 10, "Tool `t` failed: RuntimeError: database is down"),
        (
            "toolbox:lookup_patient",
            {"phone": "1", "extra": 2},
            10,
            "Tool `t` rejects these arguments: got an unexpected keyword argument 'extra'",
        ),
        (
            "toolbox:lookup_patient",
            {},
            10,
            "Tool `t` rejects these arguments: missing a required argument: 'phone'",
        ),
        ("toolbox:slow_async", {}, 0.05, "Tool `t` timed out after 0.05 s"),
        ("toolbox:slow", {}, 0.05, "Tool `t` timed out after 0.05 s"),
        (
            "toolbox:not_data",
            {},
            10,
            "Tool `t` returned something that is not data: Encoding objects of type object is unsupported",
        ),
        (
            "toolbox:missing",
            {},
            10,
            "Tool `t` cannot be imported: module 'toolbox' has no attribute 'missing'",
        ),
        (
            "no_such_module:fn",
            {},
            10,
            "Tool `t` cannot be imported: No module named 'no_such_module'",
        ),
    ],
    ids=[
        "raises",
        "unknown-argument",
        "missing-argument",
        "async-timeout",
        "sync-timeout",
        "garbage",
        "no-function",
        "no-module",
    ],
)
async def test_python_tool_failures_are_results(
    function: str, args: dict, timeout: float, error: str
) -> None:
    t = tool(kind="python", name="t", function=function, timeout=timeout)
    assert await call(t, args) == ToolResult(ok=False, error=error)


async def test_a_result_missing_a_mapped_field_is_an_error() -> None:
    t = tool(kind="mock", name="t", result={"a": 1}, sets={"x": "b.c"})
    assert await call(t) == ToolResult(ok=False, value={"a": 1}, error="Tool `t` returned no `b.c`")


async def test_mock_tool_and_scenario_mocks() -> None:
    t = tool(kind="mock", name="t", result={"slot": "Tue"}, sets={"slot": "slot"})
    assert await call(t) == ToolResult(ok=True, value={"slot": "Tue"}, sets={"slot": "Tue"})
    assert await call(t, mocks={"t": {"slot": "Wed"}}) == ToolResult(
        ok=True, value={"slot": "Wed"}, sets={"slot": "Wed"}
    )


async def test_a_mock_sequence_answers_in_order_then_repeats_its_last() -> None:
    t = tool(kind="http", name="t", url="https://x.test/t", sets={"free": "free"})
    reg = registry(t, mocks={"t": [{"free": False}, {"free": True}]})
    got = [(await reg.call(t, {}, {})).sets for _ in range(3)]
    await reg.close()
    assert got == [{"free": False}, {"free": True}, {"free": True}]


async def test_a_mock_of_a_list_result_is_a_sequence_of_one() -> None:
    t = tool(kind="mock", name="t", result=[], sets={"first": "0"})
    assert await call(t, mocks={"t": [["a", "b"]]}) == ToolResult(
        ok=True, value=["a", "b"], sets={"first": "a"}
    )


async def test_a_scripted_failure_fails_the_call_with_its_words() -> None:
    t = tool(kind="mock", name="t", result={"slot": "Tue"}, sets={"slot": "slot"})
    reg = registry(t, mocks={"t": [{"$error": "the calendar is down"}, {"slot": "Wed"}]})
    first, second = await reg.call(t, {}, {}), await reg.call(t, {}, {})
    await reg.close()
    assert first == ToolResult(ok=False, error="the calendar is down")
    assert second == ToolResult(ok=True, value={"slot": "Wed"}, sets={"slot": "Wed"})


async def test_a_turns_mocks_replace_the_scenarios_for_that_turn_only() -> None:
    t = tool(kind="mock", name="t", result={}, sets={"n": "n"})
    reg = registry(t, mocks={"t": [{"n": 1}, {"n": 2}]})

    async def n() -> Any:
        return (await reg.call(t, {}, {})).sets["n"]

    got = [await n()]
    reg.answers.for_turn({"t": [{"n": 10}, {"n": 11}]})
    got += [await n(), await n()]
    reg.answers.for_turn({"t": {"n": 20}})  # a new turn's sequence starts afresh
    got += [await n()]
    reg.answers.for_turn(None)
    got += [await n(), await n()]
    await reg.close()
    assert got == [1, 10, 11, 20, 2, 2]


# --- http --------------------------------------------------------------------------------


@pytest.fixture
async def server() -> AsyncIterator[str]:
    seen: list[dict[str, Any]] = []

    async def echo(request: web.Request) -> web.Response:
        body = await request.json() if request.can_read_body else None
        seen.append(
            {
                "method": request.method,
                "path": request.raw_path.split("?")[0],
                "query": dict(request.query),
                "body": body,
                "auth": request.headers.get("Authorization"),
            }
        )
        return web.json_response({"ok": True, "slot": "Tue 10:00", "echo": seen[-1]})

    async def fail(request: web.Request) -> web.Response:
        return web.Response(status=500, text="internal error: db down")

    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(2)
        return web.json_response({})

    async def text(request: web.Request) -> web.Response:
        return web.Response(text="<html>hello</html>")

    app = web.Application()
    app.router.add_route("*", "/echo/{rest:.*}", echo)
    app.router.add_get("/fail", fail)
    app.router.add_get("/slow", slow)
    app.router.add_get("/text", text)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    yield f"http://127.0.0.1:{port}"
    await runner.cleanup()


async def test_http_post_sends_arguments_as_json_with_env_headers(server: str) -> None:
    t = tool(
        kind="http",
        name="book",
        url=f"{server}/echo/book",
        headers={"Authorization": "Bearer ${CRM_TOKEN}"},
        sets={"slot": "slot"},
    )
    result = await call(t, {"day": "Tue"}, env={"CRM_TOKEN": "s3cret"})
    assert result.ok and result.sets == {"slot": "Tue 10:00"}
    assert result.value["echo"] == {
        "method": "POST",
        "path": "/echo/book",
        "query": {},
        "body": {"day": "Tue"},
        "auth": "Bearer s3cret",
    }


async def test_http_get_sends_query_and_fills_the_url_template_escaped(server: str) -> None:
    t = tool(kind="http", name="find", method="GET", url=server + "/echo/patients/{{name}}")
    reg = registry(t)
    try:
        result = await reg.call(t, {"q": "a b"}, {"name": "Ana Ruiz/../admin"})
    finally:
        await reg.close()
    assert result.ok
    # A value is one path segment: a caller cannot walk the URL with "/../".
    assert result.value["echo"]["path"] == "/echo/patients/Ana%20Ruiz%2F..%2Fadmin"
    assert result.value["echo"]["query"] == {"q": "a b"}


async def test_http_tools_share_one_session_until_the_registry_closes(server: str) -> None:
    t = tool(kind="http", name="find", method="GET", url=server + "/echo/x")
    reg = registry(t)
    assert reg.http_session is None  # nothing opened before an http tool runs
    assert (await reg.call(t, {}, {})).ok
    session = reg.http_session
    assert session is not None and not session.closed
    assert (await reg.call(t, {}, {})).ok
    assert reg.http_session is session
    await reg.close()
    assert session.closed and reg.http_session is None


@pytest.mark.parametrize(
    ("path", "timeout", "error"),
    [
        ("/fail", 5, "Tool `t` got HTTP 500: internal error: db down"),
        ("/slow", 0.1, "Tool `t` timed out after 0.1 s"),
        ("/text", 5, "Tool `t` returned a response that is not JSON"),
    ],
    ids=["500", "timeout", "not-json"],
)
async def test_http_failures_are_results(
    server: str, path: str, timeout: float, error: str
) -> None:
    t = tool(kind="http", name="t", method="GET", url=server + path, timeout=timeout)
    assert await call(t) == ToolResult(ok=False, error=error)


async def test_http_missing_environment_variable() -> None:
    t = tool(
        kind="http", name="t", url="https://crm.example/x", headers={"X-Api-Key": "${CRM_KEY}"}
    )
    assert await call(t, env={}) == ToolResult(
        ok=False, error="Tool `t` needs the environment variable `CRM_KEY`"
    )


async def test_http_connection_refused() -> None:
    t = tool(kind="http", name="t", url="http://127.0.0.1:9/x", timeout=2)
    result = await call(t)
    assert not result.ok and result.error is not None
    assert result.error.startswith("Tool `t` could not connect: Cannot connect to host 127.0.0.1:9")


async def test_http_refused_when_the_network_is_not_allowed() -> None:
    t = tool(kind="http", name="t", url="https://crm.example/x")
    assert await call(t, allow_network=False) == ToolResult(
        ok=False, error="Tool `t` would call the network; mock it or allow it"
    )


def test_tool_types() -> None:
    assert isinstance(tool(kind="http", name="a", url="https://x"), HttpTool)
    assert isinstance(tool(kind="python", name="a", function="m:f"), PythonTool)
    assert isinstance(tool(kind="mock", name="a"), MockTool)
