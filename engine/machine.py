"""The transition table, and the ``transitions`` machine built from it.

The table is plain data (``trigger``, ``source``, ``dest``, ``conditions``) that
``flowctl graph`` prints and tests read; the machine is built from it once per flow
version and shared by every session of the version (each session is a model added to
it).

The machine holds no guards: the conversation checks an edge's ``requires`` and
``when`` once, so it can tell the model *why* an edge may not fire, and then takes the
transition. The table's ``conditions`` say what that check is, for people.

This is the one module that reaches into ``transitions``' internals (to add models and
transitions without the public API's per-call costs); pyproject.toml pins the range of
``transitions`` they were written for, and ``tests/test_machine.py`` fails, naming what
changed, if a release moves them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal, cast

import msgspec
from transitions import Machine

__all__ = ["STATE_ATTRIBUTE", "FlowMachine", "Transition", "build_machine"]

# The model attribute holding a session's state: not a valid function name, so no edge
# can be called like it (transitions refuses a trigger named as the attribute).
STATE_ATTRIBUTE = "flowctl:state"


class Transition(msgspec.Struct, frozen=True):
    """One row of the transition table. ``dest`` None: the conversation stays."""

    trigger: str
    source: str
    dest: str | None
    kind: Literal["handoff", "action", "auto"]
    conditions: tuple[str, ...] = ()


class FlowMachine(Machine):
    """A ``transitions`` machine shared by every session of a flow version.

    ``Machine.add_model`` decorates each model with a method per trigger and per state
    (about 170 µs for 60 transitions); sessions call ``events[name].trigger(model)``
    instead, so adding one is a set of its state and an append.
    """

    def add_model(self, model: Any, initial: Any = None) -> None:
        self.set_state(cast(str, initial if initial is not None else self.initial), model=model)
        self.models.append(model)


def build_machine(states: Iterable[str], initial: str, table: Iterable[Transition]) -> FlowMachine:
    """The shared machine for ``states``, starting at ``initial``, with a transition
    per row of ``table`` (a trigger's rows, one per source, share one event)."""
    machine = FlowMachine(
        model=None,
        states=list(states),
        initial=initial,
        auto_transitions=False,
        send_event=False,
        model_attribute=STATE_ATTRIBUTE,
    )
    # What Machine.add_transition does, without its per-call argument juggling (it
    # was most of the cost of compiling a small flow): one event per trigger, one
    # transition per source.
    events = machine.events
    for row in table:
        event = events.get(row.trigger)
        if event is None:
            event = events[row.trigger] = machine._create_event(row.trigger, machine)
        event.add_transition(machine._create_transition(row.source, row.dest))
    return machine
