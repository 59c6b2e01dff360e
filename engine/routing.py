"""Routing: which tenant, flow and version a job gets, and why. Pure: no I/O, no LiveKit.

A job's routing request comes from the first of these that is present: the job's
metadata, the room's metadata (both JSON text), the first participant's attributes
(LiveKit's string-to-string map)::

    {"tenant_id": "dynamic-co", "purpose": "support", "user_id": "user-123",
     "user_details": {"is_new_user": false, "tier": "premium"},
     "overrides": {"voice": "nova"}}

The tenant's routing (``engine/tenants.py``) then decides; the first step that
matches wins:

1. ``explicit``: ``flow_id`` (or seed 003's alias ``agent_id``) names a flow;
2. ``purpose``: the tenant's ``purposes`` map the job's ``purpose`` to a flow;
3. ``rule[i]``: the first rule whose ``when`` holds over ``user_details``;
4. ``split``: a purpose or the default that is a weighted list of variants picks one
   by a stable hash of ``user_id`` (without one: the heaviest variant);
5. ``default``: the tenant's default flow.

A disabled flow (``FlowEntry.enabled`` false: its ``"enabled": false``, or ``flowctl
store disable``) is never routed to. A job naming it is :class:`Rejected` as disabled;
a purpose, rule or default going to it is passed over for the next step, and the
decision's reason says so. A split whose variant is disabled picks among its enabled
variants by the same hash (the users of enabled variants keep theirs); a split with
none enabled is passed over. With nothing left, the job is rejected, naming each flow
passed over.

Whatever cannot be served — malformed or oversized metadata, an unknown tenant or
flow, another tenant's flow, nothing matching and no default — is :class:`Rejected`
with an exact reason, logged; never an exception, never someone else's flow.

``overrides`` (a session's own settings, ``flowctl.engine.overrides``) do not route: they
are passed on with the decision, and checked against the flow it names when the
session starts.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Protocol

import msgspec
from msgspec import Meta

from flowctl.engine.conditions import ConditionError, parse_condition
from flowctl.engine.tenants import FlowEntry, Tenant, Variant

__all__ = [
    "ATTRIBUTES",
    "JOB_METADATA",
    "MAX_METADATA_BYTES",
    "ROOM_METADATA",
    "Catalog",
    "Rejected",
    "Request",
    "Routed",
    "decide",
    "pick_variant",
    "read_request",
    "route",
    "user_bucket",
]

logger = logging.getLogger(__name__)

# LiveKit caps room metadata at 64 KiB; a routing request is a few hundred bytes. Past
# this, input is a mistake or an attack, and decoding it would only cost time.
MAX_METADATA_BYTES = 64 * 1024

# Where a request came from, in the order they are tried.
JOB_METADATA = "job metadata"
ROOM_METADATA = "room metadata"
ATTRIBUTES = "participant attributes"

_ROUTING_KEYS = frozenset({"tenant_id", "flow_id", "agent_id", "purpose", "user_id"})
# Attributes holding a JSON object of their own.
_OBJECT_KEYS = frozenset({"user_details", "overrides"})
_Id = Annotated[str, Meta(min_length=1, max_length=256)]


class Catalog(Protocol):
    """Where tenants and flows come from. :func:`route` asks on every job, so answers
    must come from memory: ``flowctl.engine.tenants.FileCatalog`` holds what it read from the
    files; a store keeps a cache it refreshes when a version is published."""

    def tenant(self, tenant_id: str, /) -> Tenant | None: ...

    def flow(self, flow_id: str, tenant_id: str | None = None, /) -> FlowEntry | None:
        """The flow ``flow_id`` as tenant ``tenant_id`` would get it. A catalog whose
        flow ids are global (files) may ignore the tenant: routing checks the owner."""
        ...


class Request(msgspec.Struct, frozen=True, kw_only=True):
    """The routing keys of a job's metadata. Unknown keys are ignored, not refused: the
    same metadata carries the frontend's own data (seed 003 puts the caller's name and
    email beside them). A numeric ``user_id`` is taken as its decimal text."""

    tenant_id: _Id
    flow_id: _Id | None = None
    agent_id: _Id | None = None
    purpose: _Id | None = None
    user_id: _Id | int | None = None
    user_details: dict[str, Any] | None = None
    overrides: dict[str, Any] | None = None


class Routed(msgspec.Struct, frozen=True, kw_only=True, tag_field="decision", tag="routed"):
    """The job gets ``flow_id`` at ``version`` (``None``: the flow has no version).

    ``rule`` is the step that decided: ``explicit``, ``purpose``, ``rule[i]`` (an index
    into the tenant's ``rules``), ``split`` or ``default``; ``reason`` says it in words.
    ``variant`` is the index of the split's variant. ``user_id``, ``user_details`` and
    ``overrides`` are passed on for the session.
    """

    tenant_id: str
    flow_id: str
    version: str | None
    rule: str
    reason: str
    origin: str
    purpose: str | None = None
    variant: int | None = None
    user_id: str | None = None
    user_details: dict[str, Any] = {}
    overrides: dict[str, Any] = {}


class Rejected(msgspec.Struct, frozen=True, kw_only=True, tag_field="decision", tag="rejected"):
    """The job must not be served; ``reason`` says why (it quotes no user data beyond
    the ids asked for, escaped and shortened). ``flow_id`` and ``version``: the flow
    the job named, when it is refused as disabled (a store records the refusal as a
    session of it)."""

    reason: str
    origin: str | None = None
    tenant_id: str | None = None
    flow_id: str | None = None
    version: str | None = None


def route(
    catalog: Catalog,
    job_metadata: str | bytes | None = None,
    room_metadata: str | bytes | None = None,
    attributes: Mapping[str, str] | None = None,
) -> Routed | Rejected:
    """The decision for a job. Never raises for what the metadata holds; a rejection
    is logged (warning) with its reason."""
    read = read_request(job_metadata, room_metadata, attributes)
    result = read if isinstance(read, Rejected) else decide(read[0], catalog, origin=read[1])
    if isinstance(result, Rejected):
        logger.warning("job rejected (%s): %s", result.origin or "no request", result.reason)
    elif logger.isEnabledFor(logging.DEBUG):
        logger.debug(
            "job routed (%s): tenant %s, flow %s %s by %s: %s",
            result.origin,
            result.tenant_id,
            result.flow_id,
            result.version,
            result.rule,
            result.reason,
        )
    return result


def read_request(
    job_metadata: str | bytes | None = None,
    room_metadata: str | bytes | None = None,
    attributes: Mapping[str, str] | None = None,
) -> tuple[Request, str] | Rejected:
    """The request and where it came from: the first of job metadata, room metadata
    (blank text counts as absent) and participant attributes (empty counts as absent).
    The first present one decides: a malformed job metadata is rejected, not skipped."""
    for origin, text in ((JOB_METADATA, job_metadata), (ROOM_METADATA, room_metadata)):
        if text is None:
            continue
        if not isinstance(text, str | bytes):
            kind = type(text).__name__
            return Rejected(reason=f"{_cap(origin)} must be text, got `{kind}`", origin=origin)
        if len(text) > MAX_METADATA_BYTES:
            return _too_big(origin)
        if text.strip():
            return _decode(text, origin)
    if attributes is not None and not isinstance(attributes, Mapping):
        return _bad_attributes(f"must be a mapping, got `{type(attributes).__name__}`")
    if not attributes:
        return Rejected(
            reason="No routing request: the job, the room and the participant carry none"
        )
    return _from_attributes(attributes)


def _cap(origin: str) -> str:
    return origin[:1].upper() + origin[1:]


def _too_big(origin: str) -> Rejected:
    return Rejected(
        reason=f"{_cap(origin)} is over the {MAX_METADATA_BYTES:,}-byte limit", origin=origin
    )


def _decode(text: str | bytes, origin: str) -> tuple[Request, str] | Rejected:
    # UTF-8 is checked here, not left to the JSON decoder, so the message is ours
    # whatever words the decoder's version uses.
    try:
        data = text.encode() if isinstance(text, str) else text
        if isinstance(text, bytes):
            text.decode()
    except UnicodeError:
        return Rejected(reason=f"{_cap(origin)} is not valid UTF-8 text", origin=origin)
    if len(data) > MAX_METADATA_BYTES:
        return _too_big(origin)
    try:
        return msgspec.json.decode(data, type=Request), origin
    except msgspec.ValidationError as exc:
        return Rejected(reason=f"{_cap(origin)} is malformed: {exc}", origin=origin)
    except msgspec.DecodeError as exc:
        why = str(exc).removeprefix("JSON is malformed: ")
        why = why[:1].lower() + why[1:]
        return Rejected(reason=f"{_cap(origin)} is not valid JSON: {why}", origin=origin)
    except RecursionError:
        return Rejected(reason=f"{_cap(origin)} is nested too deeply", origin=origin)


def _from_attributes(attributes: Mapping[Any, Any]) -> tuple[Request, str] | Rejected:
    """The routing keys are attributes of their own; ``user_details`` are the other
    attributes (a value that reads as JSON, such as ``true`` or ``3``, is that value, so
    rules compare it as typed), updated by a ``user_details`` attribute holding a JSON
    object; an ``overrides`` attribute holds the session's overrides, a JSON object."""
    size = 0
    fields: dict[str, Any] = {}
    details: dict[str, Any] = {}
    for key, value in attributes.items():
        if not isinstance(key, str) or not isinstance(value, str):
            return _bad_attributes("must map strings to strings")
        try:
            size += len(key.encode()) + len(value.encode())
        except UnicodeEncodeError:
            return _bad_attributes("are not valid UTF-8 text")
        if size > MAX_METADATA_BYTES:
            return _too_big(ATTRIBUTES)
        if key in _ROUTING_KEYS:
            fields[key] = value
        elif key not in _OBJECT_KEYS:
            details[key] = _typed(value)
    if "user_details" in attributes:
        extra = _typed(attributes["user_details"])
        if not isinstance(extra, dict):
            return _bad_attributes("hold a `user_details` that is not a JSON object")
        details.update(extra)
    fields["user_details"] = details
    if "overrides" in attributes:
        overrides = _typed(attributes["overrides"])
        if not isinstance(overrides, dict):
            return _bad_attributes("hold an `overrides` that is not a JSON object")
        fields["overrides"] = overrides
    try:
        return msgspec.convert(fields, Request), ATTRIBUTES
    except msgspec.ValidationError as exc:
        return _bad_attributes(f"are malformed: {exc}")


def _bad_attributes(why: str) -> Rejected:
    return Rejected(reason=f"Participant attributes {why}", origin=ATTRIBUTES)


def _typed(value: str) -> Any:
    try:
        return msgspec.json.decode(value)
    except (msgspec.DecodeError, RecursionError):
        return value


def decide(request: Request, catalog: Catalog, *, origin: str = JOB_METADATA) -> Routed | Rejected:
    """The decision for a request already read (see the module's docstring for the
    order)."""
    tenant_id = request.tenant_id
    tenant = catalog.tenant(tenant_id)
    if tenant is None:
        return Rejected(
            reason=f"Unknown tenant {_q(tenant_id)}", origin=origin, tenant_id=tenant_id
        )
    decision = _Decision(request, tenant, catalog, origin)
    flow_id = request.flow_id
    if request.agent_id is not None:
        if flow_id is not None and flow_id != request.agent_id:
            return decision.reject(
                f"`flow_id` {_q(flow_id)} and `agent_id` {_q(request.agent_id)} "
                "name different flows"
            )
        flow_id = request.agent_id
    if flow_id is not None:
        return decision.explicit(flow_id)
    purpose = request.purpose
    unmapped = False
    if purpose is not None:
        target = tenant.purposes.get(purpose)
        if target is not None:
            why = f"the tenant maps purpose {_q(purpose)} to it"
            try:
                return decision.serve(target, "purpose", why, f"purpose:{purpose}")
            except _Disabled as skip:
                decision.pass_over(f"purpose {_q(purpose)} goes to {skip.target}")
        else:
            unmapped = True
            decision.passed.append(f"purpose {_q(purpose)} is not mapped")
    details = request.user_details or {}
    for i, rule in enumerate(tenant.rules):
        if _holds(rule.when, details):
            why = f"{decision.before()}rule[{i}] `{rule.when}` holds"
            try:
                return decision.serve(rule.flow, f"rule[{i}]", why)
            except _Disabled as skip:
                decision.pass_over(f"rule[{i}] `{rule.when}` holds but goes to {skip.target}")
    if tenant.default is not None:
        why = f"{decision.before()}nothing else matched: the tenant's default"
        try:
            return decision.serve(tenant.default, "default", why, "default")
        except _Disabled as skip:
            decision.pass_over(f"the tenant's default goes to {skip.target}")
    if decision.disabled:
        none = "" if tenant.default is not None else f"; tenant {_q(tenant_id)} has no default"
        return decision.reject(f"No enabled flow for this job: {'; '.join(decision.passed)}{none}")
    if unmapped:
        return decision.reject(
            f"Purpose {_q(purpose or '')} is not mapped, no rule matched and tenant "
            f"{_q(tenant_id)} has no default flow"
        )
    return decision.reject(
        f"No purpose or rule matched and tenant {_q(tenant_id)} has no default flow"
    )


class _Disabled(Exception):
    """A configured choice routing passes over: ``target`` is where it goes, in words
    (``disabled flow `sales```), for the decision's reason."""

    def __init__(self, target: str) -> None:
        super().__init__(target)
        self.target = target


def _holds(when: str, details: Mapping[str, Any]) -> bool:
    try:
        return parse_condition(when).holds(details)
    except ConditionError:  # a catalog that skipped the loader's check: the rule is void
        return False
    except RecursionError:  # comparing two values nested hundreds deep
        return False


class _Decision:
    """One request's decision in the making: checks every flow before serving it."""

    __slots__ = ("catalog", "disabled", "origin", "passed", "request", "tenant", "user_id")

    def __init__(self, request: Request, tenant: Tenant, catalog: Catalog, origin: str) -> None:
        self.request = request
        self.tenant = tenant
        self.catalog = catalog
        self.origin = origin
        user_id = request.user_id
        self.user_id = str(user_id) if isinstance(user_id, int) else user_id
        self.passed: list[str] = []  # the steps passed over so far, in words
        self.disabled = False  # whether one was passed over for a disabled flow

    def pass_over(self, step: str) -> None:
        """Note a step passed over because it goes to a disabled flow."""
        self.passed.append(step)
        self.disabled = True

    def before(self) -> str:
        """The steps passed over, as the start of a reason."""
        return "".join(f"{step}; " for step in self.passed)

    def reject(self, reason: str, entry: FlowEntry | None = None) -> Rejected:
        return Rejected(
            reason=reason,
            origin=self.origin,
            tenant_id=self.tenant.tenant_id,
            flow_id=None if entry is None else entry.flow_id,
            version=None if entry is None else entry.version,
        )

    def explicit(self, flow_id: str) -> Routed | Rejected:
        tenant_id = self.tenant.tenant_id
        entry = self.catalog.flow(flow_id, tenant_id)
        if entry is None:
            return self.reject(f"Unknown flow {_q(flow_id)} (tenant {_q(tenant_id)})")
        if entry.tenant_id != tenant_id:
            owner = "no tenant" if entry.tenant_id is None else "another tenant"
            return self.reject(
                f"Flow {_q(flow_id)} belongs to {owner}; not serving it to tenant {_q(tenant_id)}"
            )
        if not entry.enabled:
            return self.reject(f"Flow {_q(flow_id)} is disabled (tenant {_q(tenant_id)})", entry)
        return self._routed(entry, None, "explicit", f"the job names flow {_q(flow_id)}")

    def serve(
        self, target: str | list[Variant], rule: str, why: str, key: str = ""
    ) -> Routed | Rejected:
        """Route to a configured target: a flow, or a split between variants (``key``
        names the split in the user's hash). Raises :class:`_Disabled` when the flow, or
        every flow of the split, is disabled."""
        if isinstance(target, str):
            entry = self._own(target, rule)
            if isinstance(entry, Rejected):
                return entry
            if not entry.enabled:
                raise _Disabled(f"disabled flow {_q(target)}")
            return self._routed(entry, None, rule, why)
        index = pick_variant(target, self.tenant.tenant_id, key, self.user_id)
        variant = target[index]
        entry = self._own(variant.flow, "split")
        if isinstance(entry, Rejected):
            return entry
        weights = target
        if not entry.enabled:  # the same hash, over the variants still enabled
            enabled = [i for i, v in enumerate(target) if self._enabled(v.flow)]
            if not enabled:
                raise _Disabled("a split whose flows are all disabled")
            weights = [target[i] for i in enabled]
            first = index
            index = enabled[pick_variant(weights, self.tenant.tenant_id, key, self.user_id)]
            variant = target[index]
            entry = self._own(variant.flow, "split")
            assert not isinstance(entry, Rejected)  # one of the enabled, owned variants
            skipped = f"variant[{first}] goes to disabled flow {_q(target[first].flow)}"
        if self.user_id is None:
            heaviest = "heaviest" if weights is target else "heaviest enabled"
            how = f"; the job has no user id: the {heaviest} variant, variant[{index}]"
        else:
            total = sum(v.weight for v in weights)
            among = "" if weights is target else f" among the enabled ({skipped})"
            how = f" by user id{among}: variant[{index}] (weight {variant.weight} of {total})"
        reason = f"{why}, split {len(target)} ways{how}"
        return self._routed(entry, variant.version, "split", reason, index)

    def _enabled(self, flow_id: str) -> bool:
        entry = self.catalog.flow(flow_id, self.tenant.tenant_id)
        return entry is not None and entry.tenant_id == self.tenant.tenant_id and entry.enabled

    def _own(self, flow_id: str, rule: str) -> FlowEntry | Rejected:
        tenant_id = self.tenant.tenant_id
        entry = self.catalog.flow(flow_id, tenant_id)
        if entry is None or entry.tenant_id != tenant_id:
            return self.reject(
                f"Tenant {_q(tenant_id)} routes to flow {_q(flow_id)} by {rule}, "
                "which is not one of its flows"
            )
        return entry

    def _routed(
        self,
        entry: FlowEntry,
        version: str | None,
        rule: str,
        reason: str,
        variant: int | None = None,
    ) -> Routed:
        return Routed(
            tenant_id=self.tenant.tenant_id,
            flow_id=entry.flow_id,
            version=version if version is not None else entry.version,
            rule=rule,
            reason=reason,
            origin=self.origin,
            purpose=self.request.purpose,
            variant=variant,
            user_id=self.user_id,
            user_details=self.request.user_details or {},
            overrides=self.request.overrides or {},
        )


def user_bucket(tenant_id: str, key: str, user_id: str) -> int:
    """A user's stable place in a split: the first 8 bytes (big-endian) of the SHA-256
    of ``tenant_id``, ``key`` (``purpose:<name>`` or ``default``) and ``user_id``, joined
    by U+001F and UTF-8 encoded. The same in every process and on every machine (unlike
    ``hash()``), and reproducible elsewhere, say in the analytics of an experiment."""
    text = f"{tenant_id}\x1f{key}\x1f{user_id}"
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()
    return int.from_bytes(digest[:8], "big")


def pick_variant(variants: Sequence[Variant], tenant_id: str, key: str, user_id: str | None) -> int:
    """The index of the user's variant: :func:`user_bucket` modulo the total weight,
    laid over the variants in order. Without a user id (or with all weights 0) there is
    nothing stable to split by: the heaviest variant, the first of equals."""
    total = sum(v.weight for v in variants)
    if user_id is None or total <= 0:
        return max(range(len(variants)), key=lambda i: variants[i].weight)
    point = user_bucket(tenant_id, key, user_id) % total
    for i, variant in enumerate(variants):
        if point < variant.weight:
            return i
        point -= variant.weight
    return len(variants) - 1  # unreachable: the weights add up to ``total``


def _q(value: str, limit: int = 80) -> str:
    """A value from the request, fit for a log line: backquoted, shortened, and with
    control and other unprintable characters escaped."""
    text = value if len(value) <= limit else value[:limit] + "…"
    if not text.isprintable():
        text = "".join(c if c.isprintable() else _escape(c) for c in text)
    return f"`{text}`"


def _escape(c: str) -> str:
    code = ord(c)
    return (
        f"\\x{code:02x}"
        if code < 0x100
        else f"\\u{code:04x}"
        if code < 0x10000
        else f"\\U{code:08x}"
    )
