"""``flowctl``: the command line, a thin click layer over ``engine`` (and later ``worker``).

Commands that need no LiveKit (``lint``, ``rules``, ``schema``, ``route``) import only the
engine, inside the command, so ``flowctl lint`` starts in milliseconds.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import click

from flowctl.cli.keys import keys
from flowctl.cli.policy import policy, secrets
from flowctl.cli.serve import serve
from flowctl.cli.store import store
from flowctl.cli.store_common import read_catalog, store_option, tools_option
from flowctl.cli.tenants import sessions, tenants
from flowctl.cli.worker import token, worker
from flowctl.engine import __version__

# Exit codes (design.md): 0 clean, 1 findings or failed expectations, 2 usage/I-O/internal.
EXIT_FINDINGS = 1
EXIT_USAGE = 2


def _fail(message: str, code: int = EXIT_USAGE) -> None:
    click.echo(f"flowctl: error: {message}", err=True)
    sys.exit(code)


def _codes(values: tuple[str, ...]) -> list[str]:
    """``--select FL1,FL2 --select FL3`` as ``[FL1, FL2, FL3]``."""
    return [v for value in values for v in value.split(",") if v.strip()]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="flowctl")
@click.option("--debug", is_flag=True, help="Show tracebacks for internal errors.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """Conversation flows for voice agents: lint, simulate and run them."""
    ctx.obj = {"debug": debug}
    if debug:
        import logging

        logging.basicConfig(level=logging.DEBUG, format="%(name)s: %(message)s")
    else:  # the libraries' own chatter (LiveKit's, say) is not for people running flowctl
        import logging

        logging.getLogger("livekit").setLevel(logging.ERROR)


@cli.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "github"]),
    default="text",
    show_default=True,
    help="Output format.",
)
@click.option("--select", multiple=True, help="Only these rule codes or prefixes (FL1, FL102).")
@click.option("--ignore", multiple=True, help="Skip these rule codes or prefixes.")
@click.option("--exit-zero", is_flag=True, help="Exit 0 even when there are error findings.")
@click.option(
    "--jobs",
    type=click.IntRange(min=1),
    default=None,
    help="Processes to lint with [default: one per core from 64 files].",
)
@tools_option
@click.option(
    "--tenant",
    "tenant_id",
    help="Lint as this tenant's flows, held to its policy in the store (--store).",
)
@store_option
def lint(
    paths: tuple[Path, ...],
    fmt: str,
    select: tuple[str, ...],
    ignore: tuple[str, ...],
    exit_zero: bool,
    jobs: int | None,
    tools_path: Path | None,
    tenant_id: str | None,
    url: str,
) -> None:
    """Check flow files and folders (folders: every *.json inside, except
    *.scenarios.json and *.schema.json).

    Files are the operator's own flows unless --tenant names whose they are: then they
    are held to what the operator granted that tenant (docs/security.md), as a push to
    the store would be.

    Exit 0 when no finding is at error level, 1 when one is, 2 for usage or I/O errors.
    """
    from flowctl.engine.lint import (
        Selection,
        format_github,
        format_json,
        format_text,
        lint_paths,
        summary,
    )

    _skip_finalization()
    try:
        selection = Selection.parse(_codes(select), _codes(ignore))
    except ValueError as exc:
        _fail(str(exc))
    catalog = read_catalog(tools_path)
    boundary = _boundary(tenant_id, url, catalog)
    result = lint_paths(paths, selection, jobs=jobs, boundary=boundary)
    formatter = {"text": format_text, "json": format_json, "github": format_github}[fmt]
    click.echo(formatter(result), nl=False)
    for error in result.errors:
        click.echo(f"flowctl: error: {error}", err=True)
    click.echo(summary(result), err=True)
    code = result.exit_code
    sys.exit(0 if exit_zero and code == EXIT_FINDINGS else code)


def _boundary(tenant_id: str | None, url: str, catalog: Any) -> Any:
    """The operator's boundary (with ``catalog``), or ``tenant_id``'s from the store."""
    from flowctl.engine.boundary import OPERATOR

    if tenant_id is None:
        return OPERATOR if catalog is None else OPERATOR.with_catalog(catalog)
    import asyncio

    from flowctl.cli.store_common import with_tenant
    from flowctl.engine.errors import FlowError

    async def read(t: Any) -> Any:
        return await t.boundary()

    try:
        boundary = asyncio.run(with_tenant(url, tenant_id, read, catalog=catalog))
    except FlowError as exc:
        _fail(str(exc), exc.exit_code)
    return boundary


@cli.command()
@click.argument("code", required=False)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "markdown"]),
    default="text",
    show_default=True,
    help="markdown: the whole catalogue as docs/rules.md.",
)
def rules(code: str | None, fmt: str) -> None:
    """The rule catalogue, or one rule's documentation (by code or name)."""
    import json

    from flowctl.engine.lint import RULES

    _skip_finalization()
    if fmt == "markdown":
        from flowctl.engine.lint.docs import rules_markdown

        click.echo(rules_markdown(), nl=False)
        return
    if code is None:
        if fmt == "json":
            items = [
                {"code": r.code, "name": r.name, "severity": r.severity.value, "summary": r.summary}
                for r in RULES.values()
            ]
            click.echo(json.dumps(items, indent=2))
            return
        for r in RULES.values():
            click.echo(f"{r.code}  {r.name:<28} {r.severity.value:<8} {r.summary}")
        return
    wanted = code.strip()
    found = RULES.get(wanted.upper()) or next(
        (r for r in RULES.values() if r.name == wanted.lower()), None
    )
    if found is None:
        _fail(f"Unknown rule `{code}`; `flowctl rules` lists them")
    if fmt == "json":
        item = {
            "code": found.code,
            "name": found.name,
            "severity": found.severity.value,
            "summary": found.summary,
            "doc": found.doc,
        }
        click.echo(json.dumps(item, indent=2))
        return
    click.echo(f"# {found.code} {found.name} ({found.severity.value})\n\n{found.summary}.\n")
    click.echo(found.doc)


