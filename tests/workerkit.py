"""Helpers for worker tests: services with stand-in providers, waiting for a session to
reach a condition without sleeping, and what LiveKit's OpenAI objects were made with."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Any

import pytest

from flowctl.engine.library import FlowLibrary
from flowctl.metrics import Metrics
from flowctl.worker.fakes import FakePlugins, FakeRoom
from flowctl.worker.server import Services
from flowctl.worker.session import SessionFactory

# A closing session waits this long for the caller's last words (LiveKit: 2 s); no
# test has any to wait for.
NO_WAIT = {"session_close_transcript_timeout": 0.0}

# Events after which a condition on the session may have changed.
_EVENTS = (
    "agent_state_changed",
    "user_state_changed",
    "conversation_item_added",
    "function_tools_executed",
    "speech_created",
    "close",
)


class Tracers:
    """Stands in for OpenTelemetry: records the sessions it was asked to trace."""

    def __init__(self) -> None:
        self.traced: list[dict[str, str]] = []

    def __call__(self, attributes: Mapping[str, str]) -> None:
        self.traced.append(dict(attributes))


def services(
    library: FlowLibrary,
    vads: Any,
    room: FakeRoom,
    plugins: FakePlugins | None = None,
    tracer: Tracers | None = None,
    metrics: Metrics | None = None,
) -> Services:
    factory = SessionFactory(plugins or FakePlugins(), vads, options=NO_WAIT)
    return Services(
        library, factory, room=lambda ctx: room, tracer=tracer or Tracers(), metrics=metrics
    )


async def until(session: Any, holds: Callable[[], bool], *, limit: float = 10.0) -> None:
    """Return once ``holds()`` is true, checking after each session event. ``limit``
    only stops a broken test from hanging; nothing is timed."""
    if holds():
        return
    done = asyncio.get_running_loop().create_future()

    def check(*_: Any) -> None:
        if not done.done() and holds():
            done.set_result(None)

    for name in _EVENTS:
        session.on(name, check)
    try:
        await asyncio.wait_for(done, limit)
    finally:
        for name in _EVENTS:
            session.off(name, check)


def record_openai_options(monkeypatch: pytest.MonkeyPatch) -> Callable[[Any], dict[str, Any]]:
    """Stand LiveKit's OpenAI plugin classes in for ones that keep the keyword arguments
    each object was made with, and return how to read them: LiveKit keeps an object's
    voice and client to itself, and what we gave its constructor is the fact a test
    checks."""
    from livekit.plugins import openai

    def recording(base: type) -> type:
        class Recording(base):  # type: ignore[valid-type,misc]
            def __init__(self, **options: Any) -> None:
                self.made_with = options
                super().__init__(**options)

        Recording.__name__ = Recording.__qualname__ = base.__name__
        return Recording

    for name in ("STT", "LLM", "TTS"):
        monkeypatch.setattr(openai, name, recording(getattr(openai, name)))
    return lambda made: made.made_with


def record_sessions(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Each ``AgentServer.rtc_session`` registration, as the server it was made on, the
    entrypoint and the keyword options (``agent_name``, ``on_request``): LiveKit keeps
    them to itself once registered."""
    from livekit.agents import AgentServer

    registered: list[dict[str, Any]] = []
    register = AgentServer.rtc_session

    def rtc_session(server: AgentServer, func: Any = None, **options: Any) -> Any:
        registered.append({"server": server, "entrypoint": func, **options})
        return register(server, func, **options)

    monkeypatch.setattr(AgentServer, "rtc_session", rtc_session)
    return registered


def assert_covers_everything(out: str) -> None:
    """``flowctl simulate --coverage`` printed that every state and edge was reached."""
    lines = out.splitlines()
    coverage = next(line for line in lines if line.startswith("coverage: "))
    states, edges = coverage.removeprefix("coverage: states ").split(", edges ")
    assert states.split("/")[0] == states.split("/")[1], coverage
    assert edges.split("/")[0] == edges.split("/")[1], coverage
    assert not [line for line in lines if line.startswith(("  state never", "  edge never"))]
