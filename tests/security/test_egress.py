"""Egress at run time: a tenant's http tools reach only its allowlisted public hosts.

Every refusal is an exact error result, and a real listener on loopback proves that a
refused request never reached it: no connection at all, not just no answer."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from typing import Any

import msgspec
import pytest
from listener import Listener, endless, json_answer, redirect

from flowctl.engine.egress import (
    CheckedResolver,
    EgressPolicy,
    EgressRefused,
    address_kind,
    check_url,
    client_session,
)
from flowctl.engine.spec import HttpTool, Tool
from flowctl.engine.tools import MAX_REDIRECTS, ToolRegistry, ToolResult

DATA = {"slot": "Tue 10:00"}


def http_tool(url: str, **fields: Any) -> HttpTool:
    tool = msgspec.convert(
        {"kind": "http", "name": "crm", "description": "The CRM", "url": url, **fields}, Tool
    )
    assert isinstance(tool, HttpTool)
    return tool


async def call(
    tool: HttpTool,
    args: dict[str, Any] | None = None,
    variables: dict[str, Any] | None = None,
    **options: Any,
) -> ToolResult:
    registry = ToolRegistry({tool.name: tool}, **options)
    try:
        return await registry.call(tool, args or {}, variables or {})
    finally:
        await registry.close()


def refused(reason: str, host: str = "localhost") -> ToolResult:
    return ToolResult(ok=False, error=f"Tool `crm` may not call `{host}`: {reason}")


@pytest.fixture
async def listener() -> AsyncIterator[Listener]:
    routes = {
        "/data": json_answer(DATA),
        "/big": json_answer({"blob": "x" * 5000}),
        "/endless": endless,
        "/loop": redirect("/loop"),
    }
    async with Listener(routes) as server:
        # Redirects to the same listener under another name, and within its origin.
        server.routes["/away"] = redirect(server.url("/data", host="localhost"))
        server.routes["/here"] = redirect("/data")
        yield server


def local(listener: Listener, **fields: Any) -> EgressPolicy:
    """Allows the listener by address: loopback is the only server a test has."""
    options: dict[str, Any] = {"https_only": False, "allow_private": True, **fields}
    return EgressPolicy(hosts=(f"127.0.0.1:{listener.port}",), **options)


# --- the policy, pure ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("127.0.0.1", "a loopback address"),
        ("::1", "a loopback address"),
        ("10.0.0.1", "a private address"),
        ("172.16.5.4", "a private address"),
        ("192.168.1.1", "a private address"),
        ("fc00::1", "a private address"),
        ("169.254.169.254", "a cloud metadata address"),
        ("fd00:ec2::254", "a cloud metadata address"),
        ("169.254.1.1", "a link-local address"),
        ("fe80::1", "a link-local address"),
        ("100.64.0.1", "a shared (CGNAT) address"),
        ("224.0.0.1", "a multicast address"),
        ("ff02::1", "a multicast address"),
        ("0.0.0.0", "an unspecified address"),
        ("::", "an unspecified address"),
        ("240.0.0.1", "a reserved address"),
        ("fec0::1", "a site-local address"),
        ("::ffff:127.0.0.1", "a loopback address"),
        ("::ffff:10.0.0.1", "a private address"),
        ("64:ff9b::a9fe:a9fe", "a cloud metadata address"),
        ("2002:7f00:1::", "a loopback address"),
        ("8.8.8.8", None),
        ("2606:4700:4700::1111", None),
        ("64:ff9b::808:808", None),
    ],
)
def test_address_kind_names_what_is_not_public(address: str, kind: str | None) -> None:
    assert address_kind(address) == kind


# Why check_url refuses, as EgressRefused.reason says it.
NOT_LISTED = "not on this tenant's egress allowlist"
CREDENTIALS = "the URL carries a user name or password"
NOT_ASCII = "the URL's host is not a plain ASCII host name"

POLICY = EgressPolicy(hosts=("api.example.com", "*.crm.example", "hooks.example:8443"))


@pytest.mark.parametrize(
    ("url", "host", "reason"),
    [
        ("https://api.example.com/x", None, None),
        ("https://API.Example.com./x", None, None),
        ("https://eu.crm.example/x", None, None),
        ("https://a.b.crm.example/x", None, None),
        ("https://hooks.example:8443/x", None, None),
        ("https://crm.example/x", "crm.example", NOT_LISTED),
        ("https://evilcrm.example/x", "evilcrm.example", NOT_LISTED),
        ("https://api.example.com.evil.example/", "api.example.com.evil.example", NOT_LISTED),
        ("https://api.example.com:8443/x", "api.example.com", f"port 8443 is {NOT_LISTED}"),
        ("https://hooks.example/x", "hooks.example", f"port 443 is {NOT_LISTED}"),
        ("http://api.example.com/x", "api.example.com", "only https is allowed, not http"),
        ("ftp://api.example.com/x", "api.example.com", "`ftp` URLs are not allowed, only https"),
        (
            "api.example.com/x",
            "api.example.com/x",
            "URLs without a scheme are not allowed, only https",
        ),
        ("https://me:pw@api.example.com/x", "api.example.com", CREDENTIALS),
        ("https://api.example.com\\@evil.example/", "evil.example", CREDENTIALS),
        ("https://api.example.com%2F@x/", "x", CREDENTIALS),
        ("https://api.exámple.com/x", "api.exámple.com", NOT_ASCII),
        ("https://api.example.com%2Fx/", "api.example.com%2Fx", NOT_ASCII),
        (
            "https://api.example.com:99999/",
            "api.example.com",
            "the URL's port is not a port number",
        ),
        ("https://127.0.0.1/", "127.0.0.1", "it is a loopback address"),
        (
            "https://[::ffff:169.254.169.254]/",
            "[::ffff:169.254.169.254]",
            "it is a cloud metadata address",
        ),
        ("https://8.8.8.8/", "8.8.8.8", NOT_LISTED),
    ],
)
def test_check_url(url: str, host: str | None, reason: str | None) -> None:
    if reason is None:
        check_url(POLICY, url)
        return
    with pytest.raises(EgressRefused) as caught:
        check_url(POLICY, url)
    assert (caught.value.host, caught.value.reason) == (host, reason)


def test_allowlist_entries_may_be_addresses_and_private_ones_can_be_allowed() -> None:
    policy = EgressPolicy(hosts=("[2001:db8::1]:8443", "10.0.0.1"), allow_private=True)
    check_url(policy, "https://[2001:db8:0::1]:8443/x")
    check_url(policy, "https://10.0.0.1/x")
    with pytest.raises(EgressRefused):
        check_url(policy, "https://10.0.0.2/x")


def test_a_malformed_allowlist_entry_is_refused_when_the_policy_is_made() -> None:
    with pytest.raises(msgspec.ValidationError) as caught:
        msgspec.convert({"hosts": ["https://api.example.com"]}, EgressPolicy)
    assert str(caught.value) == (
        "Egress host `https://api.example.com` is not a host name, `*.` and a domain, "
        "or an IP address, with an optional `:port`"
    )


class FakeDNS:
    """Answers every lookup with ``addresses``, and counts the lookups."""

    def __init__(self, *addresses: str) -> None:
        self.addresses = addresses
        self.lookups: list[str] = []

    async def resolve(self, host: str, port: int = 0, family: int = 0) -> list[dict[str, Any]]:
        self.lookups.append(host)
        family = socket.AF_INET6 if ":" in self.addresses[0] else socket.AF_INET
        return [
            {"hostname": host, "host": a, "port": port, "family": family, "proto": 0, "flags": 0}
            for a in self.addresses
        ]

    async def close(self) -> None:
        pass


async def test_the_resolver_refuses_a_name_if_any_of_its_addresses_is_not_public() -> None:
    resolver = CheckedResolver(POLICY, FakeDNS("93.184.216.34", "10.1.2.3"))
    with pytest.raises(EgressRefused) as caught:
        await resolver.resolve("api.example.com", 443)
    assert (caught.value.host, caught.value.reason) == (
        "api.example.com",
        "it resolves to 10.1.2.3, a private address",
    )


async def test_the_resolver_checks_the_host_as_aiohttp_parsed_it_before_any_lookup() -> None:
    dns = FakeDNS("93.184.216.34")
    resolver = CheckedResolver(POLICY, dns)
    with pytest.raises(EgressRefused) as caught:
        await resolver.resolve("evil.example", 443)
    assert caught.value.reason == "not on this tenant's egress allowlist"
    assert dns.lookups == []
    assert [r["host"] for r in await resolver.resolve("api.example.com", 443)] == ["93.184.216.34"]


async def test_the_connection_goes_to_the_address_that_was_checked(listener: Listener) -> None:
    # `api.example.com` exists only in this fake DNS: reaching the listener proves the
    # connector used the checked answer, and one lookup proves nothing looked again.
    dns = FakeDNS("127.0.0.1")
    policy = EgressPolicy(
        hosts=(f"api.example.com:{listener.port}",), https_only=False, allow_private=True
    )
    session = client_session(policy, resolver=dns)
    try:
        async with session.get(f"http://api.example.com:{listener.port}/data") as response:
            assert await response.json() == DATA
    finally:
        await session.close()
    assert dns.lookups == ["api.example.com"]
    assert [r.headers["host"] for r in listener.requests] == [f"api.example.com:{listener.port}"]


# --- tools under a policy, against a real listener ---------------------------------------


async def test_an_allowed_host_is_called_and_its_data_returned(listener: Listener) -> None:
    tool = http_tool(listener.url("/data"), method="GET", sets={"slot": "slot"})
    result = await call(tool, egress=local(listener))
    assert result == ToolResult(ok=True, value=DATA, sets={"slot": "Tue 10:00"})
    assert [(r.method, r.target) for r in listener.requests] == [("GET", "/data")]


async def test_an_allowed_name_is_called_through_the_checked_resolver(listener: Listener) -> None:
    tool = http_tool(listener.url("/data", host="localhost"), method="GET")
    policy = EgressPolicy(
        hosts=(f"localhost:{listener.port}",), https_only=False, allow_private=True
    )
    assert await call(tool, egress=policy) == ToolResult(ok=True, value=DATA)
    assert len(listener.requests) == 1


def _first_address(host: str, port: int) -> str:
    """The first address the system resolver gives, as aiohttp asks for it."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_ADDRCONFIG)
    return str(infos[0][4][0])