@cli.command()
@click.argument("flow", type=click.Path(path_type=Path))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["mermaid", "json"]),
    default="mermaid",
    show_default=True,
    help="mermaid: a state diagram (GitHub renders it); json: states and transitions.",
)
def graph(flow: Path, fmt: str) -> None:
    """The compiled state machine of FLOW as a diagram or a table.

    Exit 1 (with the findings) when the flow has lint errors, 2 when it cannot be read.
    """
    import json

    from flowctl.engine.graph import to_json, to_mermaid

    _skip_finalization()
    compiled = _compiled(flow, "draw its graph")
    if fmt == "json":
        click.echo(json.dumps(to_json(compiled), indent=2))
    else:
        click.echo(to_mermaid(compiled), nl=False)


@cli.command()
@click.argument("flow", type=click.Path(path_type=Path), required=False)
@click.option(
    "--scenario",
    "scenario_file",
    type=click.Path(path_type=Path),
    help="Scenario file (e.g. flows/clinic.scenarios.json); FLOW defaults to the one it names.",
)
@click.option("--explore", is_flag=True, help="Also run generated paths that fire every edge.")
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
    help="A starting variable (without a scenario file); VALUE is JSON or plain text.",
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
@click.option("--store", "store_url", envvar="FLOWCTL_STORE", default="sqlite:///flowctl.db")
@click.option("--tenant", "-t", envvar="FLOWCTL_TENANT", help="Tenant of the --replay session.")
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)
@tools_option
def simulate(
    flow: Path | None,
    scenario_file: Path | None,
    explore: bool,
    coverage: bool,
    model: str | None,
    base_url: str | None,
    allow_network: bool,
    timeout: float | None,
    variables: tuple[str, ...],
    replay: str | None,
    against: str | None,
    store_url: str,
    tenant: str | None,
    fmt: str,
    tools_path: Path | None,
) -> None:
    """Dry-run FLOW through the real LiveKit agent, text only and offline.

    With --scenario (and/or --explore), each scenario runs in a fresh session and every
    unmet expectation is shown with its turn; exit 0 when all pass, 1 when one fails, 2
    for bad input. The scripted model plays each turn's `model` steps; with --llm
    offline or openai:MODEL the steps are ignored and only `expect` is checked.

    With --replay SESSION_ID, a session recorded in the store is re-run (its user turns
    and the model's recorded calls) against --against, and the first turn whose path
    differs (state, edges, refusals) is reported.

    Without a scenario, talk to the flow: one user line per line (typed, or piped in),
    /go EDGE {json} to fire an edge, /state, /vars, /edges, /history, /quit.
    """
    import asyncio

    from flowctl.engine.errors import FlowError
    from flowctl.engine.scenario import load_scenarios

    runs = []
    if replay is not None:
        if tenant is None:
            _fail("--replay needs --tenant (or FLOWCTL_TENANT)")
        if scenario_file is not None or explore or flow is not None:
            _fail("--replay runs a recorded session: give no FLOW, --scenario or --explore")
        _replay(replay, against, store_url, tenant, fmt, read_catalog(tools_path))  # type: ignore[arg-type]
        return
    if scenario_file is not None:
        try:
            loaded, named = load_scenarios(scenario_file)
        except FlowError as exc:
            _fail(str(exc))
        runs = list(loaded.scenarios)
        if flow is None:
            if not named.is_file():
                _fail(
                    f"{scenario_file}: `flow` names `{loaded.flow}`, but there is no file `{named}`"
                )
            flow = named
    if flow is None:
        _fail("give a FLOW file, or --scenario FILE naming one")
    assert flow is not None
    try:
        from flowctl.worker.models import model_factory

        default = "scripted" if scenario_file is not None or explore else "offline"
        factory = model_factory(model or default, base_url=base_url)
    except FlowError as exc:
        _fail(str(exc))
    turn_timeout = timeout or (60.0 if (model or "").startswith("openai:") else 10.0)
    compiled = _compiled(flow, "simulate it", read_catalog(tools_path))
    if scenario_file is None and not explore:
        _talk(compiled, variables, factory, allow_network, turn_timeout)
        return
    if explore:
        from flowctl.engine.paths import cover
        from flowctl.engine.scenario import from_paths

        runs += from_paths(cover(compiled))

    from flowctl.worker.simulate import run_scenarios

    results = asyncio.run(
        run_scenarios(
            compiled, runs, model=factory, allow_network=allow_network, timeout=turn_timeout
        )
    )
    failed = [r for r in results if not r.passed]
    if fmt == "json":
        import json

        import msgspec

        click.echo(json.dumps(msgspec.to_builtins(results), indent=2))
    else:
        color = _color()
        for r in results:
            click.echo(_styled("PASS" if r.passed else "FAIL", color) + f"  {r.name}", color=color)
            for line in r.opening:
                click.echo(f"    {_styled(line, color)}", color=color)
            for turn in r.turns:
                for line in turn.lines:
                    click.echo(f"    {_styled(line, color)}", color=color)
                for problem in turn.problems:
                    click.echo(
                        "    " + _styled(f"✗ turn {turn.number}: {problem}", color), color=color
                    )
            if r.error:
                click.echo("    " + _styled(f"✗ {r.error}", color), color=color)
    if coverage:
        from flowctl.engine.paths import ran

        report = ran(compiled, [e for r in results for e in r.edges])
        click.echo(
            f"coverage: states {report.states_entered}/{report.states_total}, "
            f"edges {report.edges_fired}/{report.edges_total}"
        )
        for name in report.states_missed:
            click.echo(f"  state never entered: {name}")
        for key in report.edges_missed:
            click.echo(f"  edge never fired: {key}")
    click.echo(
        f"{len(results)} scenario{'s' if len(results) != 1 else ''}: "
        f"{len(results) - len(failed)} passed, {len(failed)} failed",
        err=True,
    )
    sys.exit(EXIT_FINDINGS if failed else 0)


