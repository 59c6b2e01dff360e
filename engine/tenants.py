"""Tenants: who owns which flows, and how a tenant's jobs choose among them.

A tenant file lives in the ``tenants`` folder beside the flows
(``flows/tenants/<tenant_id>.json``)::

    {
      "tenant_id": "dynamic-co",
      "name": "Dynamic Co",
      "flows": ["support", "sales", "onboarding", "interview"],
      "purposes": {
        "support": "support",
        "trial": [{"flow": "onboarding", "weight": 50}, {"flow": "sales", "weight": 50}]
      },
      "rules": [{"when": "is_new_user", "flow": "onboarding"}],
      "default": "support",
      "limits": {"max_concurrent_sessions": 50}
    }

``flows`` lists the flows the tenant owns (flow ids: a flow's ``flow_id``, by default
its file name); every other field may name only those. Where ``purposes`` or
``default`` name a flow, a weighted list of variants may stand instead: an A/B split
(``engine/routing.py`` says how a user lands in one). ``docs/routing.md`` is the
reference.

Loading reports every problem of every file at its row and column, and checks the
files against each other and against the flows: a flow that does not exist, a flow
another tenant owns or whose ``customer_id`` names another tenant, a tenant id given
twice, a condition that does not parse.

A folder with no ``tenants`` folder (one team, a few flows) serves each flow as its own
tenant: the tenant is the flow's ``customer_id``, else its flow id, and owns the flows
that name it; a tenant owning one flow routes every job to it by default. One log line
(INFO) says so.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from pathlib import Path as FsPath
from typing import Annotated

import msgspec
from msgspec import Meta

from flowctl.engine.conditions import ConditionError, parse_condition
from flowctl.engine.errors import FlowReadError
from flowctl.engine.extends import TemplateLookup
from flowctl.engine.findings import Finding, did_you_mean
from flowctl.engine.load import is_flow_file, load_path, located, read_config
from flowctl.engine.source import Path, Source

__all__ = [
    "MAX_TENANT_BYTES",
    "FileCatalog",
    "FlowEntry",
    "Limits",
    "Rule",
    "Target",
    "Tenant",
    "TenantError",
    "Variant",
    "load_catalog",
]

logger = logging.getLogger(__name__)

# A tenant file is a few hundred bytes; a thousand purposes fit in a hundred kilobytes.
MAX_TENANT_BYTES = 1024 * 1024


class _Spec(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Same policy as the flow format (``engine/spec.py``): a tenant is a value shared by
    every job, and a typo such as ``purpose`` for ``purposes`` is an error with a
    did-you-mean, not a silently ignored key that sends every job to the default."""