def _refused_cases(port: int) -> list[tuple[str, dict[str, Any], ToolResult]]:
    here = f"localhost:{port}"
    return [
        (
            f"http://localhost:{port}/data",
            {"hosts": ("api.example.com",), "https_only": False},
            refused("not on this tenant's egress allowlist"),
        ),
        (
            f"http://localhost:{port}/data",
            {"hosts": (here,)},
            refused("only https is allowed, not http"),
        ),
        (
            f"http://localhost:{port}/data",
            {"hosts": (here,), "https_only": False},
            refused(f"it resolves to {_first_address('localhost', port)}, a loopback address"),
        ),
        (
            f"http://localhost:{port}/data",
            {"hosts": ("localhost",), "https_only": False},
            refused(f"port {port} is not on this tenant's egress allowlist"),
        ),
        (
            f"http://me:secret@localhost:{port}/data",
            {"hosts": (here,), "https_only": False},
            refused("the URL carries a user name or password"),
        ),
        (
            f"http://127.0.0.1:{port}/data",
            {"hosts": (f"127.0.0.1:{port}",), "https_only": False},
            refused("it is a loopback address", "127.0.0.1"),
        ),
        (
            f"http://[::1]:{port}/data",
            {"hosts": (f"[::1]:{port}",), "https_only": False},
            refused("it is a loopback address", "[::1]"),
        ),
        (
            f"http://[::ffff:127.0.0.1]:{port}/data",
            {"hosts": (f"[::ffff:127.0.0.1]:{port}",), "https_only": False},
            refused("it is a loopback address", "[::ffff:127.0.0.1]"),
        ),
        (
            "http://169.254.169.254/latest/meta-data/",
            {"hosts": ("169.254.169.254",), "https_only": False},
            refused("it is a cloud metadata address", "169.254.169.254"),
        ),
        (
            "https://10.0.0.1/data",
            {"hosts": ("10.0.0.1",)},
            refused("it is a private address", "10.0.0.1"),
        ),
    ]