def _replay(
    session_id: str, against: str | None, url: str, tenant: str, fmt: str, catalog: Any
) -> None:
    """``simulate --replay``: the recorded session as a scenario, run against a version
    (a stored one as its tenant's flow, held to its policy; a file as the operator's)."""
    import asyncio

    from flowctl.engine.errors import FlowError
    from flowctl.engine.replay import recorded, stored_version
    from flowctl.engine.store import open_store

    async def fetch() -> tuple[Any, Any, str]:
        async with await open_store(url, catalog=catalog) as store:
            ts = store.tenant(tenant)
            scenario, info = await recorded(ts, session_id)
            if against is not None and not against.isdigit():
                return scenario, _compiled(Path(against), "replay against it", catalog), against
            number = int(against) if against is not None else None
            number, compiled = await stored_version(ts, info.flow_id, number)
            label = f"{info.flow_id} v{number} (recorded on v{info.version})"
            return scenario, compiled, label

    try:
        scenario, compiled, label = asyncio.run(fetch())
    except FlowError as exc:
        _fail(str(exc), exc.exit_code)
    from flowctl.worker.simulate import run_scenario

    result = asyncio.run(run_scenario(compiled, scenario))
    if fmt == "json":
        import json

        import msgspec

        click.echo(json.dumps(msgspec.to_builtins(result), indent=2))
    elif result.passed:
        click.echo(f"same path: {len(result.turns)} turns of {session_id} replayed on {label}")
    else:
        first = next((t for t in result.turns if t.problems), None)
        where = (
            f"turn {first.number} ({first.user!r}): " + "; ".join(first.problems)
            if first is not None
            else result.error
        )
        click.echo(f"diverges on {label}: {where}")
    sys.exit(0 if result.passed else EXIT_FINDINGS)


