"""``/api/v1/knowledge``: the tenant's knowledge bases, which its flows' knowledge tools
search (docs/knowledge.md). Documents are added, replaced (each a new revision, the old
ones kept and readable), listed and deleted (for good) by name; each change is audited
under the caller's key. A search answers as a knowledge tool would, so what a call
will find can be tried before the call. Reading needs a viewer key, changing a
developer key; another tenant's bases are 404, as ones that do not exist."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, delete, get, post, put
from litestar.params import Parameter

from flowctl.api.auth import Caller
from flowctl.api.errors import responses
from flowctl.api.models import DocumentBody, SearchRequest
from flowctl.engine.knowledge.retrieval import Answer
from flowctl.engine.store import (
    Document,
    DocumentInfo,
    DocumentPut,
    DocumentRevision,
    KnowledgeBase,
)

__all__ = ["KnowledgeController"]

READ = {"need": "viewer"}
WRITE = {"need": "developer"}
Base = Annotated[str, Parameter(description="The knowledge base's name.", max_length=128)]
Name = Annotated[
    str, Parameter(description="The document's name, e.g. `hours.md`.", max_length=128)
]
DOCUMENT = "/{base:str}/documents/{name:str}"


class KnowledgeController(Controller):
    path = "/knowledge"
    tags = ("knowledge",)
    opt = READ  # the handlers that change something say WRITE

    @get("/", responses=responses(401, 403))
    async def list_bases(self, caller: Caller) -> list[KnowledgeBase]:
        """The tenant's knowledge bases: each one's documents, chunks and bytes."""
        return await caller.tenant.knowledge_bases()

    @get("/{base:str}/documents", responses=responses(401, 403, 404))
    async def list_documents(self, caller: Caller, base: Base) -> list[DocumentInfo]:
        """The documents of a base as they are now (their current revisions)."""
        return await caller.tenant.documents(base)

    @get(DOCUMENT, responses=responses(401, 403, 404))
    async def get_document(
        self,
        caller: Caller,
        base: Base,
        name: Name,
        revision: Annotated[
            int | None,
            Parameter(description="A revision (default: the current one).", ge=1, le=2**31),
        ] = None,
    ) -> Document:
        """A revision of a document, with its content as it was added."""
        return await caller.tenant.document(base, name, revision)

    @get(DOCUMENT + "/revisions", responses=responses(401, 403, 404))
    async def list_revisions(
        self, caller: Caller, base: Base, name: Name
    ) -> list[DocumentRevision]:
        """Every revision of a document, oldest first: who added it and when."""
        return await caller.tenant.revisions(base, name)

    @put(DOCUMENT, opt=WRITE, responses=responses(400, 401, 403, 413))
    async def put_document(
        self, caller: Caller, base: Base, name: Name, data: DocumentBody
    ) -> DocumentPut:
        """Add a document to a base (which then exists), or replace it with a new
        revision: read by its format, cut into passages and indexed at once, so the next
        search finds them. `changed: false` when the content is the current revision's.
        403 past the tenant's limit of stored documents."""
        return await caller.tenant.put_document(
            base, name, data.content, format=data.format, actor=caller.actor
        )

    @delete(DOCUMENT, opt=WRITE, status_code=200, responses=responses(401, 403, 404))
    async def delete_document(self, caller: Caller, base: Base, name: Name) -> DocumentInfo:
        """Delete a document, every revision of it and its passages, for good (the
        audit log keeps its name and hash). Answers the document as it was."""
        return await caller.tenant.delete_document(base, name, actor=caller.actor)

    @post("/{base:str}/search", status_code=200, responses=responses(401, 403, 404))
    async def search(self, caller: Caller, base: Base, data: SearchRequest) -> Answer:
        """The passages of the base that best answer `query`, best first, as a knowledge
        tool gets them (its `min_score` aside): each with its source document, section,
        and score relative to the best passage (1.0)."""
        found = await caller.tenant.search(base, data.query, top_k=data.top_k)
        return Answer(base=base, query=data.query, passages=found)
