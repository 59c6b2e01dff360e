"""What a worker serves: routing's catalog, and the compiled flow for each decision.

A :class:`FlowLibrary` answers routing's two lookups (it is an
``flowctl.engine.routing.Catalog``), lists the flows it serves (so a worker can check their
providers' keys and load their VADs before it takes a job) and those it cannot serve,
and hands out the compiled flow a routing decision names, and where its knowledge tools
search. :class:`FileLibrary` serves a folder (``flows/``, its ``tenants/`` and its
``knowledge/``): the operator's own flows. The store's library
(``flowctl.worker.store_flows.StoreLibrary``) serves tenants' flows: each :class:`ServedFlow`
then carries its tenant's :class:`~flowctl.engine.boundary.Boundary`, secrets and egress
policy, and runs only in its tenant's rooms (:meth:`ServedFlow.check_room`).

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
from typing import TYPE_CHECKING, Any, Literal, Protocol

import msgspec

from flowctl.engine.boundary import OPERATOR, Boundary, Secrets, ToolCatalog, room_refusal
from flowctl.engine.compile import CompiledFlow, compile_flow
from flowctl.engine.egress import EgressPolicy
from flowctl.engine.errors import FlowError, FlowInvalidError
from flowctl.engine.findings import Severity
from flowctl.engine.routing import Catalog
from flowctl.engine.tenants import FileCatalog, FlowEntry, Tenant, load_catalog

if TYPE_CHECKING:
    from flowctl.engine.evaluation import CallEvaluation
    from flowctl.engine.knowledge.files import FileKnowledge
    from flowctl.engine.knowledge.retrieval import Retriever
    from flowctl.engine.memory import MemoryBank
    from flowctl.engine.runtime import Conversation
    from flowctl.engine.summary import CallSummary

__all__ = [
    "FileLibrary",
    "FlowLibrary",
    "NotServed",
    "ServedFlow",
    "SessionRecord",
    "UnservableFlow",
    "session_variables",
]


class NotServed(FlowError):
    """A routing decision names a flow or version this library does not hold."""

    exit_code = 1


class ServedFlow(msgspec.Struct, frozen=True, kw_only=True):
    """A flow a worker serves: who owns it, where it came from (a file, or
    ``tenant/flow@vN`` for a stored version, for messages), and its compiled form.

    A tenant's flow (``boundary.untrusted``) also carries what its calls may reach:
    ``secrets``, the tenant's values (what its http headers and provider keys read; never
    the process environment), and ``egress``, where its http tools may connect. An
    operator's flow has neither: the environment, and anywhere."""

    tenant_id: str
    flow_id: str
    version: str | None
    location: str
    compiled: CompiledFlow
    boundary: Boundary = OPERATOR
    secrets: Secrets | None = None
    egress: EgressPolicy | None = None

    @property
    def tool_env(self) -> Secrets | None:
        """What ``${NAME}`` in the flow's http headers reads: a tenant's secrets (none
        at all when unknown), None for an operator's flow (the process environment)."""
        if not self.boundary.untrusted:
            return None
        return self.secrets if self.secrets is not None else Secrets(self.tenant_id, {})

    def check_room(self, room: str | None) -> None:
        """Raise :class:`NotServed` when a tenant's flow would run in ``room`` (None:
        unknown) outside the tenant's namespace (``<tenant_id>:<name>``); an operator's
        flow runs in any room."""
        refusal = room_refusal(self.tenant_id, room)
        if self.boundary.untrusted and refusal is not None:
            raise NotServed(f"{refusal}; not serving flow `{self.flow_id}` there")


class UnservableFlow(msgspec.Struct, frozen=True, kw_only=True):
    """A published flow a worker cannot serve, and why (``problems``, one line each:
    lint's findings under the tenant's policy, a provider the worker does not run, a
    key it cannot have, a tool whose function does not import). Calls routed to it are
    refused with :attr:`reason`; every other flow is served."""

    tenant_id: str
    flow_id: str
    version: str
    location: str
    problems: list[str]

    @property
    def reason(self) -> str:
        return (
            f"Flow `{self.flow_id}` v{self.version} of tenant `{self.tenant_id}` cannot be "
            f"served: {'; '.join(self.problems)}"
        )


class FlowLibrary(Catalog, Protocol):
    """Routing's catalog, the flows served (and those that cannot be), and the compiled
    flow of a decision."""

    def served(self) -> Sequence[ServedFlow]: ...

    def unservable(self) -> Sequence[UnservableFlow]:
        """Published flows the library holds but cannot serve, as of its last read."""
        ...

    async def compiled(self, tenant_id: str, flow_id: str, version: str | None) -> ServedFlow:
        """The flow routing chose; raises :class:`NotServed` when it is not here."""
        ...

    async def record(
        self, served: ServedFlow, conversation: Conversation, routing: Any
    ) -> SessionRecord | None:
        """Start recording a session of ``served`` (``routing``: the decision, as JSON
        data), or None where sessions are not recorded (a folder's flows). A library
        that records may refuse the session here with :class:`NotServed` (a tenant's
        session limit, say)."""
        ...

    def retriever(self, served: ServedFlow) -> Retriever | None:
        """Where the knowledge tools of a session of ``served`` search: its tenant's own
        bases and no other's (a store's), the folder's (``knowledge/<base>/``), or
        None where there are none. Called after :meth:`compiled` served the flow."""
        ...

    async def memory(self, tenant_id: str) -> MemoryBank | None:
        """Where the tenant's callers are remembered (``flowctl.engine.memory``), or None
        where nothing is kept between calls (a folder's flows)."""
        ...


