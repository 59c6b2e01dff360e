"""What a worker serves: routing's catalog, and the compiled flow for each decision.

A :class:`FlowLibrary` answers routing's two lookups (it is an
``engine.routing.Catalog``), lists the flows it serves (so a worker can check their
providers' keys and load their VADs before it takes a job) and hands out the compiled
flow a routing decision names. :class:`FileLibrary` serves a folder (``flows/`` and its
``tenants/``); a store-backed library implements the same protocol over the store's
published versions and ``engine.cache.FlowCache``.

Loading a folder lints every flow some tenant owns and compiles it; a flow with an
error-level finding refuses the whole library (:class:`FlowInvalidError`, each finding
as ``file:row:col: FLnnn message``), so a worker never starts with a flow it could
not run. A flow no tenant owns is never served (routing refuses it), so it is neither
linted nor compiled here.

:func:`session_variables` picks the values a job's ``user_details`` supplies for the
flow's ``input`` variables.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path as FsPath
from typing import Any, Protocol

import msgspec

from engine.compile import CompiledFlow, compile_flow
from engine.errors import FlowError, FlowInvalidError
from engine.findings import Severity
from engine.routing import Catalog
from engine.tenants import FileCatalog, FlowEntry, Tenant, load_catalog

__all__ = [
    "FileLibrary",
    "FlowLibrary",
    "NotServed",
    "ServedFlow",
    "session_variables",
]


class NotServed(FlowError):
    """A routing decision names a flow or version this library does not hold."""

    exit_code = 1


class ServedFlow(msgspec.Struct, frozen=True, kw_only=True):
    """A flow a worker serves: who owns it, where it came from (a file, or
    ``tenant/flow@vN`` for a stored version, for messages), and its compiled form."""

    tenant_id: str
    flow_id: str
    version: str | None
    location: str
    compiled: CompiledFlow


class FlowLibrary(Catalog, Protocol):
    """Routing's catalog, the flows served, and the compiled flow of a decision."""

    def served(self) -> Sequence[ServedFlow]: ...

    async def compiled(self, tenant_id: str, flow_id: str, version: str | None) -> ServedFlow:
        """The flow routing chose; raises :class:`NotServed` when it is not here."""
        ...


class FileLibrary:
    """The flows and tenants of a folder, read, linted and compiled once."""

    __slots__ = ("_flows", "catalog")

    def __init__(self, catalog: FileCatalog, flows: Mapping[str, ServedFlow]) -> None:
        self.catalog = catalog
        self._flows = dict(flows)

    @classmethod
    def load(cls, flows_dir: FsPath, tenants_dir: FsPath | None = None) -> FileLibrary:
        """Read the folder (see ``engine.tenants.load_catalog``), then lint and compile
        every flow a tenant owns. Raises ``TenantError`` for tenant files that cannot be
        used, :class:`FlowInvalidError` listing every error-level finding of every flow."""
        from engine.lint import check
        from engine.load import load_path

        catalog = load_catalog(flows_dir, tenants_dir)
        flows: dict[str, ServedFlow] = {}
        problems: list[str] = []
        for entry in catalog.flows.values():
            if entry.tenant_id is None or entry.location is None:
                continue
            loaded = load_path(FsPath(entry.location))  # read by load_catalog a moment ago
            errors = [x for x in check(loaded) if x.rule.severity is Severity.ERROR]
            if errors or loaded.flow is None:
                problems.extend(
                    f"{loaded.filename}:{x.span.row}:{x.span.column}: "
                    f"{x.finding.code} {x.finding.text}"
                    for x in errors
                )
                continue
            flows[entry.flow_id] = ServedFlow(
                tenant_id=entry.tenant_id,
                flow_id=entry.flow_id,
                version=entry.version,
                location=entry.location,
                compiled=compile_flow(loaded.flow, check=False),  # lint just ran
            )
        if problems:
            count = f"{len(problems)} error{'s' if len(problems) != 1 else ''}"
            raise FlowInvalidError(
                f"{count} in the flows to serve; fix them first:\n" + "\n".join(problems)
            )
        return cls(catalog, flows)

    def tenant(self, tenant_id: str, /) -> Tenant | None:
        return self.catalog.tenant(tenant_id)

    def flow(self, flow_id: str, tenant_id: str | None = None, /) -> FlowEntry | None:
        return self.catalog.flow(flow_id, tenant_id)

    def served(self) -> Sequence[ServedFlow]:
        return list(self._flows.values())

    async def compiled(self, tenant_id: str, flow_id: str, version: str | None) -> ServedFlow:
        served = self._flows.get(flow_id)
        if served is None or served.tenant_id != tenant_id:
            raise NotServed(f"Flow `{flow_id}` of tenant `{tenant_id}` is not served here")
        if version is not None and version != served.version:
            held = f"version `{served.version}`" if served.version else "no version"
            raise NotServed(f"Flow `{flow_id}` has no version `{version}` here (it holds {held})")
        return served

    def __repr__(self) -> str:
        return f"FileLibrary(<{len(self.catalog.tenants)} tenants, {len(self._flows)} flows>)"


def session_variables(
    compiled: CompiledFlow, details: Mapping[str, Any]
) -> tuple[dict[str, Any], list[str]]:
    """The values ``details`` (a job's ``user_details``) gives the flow's ``input``
    variables, converted to their declared types, and a problem for each value that
    does not fit (it is left out: the session starts without it). Other keys of
    ``details`` are the frontend's own data and are not variables."""
    values: dict[str, Any] = {}
    problems: list[str] = []
    for name, variable in compiled.flow.variables.items():
        if not variable.input or name not in details or details[name] is None:
            continue
        try:
            values[name] = msgspec.convert(
                details[name], compiled.variable_types[name], strict=False
            )
        except msgspec.ValidationError as exc:
            problems.append(f"`user_details.{name}` does not fit variable `{name}`: {exc}")
    return values, problems
