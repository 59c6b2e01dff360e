"""What the store returns: plain, frozen msgspec structs, the same for every backend.

Times are Unix seconds (floats) from the store's injected clock. JSON documents the
store keeps for others (a tenant's routing, a session's routing decision, audit
details) come back decoded.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from types import EllipsisType
from typing import Any, Literal, TypedDict

import msgspec

from flowctl.engine.boundary import TenantPolicy
from flowctl.engine.extends import TemplateRef
from flowctl.engine.knowledge.documents import DocumentFormat
from flowctl.engine.store.errors import StoreError

__all__ = [
    "ABANDONED",
    "AbandonedSession",
    "ApiKey",
    "AuditEntry",
    "Callback",
    "CallbackStatus",
    "CallerMemory",
    "Delivery",
    "Document",
    "DocumentInfo",
    "DocumentPut",
    "DocumentRevision",
    "Expected",
    "FlowInfo",
    "Forgotten",
    "KnowledgeBase",
    "Lease",
    "Outbound",
    "Publication",
    "PushResult",
    "Remembered",
    "SecretInfo",
    "SessionInfo",
    "SessionStart",
    "StoredFinding",
    "TemplateInfo",
    "TemplatePushResult",
    "TemplateRef",
    "TemplateUse",
    "TemplateVersion",
    "TemplateVersionInfo",
    "Tenant",
    "TenantSettings",
    "Version",
    "VersionInfo",
    "Webhook",
    "check_options",
    "version_name",
]


class TenantSettings(TypedDict, total=False):
    """What a new tenant may be given besides its id (``Store.create_tenant``); each
    is optional."""

    name: str  # for people; default ""
    routing: Any  # its routing document (docs/routing.md); default: none
    max_concurrent_sessions: int | None  # default: no limit
    policy: TenantPolicy | None  # the operator's grants; default: nothing granted
    memory_days: int | None  # days callers' memory is kept at most; default: as flows say


class SessionStart(TypedDict, total=False):
    """How a session is recorded besides its flow and version (``start_session``)."""

    session_id: str | None  # default: a new random id
    routing: Any  # the routing decision that chose the flow, as JSON data
    lease: Lease | None  # who runs it, renewing it (``Store.renew``); default: none, never reaped
    caller: str | None  # who is calling (a phone number, a user id): what `forget_caller` finds


def check_options(function: str, given: Mapping[str, Any], accepted: type) -> None:
    """Refuse a keyword ``accepted`` (a TypedDict) does not define, as Python refuses an
    unknown keyword argument: ``**options`` would otherwise take a misspelt one."""
    unknown = sorted(set(given) - set(accepted.__annotations__))
    if unknown:
        raise TypeError(f"{function}() got an unexpected keyword argument {unknown[0]!r}")


class _Record(msgspec.Struct, frozen=True, kw_only=True):
    """Records are values: frozen, built by keyword (each subclass says `kw_only` again:
    msgspec applies it per class), compared in tests with ``==``."""


class Tenant(_Record, kw_only=True, frozen=True):
    tenant_id: str
    name: str = ""
    # The tenant's routing document (its format belongs to the router), or None.
    routing: Any = None
    max_concurrent_sessions: int | None = None
    # What the operator grants the tenant's flows (engine/boundary.py).
    policy: TenantPolicy = msgspec.field(default_factory=TenantPolicy)
    # Days its callers' memory is kept at most (None: as long as its flows say).
    memory_days: int | None = None
    created_at: float
    updated_at: float


class SecretInfo(_Record, kw_only=True, frozen=True):
    """A tenant's secret as the store shows it: its name and when it changed, never
    its value."""

    name: str
    created_at: float
    updated_at: float
    updated_by: str


class StoredFinding(_Record, kw_only=True, frozen=True, omit_defaults=True):
    """A lint finding as kept with a version: enough to print it without the rules.
    ``file`` names the template version it is in (``shared:clinic_desk@v2``), when
    what it is about was written there; None (left out of its JSON): the version's own
    document."""

    code: str
    severity: Literal["error", "warning"]
    message: str  # with its path, as `flowctl lint` prints it
    row: int
    column: int
    file: str | None = None


# What a move of the published pointer expects to be published now (its optimistic
# check): a version, None for "nothing is", or ``...`` (the default) for no check.
Expected = int | EllipsisType | None


def version_name(version: int | None) -> str:
    """How messages name a version number: ``v3``, or ``no version`` (None)."""
    return "no version" if version is None else f"v{version}"


class VersionInfo(_Record, kw_only=True, frozen=True):
    flow_id: str
    version: int
    hash: str  # sha256 of the document's canonical form (and its template's), documents.py
    author: str
    created_at: float
    errors: int  # error-level findings: a version with any cannot be published
    warnings: int
    # The template version the document was resolved against when pushed (None: it
    # extends none): what the version runs, whatever that template publishes later.
    template: TemplateRef | None = None


class Version(VersionInfo, kw_only=True, frozen=True):
    """A version with its document (as pushed) and its lint findings."""

    document: str
    findings: list[StoredFinding] = []


class TemplateInfo(_Record, kw_only=True, frozen=True):
    """A template: the tenant's own, or the operator's (``shared``), with its latest
    version and the published one, which flows pushed from now on are resolved
    against."""

    template_id: str
    shared: bool = False
    latest: int
    published: int | None = None
    published_at: float | None = None
    created_at: float


class TemplateVersionInfo(_Record, kw_only=True, frozen=True):
    """A template version; ``template``: the template version it extends, pinned when
    it was pushed."""

    template_id: str
    shared: bool = False
    version: int
    hash: str
    author: str
    created_at: float
    errors: int  # error-level findings (linted as a template): it cannot be published
    warnings: int
    template: TemplateRef | None = None

    @property
    def ref(self) -> TemplateRef:
        return TemplateRef(template_id=self.template_id, version=self.version, shared=self.shared)


class TemplateVersion(TemplateVersionInfo, kw_only=True, frozen=True):
    """A template version with its document (as pushed) and its lint findings."""

    document: str
    findings: list[StoredFinding] = []


class TemplatePushResult(_Record, kw_only=True, frozen=True):
    """``created`` is False when the document (and what it extends) is a version already."""

    version: TemplateVersionInfo
    created: bool


class TemplateUse(_Record, kw_only=True, frozen=True):
    """A version of one of the tenant's flows and the template version it runs on;
    ``published``: it is the flow's published version."""

    flow_id: str
    version: int
    published: bool
    template: TemplateRef


