"""Where a flow's http tools may connect: an :class:`EgressPolicy`, enforced at run time.

Tenant flows are hostile input, so their webhooks reach only the hosts the operator
granted the tenant. The policy is checked twice, and both checks must pass:

1. :func:`check_url`, before anything is sent: the scheme, no user name or password in
   the URL, a plain ASCII host on the allowlist, an allowed port; an IP-literal host is
   judged as an address right there.
2. :class:`CheckedResolver`, the DNS resolver of the session :func:`client_session`
   makes: the host and port as aiohttp itself parsed them are checked again (no
   parser can disagree with the first check), then every address the lookup returned.
   aiohttp connects to exactly the addresses the resolver returned, so what was
   checked is what is connected to: there is no second lookup for a rebinding DNS
   server to answer differently.

An address must be public: loopback, private, link-local, shared (CGNAT), multicast,
unspecified, reserved and cloud metadata addresses are refused (an IPv4 address inside
IPv6, mapped, NAT64 or 6to4, is judged as the IPv4 address it carries), unless the
policy sets ``allow_private`` (tests, or an operator's own network).

A refusal raises :class:`EgressRefused`; the tool registry turns it into the tool's
error: ``Tool `crm` may not call `localhost`: it resolves to 127.0.0.1, a loopback
address``. The reasons are written for the model and stay stable.

Pure: aiohttp is imported only by :func:`client_session`, when a webhook runs.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

import msgspec

__all__ = [
    "METADATA_ADDRESSES",
    "CheckedResolver",
    "EgressPolicy",
    "EgressRefused",
    "address_kind",
    "check_url",
    "client_session",
]

Address = ipaddress.IPv4Address | ipaddress.IPv6Address

# Cloud instance metadata services, which hand out credentials to whoever asks from
# the machine: AWS, GCP, Azure, OpenStack (169.254.169.254), AWS over IPv6, Alibaba,
# Oracle, and Azure's WireServer (a public address that only answers inside Azure).
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",
        "fd00:ec2::254",
        "100.100.100.200",
        "192.0.0.192",
        "168.63.129.16",
    )
)

_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_DEFAULT_PORTS = {"https": 443, "http": 80}

# An allowlist entry: a host name, `*.` and a domain, an IPv4 address or a bracketed
# IPv6 address, with an optional `:port`.
_ENTRY = re.compile(
    r"^(?P<host>(?:\*\.)?[a-z0-9_-]+(?:\.[a-z0-9_-]+)*\.?|\[[0-9a-f:.]+\])(?::(?P<port>\d{1,5}))?$"
)
# What the authority of a checked URL may hold: anything else (a backslash, a percent
# sign, spaces, non-ASCII letters) is where URL parsers disagree about the host.
_PLAIN_AUTHORITY = re.compile(r"^(?:[A-Za-z0-9_.-]+|\[[0-9A-Fa-f:.]+\])(?::[0-9]*)?$")


class EgressRefused(Exception):
    """A URL or address the policy refuses: ``host`` as the URL names it, ``reason``
    (``not on this tenant's egress allowlist``)."""

    def __init__(self, host: str, reason: str) -> None:
        super().__init__(f"`{host}`: {reason}")
        self.host = host
        self.reason = reason


class EgressPolicy(msgspec.Struct, frozen=True, kw_only=True):
    """Where a flow's http tools may connect (None in ``ToolRegistry``: anywhere, for the
    operator's own flows).

    ``hosts``: the allowlist. ``api.example.com`` allows exactly that name;
    ``*.example.com`` any name under it (``a.example.com``, ``a.b.example.com``) but not
    ``example.com`` itself; an IP address (``203.0.113.7``, ``[2001:db8::1]``) that
    address. Names compare without case and without a trailing dot; write them in ASCII
    (``xn--`` for international names). An entry allows the scheme's default port (443,
    or 80 for http); ``api.example.com:8443`` allows that port instead.

    ``https_only``: plain http is refused. ``follow_redirects``: False, a redirect is an
    error result and is never followed; True, a redirect within the tool's own origin
    (same scheme, host and port) is followed, with the URL checked again; a redirect to
    another origin is never followed, so the tool's headers never go elsewhere.
    ``max_response_bytes``: a longer response is cut off there and is an error result.
    ``allow_private``: private, loopback and other non-public addresses are allowed.
    """

    hosts: tuple[str, ...]
    https_only: bool = True
    follow_redirects: bool = False
    max_response_bytes: int = 1_048_576
    allow_private: bool = False

    def __post_init__(self) -> None:
        for entry in self.hosts:
            if _ENTRY.match(entry.strip().lower()) is None:
                raise ValueError(
                    f"Egress host `{entry}` is not a host name, `*.` and a domain, "
                    "or an IP address, with an optional `:port`"
                )
        if self.max_response_bytes < 0:
            raise ValueError("`max_response_bytes` must not be negative")


def address_kind(address: str | Address) -> str | None:
    """Why ``address`` is not public (``a loopback address``), or None when it is."""
    ip = ipaddress.ip_address(address) if isinstance(address, str) else address
    if isinstance(ip, ipaddress.IPv6Address):
        carried = ip.ipv4_mapped or ip.sixtofour
        if carried is None and ip in _NAT64:
            carried = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if carried is not None:  # routed to the IPv4 address it carries
            return address_kind(carried)
    if ip in METADATA_ADDRESSES:
        return "a cloud metadata address"
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_unspecified:
        return "an unspecified address"
    if ip.is_link_local:
        return "a link-local address"
    if ip.is_multicast:
        return "a multicast address"
    if ip in _CGNAT:
        return "a shared (CGNAT) address"
    if isinstance(ip, ipaddress.IPv6Address) and ip.is_site_local:
        return "a site-local address"
    if ip.is_reserved:
        return "a reserved address"
    if ip.is_private:
        return "a private address"
    if not ip.is_global:
        return "a non-public address"
    return None


def check_url(policy: EgressPolicy, url: str) -> None:
    """Raise :class:`EgressRefused` unless ``policy`` lets a tool call ``url``."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = parts.hostname or ""
    if ":" in host:  # IPv6, shown as a URL writes it
        host = f"[{host}]"
    shown = host or url[:100]
    if scheme not in _DEFAULT_PORTS:
        only = "https" if policy.https_only else "http and https"
        what = f"`{scheme}` URLs" if scheme else "URLs without a scheme"
        raise EgressRefused(shown, f"{what} are not allowed, only {only}")
    if "@" in parts.netloc:
        raise EgressRefused(shown, "the URL carries a user name or password")
    if not host or not _PLAIN_AUTHORITY.match(parts.netloc):
        raise EgressRefused(
            parts.netloc or url[:100], "the URL's host is not a plain ASCII host name"
        )
    try:
        port = parts.port
    except ValueError:
        raise EgressRefused(host, "the URL's port is not a port number") from None
    if scheme == "http" and policy.https_only:
        raise EgressRefused(host, "only https is allowed, not http")
    _check_host(policy, host, port if port is not None else _DEFAULT_PORTS[scheme], scheme)


def _check_host(policy: EgressPolicy, host: str, port: int, scheme: str | None) -> None:
    """``host`` (as a URL names it) on the allowlist with ``port``, and, when it is an
    IP address, a public one. ``scheme`` None: either allowed scheme's default port."""
    name = _normal(host)
    literal = _ip(name)
    if literal is not None and not policy.allow_private:
        kind = address_kind(literal)
        if kind is not None:
            raise EgressRefused(host, f"it is {kind}")
    ports = [p for pattern, p in _entries(policy.hosts) if _matches(pattern, name, literal)]
    if not ports:
        raise EgressRefused(host, "not on this tenant's egress allowlist")
    if scheme is not None:
        defaults = {_DEFAULT_PORTS[scheme]}
    else:
        defaults = {443} if policy.https_only else {443, 80}
    if not any(port == p if p is not None else port in defaults for p in ports):
        raise EgressRefused(host, f"port {port} is not on this tenant's egress allowlist")


def _check_addresses(policy: EgressPolicy, host: str, addresses: Sequence[str]) -> None:
    if policy.allow_private:
        return
    for address in addresses:
        kind = address_kind(address)
        if kind is not None:
            raise EgressRefused(host, f"it resolves to {address}, {kind}")


def _normal(host: str) -> str:
    host = host.lower()
    return host[:-1] if host.endswith(".") else host


def _ip(host: str) -> Address | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


@functools.lru_cache(maxsize=256)
def _entries(hosts: tuple[str, ...]) -> list[tuple[str | Address, int | None]]:
    """The allowlist parsed: (name, or address, and port) per entry."""
    out: list[tuple[str | Address, int | None]] = []
    for entry in hosts:
        m = _ENTRY.match(entry.strip().lower())
        assert m is not None  # EgressPolicy checked every entry
        name = _normal(m.group("host"))
        port = m.group("port")
        out.append((_ip(name) or name, int(port) if port is not None else None))
    return out


def _matches(pattern: str | Address, name: str, literal: Address | None) -> bool:
    if not isinstance(pattern, str):
        return literal is not None and pattern == literal
    if pattern.startswith("*."):
        return name.endswith(pattern[1:]) and len(name) > len(pattern) - 1
    return name == pattern


# --- aiohttp ---------------------------------------------------------------------------


class CheckedResolver:
    """An aiohttp resolver that lets ``inner`` look a host up and returns its answer only
    when the policy allows the host, the port and every address in it.

    aiohttp only calls ``resolve`` and ``close``; not subclassing its AbstractResolver
    keeps aiohttp out of ``import flowctl.engine.egress`` (lint never needs it). aiohttp looks up
    no IP-literal host: :func:`check_url` judged those before the request."""

    def __init__(self, policy: EgressPolicy, inner: Any) -> None:
        self.policy = policy
        self.inner = inner

    async def resolve(self, host: str, port: int = 0, family: int = 0) -> list[dict[str, Any]]:
        _check_host(self.policy, host, port, None)
        found: list[dict[str, Any]] = await self.inner.resolve(host, port, family=family)
        _check_addresses(self.policy, host, [r["host"] for r in found])
        return found

    async def close(self) -> None:
        await self.inner.close()


def client_session(policy: EgressPolicy, *, resolver: Any = None) -> Any:
    """An ``aiohttp.ClientSession`` whose connections obey ``policy``: every lookup goes
    through a :class:`CheckedResolver` around ``resolver``, and no proxy from the
    environment is used. Call it inside the event loop.

    ``resolver`` None: aiohttp's ``ThreadedResolver`` (the system's ``getaddrinfo``),
    which holds nothing to close; a resolver given is the caller's to close."""
    import aiohttp  # only when a webhook runs: lint and compile never need it

    inner = resolver if resolver is not None else aiohttp.ThreadedResolver()
    connector = aiohttp.TCPConnector(resolver=CheckedResolver(policy, inner))  # type: ignore[arg-type]
    return aiohttp.ClientSession(connector=connector, trust_env=False)
