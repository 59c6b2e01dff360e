"""Per-tenant session limits (``limits.max_concurrent_sessions``), counted in one process.

A voice worker accepts jobs in one process and runs each in a child process of its own,
so the process that accepts is the one place that sees every session it took on:
:class:`SessionSlots` counts them there. A job holds a slot from the moment it is
admitted; the slot is freed when accepting fails (:meth:`SessionSlots.release`) or
when the job, once running (:meth:`SessionSlots.started`), is no longer among the
running ones (:meth:`SessionSlots.sync`).

The count is per worker process: two workers each admit up to the limit. The store
counts sessions across workers (``TenantStore.start_session``); until the worker
records its sessions there, the limit is per worker.

Pure: no I/O, no LiveKit. Not thread-safe: one event loop uses it.
"""

from __future__ import annotations

from collections.abc import Iterable

from flowctl.engine.routing import Rejected
from flowctl.engine.tenants import Tenant

__all__ = ["SessionSlots"]


class SessionSlots:
    """The sessions each tenant holds in this process."""

    __slots__ = ("_counts", "_running", "_tenant_of")

    def __init__(self) -> None:
        self._tenant_of: dict[str, str] = {}  # job id -> tenant id
        self._counts: dict[str, int] = {}
        self._running: set[str] = set()

    def __len__(self) -> int:
        return len(self._tenant_of)

    def count(self, tenant_id: str) -> int:
        """Sessions the tenant holds here (admitted and not yet released)."""
        return self._counts.get(tenant_id, 0)

    def admit(self, tenant: Tenant, job_id: str) -> Rejected | None:
        """Take a slot for ``job_id``, or the refusal when the tenant is at its limit.
        Admitting a job that already holds a slot changes nothing."""
        if job_id in self._tenant_of:
            return None
        tid = tenant.tenant_id
        limit = tenant.limits.max_concurrent_sessions
        held = self.count(tid)
        if limit is not None and held >= limit:
            sessions = "session" if held == 1 else "sessions"
            return Rejected(
                reason=f"Tenant `{tid}` already runs {held} {sessions} in this worker process, "
                f"its limit (`limits.max_concurrent_sessions`)",
                tenant_id=tid,
            )
        self._tenant_of[job_id] = tid
        self._counts[tid] = held + 1
        return None

    def started(self, job_id: str) -> None:
        """The job runs: from now on :meth:`sync` frees its slot once it is gone."""
        if job_id in self._tenant_of:
            self._running.add(job_id)

    def release(self, job_id: str) -> None:
        """Free the job's slot (unknown ids are ignored: releasing twice is harmless)."""
        tid = self._tenant_of.pop(job_id, None)
        if tid is None:
            return
        self._running.discard(job_id)
        left = self._counts[tid] - 1
        if left:
            self._counts[tid] = left
        else:
            del self._counts[tid]

    def sync(self, running: Iterable[str]) -> None:
        """Free the slots of started jobs that are not in ``running`` (they ended).
        Jobs still being accepted keep theirs."""
        gone = self._running.difference(running)
        for job_id in gone:
            self.release(job_id)
