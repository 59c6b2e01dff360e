"""Knowledge bases from files, for sessions that have no store: ``flowctl simulate``
reads the bases a scenario file lists (``"knowledge": {"clinic": ["knowledge/clinic"]}``)
or ``--knowledge BASE=PATH`` names, and indexes them in memory with the store's own
embedded index (an SQLite store in memory: the same chunking, the same FTS5 table,
the same BM25 query a store on SQLite runs), so a dry run retrieves exactly what a
tenant's store would.

Files are read and checked when the :class:`FileKnowledge` is made (a missing file or
one of no known format is an error before any session starts); the index is built by
:meth:`FileKnowledge.open`, or on the first search.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Self

import msgspec

from flowctl.engine.errors import FlowReadError
from flowctl.engine.knowledge.documents import FORMATS, format_for
from flowctl.engine.knowledge.retrieval import Passage

if TYPE_CHECKING:
    from flowctl.engine.store import Store, TenantStore

__all__ = ["FileKnowledge", "KnowledgeError", "SourceFile", "read_documents"]

# The tenant the in-memory store holds the files under: nobody else's bases are there.
_TENANT = "files"


class KnowledgeError(FlowReadError):
    """Knowledge files that cannot be read, or a base no file was given for."""


class SourceFile(msgspec.Struct, frozen=True):
    """A document read from a file: its base, its name (the file's), its text and the
    format its extension says."""

    base: str
    name: str
    path: str
    content: str
    format: str


def _files(path: Path) -> list[Path]:
    """``path`` itself, or every file of a known format under the folder it is (sorted)."""
    if path.is_dir():
        found = sorted(p for p in path.rglob("*") if p.is_file() and format_for(p.name))
        if not found:
            extensions = ", ".join(e for es in FORMATS.values() for e in es)
            raise KnowledgeError(f"`{path}` holds no documents ({extensions})")
        return found
    if not path.exists():
        raise KnowledgeError(f"No file or folder `{path}`")
    return [path]


def _read(base: str, path: Path) -> SourceFile:
    fmt = format_for(path.name)
    if fmt is None:
        extensions = ", ".join(e for es in FORMATS.values() for e in es)
        hint = " (convert a PDF to text first: `pdftotext FILE`)" if path.suffix == ".pdf" else ""
        raise KnowledgeError(f"`{path}` is not a document of a known format ({extensions}){hint}")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise KnowledgeError(f"Cannot read `{path}`: {exc.strerror or exc}") from None
    try:
        content = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise KnowledgeError(f"`{path}` is not UTF-8 text") from None
    return SourceFile(base, path.name, str(path), content, fmt)


def read_documents(bases: Mapping[str, Sequence[Path]]) -> list[SourceFile]:
    """The documents of each base's files and folders (a folder: every document under
    it), read and checked: a missing file, one of no known format, one that is not
    UTF-8, or two of one name in a base raise :class:`KnowledgeError`."""
    found: list[SourceFile] = []
    seen: dict[tuple[str, str], str] = {}
    for base, paths in bases.items():
        for given in paths:
            for path in _files(Path(given)):
                read = _read(base, path)
                first = seen.setdefault((base, read.name), read.path)
                if first != read.path:
                    raise KnowledgeError(
                        f"Knowledge base `{base}` is given two documents named "
                        f"`{read.name}`: `{first}` and `{read.path}`"
                    )
                found.append(read)
    return found


class FileKnowledge:
    """The :class:`~flowctl.engine.knowledge.retrieval.Retriever` of a session with no
    store: ``bases`` maps each base to its files and folders (a folder: every document
    under it). ``hint`` ends the error for a base that was not given (how to give one).
    Close it (or ``async with``) to free the in-memory store; it serves one event
    loop."""

    def __init__(self, bases: Mapping[str, Sequence[Path]], *, hint: str = "") -> None:
        self.hint = hint
        self.files = read_documents(bases)
        self.bases = frozenset(bases)
        self._store: Store | None = None
        self._tenant: TenantStore | None = None
        self._opening = asyncio.Lock()

    async def open(self) -> Self:
        """Build the index (once): every file added to an in-memory store. A file the
        store refuses (too large, no text) raises the store's error, naming it."""
        async with self._opening:
            if self._tenant is not None:
                return self
            from flowctl.engine.store import StoreError, open_store

            store = await open_store("sqlite:///:memory:", create=True)
            try:
                await store.create_tenant(_TENANT, actor="flowctl")
                tenant = store.tenant(_TENANT)
                for f in self.files:
                    try:
                        await tenant.put_document(
                            f.base, f.name, f.content, format=f.format, actor="flowctl"
                        )
                    except StoreError as exc:
                        raise KnowledgeError(f"`{f.path}`: {exc}") from None
            except BaseException:
                await store.close()
                raise
            self._store, self._tenant = store, tenant
        return self

    async def search(self, base: str, query: str, *, top_k: int = 3) -> list[Passage]:
        if base not in self.bases:
            raise KnowledgeError(f"Knowledge base `{base}` is not given to this session{self.hint}")
        await self.open()
        assert self._tenant is not None
        return await self._tenant.search(base, query, top_k=top_k)

    async def close(self) -> None:
        store, self._store, self._tenant = self._store, None, None
        if store is not None:
            await store.close()

    async def __aenter__(self) -> Self:
        return await self.open()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def __repr__(self) -> str:
        return f"FileKnowledge(<{len(self.bases)} bases, {len(self.files)} documents>)"
