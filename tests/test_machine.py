"""The machine built from the transition table, and the `transitions` internals it uses.

`flowctl.engine.machine` reaches into `transitions` (private methods, the shape of its
events), and pyproject.toml pins the range of releases it was written for. The checks
below fail naming what moved, so widening the pin starts from a list, not a traceback
in a session.
"""

from __future__ import annotations

import inspect
import tomllib
from collections.abc import Callable
from typing import Any

import pytest
import transitions
from conftest import ROOT
from packaging.requirements import Requirement
from transitions import Machine, MachineError
from transitions.core import Event

from flowctl.engine.machine import STATE_ATTRIBUTE, FlowMachine, Transition, build_machine

MOVED = (
    "transitions {version} changed `{what}` (flowctl.engine.machine uses it): expected "
    "{expected}, found {found}. Adapt engine/machine.py, then widen the pin in pyproject.toml."
)

# What flowctl.engine.machine calls, with the parameters it passes (in order).
USED: list[tuple[str, Callable[..., Any], list[str]]] = [
    ("Machine.__init__", Machine.__init__, ["self", "model", "states", "initial"]),
    ("Machine.set_state", Machine.set_state, ["self", "state", "model"]),
    ("Machine.add_model", Machine.add_model, ["self", "model", "initial"]),
    ("Machine.remove_model", Machine.remove_model, ["self", "model"]),
    ("Machine.event_cls", Machine.event_cls.__init__, ["self", "name", "machine"]),
    ("Machine.transition_cls", Machine.transition_cls.__init__, ["self", "source", "dest"]),
    ("Event.add_transition", Event.add_transition, ["self", "transition"]),
    ("Event.trigger", Event.trigger, ["self", "model"]),
]
KEYWORDS = ["auto_transitions", "send_event", "model_attribute"]  # Machine.__init__'s


def moved(what: str, expected: object, found: object) -> str:
    return MOVED.format(version=transitions.__version__, what=what, expected=expected, found=found)


def test_transitions_is_within_the_pinned_range() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    pins = [Requirement(r) for r in pyproject["project"]["dependencies"]]
    pin = next(r for r in pins if r.name == "transitions")
    assert pin.specifier.contains(transitions.__version__), moved(
        "its version", pin.specifier, transitions.__version__
    )
    assert pin.specifier.contains("0.9.3") and not pin.specifier.contains("0.10.0")


@pytest.mark.parametrize(("what", "function", "leading"), USED, ids=[u[0] for u in USED])
def test_transitions_internals_keep_their_signatures(
    what: str, function: Callable[..., Any], leading: list[str]
) -> None:
    found = list(inspect.signature(function).parameters)
    assert found[: len(leading)] == leading, moved(what, leading, found)


def test_transitions_internals_are_still_there() -> None:
    for name in ("_create_event", "_create_transition"):
        assert callable(getattr(Machine, name, None)), moved(f"Machine.{name}", "a method", None)
    keywords = list(inspect.signature(Machine.__init__).parameters)
    for keyword in KEYWORDS:
        assert keyword in keywords, moved("Machine.__init__", f"`{keyword}`", keywords)
    machine = Machine(model=None, states=["A"], initial="A", auto_transitions=False)
    assert isinstance(machine.events, dict), moved("Machine.events", "a dict", machine.events)
    assert isinstance(machine.models, list), moved("Machine.models", "a list", machine.models)


class Model:
    pass


def test_machine_takes_the_transition_it_is_told_to() -> None:
    table = [
        Transition("book", "Host", "Booking", "handoff", ("caller_name is set",)),
        Transition("check", "Host", None, "action"),
        Transition("end_call", "Host", None, "action"),
        Transition("end_call", "Booking", None, "action"),
    ]
    machine = build_machine(["Host", "Booking"], "Host", table)
    assert isinstance(machine, FlowMachine)
    assert sorted(machine.events) == ["book", "check", "end_call"]
    assert sorted(machine.events["end_call"].transitions) == ["Booking", "Host"]
    model = Model()
    machine.add_model(model)
    assert getattr(model, STATE_ATTRIBUTE) == "Host"
    assert machine.events["check"].trigger(model)
    assert getattr(model, STATE_ATTRIBUTE) == "Host"
    # No guard: the conversation checked the edge's conditions before it got here.
    assert machine.events["book"].trigger(model)
    assert getattr(model, STATE_ATTRIBUTE) == "Booking"
    with pytest.raises(MachineError):
        machine.events["check"].trigger(model)
    machine.remove_model(model)
    assert machine.models == []