class PushResult(_Record, kw_only=True, frozen=True):
    """``created`` is False when the document's hash matched an existing version."""

    version: VersionInfo
    created: bool


class FlowInfo(_Record, kw_only=True, frozen=True):
    """A flow: its latest and published versions, and whether new sessions may be
    routed to it (``enabled``): not when it is disabled (``disabled_at``, ``flowctl
    store disable``) or its published version says ``"enabled": false``."""

    flow_id: str
    latest: int
    published: int | None = None
    published_at: float | None = None
    created_at: float
    enabled: bool = True
    disabled_at: float | None = None


# How a flow's published pointer moves (``Publication.action``).
Move = Literal["publish", "rollback", "unpublish"]


class Publication(_Record, kw_only=True, frozen=True):
    """One move of a flow's published pointer; ``seq`` counts them per flow from 1, and
    ``previous`` is the version it replaced (None when nothing was published). An
    ``unpublish`` moves it to no version (``version`` is None)."""

    flow_id: str
    seq: int
    version: int | None
    previous: int | None
    action: Move
    actor: str
    at: float


class SessionInfo(_Record, kw_only=True, frozen=True):
    session_id: str
    flow_id: str
    version: int
    routing: Any = None  # the routing decision that chose this flow version, and why
    started_at: float
    ended_at: float | None = None
    end_reason: str | None = None
    events: int = 0
    summary: Any = None  # what the call came to (engine/summary.py), once it ended
    evaluation: Any = None  # how it did against its flow's `evaluation` (engine/evaluation.py)


