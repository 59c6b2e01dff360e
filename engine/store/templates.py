"""The templates a stored document is resolved against, read from the store ahead of
resolving it (which is pure and synchronous, ``flowctl.engine.extends``).

- :func:`published_templates`: for a document being pushed, the template its
  ``extends`` names at its published version (the tenant's own of that id, else the
  operator's shared one), then the versions each template version pinned when it was
  pushed. Its resolution pins the first (``Prepared.template``).
- :func:`pinned_templates`: for a stored version, the template version it pinned, and
  so on down: what compiles it, whatever was published since.

Both read at most :data:`~flowctl.engine.extends.MAX_TEMPLATE_DEPTH` templates, and
stop at a template named twice: the resolution reports the loop or the depth. A
tenant reads only its own templates and the operator's; the operator's shelf only the
operator's.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from flowctl.engine.extends import (
    MAX_TEMPLATE_DEPTH,
    Found,
    Missing,
    TemplateRef,
    extends_of,
    valid_id,
)
from flowctl.engine.store.errors import NotFound

if TYPE_CHECKING:
    from flowctl.engine.store import TemplateShelf, TenantStore
    from flowctl.engine.store.records import TemplateInfo, TemplateVersion, Version

__all__ = [
    "Prefetched",
    "pinned_templates",
    "published_shared_templates",
    "published_templates",
    "resolved_document",
]

Reader = Callable[[TemplateRef], Awaitable["TemplateVersion"]]


class Prefetched:
    """A template lookup (``flowctl.engine.extends.TemplateLookup``) over the templates
    of one chain, read ahead: what is found at each depth."""

    __slots__ = ("found",)

    def __init__(self, found: list[Found | Missing]) -> None:
        self.found = found

    def __repr__(self) -> str:
        names = [f.name if isinstance(f, Found) else f.kind for f in self.found]
        return f"Prefetched({names})"

    def __call__(self, template_id: str, depth: int, /) -> Found | Missing:
        if depth > len(self.found):
            return Missing()
        entry = self.found[depth - 1]
        if isinstance(entry, Found) and entry.template_id != template_id:
            return Missing()
        return entry


async def published_templates(tenant: TenantStore, data: bytes | str) -> Prefetched | None:
    """The templates ``data`` (a document ``tenant`` is pushing) is resolved against:
    its own of the id its ``extends`` names, else the operator's shared one. None when
    it extends none."""

    async def read(ref: TemplateRef) -> TemplateVersion:
        return await tenant.template(ref.template_id, ref.version, shared=ref.shared)

    return await _published(tenant.templates, read, data)


async def published_shared_templates(shelf: TemplateShelf, data: bytes | str) -> Prefetched | None:
    """As :func:`published_templates`, for a template the operator is pushing to its
    shared ones (``shelf``): it may extend only shared templates."""

    async def read(ref: TemplateRef) -> TemplateVersion:
        if not ref.shared:  # cannot be: a shared version pins only shared ones
            raise NotFound(f"Unknown shared template `{ref.template_id}`")
        return await shelf.template(ref.template_id, ref.version)

    return await _published(shelf.templates, read, data)


async def pinned_templates(tenant: TenantStore, pin: TemplateRef | None) -> Prefetched | None:
    """The templates a stored version of ``tenant``'s pinned (``pin``: its ``template``),
    for compiling it: that version, then the one it pinned, and so on."""
    if pin is None:
        return None

    async def read(ref: TemplateRef) -> TemplateVersion:
        return await tenant.template(ref.template_id, ref.version, shared=ref.shared)

    return await _chain(pin, read)


async def _published(
    listing: Callable[[], Awaitable[list[TemplateInfo]]], read: Reader, data: bytes | str
) -> Prefetched | None:
    wanted = await asyncio.to_thread(_extends, data)
    if wanted is None:
        return None
    infos = await listing()
    own = [i for i in infos if not i.shared]
    shared = [i for i in infos if i.shared]
    info = next((i for i in (*own, *shared) if i.template_id == wanted), None)
    if info is None:
        return Prefetched([Missing(known=tuple(sorted({i.template_id for i in infos})))])
    if info.published is None:
        return Prefetched([Missing(kind="unpublished")])
    first = TemplateRef(template_id=wanted, version=info.published, shared=info.shared)
    return await _chain(first, read)


async def _chain(first: TemplateRef, read: Reader) -> Prefetched:
    found: list[Found | Missing] = []
    seen: set[str] = set()
    ref: TemplateRef | None = first
    while ref is not None and len(found) < MAX_TEMPLATE_DEPTH and ref.template_id not in seen:
        seen.add(ref.template_id)
        try:
            version = await read(ref)
        except NotFound:
            found.append(Missing())
            break
        found.append(
            Found(
                template_id=version.template_id,
                data=version.document.encode(),
                name=str(ref),
                ref=ref,
            )
        )
        ref = version.template
    return Prefetched(found)


def _extends(data: bytes | str) -> str | None:
    """The template a document names, when it is a JSON object naming a valid id."""
    try:
        text = data.decode("utf-8-sig") if isinstance(data, bytes) else data
        value: Any = json.loads(text)
    except ValueError:
        return None
    if not isinstance(value, dict):
        return None
    wanted = extends_of(value)
    return wanted if wanted is not None and valid_id(wanted) else None


async def resolved_document(tenant: TenantStore, version: Version) -> dict[str, Any] | None:
    """A stored version's document as resolved with the template versions it pinned
    (itself, when it extends none); None when it does not resolve."""
    from flowctl.engine.load import load_bytes

    templates = await pinned_templates(tenant, version.template)
    name = f"{version.flow_id}@v{version.version}"

    def resolve() -> dict[str, Any] | None:
        if templates is None:
            document: dict[str, Any] = json.loads(version.document)
            return document
        return load_bytes(version.document.encode(), name, templates=templates).resolved

    return await asyncio.to_thread(resolve)