def _store_catalog(url: str) -> Any:
    import asyncio

    from flowctl.engine.store import open_store
    from flowctl.engine.store.catalog import load_store_catalog

    async def snapshot() -> Any:
        async with await open_store(url) as store:
            return await load_store_catalog(store)

    return asyncio.run(snapshot())


def _color() -> bool:
    """Colour on a terminal, unless NO_COLOR is set (https://no-color.org)."""
    return sys.stdout.isatty() and not os.environ.get("NO_COLOR")


# Transcript lines by their start: what the agent says, state changes, tool calls,
# refusals and failures each look different on a terminal.
_STYLES: tuple[tuple[str, dict[str, Any]], ...] = (
    ("PASS", {"fg": "green", "bold": True}),
    ("FAIL", {"fg": "red", "bold": True}),
    ("✗", {"fg": "red"}),
    ("user:", {"bold": True}),
    ("agent:", {"fg": "cyan"}),
    ("  refused", {"fg": "yellow"}),
    ("  tool", {"fg": "magenta"}),
    ("  output", {"fg": "blue"}),
    ("  call ended", {"fg": "yellow", "bold": True}),
    ("  ", {"fg": "green"}),  # "  edge: Source -> Target"
)


def _styled(line: str, color: bool) -> str:
    if not color:
        return line
    for start, style in _STYLES:
        if line.startswith(start):
            return click.style(line, **style)
    return line


def _compiled(flow: Path, purpose: str, catalog: Any = None) -> Any:
    """``flow`` (the operator's, with its tool ``catalog``) linted and compiled; its
    findings and exit 1 when it has errors, exit 2 when it cannot be read."""
    from flowctl.engine.boundary import OPERATOR
    from flowctl.engine.compile import compile_flow
    from flowctl.engine.lint import Selection, format_text, lint_paths
    from flowctl.engine.load import load_path

    boundary = OPERATOR.with_catalog(catalog)
    result = lint_paths([flow], Selection.parse(), jobs=1, boundary=boundary)
    if result.errors:
        _fail(result.errors[0])
    if result.exit_code:
        click.echo(format_text(result), nl=False, err=True)
        _fail(f"`{flow}` has errors; fix them to {purpose}", EXIT_FINDINGS)
    return compile_flow(load_path(flow).flow, check=False, boundary=boundary)  # type: ignore[arg-type]


def _talk(
    compiled: Any, pairs: tuple[str, ...], factory: Any, allow_network: bool, timeout: float
) -> None:
    """The interactive (or piped) session of ``flowctl simulate``."""
    import asyncio
    import json

    from flowctl.worker.repl import run_lines

    variables: dict[str, Any] = {}
    for pair in pairs:
        name, eq, value = pair.partition("=")
        if not eq or not name:
            _fail(f"`--var {pair}`: write NAME=VALUE")
        try:
            variables[name] = json.loads(value)
        except json.JSONDecodeError:
            variables[name] = value
    interactive = sys.stdin.isatty()
    color = _color()

    def lines() -> Any:
        while True:
            try:
                line = input("you> ") if interactive else sys.stdin.readline()
            except EOFError:
                return
            if not interactive and not line:
                return
            yield line

    def out(line: str) -> None:
        click.echo(_styled(line, color), color=color)

    try:
        asyncio.run(
            run_lines(
                compiled,
                lines(),
                out,
                variables=variables,
                model=factory,
                allow_network=allow_network,
                timeout=timeout,
            )
        )
    except ValueError as exc:  # a --var that is not declared, or of the wrong type
        _fail(str(exc))