class Webhook(_Record, kw_only=True, frozen=True):
    """A tenant's subscription: where its calls' events are posted, and which. The
    signing secret is shown once, when it is made (``create_webhook``)."""

    webhook_id: str
    url: str
    events: list[str]
    created_at: float
    created_by: str


class Delivery(_Record, kw_only=True, frozen=True):
    """One event for one subscription, in the outbox. ``delivery_id`` is the event id
    the receiver sees (``Flowctl-Event-Id``), the same on every attempt."""

    delivery_id: str
    webhook_id: str
    event: str
    session_id: str | None = None
    payload: Any = None
    created_at: float
    status: Literal["pending", "delivering", "delivered", "dead"] = "pending"
    attempts: int = 0
    next_at: float
    last_error: str | None = None
    delivered_at: float | None = None


class Outbound(_Record, kw_only=True, frozen=True):
    """A claimed delivery with what sending it takes: where, the secret to sign with,
    and the tenant's egress allowlist."""

    delivery: Delivery
    tenant_id: str
    url: str
    secret: str
    egress_hosts: tuple[str, ...]


# Where a callback is: waiting, claimed by someone, or closed (done or cancelled).
CallbackStatus = Literal["pending", "claimed", "done", "cancelled"]


# The ``end_reason`` of a session whose lease lapsed before it ended (``Store.reap``).
ABANDONED = "abandoned"


class Lease(_Record, kw_only=True, frozen=True):
    """Who runs a session, and for how long each renewal keeps it: the worker process
    running it (``holder``, e.g. ``host:pid:random``) renews every lease it holds
    (``Store.renew``) before ``seconds`` pass. A session whose lease lapsed is not
    counted against its tenant's limit, and is closed as :data:`ABANDONED`
    (``Store.reap``): its worker died, or lost the store."""

    holder: str
    seconds: float

    def __post_init__(self) -> None:
        if not isinstance(self.holder, str) or not 0 < len(self.holder.strip()) <= 200:
            raise StoreError(f"A lease's holder is 1-200 characters, not `{self.holder}`")
        seconds = self.seconds
        if isinstance(seconds, bool) or not isinstance(seconds, int | float):
            raise StoreError(f"A lease lasts a number of seconds, not `{seconds}`")
        if not (seconds > 0 and math.isfinite(seconds)):
            raise StoreError(f"A lease lasts more than 0 seconds, not `{seconds}`")


class AbandonedSession(_Record, kw_only=True, frozen=True):
    """A session :meth:`Store.reap` closed as :data:`ABANDONED`: its lease, last held
    by ``holder``, lapsed at ``lease_until`` before it ended; ``ended_at`` is when it
    was reaped."""

    tenant_id: str
    session_id: str
    flow_id: str
    version: int
    holder: str
    started_at: float
    lease_until: float
    ended_at: float


class Callback(_Record, kw_only=True, frozen=True):
    """A callback the caller asked for (``schedule_callback``) or was promised when
    busy (``handle_is_busy``), in session ``session_id``: who to call (``caller``, when
    the session knew), ``when`` and ``reason`` in the caller's words, and the tool's
    other arguments (``details``). Claimed by one person (``claimed_by``), then done or
    cancelled (``closed_by``)."""

    callback_id: int
    session_id: str
    caller: str | None = None
    when: str | None
    reason: str | None = None
    details: dict[str, Any] = {}
    busy: bool = False
    requested_at: float
    status: CallbackStatus = "pending"
    claimed_by: str | None = None
    claimed_at: float | None = None
    closed_by: str | None = None
    closed_at: float | None = None


