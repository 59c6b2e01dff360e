"""``flowctl simulate``: a flow dry-run through the real LiveKit agent, text only, in one
of three modes: scenario runs (``--scenario``, ``--explore``), the replay of a recorded
session (``--replay``), or talking to the flow by hand (neither).

The transcripts come from ``flowctl.worker`` as lines that carry their event's kind
(``flowctl.engine.describe``); on a terminal each kind has its colour.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

from flowctl.cli.check import compiled
from flowctl.cli.exits import EXIT_FINDINGS, EXIT_INTERRUPTED, Failure
from flowctl.cli.simulate_store import (
    RecordTo,
    record_to,
    replay_session,
    with_knowledge,
    with_record,
)
from flowctl.cli.store_common import (
    format_option,
    read_catalog,
    store_option,
    templates_option,
    tools_option,
)

if TYPE_CHECKING:
    from flowctl.engine.compile import CompiledFlow
    from flowctl.engine.knowledge.files import FileKnowledge
    from flowctl.engine.scenario import Scenario
    from flowctl.worker.simulate import ModelFactory, ScenarioResult
    from flowctl.worker.transcript import Line

__all__ = ["simulate", "styled"]


@click.command()
@click.argument("flow", type=click.Path(path_type=Path), required=False)
@click.option(
    "--scenario",
    "scenario_file",
    type=click.Path(path_type=Path),
    help="Scenario file (e.g. flows/clinic.scenarios.json); FLOW defaults to the one it names.",
)
@click.option(
    "--override-flow",
    is_flag=True,
    help="Run the --scenario file on FLOW although it names another flow.",
)
@click.option("--explore", is_flag=True, help="Also run generated paths that fire every edge.")
@click.option(
    "--mocks",
    "mocks_file",
    type=click.Path(path_type=Path),
    help="With --explore: a JSON object of tool mocks, as a scenario's `mocks`; every "
    "answer is a branch to explore (the --scenario file's mocks are used too).",
)
@click.option("--coverage", is_flag=True, help="Report the states and edges that ran.")
@click.option(
    "--llm",
    "model",
    metavar="scripted|offline|openai:MODEL",
    help="The model: scripted (default with scenarios), offline (default without), or "
    "a real one behind an OpenAI-compatible endpoint.",
)
@click.option("--base-url", metavar="URL", help="OpenAI-compatible endpoint for --llm openai:.")
@click.option(
    "--allow-network", is_flag=True, help="Let http tools that are not mocked reach the network."
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0.1),
    help="Seconds a turn may take [default: 10; 60 with --llm openai:].",
)
@click.option(
    "--var",
    "variables",
    multiple=True,
    metavar="NAME=VALUE",
    help="A starting variable; VALUE as written for a str or enum variable, else JSON. "
    "With scenarios: each starts with it, unless it sets the variable itself.",
)
@click.option(
    "--knowledge",
    "knowledge_pairs",
    multiple=True,
    metavar="BASE=PATH",
    help="Documents of a knowledge base (a file, or a folder of them), indexed in memory "
    "for the flow's knowledge tools; added to the scenario file's `knowledge`.",
)
@click.option(
    "--replay",
    metavar="SESSION_ID",
    help="Re-run a recorded session (needs --tenant; --store as for `flowctl store`).",
)
@click.option(
    "--against",
    metavar="VERSION|FILE",
    help="With --replay: a version number of the session's flow, or a flow file "
    "[default: the published version].",
)
@click.option(
    "--record",
    is_flag=True,
    help="Record each session in the store as the tenant's published version of the flow "
    "(needs --tenant); prints each session's id on stderr.",
)
@store_option
@click.option(
    "--tenant", "-t", envvar="FLOWCTL_TENANT", help="Tenant of the --replay or --record session."
)
@format_option
@tools_option
@templates_option
def simulate(
    flow: Path | None,
    scenario_file: Path | None,
    override_flow: bool,
    explore: bool,
    mocks_file: Path | None,
    coverage: bool,
    model: str | None,
    base_url: str | None,
    allow_network: bool,
    timeout: float | None,
    variables: tuple[str, ...],
    knowledge_pairs: tuple[str, ...],
    replay: str | None,
    against: str | None,
    record: bool,
    url: str,
    tenant: str | None,
    fmt: str,
    tools_path: Path | None,
    templates_dirs: tuple[Path, ...],
) -> None:
    """Dry-run FLOW through the real LiveKit agent, text only and offline.

    FLOW may be a scenario file: it runs as --scenario, on the flow it names. With
    --scenario and a FLOW that is not the one it names, add --override-flow.

    With --scenario (and/or --explore), each scenario runs in a fresh session and every
    unmet expectation is shown with its turn; exit 0 when all pass, 1 when one fails, 2
    for bad input. The scripted model plays each turn's `model` steps; with --llm
    offline or openai:MODEL the steps are ignored and only `expect` is checked. Each
    session ends with its summary (one line) and, when the flow declares an
    `evaluation`, how it did (a rubric is graded by --llm openai:MODEL only).

    With --replay SESSION_ID, a session recorded in the store is re-run (its user turns
    and the model's recorded calls) against --against, and the first turn whose path
    differs (state, edges, refusals) is reported.

    Knowledge tools search the documents the scenario file's `knowledge` lists, and
    those --knowledge gives, indexed in memory as a store on SQLite indexes them; each
    search's passages are shown under the call.

    With --record, each session (a scenario's, or the one you talk in) is recorded in
    the store for --tenant, as the tenant's published version of the flow, and its id
    printed on stderr (`recorded: ID`), for `flowctl sessions show` and --replay.

    Scenarios that name a `caller` are that caller's calls, in order: a flow with
    `memory` starts each with what the earlier ones left. It is kept in the tenant's
    store with --record, else for this run only.

    Without a scenario, talk to the flow: one user line per line (typed, or piped in),
    /go EDGE {json} to fire an edge, /state, /vars, /edges, /history, /quit.
    """
    if replay is not None:
        if tenant is None:
            raise Failure("--replay needs --tenant (or FLOWCTL_TENANT)")
        if scenario_file is not None or explore or flow is not None:
            raise Failure("--replay runs a recorded session: give no FLOW, --scenario or --explore")
        if record:
            raise Failure("--replay runs a recorded session again: it is not recorded")
        replay_session(replay, against, url, tenant, fmt, read_catalog(tools_path))
    if mocks_file is not None and not explore:
        raise Failure("--mocks gives explore its answers: add --explore")
    from flowctl.cli.simulate_input import knowledge, scenarios, starting
    from flowctl.cli.simulate_input import variables as parsed
    from flowctl.worker.models import reaching

    runs, flow, given, bases = scenarios(scenario_file, flow, override_flow=override_flow)
    documents = knowledge(bases, knowledge_pairs)
    scripted = given or explore
    factory = _model(model or ("scripted" if scripted else "offline"), base_url)
    turn_timeout = timeout or (60.0 if (model or "").startswith("openai:") else 10.0)
    catalog = read_catalog(tools_path)
    to = record_to(record, url, tenant, catalog)
    machine = compiled(flow, "simulate it", catalog, templates=templates_dirs)
    values = parsed(variables, machine)
    # Only a real model grades the flow's rubric; the stand-ins leave it not graded.
    grade = (model or "").startswith("openai:")
    if not scripted:
        with reaching(model or "offline", base_url):
            _talk(machine, values, factory, allow_network, turn_timeout, to, documents, grade)
        return
    if explore:
        from flowctl.engine.mocks import merged
        from flowctl.engine.paths import cover
        from flowctl.engine.scenario import from_paths

        mocks = merged([_mocks(mocks_file) if mocks_file else {}, *_given(runs)])
        runs += from_paths(cover(machine, mocks), mocks)
    with reaching(model or "scripted", base_url):
        _run_scenarios(
            machine,
            starting(runs, values),
            factory,
            allow_network,
            turn_timeout,
            fmt,
            coverage,
            to,
            documents,
            grade,
        )


def _mocks(path: Path) -> dict[str, Any]:
    """The tool mocks in ``path``: a JSON object, as a scenario's ``mocks``."""
    import json

    try:
        mocks = json.loads(path.read_text())
    except OSError as exc:
        raise Failure(f"Cannot read `{path}`: {exc.strerror or exc}") from None
    except json.JSONDecodeError as exc:
        raise Failure(f"{path}: invalid JSON: {exc}") from None
    if not isinstance(mocks, dict):
        raise Failure(f"{path}: expected an object of tool mocks, got {type(mocks).__name__}")
    return mocks


def _given(runs: list[Scenario]) -> list[dict[str, Any]]:
    """The mocks of each scenario and each of its turns."""
    return [m for s in runs for m in (s.mocks, *(t.mocks or {} for t in s.turns))]


def _model(name: str, base_url: str | None) -> ModelFactory | None:
    """The model maker ``--llm`` names (None: the scripted model)."""
    from flowctl.worker.models import model_factory

    return model_factory(name, base_url=base_url)


def _run_scenarios(
    machine: CompiledFlow,
    runs: list[Scenario],
    factory: ModelFactory | None,
    allow_network: bool,
    timeout: float,
    fmt: str,
    coverage: bool,
    to: RecordTo | None,
    documents: FileKnowledge | None,
    grade: bool,
) -> NoReturn:
    """Each scenario in its own session (recorded in ``to``, if given; knowledge tools
    searching ``documents``; the flow's rubric graded by its model, with ``grade``); the
    results, the coverage if asked, and exit 1 when one failed."""
    import asyncio

    from flowctl.cli.simulate_input import NO_KNOWLEDGE
    from flowctl.cli.store_common import echo_json
    from flowctl.worker.simulate import run_scenarios

    results = asyncio.run(
        with_knowledge(
            documents,
            lambda retriever: with_record(
                to,
                machine.flow_id,
                lambda record, memory: run_scenarios(
                    machine,
                    runs,
                    model=factory,
                    allow_network=allow_network,
                    timeout=timeout,
                    record=record,
                    retriever=retriever,
                    no_knowledge=NO_KNOWLEDGE,
                    memory=memory,
                    grade=grade,
                ),
            ),
        )
    )
    failed = [r for r in results if not r.passed]
    if fmt == "json":
        echo_json(results)
    else:
        _show(results)
    if coverage:
        _coverage(machine, results)
    click.echo(
        f"{len(results)} scenario{'s' if len(results) != 1 else ''}: "
        f"{len(results) - len(failed)} passed, {len(failed)} failed",
        err=True,
    )
    sys.exit(EXIT_FINDINGS if failed else 0)


def _show(results: list[ScenarioResult]) -> None:
    from flowctl.worker.transcript import Line

    color = _color()

    def echo(line: Line, indent: str = "    ") -> None:
        click.echo(indent + styled(line, color), color=color)

    for r in results:
        outcome = "PASS" if r.passed else "FAIL"
        click.echo(styled(Line(outcome.lower(), outcome), color) + f"  {r.name}", color=color)
        for text in r.opening:
            echo(Line("agent", text))
        for problem in r.opening_problems:
            echo(Line("problem", f"✗ start: {problem}"))
        for turn in r.turns:
            for line in turn.transcript():
                echo(line)
            for problem in turn.problems:
                echo(Line("problem", f"✗ turn {turn.number}: {problem}"))
        if r.error:
            echo(Line("problem", f"✗ {r.error}"))
        if r.summary is not None:
            echo(Line("summary", f"summary: {r.summary}"))
        if r.evaluation is not None:
            echo(Line("summary", f"evaluation: {r.evaluation.text}"))
        for problem in r.problems:
            echo(Line("problem", f"✗ {problem}"))


def _coverage(machine: CompiledFlow, results: list[ScenarioResult]) -> None:
    from flowctl.engine.paths import ran

    report = ran(machine, [e for r in results for e in r.edges])
    click.echo(
        f"coverage: states {report.states_entered}/{report.states_total}, "
        f"edges {report.edges_fired}/{report.edges_total}"
    )
    for name in report.states_missed:
        click.echo(f"  state never entered: {name}")
    for key in report.edges_missed:
        click.echo(f"  edge never fired: {key}")


def _talk(
    machine: CompiledFlow,
    variables: dict[str, Any],
    factory: ModelFactory | None,
    allow_network: bool,
    timeout: float,
    to: RecordTo | None,
    documents: FileKnowledge | None,
    grade: bool,
) -> None:
    """The interactive (or piped) session of ``flowctl simulate`` (recorded in ``to``,
    if given; knowledge tools searching ``documents``; the flow's rubric graded by its
    model, with ``grade``). Ctrl-D or ``/quit``
    leave it (exit 0); Ctrl-C cancels a turn underway (``run_lines`` takes the signal
    then), and at the prompt leaves with 130, the exit code shells expect after SIGINT."""
    import asyncio
    import signal

    from flowctl.cli.simulate_input import NO_KNOWLEDGE
    from flowctl.worker.repl import run_lines

    interactive = sys.stdin.isatty()
    color = _color()
    interrupted = False

    def lines() -> Iterator[str]:
        nonlocal interrupted
        while True:
            try:
                line = input("you> ") if interactive else sys.stdin.readline()
            except EOFError:
                return
            except KeyboardInterrupt:
                interrupted = True
                if interactive:
                    click.echo()  # the shell's prompt on a line of its own
                raise  # the session stops where it is, summed up by no one
            if not interactive and not line:
                return
            yield line

    def out(line: Line) -> None:
        click.echo(styled(line, color), color=color)

    # A handler of our own, so asyncio.run leaves SIGINT alone: its own would cancel the
    # whole session on the first Ctrl-C while input() kept waiting for a line.
    previous = signal.signal(signal.SIGINT, _interrupt)
    try:
        asyncio.run(
            with_knowledge(
                documents,
                lambda retriever: with_record(
                    to,
                    machine.flow_id,
                    lambda record, _: run_lines(
                        machine,
                        lines(),
                        out,
                        variables=variables,
                        model=factory,
                        allow_network=allow_network,
                        timeout=timeout,
                        record=record,
                        echo=not interactive,  # a terminal shows the typed line at its prompt
                        retriever=retriever,
                        no_knowledge=NO_KNOWLEDGE,
                        grade=grade,
                    ),
                ),
            )
        )
    except ValueError as exc:  # a --var that is not declared, or of the wrong type
        raise Failure(str(exc)) from exc
    except KeyboardInterrupt:  # between the prompt and a turn: leave all the same
        interrupted = True
    finally:
        signal.signal(signal.SIGINT, previous)
    if interrupted:
        sys.exit(EXIT_INTERRUPTED)


def _interrupt(signum: int, frame: object) -> None:
    """SIGINT outside a turn: raise where the prompt waits."""
    raise KeyboardInterrupt


def _color() -> bool:
    """Colour on a terminal, unless NO_COLOR is set (https://no-color.org)."""
    return sys.stdout.isatty() and not os.environ.get("NO_COLOR")


# Each kind of line its look: what the agent says, state changes, tool results,
# refusals and failures each look different on a terminal. Kinds are the describer's
# (flowctl.engine.describe), and this command's own: pass, fail, problem.
_STYLES: dict[str, dict[str, Any]] = {
    "pass": {"fg": "green", "bold": True},
    "fail": {"fg": "red", "bold": True},
    "problem": {"fg": "red"},
    "user": {"bold": True},
    "agent": {"fg": "cyan"},
    "refused": {"fg": "yellow"},
    "tool": {"fg": "magenta"},
    "result": {"fg": "magenta"},
    "output": {"fg": "blue"},
    "invalid": {"fg": "blue"},
    "ended": {"fg": "yellow", "bold": True},
    "fired": {"fg": "green"},
    "summary": {"dim": True},
}


def styled(line: Line, color: bool) -> str:
    """``line``'s text, in its kind's colour when ``color``."""
    style = _STYLES.get(line.kind) if color else None
    return click.style(line.text, **style) if style else line.text