@cli.command()
@click.option("--metadata", "job_metadata", metavar="JSON", help="The job's metadata.")
@click.option(
    "--room-metadata", metavar="JSON", help="The room's metadata (used without job metadata)."
)
@click.option(
    "--attributes",
    metavar="JSON",
    help="The first participant's attributes, a JSON object of strings (used without either).",
)
@click.option(
    "--flows",
    "flows_dir",
    type=click.Path(path_type=Path),
    default=Path("flows"),
    show_default=True,
    help="Folder of flows; its tenants/ folder holds the tenant files.",
)
@click.option(
    "--store",
    "store_url",
    metavar="URL",
    help="Route from the store's tenants and published versions instead of --flows.",
)
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)
def route(
    job_metadata: str | None,
    room_metadata: str | None,
    attributes: str | None,
    flows_dir: Path,
    store_url: str | None,
    fmt: str,
) -> None:
    """Which tenant, flow and version a job with this metadata would get, and the rule
    that decided (docs/routing.md).

    Exit 0 when the job is routed, 1 when it is rejected (the reason is printed), 2 for
    usage errors or tenant files that cannot be used (each problem at file:row:col).
    """
    import json
    import logging

    from flowctl.engine.errors import FlowError
    from flowctl.engine.routing import Rejected
    from flowctl.engine.routing import route as decide_route
    from flowctl.engine.tenants import load_catalog

    _skip_finalization()
    if job_metadata is None and room_metadata is None and attributes is None:
        _fail("give --metadata, --room-metadata or --attributes")
    attrs = None
    if attributes is not None:
        try:
            attrs = json.loads(attributes)
        except ValueError as exc:
            _fail(f"--attributes is not JSON: {exc}")
        if not isinstance(attrs, dict):
            _fail("--attributes must be a JSON object")
    try:
        catalog = load_catalog(flows_dir) if store_url is None else _store_catalog(store_url)
    except FlowError as exc:
        _fail(str(exc).replace("\n", "\nflowctl: error: "), exc.exit_code)
    # The decision is printed below; the router's own log line would repeat it.
    logging.getLogger("flowctl.engine.routing").addHandler(logging.NullHandler())
    result = decide_route(catalog, job_metadata, room_metadata, attrs)
    if fmt == "json":
        import msgspec

        click.echo(json.dumps(msgspec.to_builtins(result), indent=2))
    elif isinstance(result, Rejected):
        click.echo(f"rejected  {result.reason}")
        click.echo(f"origin    {result.origin or '-'}")
    else:
        click.echo(f"tenant    {result.tenant_id}")
        click.echo(f"flow      {result.flow_id}")
        click.echo(f"version   {result.version or '-'}")
        click.echo(f"rule      {result.rule}")
        click.echo(f"reason    {result.reason}")
        click.echo(f"origin    {result.origin}")
    sys.exit(EXIT_FINDINGS if isinstance(result, Rejected) else 0)


@cli.command()
def schema() -> None:
    """Print the JSON Schema of the flow format, for editors: save it beside your flows
    and point your editor's JSON settings at it (a `"$schema"` key in a flow is an
    unknown field)."""
    import json

    from flowctl.engine.schema import flow_json_schema

    _skip_finalization()
    click.echo(json.dumps(flow_json_schema(), indent=2, ensure_ascii=False))


tenants.add_command(policy)  # cli/policy.py: what the operator grants a tenant
for group in (store, tenants, sessions, keys, secrets):  # the store (cli/store.py ...)
    cli.add_command(group)
for command in (worker, token):  # cli/worker.py: the voice worker
    cli.add_command(command)
cli.add_command(serve)  # cli/serve.py: the admin HTTP API


# Set by commands that hold no resources (no threads, no child processes, no open
# files) once their output is written: they may skip interpreter finalization.
_fast_exit = False


def _skip_finalization() -> None:
    global _fast_exit
    _fast_exit = True


def main() -> None:
    """Console entry point: no traceback for anything but a bug, and then only with
    ``--debug``."""
    from flowctl.engine.errors import FlowError

    debug = "--debug" in sys.argv[1:]
    code: int | str | None = 0
    try:
        cli(standalone_mode=True)
    except SystemExit as exc:
        code = exc.code
    except FlowError as exc:
        click.echo(f"flowctl: error: {exc}", err=True)
        code = exc.exit_code
    except Exception as exc:
        if debug:
            raise
        click.echo(
            f"flowctl: error: internal error: {type(exc).__name__}: {exc} "
            "(run with --debug for details)",
            err=True,
        )
        code = EXIT_USAGE
    if _fast_exit and isinstance(code, int | None):
        # Tearing down every imported module costs ~25 ms, a sixth of a cold
        # `flowctl lint`; these commands have nothing left to clean up.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code or 0)
    sys.exit(code)
