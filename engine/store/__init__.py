"""The store: tenants, flows with immutable versions and a published pointer, recorded
sessions, callbacks, what is remembered about callers, knowledge bases and an audit log,
behind two small protocols.

:class:`Store` is the whole database; it hands out one :class:`TenantStore` per tenant
(``store.tenant("acme")``), and every read or write of flows, versions, sessions and
callbacks goes through such a handle, so it can only touch that tenant's rows. Another
tenant's flow or session is :class:`NotFound`, worded exactly as one that does not
exist. The one read across tenants is the admin listing, :meth:`Store.list_tenants`;
every tenant reads the operator's shared templates beside its own;
the writes across tenants are a worker's: renewing the leases of the sessions it runs,
whoever's they are (:meth:`Store.renew`), and closing those whose lease lapsed
(:meth:`Store.reap`).

``open_store(url)`` picks the implementation from the URL's scheme: SQLite (a file in
WAL mode, ``flowctl.engine.store.sqlite``: one host, the default) or PostgreSQL
(``flowctl.engine.store.postgres``: many hosts). Both run the same statements
(``flowctl.engine.store.sql``). What does not depend on the database (hashing, lint,
event encoding, the records returned) lives beside them in
``flowctl.engine.store.documents``, ``events`` and ``records``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol, Self, Unpack
from urllib.parse import parse_qsl, urlsplit

from flowctl.engine.defaults import STORE_URL
from flowctl.engine.store import errors
from flowctl.engine.store.errors import *  # noqa: F403 - re-exported below, as errors.__all__
from flowctl.engine.store.errors import StoreError
from flowctl.engine.store.events import SessionEvent, Turn
from flowctl.engine.store.records import (
    ABANDONED,
    AbandonedSession,
    ApiKey,
    AuditEntry,
    Callback,
    CallbackStatus,
    CallerMemory,
    Delivery,
    Document,
    DocumentInfo,
    DocumentPut,
    DocumentRevision,
    Expected,
    FlowInfo,
    Forgotten,
    KnowledgeBase,
    Lease,
    Outbound,
    Publication,
    PushResult,
    Remembered,
    SecretInfo,
    SessionInfo,
    SessionStart,
    StoredFinding,
    TemplateInfo,
    TemplatePushResult,
    TemplateRef,
    TemplateUse,
    TemplateVersion,
    TemplateVersionInfo,
    Tenant,
    TenantSettings,
    Version,
    VersionInfo,
    Webhook,
)

if TYPE_CHECKING:
    from flowctl.engine.boundary import Boundary, TenantPolicy, ToolCatalog
    from flowctl.engine.knowledge.retrieval import Passage
    from flowctl.engine.runtime import Event
    from flowctl.engine.store.documents import Prepared

__all__ = [
    "ABANDONED",
    "DEFAULT_URL",
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
    "FlowInfo",
    "Forgotten",
    "KnowledgeBase",
    "Lease",
    "Outbound",
    "Publication",
    "PushResult",
    "Remembered",
    "RoutingValidator",
    "SecretInfo",
    "SessionEvent",
    "SessionInfo",
    "Store",
    "StoredFinding",
    "TemplateInfo",
    "TemplatePushResult",
    "TemplateRef",
    "TemplateShelf",
    "TemplateUse",
    "TemplateVersion",
    "TemplateVersionInfo",
    "Tenant",
    "TenantStore",
    "Turn",
    "Version",
    "VersionInfo",
    "Webhook",
    "open_store",
]
# The store's exceptions, as their module lists them (it draws their tree).
__all__ += errors.__all__

DEFAULT_URL = STORE_URL

# Checks a tenant's routing document (decoded JSON) before it is stored; raises
# ValueError with a message for the user. The router module plugs its own in.
RoutingValidator = Callable[[Any], None]


class TenantStore(Protocol):
    """One tenant's view of the store. Methods that change something take ``actor``
    (who, for the audit log); versions are numbered 1, 2, 3... per flow."""

    @property
    def tenant_id(self) -> str: ...

    # --- the tenant itself ------------------------------------------------------------
    async def info(self) -> Tenant: ...
    async def set_routing(self, routing: Any, *, actor: str) -> Tenant: ...
    async def set_limits(self, *, max_concurrent_sessions: int | None, actor: str) -> Tenant: ...
    async def set_policy(self, policy: TenantPolicy | None, *, actor: str) -> Tenant:
        """Replace what the operator grants the tenant's flows (None: nothing)."""
        ...

    async def set_retention(self, *, memory_days: int | None, actor: str) -> Tenant:
        """Keep each caller's memory at most ``memory_days`` after their last call (None:
        as long as the flow's ``ttl_days`` says, else a year). A shorter cap applies at
        once to what is kept."""
        ...

    async def boundary(self) -> Boundary:
        """What the tenant's flows are held to: its policy, the names of its secrets and
        the store's tool catalog (``flowctl.engine.boundary``)."""
        ...

    # --- secrets (write-only: names are listed, values only reach the worker) ---------
    async def secrets(self) -> list[SecretInfo]: ...
    async def set_secret(self, name: str, value: str, *, actor: str) -> SecretInfo: ...
    async def delete_secret(self, name: str, *, actor: str) -> None: ...
    async def secret_values(self) -> dict[str, str]: ...

    # --- flows, versions, publishing ----------------------------------------------------
    async def push(
        self, prepared: Prepared, *, actor: str, flow_id: str | None = None
    ) -> PushResult:
        """Store a prepared document (``documents.prepare_for``: linted as the tenant's
        flow, its flow id and hash worked out) as the flow's next version, as it is: the
        store never lints. A version with the same content hash is returned instead
        (``created=False``). ``flow_id``, if given, must be the document's own; past the
        policy's quotas it is refused with :class:`QuotaExceeded`. Raw bytes or text:
        ``documents.push_document``."""
        ...

    async def flows(self) -> list[FlowInfo]: ...
    async def versions(self, flow_id: str) -> list[VersionInfo]: ...
    async def version(self, flow_id: str, version: int | None = None) -> Version:
        """One version with its document and findings; None: the published one."""
        ...

    async def published(self, flow_id: str) -> int | None:
        """The published version's number (None: none yet): the worker's hot path."""
        ...

    async def publish(
        self, flow_id: str, version: int, *, actor: str, expected_current: Expected = ...
    ) -> Publication:
        """Point the flow at ``version`` (lint-clean only), atomically. With
        ``expected_current`` (a version, or None for "nothing published yet"), refuse
        with :class:`StoreConflict` when the pointer has moved since it was read."""
        ...

    async def rollback(
        self, flow_id: str, *, actor: str, to: int | None = None, expected_current: Expected = ...
    ) -> Publication:
        """Republish an earlier version: ``to``, or by default the newest version
        below the current one that was published before."""
        ...

    async def unpublish(
        self, flow_id: str, *, actor: str, expected_current: Expected = ...
    ) -> Publication:
        """Take the flow out of service: no version for new sessions (running ones keep
        theirs); versions and history stay, and publishing brings it back."""
        ...

    async def history(self, flow_id: str) -> list[Publication]: ...

    # --- templates (flowctl.engine.extends; flowctl.engine.store.sql.templates) -----------
    async def push_template(self, prepared: Prepared, *, actor: str) -> TemplatePushResult:
        """Store a prepared template (``documents.push_template_document``) as the
        tenant's own template's next version; the same content (and pinned template)
        again is the version it already is (``created=False``). Counts against the
        tenant's quotas as a flow version does."""
        ...

    async def publish_template(self, template_id: str, version: int, *, actor: str) -> TemplateInfo:
        """Make ``version`` (lint-clean only) of the tenant's own template the one flows
        pushed from now on are resolved against; flows pushed before keep theirs."""
        ...

    async def templates(self) -> list[TemplateInfo]:
        """The templates the tenant's flows may extend: its own, then the operator's
        shared ones (``shared``)."""
        ...

    async def template_versions(
        self, template_id: str, *, shared: bool = False
    ) -> list[TemplateVersionInfo]:
        """Every version of the tenant's own template (``shared``: of the operator's)."""
        ...

    async def template(
        self, template_id: str, version: int | None = None, *, shared: bool = False
    ) -> TemplateVersion:
        """One version of the tenant's own template (``shared``: of the operator's) with
        its document; None: the published one."""
        ...

    async def template_usage(self) -> list[TemplateUse]:
        """Every version of the tenant's flows that extends a template, with the
        template version it pinned, by flow and version."""
        ...

    async def disable(self, flow_id: str, *, actor: str) -> FlowInfo:
        """Route no job to the flow (whatever is published) until :meth:`enable`; a job
        naming it is refused as disabled. Running sessions go on."""
        ...

    async def enable(self, flow_id: str, *, actor: str) -> FlowInfo:
        """Clear :meth:`disable`. The flow is routed to again unless its published
        version itself says ``"enabled": false`` (``FlowInfo.enabled`` tells)."""
        ...

    async def delete(self, flow_id: str, *, actor: str) -> FlowInfo:
        """Delete a flow no new session can get: refused with :class:`FlowInUse` while a
        version is published or the tenant's routing names it. Its recorded sessions
        stay readable; pushing its id again brings it back, versions and all. The flow
        as it was before."""
        ...

    # --- sessions -----------------------------------------------------------------------
    async def start_session(
        self, flow_id: str, version: int | None = None, **options: Unpack[SessionStart]
    ) -> SessionInfo:
        """Record a session pinned to ``version`` (None: the published one); refuses
        with :class:`SessionLimitReached` past ``max_concurrent_sessions``, counting, in
        the transaction that inserts, the sessions :meth:`active_sessions` counts. With
        ``lease`` (a worker's sessions) it is held until ``now + lease.seconds``, and
        must be renewed (:meth:`Store.renew`) before then; without one (a dry run) it
        holds its slot until it is ended, and is never reaped."""
        ...

    async def append_events(self, session_id: str, events: Sequence[Event]) -> int:
        """Append a batch of events, all or none; the session's event count after it.
        Refused for an unknown or ended session."""
        ...

    async def end_session(
        self, session_id: str, *, reason: str, summary: Any = None
    ) -> SessionInfo:
        """Mark the session ended with ``reason`` and what it came to (``summary``,
        JSON data), and end its lease; ``call.ended`` goes to the tenant's webhooks.
        Ending it again changes nothing."""
        ...

    async def record_evaluation(self, session_id: str, evaluation: Any) -> SessionInfo:
        """Keep how the session did against its flow's ``evaluation`` (JSON data,
        ``flowctl.engine.evaluation.CallEvaluation``), replacing any earlier one;
        ``call.evaluated`` goes to the tenant's webhooks in the same transaction."""
        ...

    async def session(self, session_id: str) -> SessionInfo: ...
    async def sessions(
        self, *, flow_id: str | None = None, running: bool | None = None, limit: int = 50
    ) -> list[SessionInfo]: ...
    async def active_sessions(self) -> int:
        """Sessions started and not ended whose lease, if they have one, has not lapsed:
        what ``max_concurrent_sessions`` counts. A dead worker's sessions stop counting
        when their lease lapses, before anything reaps them."""
        ...

    async def reap(self, *, actor: str) -> list[AbandonedSession]:
        """:meth:`Store.reap` for this tenant's sessions only."""
        ...

    async def events(self, session_id: str) -> list[Event]: ...

    # --- callbacks (flowctl.engine.store.sql.callbacks) ----------------------------------
    async def schedule_callback(
        self,
        session_id: str,
        *,
        when: str | None,
        reason: str | None = None,
        busy: bool = False,
        caller: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> Callback:
        """Book a callback by hand. A recorded ``callback`` event (``append_events``)
        books its own, in the transaction that writes it."""
        ...

    async def callbacks(
        self, *, status: CallbackStatus | None = "pending", limit: int = 100
    ) -> list[Callback]:
        """The tenant's callbacks with ``status`` (None: all), oldest first."""
        ...

    async def callback(self, callback_id: int) -> Callback: ...
    async def claim_callback(self, callback_id: int, *, actor: str) -> Callback:
        """Take a pending callback: :class:`CallbackRefused` when someone else has it
        or it is closed; one's own claim again changes nothing."""
        ...

    async def complete_callback(self, callback_id: int, *, actor: str) -> Callback:
        """Mark it done (a pending one, or one the actor claimed)."""
        ...

    async def cancel_callback(self, callback_id: int, *, actor: str) -> Callback:
        """Take it off the list (pending or claimed by anyone)."""
        ...

    # --- callers (flowctl.engine.store.sql.memory) --------------------------------------
    async def recall(self, caller: str) -> CallerMemory | None:
        """What is remembered about ``caller`` (None: nothing, or only what expired): a
        call's start, one indexed read."""
        ...

    async def memories(self, *, limit: int = 100) -> list[CallerMemory]:
        """The callers remembered, the latest called first (expired ones left out)."""
        ...

    async def remember(self, caller: str, memory: Remembered) -> CallerMemory:
        """Add what one call of ``caller`` came to (the call's end): its remembered
        values over the kept ones, its summary, outcome and flow; kept until the flow's
        ``ttl_days`` capped by the tenant's ``memory_days`` have passed. The tenant's
        expired memory is deleted in the same transaction."""
        ...

    async def purge_memory(self, *, actor: str) -> int:
        """Delete every memory of the tenant's past its retention now; how many
        (audited when there were any)."""
        ...

    async def forget_caller(self, caller: str, *, actor: str) -> Forgotten:
        """A data-protection request: delete everything the tenant holds about
        ``caller`` (their memory; their sessions, with events, transcripts and
        summaries; their callbacks; the webhook deliveries of those sessions), in one
        transaction, audited under a digest of the caller id. Refused with
        :class:`CallerInCall` while one of their calls runs."""
        ...

    # --- audit --------------------------------------------------------------------------
    async def audit(self, *, limit: int = 100) -> list[AuditEntry]: ...

    # --- webhooks (flowctl.engine.webhooks; the outbox in flowctl.engine.store.sql.webhooks)
    async def create_webhook(
        self, url: str, events: Sequence[str], *, actor: str
    ) -> tuple[Webhook, str]:
        """Subscribe ``url`` to ``events``: its record and its signing secret (shown
        once). The URL must be one the tenant's policy lets it reach."""
        ...

    async def webhooks(self) -> list[Webhook]: ...
    async def delete_webhook(self, webhook_id: str, *, actor: str) -> Webhook: ...
    async def deliveries(
        self, *, status: str | None = None, limit: int = 100
    ) -> list[Delivery]: ...
    async def replay_delivery(self, delivery_id: str, *, actor: str) -> Delivery: ...

    # --- API keys (flowctl.engine.store.keys) ---------------------------------------------------
    async def create_key(self, role: str, *, actor: str, name: str = "") -> tuple[ApiKey, str]:
        """A new key with ``role`` (admin, developer or viewer): its record and the key
        itself, which the store does not keep (show it once)."""
        ...

    async def keys(self) -> list[ApiKey]:
        """Every key of the tenant, revoked ones included, oldest first."""
        ...

    async def revoke_key(self, key_id: str, *, actor: str) -> ApiKey: ...

    # --- knowledge bases (flowctl.engine.store.sql.knowledge) ------------------------------
    async def knowledge_bases(self) -> list[KnowledgeBase]:
        """The tenant's knowledge bases, by name: each one holds at least a document."""
        ...

    async def documents(self, base: str) -> list[DocumentInfo]:
        """The documents of ``base`` as they are now, by name; :class:`NotFound` for a
        base with no documents."""
        ...

    async def document(self, base: str, name: str, revision: int | None = None) -> Document:
        """One revision of a document with its content (None: the current one)."""
        ...

    async def revisions(self, base: str, name: str) -> list[DocumentRevision]:
        """Every revision of a document, oldest first."""
        ...

    async def put_document(
        self, base: str, name: str, content: str, *, format: str | None = None, actor: str
    ) -> DocumentPut:
        """Add a document to ``base`` (which then exists), or replace it: a new revision
        whose chunks are indexed in place of the old ones, in one transaction. ``format``
        (text, markdown, html; None: the one ``name``'s extension says) is how the
        content is read into chunks. Content and format equal to the current
        revision's store nothing (``changed=False``). At most ``MAX_DOCUMENT_BYTES`` a
        document, ``MAX_KNOWLEDGE_BYTES`` the tenant's every revision
        (:class:`QuotaExceeded`)."""
        ...

    async def delete_document(self, base: str, name: str, *, actor: str) -> DocumentInfo:
        """Delete a document, every revision of it and its chunks, for good; the audit
        log keeps its name, last revision and hash. The document as it was."""
        ...

    async def search(self, base: str, query: str, *, top_k: int = 3) -> list[Passage]:
        """The at most ``top_k`` passages of ``base`` that best answer ``query`` (the
        backend's full-text ranking; scores relative to the best passage, 1.0), best
        first; :class:`NotFound` for a base with no documents. What a knowledge tool
        reads: ``flowctl.engine.knowledge.retrieval.Retriever``."""
        ...


class TemplateShelf(Protocol):
    """The operator's shared templates (``Store.shared_templates()``): every tenant's
    flows may extend them; only the operator writes them. Versioned and published as
    a tenant's own are (:class:`TenantStore`'s template methods)."""

    @property
    def shared(self) -> bool: ...

    async def push_template(self, prepared: Prepared, *, actor: str) -> TemplatePushResult:
        """Store a prepared template (``documents.push_shared_template``) as its next
        version."""
        ...

    async def publish_template(
        self, template_id: str, version: int, *, actor: str
    ) -> TemplateInfo: ...
    async def templates(self) -> list[TemplateInfo]: ...
    async def template_versions(self, template_id: str) -> list[TemplateVersionInfo]: ...
    async def template(self, template_id: str, version: int | None = None) -> TemplateVersion:
        """One version with its document; None: the published one."""
        ...


class Store(Protocol):
    """The database. ``migrated`` is ``(from, to)`` when opening applied migrations;
    ``schema_version`` is the backend's schema version; ``url`` never shows a password."""

    url: str
    migrated: tuple[int, int] | None
    schema_version: int

    def tenant(self, tenant_id: str) -> TenantStore: ...
    async def create_tenant(
        self, tenant_id: str, *, actor: str, **settings: Unpack[TenantSettings]
    ) -> Tenant:
        """A new tenant, with no flows and no keys yet."""
        ...

    async def list_tenants(self) -> list[Tenant]:
        """The admin listing: the only read across tenants."""
        ...

    def shared_templates(self) -> TemplateShelf:
        """The operator's shared templates, to push, publish and read."""
        ...

    async def authenticate(self, key: str) -> ApiKey | None:
        """The record of the key presented (revoked ones too: check ``revoked_at``), or
        None when the store never issued it. The one lookup not scoped to a tenant: it
        is how a request learns its tenant."""
        ...

    async def changes(self) -> int:
        """A counter bumped by every publish, rollback, delete and tenant change: poll it to
        learn cheaply that pointers or routing moved."""
        ...

    async def claim_deliveries(
        self, *, holder: str, limit: int = 100, lease: float = 30.0
    ) -> list[Outbound]:
        """Webhook deliveries that are due, across tenants, claimed for ``holder`` for
        ``lease`` seconds (a deliverer: ``flowctl.worker.webhooks``)."""
        ...

    async def finish_deliveries(
        self, results: Sequence[tuple[str, str, str | None, float | None]], *, holder: str
    ) -> None:
        """Each attempt's outcome: (tenant id, delivery id, error or None, retry at)."""
        ...

    async def renew(self, lease: Lease) -> int:
        """The heartbeat of the worker process ``lease.holder``: every running session
        it holds, whatever the tenant, is held for ``lease.seconds`` from now, in one
        statement; how many. A lease that lapsed already is not renewed (its slot may
        be taken): that session is the reaper's."""
        ...

    async def reap(self, *, actor: str) -> list[AbandonedSession]:
        """Close every running session whose lease lapsed (its worker died, or lost the
        store), of every tenant, as :data:`ABANDONED`, each with an audit entry
        (``session.abandoned``, by ``actor``); what was closed, earliest lapsed first.
        Workers call it every few seconds; when nothing lapsed it is one read."""
        ...

    async def wait_for_change(self, seen: int, timeout: float) -> int:
        """The change counter once it differs from ``seen`` or ``timeout`` seconds have
        passed, whichever is first. PostgreSQL answers as soon as a change commits
        (``NOTIFY``); SQLite after ``timeout`` (a poll)."""
        ...

    async def close(self) -> None: ...
    async def __aenter__(self) -> Self: ...
    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


async def open_store(
    url: str,
    *,
    create: bool = False,
    timeout: float | None = None,
    clock: Callable[[], float] = time.time,
    validate_routing: RoutingValidator | None = None,
    catalog: ToolCatalog | None = None,
) -> Store:
    """Open (``create``: or create) the store at ``url`` and bring its schema up to
    date. ``sqlite:///relative.db``, ``sqlite:////absolute.db``, ``sqlite:///:memory:``;
    query options ``timeout=SECONDS`` (how long to wait for another writer, default 5)
    and ``mode=ro`` (read only). ``postgresql://USER@HOST/DATABASE``, with options
    ``schema``, ``pool_max`` and ``timeout`` (``flowctl.engine.store.postgres.store``).
    ``timeout`` given here wins over the URL's. Tenants'
    routing documents are checked by ``validate_routing`` (default: the router's own
    check, ``flowctl.engine.store.routing.validate_routing``). ``catalog``: the operator's tool
    catalog, which tenants' flows are linted against (``flowctl.engine.boundary``)."""
    scheme, sep, _ = url.partition("://")
    if not sep:
        hint = f"; did you mean `sqlite:///{url}`?" if url.strip() else ""
        raise StoreError(f"Store URL `{url}` has no scheme{hint}")
    if validate_routing is None:
        from flowctl.engine.store.routing import validate_routing
    if scheme in ("postgresql", "postgres"):
        from flowctl.engine.store.postgres import PostgresStore

        return await PostgresStore.open(
            url,
            create=create,
            timeout=timeout,
            clock=clock,
            validate_routing=validate_routing,
            catalog=catalog,
        )
    if scheme != "sqlite":
        raise StoreError(
            f"Unsupported store URL `{url}`: expected `sqlite:///PATH` or "
            "`postgresql://USER@HOST/DATABASE`"
        )
    parts = urlsplit(url)
    if parts.netloc:
        raise StoreError(
            f"Store URL `{url}` names a host (`{parts.netloc}`); SQLite stores are local "
            "files: `sqlite:///relative.db` or `sqlite:////absolute.db`"
        )
    path = parts.path[1:] if parts.path.startswith("/") else parts.path
    if not path:
        raise StoreError(f"Store URL `{url}` names no file: write `sqlite:///PATH`")
    options = dict(parse_qsl(parts.query, keep_blank_values=True))
    unknown = sorted(set(options) - {"timeout", "mode"})
    if unknown:
        raise StoreError(
            f"Unknown option `{unknown[0]}` in store URL `{url}`; known: mode, timeout"
        )
    mode = options.get("mode", "rw")
    if mode not in ("rw", "ro"):
        raise StoreError(f"Store URL `{url}`: `mode` is `rw` or `ro`, not `{mode}`")
    if timeout is None:
        try:
            timeout = float(options.get("timeout", "5"))
        except ValueError:
            raise StoreError(f"Store URL `{url}`: `timeout` is a number of seconds") from None

    from flowctl.engine.store.sqlite import SQLiteStore
    from flowctl.engine.store.sqlite.db import SQLiteFile

    return await SQLiteStore.open(
        url,
        SQLiteFile(path, read_only=mode == "ro", timeout=timeout),
        create=create,
        clock=clock,
        validate_routing=validate_routing,
        catalog=catalog,
    )
