"""Threads for python tools that are plain functions, bounded, with stuck calls counted.

A plain (sync) function runs in a thread so it cannot block the event loop, and a
thread cannot be stopped: when the call times out the conversation moves on, but the
thread runs until the function returns. In asyncio's default executor such stragglers
piled up until no later tool (and no DNS lookup, which uses it too) could run. So each
:class:`~flowctl.engine.tools.ToolRegistry` runs its plain functions in a :class:`ToolThreads`:

- its own ``ThreadPoolExecutor`` of at most ``workers`` threads, started on demand;
- a call abandoned while its function runs (its timeout passed, or the call was
  cancelled) is *stuck* until the function returns; while ``max_stuck`` calls are stuck,
  a new call is refused at once with :class:`ThreadsBusy` rather than queued behind
  them. Coroutine tools, http tools and mocks never use the pool, so they keep working;
- :meth:`ToolThreads.close` shuts the pool down without waiting: queued calls are
  cancelled, stuck threads end when their functions return.

A registry serves one conversation, so one call's broken tool never holds up another
call's. (The interpreter still waits for running threads when it exits; a job process
that hangs there is ended by LiveKit's shutdown timeout.)
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import logging
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

__all__ = ["MAX_STUCK_CALLS", "ThreadsBusy", "ToolThreads"]

logger = logging.getLogger(__name__)

# A conversation is one phone call: a tool that is still running after its timeout more
# than a few times is broken, and refusing at once beats a caller waiting in silence.
MAX_STUCK_CALLS = 4


class ThreadsBusy(Exception):
    """``stuck`` abandoned calls still hold threads; no new call runs until one ends."""

    def __init__(self, stuck: int) -> None:
        super().__init__(f"{stuck} calls that timed out are still running")
        self.stuck = stuck


class ToolThreads:
    """Runs plain functions in at most ``workers`` threads, refusing new calls while
    ``max_stuck`` abandoned ones are still running. Used from one event loop."""

    def __init__(self, *, max_stuck: int = MAX_STUCK_CALLS, workers: int | None = None) -> None:
        if max_stuck < 1:
            raise ValueError("max_stuck must be at least 1")
        self.max_stuck = max_stuck
        # Twice the stuck cap: with fewer than max_stuck stuck, at least max_stuck + 1
        # calls can still run side by side.
        self.workers = workers if workers is not None else 2 * max_stuck
        self._executor: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()  # the count drops in the worker thread
        self._stuck = 0

    @property
    def stuck(self) -> int:
        """Abandoned calls whose functions have not returned yet."""
        with self._lock:
            return self._stuck

    async def run(self, fn: Callable[..., Any], kwargs: Mapping[str, Any], *, name: str) -> Any:
        """``fn(**kwargs)`` in a pool thread (in a copy of the caller's context, as
        ``asyncio.to_thread``); ``name`` is the tool's, for the log. Raises
        :class:`ThreadsBusy` without running it while too many calls are stuck."""
        stuck = self.stuck
        if stuck >= self.max_stuck:
            logger.warning("python tool %s refused: %d calls that timed out still run", name, stuck)
            raise ThreadsBusy(stuck)
        if self._executor is None:
            self._executor = ThreadPoolExecutor(self.workers, thread_name_prefix="flowctl-tool")
        context = contextvars.copy_context()
        future = self._executor.submit(context.run, functools.partial(fn, **kwargs))
        try:
            return await asyncio.wrap_future(future)
        except asyncio.CancelledError:  # a timeout, or the conversation went away
            if not future.cancel():  # already running: the thread goes on
                self._hold(future, name)
            raise

    def _hold(self, future: Future[Any], name: str) -> None:
        with self._lock:
            self._stuck += 1
            stuck = self._stuck
        logger.warning(
            "python tool %s still runs after its call was abandoned (%d stuck)", name, stuck
        )
        future.add_done_callback(self._release)  # at once if it has just finished

    def _release(self, _: Future[Any]) -> None:
        with self._lock:
            self._stuck -= 1

    def close(self) -> None:
        """Stop the pool without waiting for stuck threads; queued calls are cancelled.
        A later call starts a new pool."""
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None