class AuditEntry(_Record, kw_only=True, frozen=True):
    """One change: who (``actor``), what (``action`` on ``subject``), when (``at``)."""

    entry_id: int
    actor: str
    action: str
    subject: str
    detail: Any = None
    at: float


Role = Literal["admin", "developer", "viewer"]


class ApiKey(_Record, kw_only=True, frozen=True):
    """An API key of one tenant, without its secret (only its SHA-256 is stored).
    ``key_id`` is the key's public prefix (``fk_3f9a2c1b0d4e``): what listings and the
    audit log name it by."""

    key_id: str
    tenant_id: str
    role: Role
    name: str = ""
    created_at: float
    created_by: str
    revoked_at: float | None = None
    revoked_by: str | None = None


class CallerMemory(_Record, kw_only=True, frozen=True):
    """What a tenant remembers about one caller (``flowctl.engine.memory``): the values
    of the variables its flows mark to remember, the model's summary of a call, and
    how their last call went. Written when each of their calls ends; gone after
    ``expires_at`` (never loaded again, then purged)."""

    caller: str  # a phone caller's number, else the job's user id
    variables: dict[str, Any] = {}
    summary: str | None = None  # the last summary a flow had written
    outcome: str | None = None  # how their last call ended (its end reason)
    flow_id: str  # the flow of their last call
    session_id: str | None = None  # their last call's session, when it was recorded
    calls: int = 1  # calls remembered
    first_at: float  # when the first of them ended
    updated_at: float  # when the last of them ended
    expires_at: float


class Remembered(_Record, kw_only=True, frozen=True):
    """What one call adds to its caller's memory (``TenantStore.remember``): the values
    its flow remembers (``variables``; ``forget``: the ones it remembers that ended
    unset), the model's summary (None: keep the last one), how it ended, and the flow's
    ``ttl_days``."""

    flow_id: str
    session_id: str | None = None
    variables: dict[str, Any] = {}
    forget: list[str] = []
    summary: str | None = None
    outcome: str | None = None
    ttl_days: int | None = None


class Forgotten(_Record, kw_only=True, frozen=True):
    """What ``TenantStore.forget_caller`` deleted about a caller: their memory (whether
    there was one), their sessions (each with its events: transcript, variables, tool
    calls), their callbacks, and the webhook deliveries that carried those sessions."""

    caller: str
    memory: bool
    sessions: int
    callbacks: int
    deliveries: int


# --- knowledge bases (flowctl.engine.store.sql.knowledge) --------------------------------


class KnowledgeBase(_Record, kw_only=True, frozen=True):
    """A tenant's knowledge base: how many documents, chunks and bytes (of the current
    revisions) it holds, and when a document of it last changed. A base exists while
    it holds a document."""

    base: str
    documents: int
    chunks: int
    bytes: int
    updated_at: float


class DocumentInfo(_Record, kw_only=True, frozen=True):
    """A document of a knowledge base as it is now: its current ``revision`` (each
    replacement adds one; the store keeps every revision until the document is
    deleted), its format, the SHA-256 and size of its content, and the chunks indexed
    from it."""

    base: str
    name: str
    revision: int
    format: DocumentFormat
    hash: str
    bytes: int
    chunks: int
    created_at: float  # when its first revision was added
    updated_at: float
    updated_by: str


class DocumentRevision(_Record, kw_only=True, frozen=True):
    """One revision of a document: what was added, by whom, when."""

    revision: int
    format: DocumentFormat
    hash: str
    bytes: int
    author: str
    created_at: float


class Document(_Record, kw_only=True, frozen=True):
    """One revision of a document with its content, as it was added."""

    base: str
    name: str
    revision: int
    format: DocumentFormat
    hash: str
    bytes: int
    author: str
    created_at: float
    content: str


class DocumentPut(_Record, kw_only=True, frozen=True):
    """What adding or replacing a document did: ``changed`` is False when the content
    and format were those of its current revision (nothing was stored)."""

    document: DocumentInfo
    changed: bool
