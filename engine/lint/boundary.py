"""The trust boundary's rules (``engine/boundary.py``): catalog tools for every flow,
transfer destinations for every flow, and what a tenant's flow may reach.

The tenant rules (FL507-FL511, FL513) check the flow as written (``ctx.written``), with
the tenant's policy from ``ctx.boundary``; they say nothing about an operator's flow.
A tenant flow's own ``lint.ignore`` cannot silence them (``flowctl.engine.lint.runner``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from urllib.parse import urlsplit

from flowctl.engine.boundary import PROVIDER_KEYS, Allowlist
from flowctl.engine.findings import did_you_mean
from flowctl.engine.lint.context import FlowContext
from flowctl.engine.lint.registry import Violation, rule, violation
from flowctl.engine.source import Path
from flowctl.engine.spec import BuiltinTool, CatalogTool, HttpTool, KnowledgeTool, PythonTool

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


@rule("unknown-catalog-tool")
def unknown_catalog_tool(ctx: FlowContext) -> Iterator[Violation]:
    """
    ## What it does
    Reports a `"kind": "catalog"` tool whose entry (its `catalog`, by default its
    name) is not in the operator's tool catalog, or that is linted with no catalog
    loaded (`flowctl lint --tools tools.json`), and a catalog tool that declares its
    own `parameters` (they come from the catalog entry).

    ## Why it matters
    The model would be offered a function that cannot run. The catalog entry says
    which Python function runs and what it takes; a flow cannot change that.

    ## Example
    ```json
    {"tools": [{"kind": "catalog", "name": "lookup_ordr"}]}
    ```

    ## Instead
    ```json
    {"tools": [{"kind": "catalog", "name": "lookup_order"}]}
    ```
    with `lookup_order` in the catalog file the operator passes with `--tools`.
    """
    catalog = ctx.boundary.catalog
    for k, tool in enumerate(ctx.written.tools):
        if not isinstance(tool, CatalogTool):
            continue
        entry = tool.catalog or tool.name
        where = ("tools", k, "catalog") if tool.catalog else ("tools", k, "name")
        if catalog is None:
            yield violation(where, "no_catalog", tool=tool.name)
        elif entry not in catalog.tools:
            yield violation(where, "unknown", entry=entry, hint=did_you_mean(entry, catalog.tools))
        if tool.parameters:
            yield violation(("tools", k, "parameters"), "parameters", at_key=True, tool=tool.name)


@rule("unknown-knowledge-base")
def unknown_knowledge_base(ctx: FlowContext) -> Iterator[Violation]:
    """
    ## What it does
    In a tenant's flow, reports a `"kind": "knowledge"` tool whose `base` names none
    of the tenant's knowledge bases (a base exists once a document is added to it).

    ## Why it matters
    The tool would fail every call: the model would tell callers it cannot look the
    answer up. A warning, not an error: a flow may be pushed before its documents are
    added; add them before the flow takes calls.

    ## Example
    ```json
    {"tools": [{"kind": "knowledge", "name": "clinic_faq", "base": "clinic-faq"}]}
    ```
    for a tenant whose documents are in the base `clinic`.

    ## Instead
    Name the base the documents are in, or add them to this one:
    `flowctl knowledge add -t acme clinic-faq docs/*.md`.
    """
    bases = ctx.boundary.knowledge
    if not ctx.boundary.untrusted or bases is None:
        return
    for k, tool in enumerate(ctx.written.tools):
        if isinstance(tool, KnowledgeTool) and tool.base not in bases:
            hint = did_you_mean(tool.base, bases)
            yield violation(
                ("tools", k, "base"),
                "similar" if hint else "missing",
                base=tool.base,
                tool=tool.name,
                tenant=ctx.boundary.tenant_id,
                hint=hint,
            )


@rule("python-in-tenant-flow")
def python_in_tenant_flow(ctx: FlowContext) -> Iterator[Violation]:
    """
    ## What it does
    In a tenant's flow (one kept in the store), reports every `"kind": "python"` tool.

    ## Why it matters
    A python tool names any importable function: `os:system` would run any command
    on the worker, as the worker's user, for whoever can push a flow. Tenants get
    Python only through the operator's tool catalog, by name, where the operator
    decides which functions exist and who may use them.

    ## Example
    ```json
    {"tools": [{"kind": "python", "name": "lookup", "function": "os:system"}]}
    ```

    ## Instead
    ```json
    {"tools": [{"kind": "catalog", "name": "lookup_order"}]}
    ```
    once the operator has registered `lookup_order` in its catalog and granted it to
    the tenant (`flowctl tenants policy TENANT --grant-tool lookup_order`).
    """
    if not ctx.boundary.untrusted:
        return
    for k, tool in enumerate(ctx.written.tools):
        if isinstance(tool, PythonTool):
            tenant = ctx.boundary.tenant_id
            path = ("tools", k, "function")
            yield violation(path, tool=tool.name, function=tool.function, tenant=tenant)


@rule("tool-not-granted")
def tool_not_granted(ctx: FlowContext) -> Iterator[Violation]:
    """
    ## What it does
    In a tenant's flow, reports a catalog tool whose entry the operator has not granted
    to that tenant (the tenant policy's `tools`).

    ## Why it matters
    The catalog holds every tenant's tools; one tenant's CRM lookup must not be
    callable from another tenant's flow.

    ## Example
    ```json
    {"tools": [{"kind": "catalog", "name": "refund_payment"}]}
    ```
    when the tenant's policy grants only `lookup_order`.
    """
    if not ctx.boundary.untrusted or ctx.boundary.catalog is None:
        return
    for k, tool in enumerate(ctx.written.tools):
        if (
            isinstance(tool, CatalogTool)
            and ctx.boundary.entry(tool) is not None
            and not ctx.boundary.granted(tool)
        ):
            entry = tool.catalog or tool.name
            yield violation(("tools", k), entry=entry, tenant=ctx.boundary.tenant_id)


@rule("secret-not-set")
def secret_not_set(ctx: FlowContext) -> Iterator[Violation]:
    """
    ## What it does
    In a tenant's flow, reports a `${NAME}` in an http tool's headers, and an
    `api_key_env`, that names none of the tenant's secrets. (`api_key_env` naming the
    provider's usual variable, such as `OPENAI_API_KEY` or `ELEVEN_API_KEY`, with no
    `base_url`, means the operator's key on the operator's endpoint.)

    ## Why it matters
    In a tenant's flow these names are the tenant's own secrets (`flowctl secrets
    set`), never the worker's environment: the tool or the model would have no key at
    run time, and the call would fail. Set the secret, then publish.

    ## Example
    ```json
    {"headers": {"Authorization": "Bearer ${CRM_TOKEN}"}}
    ```
    with no secret `CRM_TOKEN` set for the tenant.
    """
    secrets = ctx.boundary.secrets
    if not ctx.boundary.untrusted or secrets is None:
        return

    def missing(name: str, path: Path) -> Violation:
        return violation(path, secret=name, tenant=ctx.boundary.tenant_id)

    for k, tool in enumerate(ctx.written.tools):
        if isinstance(tool, HttpTool):
            for header, value in tool.headers.items():
                for name in _ENV_REF.findall(value):
                    if name not in secrets:
                        yield missing(name, ("tools", k, "headers", header))
    for path, config in ctx.provider_blocks():
        name = config.api_key_env
        if not name or name in secrets:
            continue
        operators = name == PROVIDER_KEYS.get(config.provider) and not config.base_url
        if not operators:
            yield missing(name, (*path, "api_key_env"))


@rule("endpoint-without-key")
def endpoint_without_key(ctx: FlowContext) -> Iterator[Violation]:
    """
    ## What it does
    In a tenant's flow, reports a provider block (`llm`, `stt` or `tts`, the flow's or
    a state's) that sets `base_url` but no `api_key_env`.

    ## Why it matters
    Without a key of its own, the request would carry the operator's provider key
    (`OPENAI_API_KEY`, `ELEVEN_API_KEY`...) to whatever server `base_url` names. A
    tenant may use its own endpoint with its own key (one of its secrets), or the
    operator's endpoint with the operator's key; never the operator's key on its
    endpoint.

    ## Example
    ```json
    {"llm": {"base_url": "https://llm.tenant.example/v1"}}
    ```

    ## Instead
    ```json
    {"llm": {"base_url": "https://llm.tenant.example/v1", "api_key_env": "LLM_KEY"}}
    ```
    with `LLM_KEY` one of the tenant's secrets.
    """
    if not ctx.boundary.untrusted:
        return
    for path, config in ctx.provider_blocks():
        if config.base_url and not config.api_key_env:
            tenant = ctx.boundary.tenant_id
            yield violation((*path, "base_url"), base_url=config.base_url, tenant=tenant)


@rule("egress-not-granted")
def egress_not_granted(ctx: FlowContext) -> Iterator[Violation]:
    """
    ## What it does
    In a tenant's flow, reports an `http` tool whose URL is not `https://` or whose
    host is not on the tenant's egress allowlist (the tenant policy's `egress_hosts`;
    `*.example.com` allows its subdomains).

    ## Why it matters
    A webhook sends what callers said, and the tenant's secrets, to its host; a host
    the tenant chose freely could be the worker's own network (`localhost`, a cloud
    metadata address) or anyone's server. The worker checks again when the tool runs,
    after DNS, and refuses private addresses and redirects.

    ## Example
    ```json
    {"kind": "http", "name": "lookup", "url": "http://169.254.169.254/latest/meta-data"}
    ```
    """
    if not ctx.boundary.untrusted:
        return
    allowed = Allowlist(ctx.boundary.policy.egress_hosts)
    for k, tool in enumerate(ctx.written.tools):
        if not isinstance(tool, HttpTool):
            continue
        parts = urlsplit(tool.url)
        host = (parts.hostname or "").lower()
        if parts.scheme.lower() != "https":
            yield violation(("tools", k, "url"), "not_https", tool=tool.name, url=tool.url)
        elif "{{" not in host and not allowed.allows(host):
            kind = "address" if _is_address(host) else "host"
            tenant = ctx.boundary.tenant_id
            yield violation(("tools", k, "url"), kind, host=host, tool=tool.name, tenant=tenant)


def _is_address(host: str) -> bool:
    import ipaddress

    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _transfers(ctx: FlowContext) -> Iterator[tuple[Path, BuiltinTool]]:
    """Every transfer tool: defined ones where they are defined, a builtin used without
    a definition where it is used."""
    for k, tool in enumerate(ctx.written.tools):
        if isinstance(tool, BuiltinTool) and ctx.builtin_of(tool) == "transfer_call":
            yield ("tools", k), tool
    defined = {t.name for t in ctx.written.tools}
    if "transfer_call" in defined:
        return
    bare = BuiltinTool(name="transfer_call")
    for i, state in enumerate(ctx.written.agents):
        for j, name in enumerate(state.tools):
            if name == "transfer_call":
                yield ("agents", i, "tools", j), bare
    for _, edge, path in ctx.edges():
        if edge.action == "action" and (edge.tool or edge.name) == "transfer_call":
            yield ((*path, "tool") if edge.tool else (*path, "name")), bare


@rule("transfer-without-destination")
def transfer_without_destination(ctx: FlowContext) -> Iterator[Violation]:
    """
    ## What it does
    Reports a `transfer_call` tool without `transfer_to`, and `transfer_call` used in a
    state or edge without a tool definition that sets it.

    ## Why it matters
    The model never chooses where a call goes: a destination taken from the
    conversation would let any caller have the agent dial a premium-rate number or
    another company's desk. The flow names the destination, or a short list the model
    chooses from.

    ## Example
    ```json
    {"agents": [{"name": "Desk", "instructions": "...", "tools": ["transfer_call"]}]}
    ```

    ## Instead
    ```json
    {"tools": [{"kind": "builtin", "name": "transfer_call",
                "description": "Transfer the caller to the front desk",
                "transfer_to": "+15550100"}]}
    ```
    """
    for path, tool in _transfers(ctx):
        if tool.transfer_to is None:
            yield violation(path, tool=tool.name)


@rule("transfer-not-granted")
def transfer_not_granted(ctx: FlowContext) -> Iterator[Violation]:
    """
    ## What it does
    In a tenant's flow, reports a `transfer_to` destination that is not among the
    tenant policy's `transfer_to`.

    ## Why it matters
    Transfers are calls the operator places and pays for, on the operator's SIP
    trunk: which numbers a tenant may reach is the operator's decision.

    ## Example
    ```json
    {"kind": "builtin", "name": "transfer_call", "transfer_to": "+19005550199"}
    ```
    """
    if not ctx.boundary.untrusted:
        return
    allowed = ctx.boundary.policy.transfer_to
    for path, tool in _transfers(ctx):
        declared = tool.transfer_to
        destinations = [declared] if isinstance(declared, str) else list(declared or [])
        for j, to in enumerate(destinations):
            if to not in allowed:
                where = (
                    (*path, "transfer_to", j)
                    if isinstance(declared, list)
                    else (*path, "transfer_to")
                )
                tenant = ctx.boundary.tenant_id
                yield violation(where, tool=tool.name, destination=to, tenant=tenant)
