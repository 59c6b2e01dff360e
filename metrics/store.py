"""The store, timed: :func:`timed` wraps a ``Store`` so each operation, on the store or
on a tenant's handle, is observed in ``flowctl_store_operation_seconds`` under its
method's name, and counted in ``flowctl_store_errors`` when it raises.

A proxy rather than a hook in each backend: SQLite and PostgreSQL are timed alike, as
the worker and the API see them, and a method a backend adds is timed without a line
here. Two are left out: ``wait_for_change`` waits by design (up to its timeout), and
``close``.
"""

from __future__ import annotations

import functools
import inspect
import time
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from flowctl.engine.store import Store, TenantStore
    from flowctl.metrics.recorder import Metrics

__all__ = ["UNTIMED", "timed"]

UNTIMED = frozenset({"wait_for_change", "close"})


def timed(store: Store, metrics: Metrics) -> Store:
    """``store`` with every operation timed into ``metrics``."""
    # The proxy answers every attribute of the Store protocol (through __getattr__),
    # which mypy cannot see.
    return cast("Store", _Timed(store, metrics))


class _Timed:
    """Times the coroutine methods of ``inner``; passes everything else through."""

    def __init__(self, inner: Any, metrics: Metrics) -> None:
        self._inner = inner
        self._metrics = metrics

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._inner, name)
        if name.startswith("_") or name in UNTIMED or not callable(value):
            return value
        if name == "tenant":
            return self._tenant
        if not inspect.iscoroutinefunction(value):
            return value
        wrapped = _timing(value, name, self._metrics)
        self.__dict__[name] = wrapped  # looked up here next time, not through __getattr__
        return wrapped

    def _tenant(self, tenant_id: str) -> TenantStore:
        return cast("TenantStore", _Timed(self._inner.tenant(tenant_id), self._metrics))

    async def __aenter__(self) -> _Timed:
        await self._inner.__aenter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._inner.__aexit__(exc_type, exc, tb)


def _timing(
    method: Callable[..., Awaitable[Any]], operation: str, metrics: Metrics
) -> Callable[..., Awaitable[Any]]:
    @functools.wraps(method)
    async def call(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            result = await method(*args, **kwargs)
        except Exception as exc:  # not a cancellation: the store did not fail
            metrics.store_call(operation, time.perf_counter() - start, exc)
            raise
        metrics.store_call(operation, time.perf_counter() - start, None)
        return result

    return call
