"""What the store keeps of a pushed document, worked out the same way by every backend:
its flow id, its canonical form and content hash, and its lint result.

The content hash is the SHA-256 of the document's *canonical form*: the JSON value
re-encoded with sorted keys, no insignificant whitespace and UTF-8 text (``json.dumps(
value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)``). Reformatting a
flow, reordering its keys or changing its escapes therefore does not make a new
version; changing any value does. The document itself is kept as pushed, so lint's
rows and columns and ``flowctl store diff`` refer to the text its author wrote.

A document that extends a template (``flowctl.engine.extends``) is resolved against
the template's published version as it is pushed, and pins it (``Prepared.template``):
its hash covers the canonical form and that version (a newline and its name, as
``shared:clinic_desk@v2``), so pushing the same document once another template
version is published makes a new version that runs on it.

A store keeps :class:`Prepared` documents only (``TenantStore.push``): lint runs once
per push, where the document arrives (the API's handler, the CLI), in a thread off the
event loop (:func:`prepare_for`), and the store never lints again.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from collections.abc import Sequence
from pathlib import PurePath
from typing import TYPE_CHECKING, Any, Literal

import msgspec

from flowctl.engine.boundary import OPERATOR, Boundary
from flowctl.engine.errors import FlowInvalidError
from flowctl.engine.extends import TemplateLookup, TemplateRef, valid_id
from flowctl.engine.findings import Severity
from flowctl.engine.knowledge.names import NAME_PATTERN
from flowctl.engine.store.errors import StoreError
from flowctl.engine.store.records import PushResult, StoredFinding, TemplatePushResult

if TYPE_CHECKING:
    from flowctl.engine.store import TemplateShelf, TenantStore

__all__ = [
    "ID_PATTERN",
    "Prepared",
    "canonical",
    "check_actor",
    "check_id",
    "check_limit",
    "content_hash",
    "lint_errors",
    "prepare",
    "prepare_for",
    "push_document",
    "push_shared_template",
    "push_template_document",
    "unified_diff",
]

# Tenant and flow ids (knowledge bases and documents too) appear in URLs, file names and
# metrics labels: keep them plain.
ID_PATTERN = re.compile(NAME_PATTERN)
_BOM = "\ufeff"


def check_id(kind: str, value: str) -> str:
    """``value`` when it is a valid tenant or flow id; raises :class:`StoreError`."""
    if not isinstance(value, str) or not ID_PATTERN.match(value):
        raise StoreError(
            f"Invalid {kind} id `{value}`: use 1-128 letters, digits, `_`, `.` or `-`, "
            "starting with a letter or digit"
        )
    return value


def check_actor(actor: str) -> str:
    """Every change names who made it, for the audit log."""
    if not isinstance(actor, str) or not actor.strip():
        raise StoreError("Every change names who made it: `actor` must not be empty")
    return actor


def check_limit(value: int | None) -> int | None:
    """A ``max_concurrent_sessions`` value: None (no limit) or a whole number from 1."""
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise StoreError(f"`max_concurrent_sessions` is a whole number from 1, not `{value}`")
    return value


def canonical(value: Any) -> bytes:
    """The canonical form of a decoded JSON value (see the module's docstring)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def content_hash(value: Any, template: TemplateRef | None = None) -> str:
    """The hash of a version: its document's canonical form, and the template version
    it was resolved against."""
    data = canonical(value)
    if template is not None:
        data += b"\n" + str(template).encode()
    return hashlib.sha256(data).hexdigest()


class Prepared(msgspec.Struct, frozen=True, kw_only=True):
    """A document ready to be stored as a version: of a flow, or (``kind``) of a
    template, whose id ``flow_id`` then holds. ``template``: the template version it
    was resolved against (None: it extends none)."""

    flow_id: str
    document: str
    hash: str
    findings: list[StoredFinding]
    enabled: bool = True  # the document's own `enabled`: false, and no job is routed to it
    kind: Literal["flow", "template"] = "flow"
    template: TemplateRef | None = None

    @property
    def errors(self) -> int:
        return sum(1 for f in self.findings if f.severity == "error")

    @property
    def warnings(self) -> int:
        return sum(1 for f in self.findings if f.severity == "warning")


def prepare(
    data: bytes | str,
    filename: str | None = None,
    *,
    flow_id: str | None = None,
    boundary: Boundary = OPERATOR,
    templates: TemplateLookup | None = None,
) -> Prepared:
    """Lint ``data`` and work out its flow id and hash.

    The flow id is ``flow_id`` when given, else the document's ``flow_id``, else the
    file name without ``.json`` (``filename`` is also what lint's messages name); a
    document that declares another id than the one asked for is refused. A template's
    id is its ``template_id``.

    A document that is not a JSON object has no canonical form and is refused with its
    findings (:class:`FlowInvalidError`, exit 1); every other finding is kept with the
    version, and only error-level ones stop it being published. ``boundary``: the
    tenant's (``TenantStore.boundary()``): a tenant's flow is held to its policy.
    ``templates``: the templates it may extend (``flowctl.engine.store.templates``).
    """
    from flowctl.engine.lint import check  # lint's rules load on first use, not with the store
    from flowctl.engine.lint.registry import code_of
    from flowctl.engine.load import load_bytes

    raw = data.encode() if isinstance(data, str) else data
    stem = PurePath(filename).name.removesuffix(".json") if filename else None
    filename = filename or f"{flow_id or 'document'}.json"
    loaded = load_bytes(raw, filename, stem=stem, templates=templates)
    if loaded.other is not None:  # a shell glob's scenario file would be stored as a junk flow
        raise StoreError(f"`{filename}` is {loaded.other}, not a flow; nothing was pushed")
    located = check(loaded, boundary=boundary)
    # not a JSON document, or not an object: there is no flow to store
    not_json, wrong_type = code_of("invalid-json"), code_of("wrong-type")
    fatal = [
        x
        for x in located
        if x.finding.code == not_json or (x.finding.code, x.finding.path) == (wrong_type, ())
    ]
    if fatal:
        x = fatal[0]
        raise FlowInvalidError(
            f"`{filename}` is not a JSON object ({x.span.row}:{x.span.column}: "
            f"{x.finding.code} {x.finding.text}); nothing was pushed",
            [x],
        )
    text = raw.decode("utf-8").removeprefix(_BOM)
    value = json.loads(text)
    if loaded.template:
        chosen = _template_id(loaded.template_id, flow_id, filename)
    else:
        # seed-001 single-agent configs name themselves by agent_id
        declared = value.get("flow_id") or ("agents" not in value and value.get("agent_id")) or None
        if not isinstance(declared, str):
            declared = None
        if flow_id is not None and declared is not None and declared != flow_id:
            raise StoreError(
                f"`{filename}` declares flow_id `{declared}`; push it as `{declared}` "
                f"or change its flow_id to `{flow_id}`"
            )
        chosen = flow_id or declared or stem or ""
        if not chosen:
            raise StoreError("The document has no `flow_id`; name the flow it is a version of")
        check_id("flow", chosen)
    findings = [
        StoredFinding(
            code=x.finding.code,
            severity="error" if x.rule.severity is Severity.ERROR else "warning",
            message=x.finding.text,
            row=x.span.row,
            column=x.span.column,
            file=x.filename,
        )
        for x in located
    ]
    return Prepared(
        flow_id=chosen,
        document=text,
        hash=content_hash(value, loaded.pin),
        findings=findings,
        # a document that does not decode as a flow has errors: it is never published
        enabled=loaded.flow is None or loaded.flow.enabled,
        kind="template" if loaded.template else "flow",
        template=loaded.pin,
    )


def _template_id(declared: str | None, asked: str | None, filename: str) -> str:
    """A template's id: the one it declares (a valid one), which must be the one asked
    for, if any."""
    if not declared or not valid_id(declared):
        raise StoreError(
            f"`{filename}` declares no valid `template_id`: use 1-128 letters, digits, "
            "`_`, `.` or `-`, starting with a letter or digit"
        )
    if asked is not None and asked != declared:
        raise StoreError(f"`{filename}` is template `{declared}`, not `{asked}`")
    return declared


async def prepare_for(
    tenant: TenantStore,
    data: bytes | str,
    filename: str | None = None,
    *,
    flow_id: str | None = None,
) -> Prepared:
    """:func:`prepare` as ``tenant``'s flow or template (held to its policy,
    ``boundary()``; resolved against the published versions of the templates it
    extends: its own, or the operator's shared ones), in a thread: lint costs time in
    proportion to the document, which the event loop owes every other request."""
    from flowctl.engine.store.templates import published_templates

    boundary = await tenant.boundary()
    templates = await published_templates(tenant, data)
    return await asyncio.to_thread(
        prepare, data, filename, flow_id=flow_id, boundary=boundary, templates=templates
    )


async def push_document(
    tenant: TenantStore,
    data: bytes | str,
    *,
    actor: str,
    flow_id: str | None = None,
    filename: str | None = None,
) -> PushResult:
    """Prepare ``data`` as the tenant's flow (:func:`prepare_for`) and store it as the
    flow's next version (``TenantStore.push``)."""
    prepared = await prepare_for(tenant, data, filename, flow_id=flow_id)
    return await tenant.push(prepared, actor=actor)


async def push_template_document(
    tenant: TenantStore,
    data: bytes | str,
    *,
    actor: str,
    filename: str | None = None,
) -> TemplatePushResult:
    """Prepare ``data`` as the tenant's template (:func:`prepare_for`: held to its
    policy) and store it as the template's next version."""
    prepared = await prepare_for(tenant, data, filename)
    return await tenant.push_template(prepared, actor=actor)


async def push_shared_template(
    shelf: TemplateShelf,
    data: bytes | str,
    *,
    actor: str,
    filename: str | None = None,
    boundary: Boundary = OPERATOR,
) -> TemplatePushResult:
    """Prepare ``data`` as one of the operator's shared templates (``shelf``:
    ``Store.shared_templates()``; linted under ``boundary``, the operator's with its
    catalog) and store it as the template's next version. A shared template extends
    only shared ones."""
    from flowctl.engine.store.templates import published_shared_templates

    templates = await published_shared_templates(shelf, data)
    prepared = await asyncio.to_thread(
        prepare, data, filename, boundary=boundary, templates=templates
    )
    return await shelf.push_template(prepared, actor=actor)


def lint_errors(errors: Sequence[StoredFinding]) -> str:
    """``2 lint errors: 15:9: FL104 ...; 20:3: FL102 ...``: the first three shown, as a
    refusal to publish or store a version names them."""
    shown = "; ".join(f"{f.row}:{f.column}: {f.code} {f.message}" for f in errors[:3])
    more = f"; and {len(errors) - 3} more" if len(errors) > 3 else ""
    noun = "error" if len(errors) == 1 else "errors"
    return f"{len(errors)} lint {noun}: {shown}{more}"


def unified_diff(old: str, new: str, fromfile: str, tofile: str) -> str:
    """A unified diff of two stored documents, each shown as 2-space-indented JSON in
    its own key order (one line per entry), so a change in one value is one line
    whatever the authors' formatting (``flowctl store diff``, the API's diff)."""
    import difflib

    return "".join(
        difflib.unified_diff(_pretty(old), _pretty(new), fromfile=fromfile, tofile=tofile)
    )


def _pretty(document: str) -> list[str]:
    text = json.dumps(json.loads(document), indent=2, ensure_ascii=False)
    return [line + "\n" for line in text.splitlines()]