@pytest.mark.parametrize(
    "case",
    range(10),
    ids=[
        "off-the-allowlist",
        "http-when-https-only",
        "name-resolving-to-loopback",
        "port-not-allowed",
        "userinfo",
        "ipv4-loopback-literal",
        "ipv6-loopback-literal",
        "ipv4-mapped-ipv6-literal",
        "metadata-literal",
        "private-literal",
    ],
)
async def test_a_refused_request_is_an_error_and_nothing_reaches_the_host(
    listener: Listener, case: int
) -> None:
    url, policy, expected = _refused_cases(listener.port)[case]
    tool = http_tool(url, headers={"Authorization": "Bearer s3cret"})
    assert await call(tool, {"day": "Tue"}, egress=EgressPolicy(**policy)) == expected
    assert (listener.connections, listener.requests) == (0, [])


async def test_a_redirect_is_an_error_and_is_not_followed(listener: Listener) -> None:
    tool = http_tool(listener.url("/away"), headers={"Authorization": "Bearer s3cret"})
    assert await call(tool, egress=local(listener)) == ToolResult(
        ok=False,
        error=f"Tool `crm` got HTTP 302, a redirect to `http://localhost:{listener.port}`; "
        "redirects are not followed",
    )
    assert [(r.method, r.target) for r in listener.requests] == [("POST", "/away")]