class SessionRecord(Protocol):
    """Where a running session's record goes: the conversation's history as it grows,
    the transcript, how the call ended and what it came to, and how it did against its
    flow's evaluation."""

    def said(self, role: Literal["user", "agent"], text: str) -> None:
        """A transcript line, after what the engine logged so far."""
        ...

    async def flush(self) -> None:
        """Write what is pending (at the end of every turn)."""
        ...

    async def close(self, reason: str, *, summary: CallSummary | None = None) -> None:
        """Write the rest and mark the session ended with ``reason`` and ``summary``
        (None: summarized from the conversation, ``flowctl.engine.summary``)."""
        ...

    async def evaluated(self, evaluation: CallEvaluation) -> None:
        """Keep how the call did against its flow's ``evaluation`` (once it ended)."""
        ...


class FileLibrary:
    """The flows and tenants of a folder, read, linted and compiled once; and its
    knowledge bases (``knowledge/<base>/``: the documents of each base, indexed in
    memory on the first search; every flow of the folder, the operator's own, reads
    them)."""

    __slots__ = ("_flows", "catalog", "knowledge")

    def __init__(
        self,
        catalog: FileCatalog,
        flows: Mapping[str, ServedFlow],
        knowledge: FileKnowledge | None = None,
    ) -> None:
        self.catalog = catalog
        self._flows = dict(flows)
        self.knowledge = knowledge

    @classmethod
    def load(
        cls,
        flows_dir: FsPath,
        tenants_dir: FsPath | None = None,
        *,
        tools: ToolCatalog | None = None,
        templates: Sequence[FsPath] = (),
    ) -> FileLibrary:
        """Read the folder (see ``flowctl.engine.tenants.load_catalog``), then lint and compile
        every flow a tenant owns, as the operator's own flows (``tools``: the operator's
        catalog, which their catalog tools name; ``templates``: the folders of the
        templates they extend, by default ``flows_dir/templates``). Raises
        ``TenantError`` for tenant files that cannot be used, :class:`FlowInvalidError`
        listing every error-level finding of every flow (each in the file, a flow's or a
        template's, that causes it)."""
        from flowctl.engine.lint import check
        from flowctl.engine.load import load_path
        from flowctl.engine.template_files import TemplateFolders

        boundary = OPERATOR.with_catalog(tools)
        lookup = TemplateFolders(templates or [flows_dir / "templates"])
        catalog = load_catalog(flows_dir, tenants_dir, templates=lookup)
        flows: dict[str, ServedFlow] = {}
        problems: list[str] = []
        for entry in catalog.flows.values():
            if entry.tenant_id is None or entry.location is None:
                continue
            # read by load_catalog a moment ago
            loaded = load_path(FsPath(entry.location), templates=lookup)
            errors = [
                x for x in check(loaded, boundary=boundary) if x.rule.severity is Severity.ERROR
            ]
            if errors or loaded.flow is None:
                problems.extend(
                    f"{x.filename or loaded.filename}:{x.span.row}:{x.span.column}: "
                    f"{x.finding.code} {x.finding.text}"
                    for x in errors
                )
                continue
            flows[entry.flow_id] = ServedFlow(
                tenant_id=entry.tenant_id,
                flow_id=entry.flow_id,
                version=entry.version,
                location=entry.location,
                compiled=compile_flow(loaded.flow, check=False, boundary=boundary),  # linted
            )
        if problems:
            count = f"{len(problems)} error{'s' if len(problems) != 1 else ''}"
            raise FlowInvalidError(
                f"{count} in the flows to serve; fix them first:\n" + "\n".join(problems)
            )
        return cls(catalog, flows, _folder_knowledge(flows_dir / "knowledge"))

    def tenant(self, tenant_id: str, /) -> Tenant | None:
        return self.catalog.tenant(tenant_id)

    def flow(self, flow_id: str, tenant_id: str | None = None, /) -> FlowEntry | None:
        return self.catalog.flow(flow_id, tenant_id)

    def served(self) -> Sequence[ServedFlow]:
        return list(self._flows.values())

    def unservable(self) -> Sequence[UnservableFlow]:
        return ()  # a folder with a flow it cannot serve does not load

    async def compiled(self, tenant_id: str, flow_id: str, version: str | None) -> ServedFlow:
        served = self._flows.get(flow_id)
        if served is None or served.tenant_id != tenant_id:
            raise NotServed(f"Flow `{flow_id}` of tenant `{tenant_id}` is not served here")
        if version is not None and version != served.version:
            held = f"version `{served.version}`" if served.version else "no version"
            raise NotServed(f"Flow `{flow_id}` has no version `{version}` here (it holds {held})")
        return served

    async def record(
        self, served: ServedFlow, conversation: Conversation, routing: Any
    ) -> SessionRecord | None:
        return None  # a folder's sessions are the operator's logs' business, not a store's

    def retriever(self, served: ServedFlow) -> Retriever | None:
        return self.knowledge

    async def memory(self, tenant_id: str) -> MemoryBank | None:
        return None  # calls of a folder's flows keep nothing; a store remembers callers

    def __repr__(self) -> str:
        return f"FileLibrary(<{len(self.catalog.tenants)} tenants, {len(self._flows)} flows>)"


def _folder_knowledge(folder: FsPath) -> FileKnowledge | None:
    """The knowledge bases of a flows folder: each folder under ``knowledge/`` is one,
    its documents read now (None: there are none)."""
    if not folder.is_dir():
        return None
    from flowctl.engine.knowledge.files import FileKnowledge

    bases = {p.name: [p] for p in sorted(folder.iterdir()) if p.is_dir()}
    hint = f"; put its documents in `{folder}/<base>/`"
    return FileKnowledge(bases, hint=hint) if bases else None


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
