"""What the API's requests and responses hold: msgspec structs, from which Litestar
writes the OpenAPI document. The store's records (``flowctl.engine.store``) and the flow
format's types (``flowctl.engine.spec.OutputField``) are used as they are, not copied."""

from __future__ import annotations

from typing import Annotated, Any, Literal, TypeVar

import msgspec
from msgspec import UNSET, Meta, UnsetType

from flowctl.engine.boundary import CatalogEntry, TenantPolicy
from flowctl.engine.spec import Parameter
from flowctl.engine.store import (
    ApiKey,
    SessionEvent,
    SessionInfo,
    StoredFinding,
    TemplateRef,
    Webhook,
)

__all__ = [
    "ActiveSessions",
    "DiffView",
    "DocumentBody",
    "DryRun",
    "FlowVersionView",
    "Health",
    "KeyCreate",
    "LLMChange",
    "NewKey",
    "NewWebhook",
    "Publish",
    "Pushed",
    "Rollback",
    "RoutingView",
    "SearchRequest",
    "SecretValue",
    "SessionView",
    "TenantCreate",
    "TenantUpdate",
    "TokenRequest",
    "TokenView",
    "ToolView",
    "TracingChange",
    "WebhookCreate",
    "WhoAmI",
    "view",
]


class _Body(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A request body: a misspelt field is an error, not silently ignored.

    msgspec inherits ``frozen``, but the type checker's view of it (dataclass_transform)
    does not, so every subclass repeats ``frozen=True``, as ``engine/spec.py``'s do."""


class _View(msgspec.Struct, frozen=True, kw_only=True):
    """A response body (subclasses repeat ``frozen=True``, as ``_Body``'s do)."""


V = TypeVar("V", bound=_View)


def view(cls: type[V], record: msgspec.Struct, **more: Any) -> V:
    """The ``cls`` response that is the store's ``record`` (the fields of it that
    ``cls`` has) and ``more``, which adds fields or replaces one (a decoded document):
    a view restates no field of the record it shows."""
    fields = {name: getattr(record, name) for name in record.__struct_fields__}
    return cls(**{name: fields[name] for name in cls.__struct_fields__ if name in fields} | more)


Version = Annotated[int, Meta(ge=1, le=2**31)]
Expected = Version | None | UnsetType
Id = Annotated[str, Meta(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")]


# --- flows --------------------------------------------------------------------------


class FlowVersionView(_View, frozen=True):
    """One version of a flow, with its document and lint findings; ``published`` is
    the flow's published version (None: none)."""

    flow_id: str
    version: int
    published: int | None
    hash: str
    author: str
    created_at: float
    errors: int
    warnings: int
    findings: list[StoredFinding]
    document: dict[str, Any]
    # the template version the document was resolved against when pushed (None: none)
    template: TemplateRef | None = None


class Pushed(_View, frozen=True):
    """The version a document became. ``created`` is False when its content was already
    a version (that version is returned); ``base`` is the version an edit started from;
    ``findings`` are its (warning-level) lint findings."""

    flow_id: str
    version: int
    created: bool
    hash: str
    errors: int
    warnings: int
    findings: list[StoredFinding]
    base: int | None = None


class Publish(_Body, frozen=True):
    """Publish ``version``. With ``expected_current`` (a version, or null for "nothing
    published yet") the publish is refused with 409 if the pointer has moved since."""

    version: Version
    expected_current: Expected = UNSET


class Rollback(_Body, frozen=True):
    """Republish ``to``, or by default the newest earlier version that was published."""

    to: Version | None = None
    expected_current: Expected = UNSET


class DiffView(_View, frozen=True):
    flow_id: str
    old: int
    new: int
    diff: str  # unified diff of the two documents as 2-space JSON


class TracingChange(_Body, frozen=True):
    """Turn tracing on or off (the provider and sample rate stay unless given)."""

    enabled: bool
    provider: str | UnsetType | None = UNSET
    sample_rate: Annotated[float, Meta(ge=0, le=1)] | UnsetType | None = UNSET


class LLMChange(_Body, frozen=True):
    """Settings to change; null removes a setting (back to the default). Lint judges
    the result (a temperature out of range is a 422 with the finding)."""

    provider: str | UnsetType | None = UNSET
    model: str | UnsetType | None = UNSET
    temperature: float | UnsetType | None = UNSET
    max_tokens: int | UnsetType | None = UNSET
    base_url: str | UnsetType | None = UNSET
    api_key_env: str | UnsetType | None = UNSET
    supports_structured_output: bool | UnsetType | None = UNSET


# --- sessions -----------------------------------------------------------------------


class SessionView(_View, frozen=True):
    session: SessionInfo
    events: list[SessionEvent]


class ActiveSessions(_View, frozen=True):
    tenant_id: str
    active: int
    max_concurrent_sessions: int | None


# --- routing and tokens -------------------------------------------------------------

Metadata = dict[str, Any] | Annotated[str, Meta(max_length=65536)] | None


class DryRun(_Body, frozen=True):
    """A job's metadata, as the worker would get it: the job's (``metadata``), the
    room's, the first participant's attributes; JSON text or an object."""

    metadata: Metadata = None
    room_metadata: Metadata = None
    attributes: dict[str, str] | None = None


class RoutingView(_View, frozen=True):
    tenant_id: str
    routing: dict[str, Any] | None


class TokenRequest(_Body, frozen=True):
    """A participant joining ``room`` as ``identity``; ``metadata`` routes the agent
    (its ``tenant_id`` is the key's tenant when left out); ``overrides``, the session's
    own settings that the routed flow's ``overridable`` allows (variables, tracing,
    voice, language), go in the metadata as its ``overrides``."""

    room: Annotated[str, Meta(min_length=1, max_length=256)]
    identity: Annotated[str, Meta(min_length=1, max_length=256)]
    name: Annotated[str, Meta(max_length=256)] = ""
    metadata: dict[str, Any] | None = None
    overrides: dict[str, Any] | None = None
    ttl_seconds: Annotated[int, Meta(ge=60, le=86400)] = 3600


class TokenView(_View, frozen=True):
    token: str  # a LiveKit access token (JWT) that joins the room and dispatches the agent
    url: str | None  # LIVEKIT_URL, when the server knows it
    room: str
    identity: str
    agent_name: str
    expires_at: float
    routing: Any  # the routing decision the agent will get (`decision`: `routed`)


# --- tenants, keys, the caller ------------------------------------------------------


# Days a caller's memory is kept at most: a day to ten years.
MemoryDays = Annotated[int, Meta(ge=1, le=3650)]


class TenantCreate(_Body, frozen=True):
    tenant_id: Id
    name: Annotated[str, Meta(max_length=256)] = ""
    routing: dict[str, Any] | None = None
    max_concurrent_sessions: Annotated[int, Meta(ge=1, le=2**31)] | None = None
    # What the operator grants the tenant's flows (default: nothing).
    policy: TenantPolicy | None = None
    # Most days a caller's memory is kept (default: as long as the flows say).
    memory_days: MemoryDays | None = None


class TenantUpdate(_Body, frozen=True):
    """Fields to change; null clears the routing, removes the limit, resets the policy
    to the default (which grants nothing), or lifts the cap on callers' memory."""

    routing: dict[str, Any] | UnsetType | None = UNSET
    max_concurrent_sessions: Annotated[int, Meta(ge=1, le=2**31)] | UnsetType | None = UNSET
    policy: TenantPolicy | UnsetType | None = UNSET
    memory_days: MemoryDays | UnsetType | None = UNSET


class Retention(_Body, frozen=True):
    """How long the tenant keeps what its flows remember about callers."""

    memory_days: MemoryDays | None


class Purged(_View, frozen=True):
    """How many memories past their retention were deleted."""

    memories: int


class SecretValue(_Body, frozen=True):
    """A secret's new value (never returned by any endpoint)."""

    value: Annotated[str, Meta(min_length=1, max_length=16 * 1024)]


class ToolView(_View, frozen=True):
    """A catalog tool granted to the tenant: use it in a flow as
    ``{"kind": "catalog", "name": NAME}``."""

    name: str
    description: str
    parameters: dict[str, Parameter]

    @classmethod
    def of(cls, name: str, entry: CatalogEntry) -> ToolView:
        return cls(name=name, description=entry.description, parameters=entry.parameters)


class KeyCreate(_Body, frozen=True):
    role: Literal["admin", "developer", "viewer"]
    name: Annotated[str, Meta(max_length=256)] = ""


class NewKey(_View, frozen=True):
    """A new key: ``secret`` is the key itself, shown this once (the store keeps only
    its hash)."""

    key: ApiKey
    secret: str


class WebhookCreate(_Body, frozen=True):
    url: Annotated[str, Meta(max_length=2048)]
    # Event types, or ["*"] for every one (engine/webhooks.py EVENTS).
    events: Annotated[list[Annotated[str, Meta(max_length=64)]], Meta(max_length=16)] = (
        msgspec.field(default_factory=lambda: ["*"])
    )


class NewWebhook(_View, frozen=True):
    """A new subscription: ``secret`` signs its deliveries, shown this once."""

    webhook: Webhook
    secret: str


class WhoAmI(_View, frozen=True):
    key_id: str
    tenant_id: str
    role: str
    platform: bool


class Health(_View, frozen=True):
    status: str
    version: str


# --- knowledge bases ------------------------------------------------------------------


class DocumentBody(_Body, frozen=True):
    """A document to add to a knowledge base, or to replace one with: its text, and how
    to read it (default: what the document's name ends with says, `.md`, `.html`...)."""

    content: Annotated[str, Meta(min_length=1)]
    format: Literal["text", "markdown", "html"] | None = None


class SearchRequest(_Body, frozen=True):
    """A question to search a knowledge base for, as a knowledge tool asks it."""

    query: Annotated[str, Meta(min_length=1, max_length=1000)]
    top_k: Annotated[int, Meta(ge=1, le=20)] = 3
