"""The store's exceptions, under the engine's root ``FlowError``; each carries the exit
code the CLI uses and a message that names the store and says what to do.

::

    FlowError
    └── StoreError               exit 2   the store cannot be opened or used as asked
        ├── StoreUnavailable     exit 2   missing, read-only, busy, damaged or foreign file
        │   ├── StoreLocked      exit 2   another connection held the lock too long
        │   ├── StoreReadOnly    exit 2   the file (or the URL's mode=ro) forbids writing
        │   ├── StoreCorrupt     exit 2   not an SQLite database, or a damaged one
        │   └── StoreSchemaTooNew exit 2  written by a newer flowctl
        ├── NotFound             exit 2   no such tenant, flow, version, session or key here
        ├── AlreadyExists        exit 2   a tenant or session with that id exists already
        ├── StoreConflict        exit 1   an optimistic check failed: someone changed it first
        ├── PointerRefused       exit 2   the published pointer cannot move so from where it is
        ├── FlowInUse            exit 2   a flow to delete is published or routed to
        ├── CallbackRefused      exit 1   a callback someone else claimed, or one closed
        ├── CallerInCall         exit 1   a caller to forget is on a call right now
        ├── NotPublishable       exit 1   the version has error-level lint findings
        ├── QuotaExceeded        exit 1   the tenant's policy allows it no more versions or bytes
        └── SessionLimitReached  exit 1   the tenant's concurrent-session limit is reached

``NotFound`` is also what a tenant gets for another tenant's rows: the message is the
same as for rows that do not exist, so it never tells one tenant about another.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from flowctl.engine.errors import FlowError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from flowctl.engine.store.records import StoredFinding

__all__ = [
    "AlreadyExists",
    "CallbackRefused",
    "CallerInCall",
    "FlowInUse",
    "NotFound",
    "NotPublishable",
    "PointerRefused",
    "QuotaExceeded",
    "SessionLimitReached",
    "StoreConflict",
    "StoreCorrupt",
    "StoreError",
    "StoreLocked",
    "StoreReadOnly",
    "StoreSchemaTooNew",
    "StoreUnavailable",
]


class StoreError(FlowError):
    """Root of the store's errors: a bad URL, a bad argument, a failed operation."""

    exit_code = 2


class StoreUnavailable(StoreError):
    """The store's file cannot be opened or written as asked."""


class StoreLocked(StoreUnavailable):
    """Another connection held the database's lock for longer than the busy timeout;
    retrying later may succeed."""


class StoreReadOnly(StoreUnavailable):
    """The file, its folder, or the URL (``?mode=ro``) forbids writing."""


class StoreCorrupt(StoreUnavailable):
    """The file is not an SQLite database, is damaged, or is not a flowctl store."""


class StoreSchemaTooNew(StoreUnavailable):
    """The store was migrated by a newer flowctl; this one must not touch it."""


class NotFound(StoreError):
    """No such tenant, flow, version or session, as far as the caller may see."""


class AlreadyExists(StoreError):
    """A tenant or session with that id exists already."""


class StoreConflict(StoreError):
    """The published pointer is not what the caller expected: someone else published or
    rolled back in between. Re-read and decide again.

    ``expected`` and ``current`` are the version the caller expected published and the
    one that is (None: no version); ``refused`` says what was refused and why, without
    the advice the message ends with (the CLI's), for a caller that gives its own."""

    exit_code = 1

    def __init__(
        self, refused: str, advice: str, *, expected: int | None, current: int | None
    ) -> None:
        super().__init__(f"{refused}; {advice}")
        self.refused = refused
        self.expected = expected
        self.current = current


class PointerRefused(StoreError):
    """The flow's published pointer cannot move as asked from where it is: nothing is
    published to unpublish or roll back, nothing earlier was published, or the version
    asked for is not earlier. No one else is involved: asking again changes nothing."""


class FlowInUse(StoreError):
    """A flow cannot be deleted while new sessions may get it: it is published, or the
    tenant's routing names it. The message says what to undo first."""


class CallbackRefused(StoreError):
    """A callback cannot move as asked: someone else has claimed it, or it is done or
    cancelled already. Like :class:`StoreConflict`, someone got there first."""

    exit_code = 1


class CallerInCall(StoreError):
    """A caller cannot be forgotten while one of their calls runs: its record and
    memory are still being written. Asking again once it has ended succeeds."""

    exit_code = 1


class NotPublishable(StoreError):
    """The version has error-level lint findings; ``findings`` lists them."""

    exit_code = 1

    def __init__(self, message: str, findings: Sequence[StoredFinding] = ()) -> None:
        super().__init__(message)
        self.findings = list(findings)


class SessionLimitReached(StoreError):
    """The tenant already runs as many sessions as its ``max_concurrent_sessions``."""

    exit_code = 1


class QuotaExceeded(StoreError):
    """A push would take the tenant past its policy's ``max_versions`` or
    ``max_stored_bytes``."""

    exit_code = 1
