"""Replays: a recorded session as a scenario, so production conversations become
regression tests (``flowctl simulate --replay SESSION_ID``).

Each caller turn of the recording becomes a scenario turn: the user's words, the
functions the model called in that turn (``called`` events, with their arguments) as
the scripted model's steps, and what the recording shows the turn did — the state after
it, the edges fired, the calls refused — as its expectations. Tools answer with what
they answered in the recording. Run against another version of the flow, the first
unmet expectation is the first turn where the path diverges.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from flowctl.engine.events import Called, Entered, Event, Fired, RefusedEvent, ToolReturned
from flowctl.engine.scenario import Expect, ModelStep, Scenario, Turn

__all__ = ["recorded", "scenario_from_events", "stored_version"]


def scenario_from_events(name: str, events: Sequence[Any]) -> Scenario:
    """The scenario replaying ``events`` (a recorded session: the engine's history and
    the transcript's ``turn`` events, in order)."""
    variables: dict[str, Any] = {}
    mocks: dict[str, Any] = {}
    state = ""
    turns: list[Turn] = []
    current: dict[str, Any] | None = None

    def close() -> None:
        if current is not None:
            expect = Expect(state=state, edges=current["edges"], refused=current["refused"])
            turns.append(Turn(user=current["user"], model=current["steps"], expect=expect))

    for event in events:
        kind = getattr(event, "role", None)
        if kind == "user":  # a transcript turn of the caller's
            close()
            current = {"user": event.text, "steps": [], "edges": [], "refused": []}
            continue
        if isinstance(event, Entered):
            if event.via is None and not turns and current is None:
                variables = dict(event.variables)
            state = event.state
        if current is None:
            continue
        _add(current, event, mocks)
    close()
    return Scenario(name=name, variables=variables, mocks=mocks, turns=turns)


def _add(turn: dict[str, Any], event: Event, mocks: dict[str, Any]) -> None:
    if isinstance(event, Called):
        turn["steps"].append(ModelStep(call=event.name, args=dict(event.args)))
    elif isinstance(event, Fired):
        turn["edges"].append(event.edge)
    elif isinstance(event, RefusedEvent):
        turn["refused"].append(event.name)
    elif isinstance(event, ToolReturned) and event.ok:
        # The first answer stands for all; a list would read as a sequence of answers.
        answer = [event.value] if isinstance(event.value, list) else event.value
        mocks.setdefault(event.tool, answer)


async def recorded(tenant_store: Any, session_id: str) -> tuple[Scenario, Any]:
    """The scenario replaying a session recorded in ``tenant_store``, and the session's
    record (its flow and the version it ran on)."""
    info = await tenant_store.session(session_id)
    events = await tenant_store.events(session_id)
    return scenario_from_events(f"replay of {session_id}", events), info


async def stored_version(tenant_store: Any, flow_id: str, version: int | None) -> tuple[int, Any]:
    """The number and compiled flow of ``version`` of a stored flow (None: the
    published one); raises ``StoreError`` when there is none to replay against."""
    from flowctl.engine.cache import compile_stored
    from flowctl.engine.store.errors import StoreError

    number = version if version is not None else await tenant_store.published(flow_id)
    if number is None:
        raise StoreError(f"flow `{flow_id}` has no published version; give --against")
    stored = await tenant_store.version(flow_id, number)
    # A stored version is a tenant's flow wherever it runs: a replay compiles it under the
    # tenant's boundary as the worker does, so a version that slipped past an older lint
    # (a python tool naming `os:system`) is refused here too, not run on the operator's
    # machine for a tool call the recording holds no answer for.
    boundary = await tenant_store.boundary()
    return number, await compile_stored(tenant_store, stored, boundary=boundary)