async def test_a_redirect_within_the_origin_is_followed_when_the_policy_allows(
    listener: Listener,
) -> None:
    tool = http_tool(listener.url("/here"), method="GET")
    assert await call(tool, egress=local(listener, follow_redirects=True)) == ToolResult(
        ok=True, value=DATA
    )
    away = http_tool(listener.url("/away"), method="GET")
    assert await call(away, egress=local(listener, follow_redirects=True)) == ToolResult(
        ok=False,
        error=f"Tool `crm` got HTTP 302, a redirect to `http://localhost:{listener.port}`; "
        f"only redirects within `http://127.0.0.1:{listener.port}` are followed",
    )
    assert [r.target for r in listener.requests] == ["/here", "/data", "/away"]


async def test_a_body_over_the_cap_is_an_error(listener: Listener) -> None:
    tool = http_tool(listener.url("/big"), method="GET")
    assert await call(tool, egress=local(listener, max_response_bytes=1000)) == ToolResult(
        ok=False, error="Tool `crm` returned a response larger than 1000 bytes"
    )
    assert await call(tool, egress=local(listener, max_response_bytes=5013)) == ToolResult(
        ok=True, value={"blob": "x" * 5000}
    )


async def test_an_endless_body_is_cut_off_at_the_cap(listener: Listener) -> None:
    tool = http_tool(listener.url("/endless"), method="GET", timeout=10)
    assert await call(tool, egress=local(listener, max_response_bytes=100_000)) == ToolResult(
        ok=False, error="Tool `crm` returned a response larger than 100000 bytes"
    )


def test_a_policy_brings_its_own_session() -> None:
    with pytest.raises(ValueError) as caught:
        ToolRegistry({}, egress=POLICY, http_session_factory=lambda: None)
    assert str(caught.value) == "an egress policy makes its own HTTP session; give no factory"


# --- operator flows (no policy): redirects stay within the tool's origin ------------------


async def test_without_a_policy_a_redirect_within_the_origin_keeps_the_headers(
    listener: Listener,
) -> None:
    tool = http_tool(listener.url("/here"), headers={"Authorization": "Bearer s3cret"})
    assert await call(tool, {"day": "Tue"}) == ToolResult(ok=True, value=DATA)
    # A 302 after a POST is followed with a GET and no body, as browsers do.
    assert [
        (r.method, r.target, r.headers["authorization"], r.body) for r in listener.requests
    ] == [
        ("POST", "/here", "Bearer s3cret", b'{"day": "Tue"}'),
        ("GET", "/data", "Bearer s3cret", b""),
    ]


async def test_without_a_policy_a_redirect_to_another_host_is_not_followed(
    listener: Listener,
) -> None:
    tool = http_tool(listener.url("/away"), headers={"Authorization": "Bearer s3cret"})
    assert await call(tool) == ToolResult(
        ok=False,
        error=f"Tool `crm` got HTTP 302, a redirect to `http://localhost:{listener.port}`; "
        f"only redirects within `http://127.0.0.1:{listener.port}` are followed",
    )
    assert [r.target for r in listener.requests] == ["/away"]


async def test_without_a_policy_a_redirect_loop_ends(listener: Listener) -> None:
    tool = http_tool(listener.url("/loop"), method="GET")
    assert await call(tool) == ToolResult(
        ok=False, error=f"Tool `crm` was redirected more than {MAX_REDIRECTS} times"
    )
    assert [r.target for r in listener.requests] == ["/loop"] * (MAX_REDIRECTS + 1)


# --- URL templates: a value is one path segment, never `.` or `..` --------------------


@pytest.mark.parametrize(
    ("url", "values", "segment"),
    [
        ("/patients/{{id}}/notes", {"id": ".."}, ".."),
        ("/patients/{{id}}", {"id": "."}, "."),
        ("/patients/{{a}}{{b}}/notes", {"a": ".", "b": "."}, ".."),
        ("/patients/.{{id}}", {"id": "."}, ".."),
    ],
    ids=["dot-dot", "dot", "two-values", "value-and-text"],
)
async def test_a_value_that_makes_a_dot_segment_is_refused(
    listener: Listener, url: str, values: dict[str, str], segment: str
) -> None:
    tool = http_tool(listener.url(url), method="GET")
    assert await call(tool, variables=values) == ToolResult(
        ok=False,
        error=f"Tool `crm` cannot use `{segment}` as a path segment of its URL: "
        "a value may not be `.` or `..`",
    )
    assert listener.connections == 0


async def test_dots_inside_a_value_or_in_the_query_are_data(listener: Listener) -> None:
    tool = http_tool(listener.url("/data?from={{a}}"), method="GET")
    assert await call(tool, variables={"a": ".."}) == ToolResult(ok=True, value=DATA)
    tool = http_tool(listener.url("/x/{{a}}"), method="GET")
    result = await call(tool, variables={"a": "..."})
    assert result == ToolResult(ok=False, error="Tool `crm` got HTTP 404: not found")
    assert [r.target for r in listener.requests] == ["/data?from=..", "/x/..."]
