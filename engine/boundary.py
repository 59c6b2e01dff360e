"""The trust boundary: whose flow it is, and what the operator lets it reach.

**Operator flows** (files given to ``lint``, ``graph`` and ``simulate``, or served with
``worker --flows``) are the operator's own code: python tools, ``${NAME}`` from the
process environment, http tools to any host.

**Tenant flows** (everything kept in the store, pushed through the API or ``flowctl
store push``) are a customer's data, and the customer may be hostile. They reach only
what the operator granted that tenant in its :class:`TenantPolicy`:

- Python only from the operator's :class:`ToolCatalog`, by name (``"kind": "catalog"``
  tools), and only the entries granted; a ``python`` tool naming a function is refused;
- ``${NAME}`` in http headers and ``api_key_env`` name the tenant's own secrets (kept in
  the store, write-only), never the process environment; a custom ``base_url`` (of an
  ``llm``, ``stt`` or ``tts`` block) only with such a key, so the operator's keys never
  go to a tenant's endpoint;
- http tools only to the tenant's egress hosts, over https (and again at run time, after
  DNS: ``flowctl.engine.egress``);
- ``transfer_call`` only to destinations the policy lists.

A :class:`Boundary` carries this to lint (the FL5xx boundary rules, which a tenant
flow's own ``lint.ignore`` cannot silence) and to compile; :data:`OPERATOR` is the
operator's. :meth:`Boundary.resolve` turns catalog tools into the python tools they
stand for, so everything after it (compile, the runtime, paths) knows one kind.

At run time the same boundary says where a call's keys come from
(:meth:`Boundary.provider_key`) and where its http tools may connect
(:meth:`Boundary.egress`); a tenant's secret values travel as :class:`Secrets`, whose
repr shows no value.
"""

from __future__ import annotations

import importlib
import inspect
import re
from collections.abc import Iterator, Mapping
from pathlib import Path as FsPath
from typing import Annotated, Any

import msgspec
from msgspec import Meta

from flowctl.engine.egress import EgressPolicy
from flowctl.engine.errors import FlowError
from flowctl.engine.providers import PROVIDERS, provider_of
from flowctl.engine.spec import (
    CatalogTool,
    Flow,
    LLMConfig,
    Parameter,
    PythonTool,
    STTConfig,
    Tool,
    TTSConfig,
)

__all__ = [
    "OPERATOR",
    "PROVIDER_KEYS",
    "Allowlist",
    "Boundary",
    "CatalogEntry",
    "CatalogError",
    "KeyRefused",
    "ProviderKey",
    "Secrets",
    "TenantPolicy",
    "ToolCatalog",
    "import_function",
    "room_in_namespace",
    "room_refusal",
    "tenant_room",
]

# The variable a provider's key is read from when a block names none, by provider (the
# provider table's `key`: one per provider, whatever the block). In a tenant's flow naming
# it (with no `base_url`) means the operator's key on the operator's endpoint, unless the
# tenant has a secret of that name.
PROVIDER_KEYS = {p.name: p.key for block in PROVIDERS.values() for p in block.values()}

# A catalog file lists a few dozen tools; a megabyte is a mistake or an attack.
MAX_CATALOG_BYTES = 1024 * 1024