TenantId = Annotated[str, Meta(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")]
FlowId = Annotated[str, Meta(min_length=1, max_length=256)]


class Variant(_Spec, frozen=True):
    """One arm of an A/B split: ``weight`` parts of the users get this flow (at
    ``version``, else the flow's current version)."""

    flow: FlowId
    weight: Annotated[int, Meta(ge=0, le=1_000_000)]
    version: Annotated[str, Meta(min_length=1)] | None = None


# Where a flow is chosen: its id, or an A/B split between variants.
Target = FlowId | Annotated[list[Variant], Meta(min_length=1)]


class Rule(_Spec, frozen=True):
    """When ``when`` (the engine's condition language, over the job's ``user_details``)
    holds, the job gets ``flow``."""

    when: Annotated[str, Meta(min_length=1, max_length=2000)]
    flow: FlowId


class Limits(_Spec, frozen=True):
    """What a tenant may use; enforced by the worker, not by routing."""

    max_concurrent_sessions: Annotated[int, Meta(ge=1)] | None = None


class Tenant(_Spec, kw_only=True, frozen=True):
    """A customer: the flows it owns and how its jobs choose among them."""

    tenant_id: TenantId
    name: str = ""
    flows: Annotated[list[FlowId], Meta(min_length=1)]
    purposes: dict[str, Target] = {}
    rules: list[Rule] = []
    default: Target | None = None
    limits: Limits = msgspec.field(default_factory=Limits)


class FlowEntry(msgspec.Struct, frozen=True, kw_only=True):
    """What routing knows of a flow: who owns it (``None``: nobody, so no job gets it),
    the version new sessions get, where to load it from (a file path here), and whether
    it may be routed to (``enabled``: the flow's own ``enabled``, or in a store also
    ``flowctl store disable``)."""

    flow_id: str
    tenant_id: str | None = None
    version: str | None = None
    location: str | None = None
    enabled: bool = True


class TenantError(FlowReadError):
    """Tenant files (or the flows they name) that cannot be used; ``problems`` lists
    each as ``file:row:col: message``."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class FileCatalog:
    """Tenants and flows read from a folder: the flow files in it (``*.json``, not in
    subfolders) and the tenant files in its ``tenants`` folder. Read once by
    :func:`load_catalog`; answers from memory, as routing needs."""

    __slots__ = ("flows", "tenants")

    def __init__(self, tenants: Mapping[str, Tenant], flows: Mapping[str, FlowEntry]) -> None:
        self.tenants = tenants
        self.flows = flows

    def tenant(self, tenant_id: str, /) -> Tenant | None:
        return self.tenants.get(tenant_id)

    def flow(self, flow_id: str, tenant_id: str | None = None, /) -> FlowEntry | None:
        return self.flows.get(flow_id)  # file flow ids are global; routing checks owners

    def __repr__(self) -> str:
        return f"FileCatalog(<{len(self.tenants)} tenants, {len(self.flows)} flows>)"


def load_catalog(
    flows_dir: FsPath,
    tenants_dir: FsPath | None = None,
    *,
    templates: TemplateLookup | None = None,
) -> FileCatalog:
    """The flows of ``flows_dir`` and the tenants of ``tenants_dir`` (default
    ``flows_dir/tenants``), checked against each other. Raises :class:`TenantError`
    listing every problem. Without ``tenants_dir`` and a ``tenants`` folder, each flow
    is its own tenant (see the module's docstring). ``templates``: where the templates
    the flows extend are (default: ``flows_dir/templates``); a template in
    ``flows_dir`` itself is no flow, and is passed over."""
    per_flow = tenants_dir is None and flows_dir.is_dir() and not (flows_dir / "tenants").exists()
    tenants_dir = flows_dir / "tenants" if tenants_dir is None else tenants_dir
    problems: list[str] = []
    flows = _read_flows(flows_dir, problems, templates)
    owners: dict[str, str] = {}
    tenants: dict[str, Tenant] = {}
    defined_in: dict[str, str] = {}
    if per_flow:
        tenants = _tenant_per_flow(flows, problems)
        owners = {flow_id: t.tenant_id for t in tenants.values() for flow_id in t.flows}
        if tenants:
            logger.info(
                "No `%s` folder: each flow is served as its own tenant (its customer_id, "
                "else its flow id): %s",
                tenants_dir,
                ", ".join(tenants),
            )
    for path in [] if per_flow else _json_files(tenants_dir, "tenant", problems):
        read = _read_tenant(path, problems)
        if read is None:
            continue
        source, tenant = read
        found = _cross_check(tenant, flows, owners, defined_in)
        defined_in.setdefault(tenant.tenant_id, source.filename)
        if found:
            problems.extend(located(source, found))
            continue
        tenants[tenant.tenant_id] = tenant
        owners.update(dict.fromkeys(tenant.flows, tenant.tenant_id))
    if problems:
        raise TenantError(problems)
    entries = {
        flow_id: FlowEntry(
            flow_id=flow_id,
            tenant_id=owners.get(flow_id),
            version=f.version,
            location=f.location,
            enabled=f.enabled,
        )
        for flow_id, f in flows.items()
    }
    return FileCatalog(tenants, entries)


class _FlowFile(msgspec.Struct, frozen=True):
    location: str
    version: str | None
    customer_id: str | None
    enabled: bool = True


def _tenant_per_flow(flows: Mapping[str, _FlowFile], problems: list[str]) -> dict[str, Tenant]:
    """A tenant for each ``customer_id`` (else flow id) of ``flows``, owning the flows
    that name it; its only flow is its default. An id that cannot be a tenant id is a
    problem."""
    owned: dict[str, list[str]] = {}
    for flow_id, flow in flows.items():
        owned.setdefault(flow.customer_id or flow_id, []).append(flow_id)
    tenants: dict[str, Tenant] = {}
    for tenant_id, flow_ids in sorted(owned.items()):
        default = flow_ids[0] if len(flow_ids) == 1 else None
        try:
            tenant = msgspec.convert(
                {"tenant_id": tenant_id, "flows": flow_ids, "default": default}, Tenant
            )
        except msgspec.ValidationError:
            problems.append(
                f"`{flows[flow_ids[0]].location}`: `{tenant_id}` cannot be a tenant id "
                "(letters, digits, `_`, `.` and `-`); give the flow a `customer_id`, or "
                "write a `tenants` folder"
            )
            continue
        tenants[tenant_id] = tenant
    return tenants


def _json_files(folder: FsPath, kind: str, problems: list[str]) -> list[FsPath]:
    if not folder.is_dir():
        problems.append(f"Cannot read `{folder}`: No such folder")
        return []
    found = sorted(p for p in folder.glob("*.json") if p.is_file())
    if kind == "flow":
        found = [p for p in found if is_flow_file(p)]
    if not found:
        problems.append(f"No {kind} files (`*.json`) in `{folder}`")
    return found


def _read_flows(
    flows_dir: FsPath, problems: list[str], templates: TemplateLookup | None
) -> dict[str, _FlowFile]:
    """Each flow file's id, version and declared customer; a file that does not decode
    is a problem (``flowctl lint`` shows the rest of what is wrong with it)."""
    if templates is None:
        from flowctl.engine.template_files import TemplateFolders

        templates = TemplateFolders([flows_dir / "templates"])
    flows: dict[str, _FlowFile] = {}
    for path in _json_files(flows_dir, "flow", problems):
        try:
            loaded = load_path(path, templates=templates)
        except FlowReadError as exc:
            problems.append(str(exc))
            continue
        if loaded.template:  # the flows extending it are the flows
            continue
        if loaded.flow is None:
            problems.extend(loaded.problems())
            continue
        flow_id = loaded.flow.flow_id or path.stem
        if flow_id in flows:
            other = flows[flow_id].location
            found = Finding("", f"Flow id `{flow_id}` is also the id of `{other}`", ("flow_id",))
            problems.extend(located(loaded.source, [found]))
            continue
        flow = loaded.flow
        flows[flow_id] = _FlowFile(str(path), flow.version, flow.customer_id, flow.enabled)
    return flows


def _read_tenant(path: FsPath, problems: list[str]) -> tuple[Source, Tenant] | None:
    return read_config(path, Tenant, "a tenant", MAX_TENANT_BYTES, problems)


def _cross_check(
    tenant: Tenant,
    flows: Mapping[str, _FlowFile],
    owners: Mapping[str, str],
    defined_in: Mapping[str, str],
) -> list[Finding]:
    """Problems of one decoded tenant against the flows and the tenants read before it."""
    tid = tenant.tenant_id
    if tid in defined_in:
        return [
            Finding("", f"Tenant `{tid}` is also defined in `{defined_in[tid]}`", ("tenant_id",))
        ]
    found: list[Finding] = []
    seen: set[str] = set()
    path: Path
    for i, flow_id in enumerate(tenant.flows):
        path = ("flows", i)
        flow = flows.get(flow_id)
        if flow_id in seen:
            found.append(Finding("", f"Flow `{flow_id}` is listed twice", path))
        elif flow is None:
            found.append(
                Finding("", f"Unknown flow `{flow_id}`{did_you_mean(flow_id, flows)}", path)
            )
        elif flow_id in owners:
            owner = owners[flow_id]
            message = (
                f"Flow `{flow_id}` is already owned by tenant `{owner}` (`{defined_in[owner]}`)"
            )
            found.append(Finding("", message, path))
        elif flow.customer_id is not None and flow.customer_id != tid:
            message = (
                f"Flow `{flow_id}` declares `customer_id` `{flow.customer_id}`; "
                f"it cannot belong to tenant `{tid}`"
            )
            found.append(Finding("", message, path))
        seen.add(flow_id)
    for path, flow_id, version in _targets(tenant):
        flow = flows.get(flow_id)
        if flow_id not in seen:
            if flow is None:
                hint = did_you_mean(flow_id, tenant.flows)
                found.append(Finding("", f"Unknown flow `{flow_id}`{hint}", path))
            else:
                message = f"Flow `{flow_id}` is not one of this tenant's `flows`"
                found.append(Finding("", message, path))
        elif version is not None and flow is not None and version != flow.version:
            held = f"version `{flow.version}`" if flow.version else "no `version`"
            message = f"Flow `{flow_id}` has no version `{version}` here: its file holds {held}"
            found.append(Finding("", message, (*path[:-1], "version")))
    for path, variants in _splits(tenant):
        if sum(v.weight for v in variants) == 0:
            message = "The weights of this split add up to 0; give a variant a positive weight"
            found.append(Finding("", message, path))
    for i, rule in enumerate(tenant.rules):
        try:
            parse_condition(rule.when)
        except ConditionError as exc:
            found.append(Finding("", f"Invalid condition: {exc}", ("rules", i, "when")))
    return found


def _splits(tenant: Tenant) -> Iterator[tuple[Path, list[Variant]]]:
    for purpose, target in tenant.purposes.items():
        if isinstance(target, list):
            yield ("purposes", purpose), target
    if isinstance(tenant.default, list):
        yield ("default",), tenant.default


def _targets(tenant: Tenant) -> Iterator[tuple[Path, str, str | None]]:
    """Every flow the tenant routes to: (its path, flow id, version asked for)."""
    for purpose, target in tenant.purposes.items():
        yield from _target(("purposes", purpose), target)
    for i, rule in enumerate(tenant.rules):
        yield ("rules", i, "flow"), rule.flow, None
    if tenant.default is not None:
        yield from _target(("default",), tenant.default)


def _target(path: Path, target: str | list[Variant]) -> Iterator[tuple[Path, str, str | None]]:
    if isinstance(target, str):
        yield path, target, None
        return
    for j, variant in enumerate(target):
        yield (*path, j, "flow"), variant.flow, variant.version
