"""What ``flowctl simulate`` runs: the scenarios and flow it was given (a scenario file
as ``--scenario`` or as FLOW), and the ``--var`` starting variables, read by the types
the flow declares."""

from __future__ import annotations

import typing
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from flowctl.cli.exits import Failure

if TYPE_CHECKING:
    from flowctl.engine.compile import CompiledFlow
    from flowctl.engine.knowledge.files import FileKnowledge
    from flowctl.engine.scenario import Scenario

__all__ = ["NO_KNOWLEDGE", "knowledge", "scenarios", "starting", "variables"]

# How a dry run's knowledge tools get their bases, for the error of one that has none.
NO_KNOWLEDGE = (
    "; give its documents in the scenario file's `knowledge`, or with "
    "`flowctl simulate --knowledge BASE=PATH`"
)


def scenarios(
    scenario_file: Path | None, flow: Path | None, *, override_flow: bool = False
) -> tuple[list[Scenario], Path, bool, dict[str, list[Path]]]:
    """The scenarios to run (none without a scenario file), the flow to run them on,
    whether there is a scenario file, and the knowledge bases it gives (each base's
    files and folders). FLOW may itself be a scenario file: it is then run
    as ``--scenario``. A FLOW other than the one the scenario file names is refused
    unless ``override_flow``: a scenario written for one flow fails on another in ways
    that look like the flow's bugs."""
    from flowctl.engine.scenario import load_scenarios

    if scenario_file is None and flow is not None and _is_scenario_file(flow):
        scenario_file, flow = flow, None
    if scenario_file is None:
        if flow is None:
            raise Failure("give a FLOW file, or --scenario FILE naming one")
        if override_flow:
            raise Failure("--override-flow runs a --scenario file on FLOW: add --scenario")
        return [], flow, False, {}
    from flowctl.engine.scenario import knowledge_paths

    loaded, named = load_scenarios(scenario_file)
    if flow is None:
        if not named.is_file():
            raise Failure(
                f"{scenario_file}: `flow` names `{loaded.flow}`, but there is no file `{named}`"
            )
        flow = named
    elif not override_flow and flow.resolve() != named.resolve():
        raise Failure(
            f"{scenario_file} is written for `{loaded.flow}`, not `{flow}`: give no FLOW to "
            f"run it on its own, or add --override-flow to run it on `{flow}`"
        )
    return list(loaded.scenarios), flow, True, knowledge_paths(loaded, scenario_file)


def _is_scenario_file(path: Path) -> bool:
    """Whether ``path`` is a scenario file by its content (engine/load.py's test)."""
    from flowctl.engine.errors import FlowReadError
    from flowctl.engine.load import SCENARIO_FILE, load_path

    try:
        return load_path(path).other == SCENARIO_FILE
    except FlowReadError:  # the flow's reader says so, with the flow's words
        return False


def variables(pairs: tuple[str, ...], machine: CompiledFlow) -> dict[str, Any]:
    """``--var NAME=VALUE`` pairs. A variable declared as text (``str``, ``enum``) takes
    VALUE as written, so ``caller_phone=5551234`` stays a string; any other VALUE is
    JSON, or else plain text (the session then names the type it wanted)."""
    import json

    values: dict[str, Any] = {}
    for pair in pairs:
        name, eq, value = pair.partition("=")
        if not eq or not name:
            raise Failure(f"`--var {pair}`: write NAME=VALUE")
        declared = machine.variable_types.get(name)
        if declared is str or typing.get_origin(declared) is typing.Literal:
            values[name] = value
            continue
        try:
            values[name] = json.loads(value)
        except json.JSONDecodeError:
            values[name] = value
    return values


def starting(runs: list[Scenario], values: dict[str, Any]) -> list[Scenario]:
    """``runs`` each starting with ``values`` (``--var``), a scenario's own winning."""
    if not values:
        return runs
    return [msgspec.structs.replace(s, variables={**values, **s.variables}) for s in runs]


def knowledge(given: dict[str, list[Path]], pairs: tuple[str, ...]) -> FileKnowledge | None:
    """The knowledge bases of a dry run: the scenario file's (``given``) and
    ``--knowledge BASE=PATH`` pairs (more documents for a base, or a base of its own),
    read now; None when there are none."""
    bases = {base: list(paths) for base, paths in given.items()}
    for pair in pairs:
        base, eq, path = pair.partition("=")
        if not eq or not base or not path:
            raise Failure(f"`--knowledge {pair}`: write BASE=PATH (a file or a folder)")
        bases.setdefault(base, []).append(Path(path))
    if not bases:
        return None
    from flowctl.engine.knowledge.files import FileKnowledge

    return FileKnowledge(bases, hint=NO_KNOWLEDGE)
