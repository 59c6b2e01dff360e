"""Compiled flows for tests: a document written in the test (a dict, as a flow file
holds it) or a flow file, decoded and compiled the one way every test does it."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

import msgspec
from conftest import FLOWS

from flowctl.engine.compile import CompiledFlow, compile_flow
from flowctl.engine.load import load_path
from flowctl.engine.spec import Flow

# The variables of the bistro the runtime tests' flows serve, declared once.
BISTRO: dict[str, dict[str, Any]] = {
    "caller_name": {"type": "str", "description": "Name"},
    "party_size": {"type": "int", "description": "Guests"},
    "is_member": {"type": "bool", "default": False},
    "restaurant": {"type": "str", "default": "Chez Nous"},
    "slot": {"type": "str", "description": "Booked slot"},
}


def bistro(*names: str, inputs: Collection[str] = ()) -> dict[str, dict[str, Any]]:
    """The bistro's declarations of ``names``, in that order (as a flow's variables or an
    edge's parameters); ``inputs`` come from the session."""
    return {name: {**BISTRO[name], **({"input": True} if name in inputs else {})} for name in names}


# A terminal state for a test's flow to end in.
END: dict[str, Any] = {"name": "End", "instructions": "Bye.", "end": True}


def compile_doc(doc: Mapping[str, Any], *, check: bool = True) -> CompiledFlow:
    """``doc`` decoded as a :class:`Flow` and compiled. ``check=False`` skips lint's
    error rules, for a flow that breaks one on purpose to show what the engine does."""
    return compile_flow(msgspec.convert(doc, Flow), check=check)


def compile_file(path: Path) -> CompiledFlow:
    """The flow file at ``path``, loaded and compiled."""
    loaded = load_path(path)
    assert loaded.flow is not None, f"{path} does not load"
    return compile_flow(loaded.flow)


def compile_example(name: str) -> CompiledFlow:
    """The example flow ``flows/<name>.json``, compiled."""
    return compile_file(FLOWS / f"{name}.json")
