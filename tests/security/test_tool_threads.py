"""Python tools that hang: a plain function past its timeout keeps its thread, so the
registry counts it as stuck until it returns, refuses new plain-function calls while too
many are stuck, and never lets them hold up coroutine tools or mocks."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator
from typing import Any

import msgspec
import pytest
import toolbox

from flowctl.engine.spec import Tool
from flowctl.engine.threads import MAX_STUCK_CALLS, ToolThreads
from flowctl.engine.tools import ToolRegistry, ToolResult


def tool(**fields: Any) -> Tool:
    return msgspec.convert({"description": "A tool used by the tests", **fields}, Tool)


STUCK = tool(kind="python", name="stuck", function="toolbox:wait_for_gate", timeout=0.05)
LOOKUP = tool(kind="python", name="lookup", function="toolbox:lookup_patient")
BOOK = tool(kind="python", name="book", function="toolbox:book")
MOCK = tool(kind="mock", name="slots", result={"slots": ["Tue"]})
TIMED_OUT = ToolResult(ok=False, error="Tool `stuck` timed out after 0.05 s")


def _tool_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("flowctl-tool")]


class Gate:
    """Holds `toolbox:wait_for_gate` calls until opened, and knows the tool threads
    started since it was made (other tests' idle ones are none of its business)."""

    def __init__(self) -> None:
        self.event = toolbox.GATE
        self.event.clear()
        self._before = set(_tool_threads())

    def threads(self) -> list[threading.Thread]:
        return [t for t in _tool_threads() if t not in self._before]

    async def open(self) -> None:
        """Open the gate and wait for the threads started since to end (their pools are
        shut down by then)."""
        self.event.set()
        for thread in self.threads():
            await asyncio.to_thread(thread.join, toolbox.GATE_LIMIT)


@pytest.fixture
async def gate() -> AsyncIterator[Gate]:
    """A shut gate; opened afterwards, so no test leaves a thread behind."""
    held = Gate()
    yield held
    await held.open()


async def test_a_plain_function_past_its_timeout_is_a_timeout_error(gate: Gate) -> None:
    registry = ToolRegistry({"stuck": STUCK})
    try:
        assert await registry.call(STUCK, {}, {}) == TIMED_OUT
        assert registry.threads.stuck == 1
    finally:
        await registry.close()


async def test_stuck_calls_leave_coroutine_tools_and_mocks_running(gate: Gate) -> None:
    registry = ToolRegistry({}, max_stuck_calls=8)
    try:
        # As many stuck calls as asyncio's default executor has threads on a small machine.
        results = await asyncio.gather(*(registry.call(STUCK, {}, {}) for _ in range(8)))
        assert results == [TIMED_OUT] * 8
        assert registry.threads.stuck == 8
        assert await registry.call(BOOK, {"day": "Tue"}, {}) == ToolResult(
            ok=True, value={"status": "booked", "slot": "Tue 10:00"}
        )
        assert await registry.call(MOCK, {}, {}) == ToolResult(ok=True, value={"slots": ["Tue"]})
    finally:
        await registry.close()


async def test_at_the_stuck_cap_plain_functions_are_refused_and_logged(
    gate: Gate, caplog: pytest.LogCaptureFixture
) -> None:
    registry = ToolRegistry({})
    try:
        for _ in range(MAX_STUCK_CALLS):
            assert await registry.call(STUCK, {}, {}) == TIMED_OUT
        with caplog.at_level(logging.WARNING, logger="flowctl.engine.threads"):
            result = await registry.call(LOOKUP, {"phone": "555"}, {})
        assert result == ToolResult(
            ok=False,
            error="Tool `lookup` was not run: 4 earlier calls of python tools timed out "
            "and are still running",
        )
        assert [r.getMessage() for r in caplog.records] == [
            *(
                f"python tool stuck still runs after its call was abandoned ({n} stuck)"
                for n in range(1, 5)
            ),
            "python tool lookup refused: 4 calls that timed out still run",
        ]
        assert await registry.call(BOOK, {"day": "Wed"}, {}) == ToolResult(
            ok=True, value={"status": "booked", "slot": "Wed 10:00"}
        )
    finally:
        await registry.close()


async def test_close_does_not_wait_for_stuck_threads_and_they_still_count(
    gate: Gate,
) -> None:
    registry = ToolRegistry({}, max_stuck_calls=2)
    for _ in range(2):
        assert await registry.call(STUCK, {}, {}) == TIMED_OUT
    # The gate is still shut: if close() waited for the threads, this would time out.
    await asyncio.wait_for(registry.close(), toolbox.GATE_LIMIT / 2)
    assert not gate.event.is_set() and len(gate.threads()) == 2
    await gate.open()
    # Both returned, so nothing is stuck; the next call starts a new pool.
    assert registry.threads.stuck == 0
    assert await registry.call(LOOKUP, {"phone": "555"}, {}) == ToolResult(
        ok=True, value={"patient": {"id": "P-17", "name": "Ana Ruiz"}, "phone": "555"}
    )
    await registry.close()


async def test_a_call_abandoned_while_queued_is_not_stuck(gate: Gate) -> None:
    threads = ToolThreads(max_stuck=2, workers=1)
    try:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(threads.run(toolbox.wait_for_gate, {}, name="a"), 0.05)
        assert threads.stuck == 1  # its function runs on, in the only thread
        # Queued behind it, never started: cancelled from the queue, nothing runs on.
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(
                threads.run(toolbox.lookup_patient, {"phone": "1"}, name="b"), 0.05
            )
        assert threads.stuck == 1
    finally:
        threads.close()