class _Spec(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The flow format's policy (``engine/spec.py``): values, named fields, and a typo
    is an error rather than a silently ignored grant."""


ToolName = Annotated[str, Meta(pattern=r"^[a-zA-Z0-9_-]{1,64}$")]
# A host name, or `*.` and a domain for its subdomains; lowercase, no scheme or port.
# The last label starts with a letter, so an IP address is never a grant.
_HOST = re.compile(r"^(\*\.)?([a-z0-9]([a-z0-9-]*[a-z0-9])?\.)*[a-z]([a-z0-9-]*[a-z0-9])?$")
# An E.164 number (`+15550100`, `tel:+15550100`) or a SIP URI (`sip:desk@pbx.example`).
_DESTINATION = re.compile(r"^(?:(?:tel:)?\+[1-9][0-9]{6,14}|sips?:[^\s@]+@[^\s@]+)$")


class TenantPolicy(_Spec, frozen=True):
    """What the operator grants one tenant's flows (``flowctl tenants policy``, ``PATCH
    /api/v1/tenants/{id}``; platform admins only): the catalog tools they may use, the
    hosts their http tools may reach, the destinations calls may be transferred to, and
    how much they may keep in the store."""

    tools: list[ToolName] = []
    egress_hosts: list[Annotated[str, Meta(max_length=253)]] = []
    transfer_to: list[Annotated[str, Meta(max_length=256)]] = []
    # Quotas on what pushes may store: a tenant cannot fill the operator's disk.
    max_versions: Annotated[int, Meta(ge=1)] = 1000
    max_stored_bytes: Annotated[int, Meta(ge=1)] = 64 * 1024 * 1024

    def __post_init__(self) -> None:
        for host in self.egress_hosts:
            if not _HOST.match(host):
                raise ValueError(
                    f"egress host `{host}` is not a host name: grant hosts by name, in "
                    "lowercase, without scheme or port (`api.example.com`, or "
                    "`*.example.com` for its subdomains); addresses are never granted"
                )
        for destination in self.transfer_to:
            if not _DESTINATION.match(destination):
                raise ValueError(
                    f"transfer destination `{destination}` is not an E.164 number "
                    "(`+15550100`) or a SIP URI (`sip:desk@pbx.example`)"
                )


class CatalogEntry(_Spec, frozen=True):
    """A Python function the operator offers flows by name."""

    function: Annotated[str, Meta(pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")]
    description: Annotated[str, Meta(max_length=100_000)] = ""
    parameters: dict[str, Parameter] = {}
    timeout: Annotated[float, Meta(gt=0, le=300)] = 10.0


class CatalogError(FlowError):
    """A tool catalog that cannot be used; ``problems`` lists each (``file:row:col:
    message``, or a function that does not import or fit its entry)."""

    exit_code = 2

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class ToolCatalog(_Spec, frozen=True):
    """The operator's python tools by name: a JSON file (``--tools tools.json``)::

    {"tools": {"lookup_order": {
        "function": "acme_tools.crm:lookup_order",
        "description": "Find an order by its number.",
        "parameters": {"order_id": {"type": "str", "description": "The number"}},
        "timeout": 5}}}
    """

    tools: dict[ToolName, CatalogEntry] = {}

    @classmethod
    def load(cls, path: FsPath, *, check_functions: bool = True) -> ToolCatalog:
        """Read a catalog file; with ``check_functions`` (what a worker needs), import
        every function and check it accepts its entry's parameters. Raises
        :class:`CatalogError` listing every problem."""
        from flowctl.engine.load import read_config

        problems: list[str] = []
        read = read_config(path, cls, "a tool catalog", MAX_CATALOG_BYTES, problems)
        if read is None:
            raise CatalogError(problems)
        catalog = read[1]
        if check_functions:
            problems = [f"{path}: {p}" for p in catalog.function_problems()]
            if problems:
                raise CatalogError(problems)
        return catalog

    def function_problems(self) -> list[str]:
        """What keeps an entry from running: its function does not import, or does not
        take its parameters as declared."""
        problems = []
        for name, entry in self.tools.items():
            try:
                fn = import_function(entry.function)
            except (ImportError, AttributeError) as exc:
                problems.append(f"Tool `{name}`: cannot import `{entry.function}`: {exc}")
                continue
            problems.extend(f"Tool `{name}`: {p}" for p in _signature_problems(fn, entry))
        return problems


def import_function(path: str) -> object:
    """The object ``package.module:attribute`` names."""
    module_name, _, attr = path.partition(":")
    return getattr(importlib.import_module(module_name), attr)


def _signature_problems(fn: object, entry: CatalogEntry) -> list[str]:
    if not callable(fn):
        return [f"`{entry.function}` is not callable"]
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):
        return []  # a builtin without a signature: checked when called
    params = signature.parameters
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    problems = []
    for name, declared in entry.parameters.items():
        param = params.get(name)
        if param is None or param.kind in (
            inspect.Parameter.POSITIONAL_ONLY,
            inspect.Parameter.VAR_POSITIONAL,
        ):
            if not takes_any:
                problems.append(f"`{entry.function}` takes no keyword argument `{name}`")
        elif not declared.required and param.default is inspect.Parameter.empty:
            problems.append(
                f"parameter `{name}` is optional in the catalog, but `{entry.function}` "
                "has no default for it"
            )
    for name, param in params.items():
        if (
            param.default is inspect.Parameter.empty
            and param.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, param.KEYWORD_ONLY)
            and not (name in entry.parameters and entry.parameters[name].required)
        ):
            problems.append(
                f"`{entry.function}` needs `{name}`, which the catalog does not declare "
                "as a required parameter"
            )
    return problems


class Allowlist:
    """Host patterns (a tenant's ``egress_hosts``, ``lint.allowed_hosts``) made into
    lookups: a host is checked against a set of
    exact names and walked label by label, from the right, down a tree of the
    wildcards' domains (each ``*.example.com`` allows the hosts ending in
    ``.example.com``). Comparing every tool with every entry cost their product."""

    def __init__(self, allowed: list[str]) -> None:
        self.exact: set[str] = set()
        self.domains: dict[str | None, Any] = {}  # label -> subtree; None: a domain ends
        for pattern in allowed:
            pattern = pattern.lower()
            if not pattern.startswith("*."):
                self.exact.add(pattern)
                continue
            node = self.domains
            for label in reversed(pattern[2:].split(".")):
                node = node.setdefault(label, {})
            node[None] = True

    def allows(self, host: str) -> bool:
        if host in self.exact:
            return True
        node: dict[str | None, Any] = self.domains
        labels = host.split(".")
        for label in reversed(labels[1:]):  # the first label is what `*` stands for
            if (child := node.get(label)) is None:
                return False
            node = child
            if None in node:
                return True
        return False


# A tenant's LiveKit rooms are named `<tenant_id>:<name>`: tenant ids cannot hold a
# colon, so no tenant's namespace is a prefix of another's.
ROOM_SEPARATOR = ":"


def tenant_room(tenant_id: str, room: str) -> str:
    """``room`` in ``tenant_id``'s namespace: as given when it already is, else with the
    namespace put in front. Raises ValueError (:func:`room_refusal`'s words) for a room
    in another namespace."""
    if ROOM_SEPARATOR not in room:
        return f"{tenant_id}{ROOM_SEPARATOR}{room}"
    refusal = room_refusal(tenant_id, room)
    if refusal is not None:
        raise ValueError(refusal)
    return room


def room_in_namespace(tenant_id: str, room: str) -> bool:
    """Whether ``room`` is one of ``tenant_id``'s rooms."""
    return room.startswith(f"{tenant_id}{ROOM_SEPARATOR}")


def room_refusal(tenant_id: str, room: str | None) -> str | None:
    """Why a call of tenant ``tenant_id`` may not run in ``room`` (None: a job with no
    room), or None when the room is one of its own. The one wording of the rule: the
    worker refuses a job with it, the API a token, ``flowctl token`` its ``--room``."""
    if room and room_in_namespace(tenant_id, room):
        return None
    from flowctl.engine.routing import _q  # the room comes from the request: escaped

    where = f"Room {_q(room)}" if room else "A job with no room"
    return f"{where} is outside tenant `{tenant_id}`'s rooms (`{tenant_id}{ROOM_SEPARATOR}<name>`)"


class Secrets(Mapping[str, str]):
    """A tenant's secret values by name: what ``${NAME}`` in its http headers and
    ``api_key_env`` in its provider blocks read at run time. Its repr names the tenant
    and counts the secrets, and shows no value, so a log line or a traceback that shows
    it leaks nothing."""

    __slots__ = ("_values", "tenant_id")

    def __init__(self, tenant_id: str, values: Mapping[str, str]) -> None:
        self.tenant_id = tenant_id
        self._values = dict(values)

    def __getitem__(self, name: str) -> str:
        return self._values[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"Secrets(<{len(self._values)} of tenant {self.tenant_id!r}>)"

    def missing(self, name: str) -> str:
        """Why ``name`` has no value here, for a tool's error."""
        return f"the secret `{name}`, which tenant `{self.tenant_id}` has not set"


class ProviderKey(msgspec.Struct, frozen=True, kw_only=True):
    """Where one provider block's key comes from: the tenant's secret ``name``
    (``secret``), else the process environment's variable ``name``; ``name`` None: no
    key at all (an operator's own OpenAI-compatible server, which may take none)."""

    name: str | None
    secret: bool = False


class KeyRefused(FlowError):
    """A tenant's provider block that no key may be given to: its own endpoint without
    its own key, or a key it names and has not set. The message follows the block's
    name, as in "`llm` (openai) needs the secret `LLM_KEY`, which ..."."""

    exit_code = 2


class Boundary(msgspec.Struct, frozen=True, kw_only=True):
    """Whose flow is being linted or compiled, and what it may use.

    ``tenant_id`` None: an operator flow (anything goes; catalog tools resolve if a
    catalog is given). Otherwise a tenant flow, held to ``policy``. ``secrets``: the
    names of the tenant's secrets, when known (lint then says which ``${NAME}`` is
    missing); never their values. ``knowledge``: the names of the knowledge bases the
    flow's knowledge tools can read, when known (lint then says which they name in
    vain)."""

    tenant_id: str | None = None
    policy: TenantPolicy = TenantPolicy()
    catalog: ToolCatalog | None = None
    secrets: frozenset[str] | None = None
    knowledge: frozenset[str] | None = None

    @property
    def untrusted(self) -> bool:
        return self.tenant_id is not None

    def with_catalog(self, catalog: ToolCatalog | None) -> Boundary:
        return msgspec.structs.replace(self, catalog=catalog)

    def entry(self, tool: CatalogTool) -> CatalogEntry | None:
        """The catalog entry a catalog tool names (None: no such entry, or no catalog)."""
        if self.catalog is None:
            return None
        return self.catalog.tools.get(tool.catalog or tool.name)

    def granted(self, tool: CatalogTool) -> bool:
        return not self.untrusted or (tool.catalog or tool.name) in self.policy.tools

    def resolve(self, flow: Flow) -> Flow:
        """``flow`` with each catalog tool it may use replaced by the python tool it
        stands for (its name, ``sets`` and description, else the entry's). A tool
        naming no entry, or one a tenant was not granted, stays as written: lint
        reports it, and the runtime cannot run it."""
        if not any(isinstance(t, CatalogTool) for t in flow.tools):
            return flow
        tools: list[Tool] = []
        for tool in flow.tools:
            entry = self.entry(tool) if isinstance(tool, CatalogTool) else None
            if isinstance(tool, CatalogTool) and entry is not None and self.granted(tool):
                tools.append(
                    PythonTool(
                        name=tool.name,
                        description=tool.description or entry.description,
                        parameters=entry.parameters,
                        sets=tool.sets,
                        function=entry.function,
                        timeout=entry.timeout,
                    )
                )
            elif isinstance(tool, CatalogTool) and entry is not None and not tool.description:
                # not granted: it stays a catalog tool, which nothing can run, described
                # as its entry is (lint then reports the grant, not a missing description)
                tools.append(msgspec.structs.replace(tool, description=entry.description))
            else:
                tools.append(tool)
        return msgspec.structs.replace(flow, tools=tools)

    def egress(self) -> EgressPolicy | None:
        """Where the flow's http tools may connect: for a tenant, its policy's hosts,
        over https, public addresses only, no redirects; None for the operator's own
        flows (anywhere)."""
        if not self.untrusted:
            return None
        return EgressPolicy(hosts=tuple(self.policy.egress_hosts))

    def provider_key(self, config: LLMConfig | STTConfig | TTSConfig) -> ProviderKey:
        """Where ``config``'s key comes from. The operator's flows read the environment:
        ``api_key_env``, else nothing for a block with its own ``base_url`` (the
        operator's own server, which may take none), else the provider's usual variable
        (``flowctl.engine.providers``). A tenant's flow (``secrets``: the
        names it has) gets the secret ``api_key_env`` names, on any endpoint; or, naming
        none or only the provider's usual variable, the operator's key on the
        operator's endpoint. Raises :class:`KeyRefused` for a tenant's block that sends
        requests to its own ``base_url`` without its own key (the operator's key never
        goes there), or names a secret it has not set."""
        named = config.api_key_env
        base_url = config.base_url
        provider = provider_of(config)
        usual = provider.key if provider is not None else None
        if not self.untrusted:
            if named:
                return ProviderKey(name=named)
            return ProviderKey(name=None if base_url else usual)
        if named and named in (self.secrets or ()):
            return ProviderKey(name=named, secret=True)
        if named and (base_url or named != usual):
            raise KeyRefused(
                f"needs the secret `{named}`, which tenant `{self.tenant_id}` has not set"
            )
        if base_url:
            raise KeyRefused(
                f"sends its requests to `{base_url}` with no key of tenant `{self.tenant_id}` "
                "(`api_key_env` naming one of its secrets); the operator's key only goes to "
                "the operator's endpoint"
            )
        return ProviderKey(name=usual)


OPERATOR = Boundary()
