"""Running the rules: which files, which rules, and findings located in the source."""

from __future__ import annotations

import gc
import os
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path as FsPath

import msgspec

from flowctl.engine.boundary import OPERATOR, Boundary
from flowctl.engine.errors import FlowReadError
from flowctl.engine.extends import TemplateLookup
from flowctl.engine.findings import Finding, Severity
from flowctl.engine.lint.context import FlowContext
from flowctl.engine.lint.registry import (
    INTERNAL_ERROR,
    LINT_SETTING,
    PROTECTED_PREFIX,
    RULES,
    WHOLE_FLOW,
    Rule,
    violation,
)
from flowctl.engine.load import SCENARIO_FILE, Loaded, is_flow_file, load_path
from flowctl.engine.source import Span

__all__ = [
    "FileResult",
    "LintResult",
    "Located",
    "Selection",
    "check",
    "discover",
    "is_flow_file",
    "lint_paths",
]

_SKIP_DIRS = {"node_modules", "__pycache__"}


class Selection(msgspec.Struct, frozen=True):
    """Which rules run, by code prefixes, as ruff's ``--select``/``--ignore``: the most
    specific matching prefix decides (``--select FL1 --ignore FL102`` keeps FL101;
    ``--ignore FL1 --select FL102`` keeps FL102); on a tie, ignore wins."""

    select: tuple[str, ...] = ("FL",)
    ignore: tuple[str, ...] = ()

    @classmethod
    def parse(cls, select: Iterable[str] = (), ignore: Iterable[str] = ()) -> Selection:
        """Build from user input; raises ValueError naming an unknown selector."""
        sel = tuple(_norm(s) for s in select) or ("FL",)
        ign = tuple(_norm(s) for s in ignore)
        for s in (*sel, *ign):
            if not any(code.startswith(s) for code in RULES):
                raise ValueError(f"Unknown rule selector `{s}`")
        return cls(sel, ign)

    def wants(self, code: str, flow_ignore: Sequence[str] = ()) -> bool:
        """Whether ``code`` runs. A flow's own ``lint.ignore`` always wins, like ruff's
        per-file ignores: the flow's authors silenced it on purpose."""
        if code != LINT_SETTING and any(
            (n := _norm(i)) and code.startswith(n) for i in flow_ignore
        ):  # a blank entry silences nothing (LINT_SETTING reports it, and cannot be silenced)
            return False
        best_sel = max((len(s) for s in self.select if code.startswith(s)), default=-1)
        best_ign = max((len(i) for i in self.ignore if code.startswith(i)), default=-1)
        return best_sel > best_ign

    def rules(self) -> tuple[Rule, ...]:
        """The rules with a check that this selection runs (before a flow's own ignores).
        Worked out once per lint run, not per file."""
        return tuple(r for r in RULES.values() if r.check is not None and self.wants(r.code))


ALL_RULES = Selection()


def _norm(selector: str) -> str:
    s = selector.strip().upper()
    return "FL" if s == "ALL" else s


class Located(msgspec.Struct, frozen=True):
    """A finding with its rule and its place: in the file linted, or (``filename``) in
    a template the flow extends, when what it is about was written there."""

    finding: Finding
    rule: Rule
    span: Span
    filename: str | None = None


class FileResult(msgspec.Struct):
    filename: str
    findings: list[Located]

    def count(self, severity: Severity) -> int:
        return sum(1 for f in self.findings if f.rule.severity is severity)


class LintResult(msgspec.Struct):
    files: list[FileResult] = []
    errors: list[str] = []  # files or folders that could not be read
    skipped: list[str] = []  # a note per file given that is not a flow (a scenario file...)

    def count(self, severity: Severity) -> int:
        return sum(f.count(severity) for f in self.files)

    @property
    def exit_code(self) -> int:
        if self.errors:
            return 2
        return 1 if self.count(Severity.ERROR) else 0


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Lint allocates many small, acyclic objects (paths, findings, sets); the cyclic
    collector finds nothing to free in them but costs a fifth of the run on big flows.
    Reference counting still frees everything."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def check(
    loaded: Loaded, selection: Selection = ALL_RULES, boundary: Boundary = OPERATOR
) -> list[Located]:
    """All selected findings for one decoded file, located and in source order.
    ``boundary``: whose flow it is (a tenant's flow is held to its policy)."""
    with _gc_paused():
        return _check(loaded, selection, selection.rules(), boundary)


def flow_ignore(ignore: Sequence[str], code: str, boundary: Boundary) -> Sequence[str]:
    """The flow's own ignores that apply to ``code``: none of them for a tenant flow's
    security rules."""
    if boundary.untrusted and code.startswith(PROTECTED_PREFIX):
        return ()
    return ignore


def _check(
    loaded: Loaded, selection: Selection, rules: Sequence[Rule], boundary: Boundary
) -> list[Located]:
    """``rules``: ``selection.rules()``, worked out by the caller once for many files."""
    findings = list(loaded.findings)
    extra_ignore: Sequence[str] = ()
    if loaded.flow is not None:
        ctx = FlowContext(loaded.flow, loaded.source, boundary, loaded.templates)
        extra_ignore = ctx.config.ignore
        if loaded.template:  # the rules that need the whole flow run on its extensions
            rules = [r for r in rules if r.code not in WHOLE_FLOW]
        for r in rules:
            own = flow_ignore(extra_ignore, r.code, boundary)
            if own and not selection.wants(r.code, own):
                continue
            try:
                produced = r.run(ctx)
            except Exception as exc:  # a bug of ours must not hide the other findings
                import logging  # only here: `logging` costs 5 ms of every cold start

                logging.getLogger(__name__).debug(
                    "rule %s crashed on %s", r.code, loaded.filename, exc_info=True
                )
                error = f"{type(exc).__name__}: {exc}"
                crash = violation((), rule=r.code, name=r.name, error=error)
                produced = [RULES[INTERNAL_ERROR].finding(crash)]
            findings.extend(produced)
    kept = {
        code: selection.wants(code, flow_ignore(extra_ignore, code, boundary))
        for code in {f.code for f in findings}
    }
    findings = [f for f in findings if f.code == INTERNAL_ERROR or kept[f.code]]  # once per code
    if not findings:
        return []
    located = [
        Located(f, RULES[f.code], span, filename) for f, filename, span in loaded.place(findings)
    ]
    located.sort(key=lambda x: (x.filename or "", x.span.row, x.span.column, x.finding.code))
    return located


def discover(paths: Iterable[FsPath]) -> tuple[list[FsPath], list[str]]:
    """Flow files under ``paths`` (files as given; folders searched recursively, hidden
    folders skipped), and an error message per path that cannot be used."""
    files: list[FsPath] = []
    errors: list[str] = []
    for path in paths:
        if path.is_dir():
            found = sorted(
                p
                for p in path.rglob("*.json")
                if is_flow_file(p)
                and p.is_file()
                and not any(
                    part.startswith(".") or part in _SKIP_DIRS
                    for part in p.relative_to(path).parts[:-1]
                )
            )
            if not found:
                errors.append(f"No flow files (`*.json`) in `{path}`")
            files.extend(found)
        elif path.exists():
            files.append(path)
        else:
            errors.append(f"Cannot read `{path}`: No such file or directory")
    return list(dict.fromkeys(files)), errors


# Below this many files a second process costs more than it saves.
PARALLEL_MIN_FILES = 64


def lint_paths(
    paths: Iterable[FsPath],
    selection: Selection = ALL_RULES,
    *,
    jobs: int | None = None,
    boundary: Boundary = OPERATOR,
    templates: Sequence[FsPath] | None = None,
) -> LintResult:
    """Lint files and folders. Never raises for what is in or missing from them.

    ``jobs``: processes to lint with; by default one per available core when there are
    at least ``PARALLEL_MIN_FILES`` files, else this process alone. ``boundary``: whose
    flows they are (default: the operator's own). ``templates``: the folders of the
    templates flows extend (default: the ``templates`` folder beside each file).

    A finding in a template that several flows extend is reported once, with the
    first of them (or with the template, when it is linted too).
    """
    files, errors = discover(paths)
    result = LintResult(errors=errors)
    if jobs is None:
        jobs = _cores() if len(files) >= PARALLEL_MIN_FILES else 1
    jobs = max(1, min(jobs, len(files)))
    folders = tuple(templates) if templates else None
    if jobs == 1:
        outcomes = _lint_chunk(files, selection, boundary, folders)
    else:
        outcomes = _lint_in_processes(files, selection, jobs, boundary, folders)
    reported: dict[Reported, str] = {}
    for path, outcome in zip(files, outcomes, strict=True):
        if isinstance(outcome, str):
            result.errors.append(outcome)
        elif isinstance(outcome, Skipped):
            result.skipped.append(outcome.note)
        else:
            result.files.append(FileResult(str(path), _once(str(path), outcome, reported)))
    return result


# A finding as it reads: the file it is in, row, column, code and text.
Reported = tuple[str, int, int, str, str]


def _once(filename: str, found: list[Located], reported: dict[Reported, str]) -> list[Located]:
    """``found`` (a file's findings) without those reported already for another file
    (``reported``: each finding, and the file linted when it was): the same finding,
    at the same place in the same template."""
    kept = []
    for x in found:
        where = os.path.normpath(x.filename or filename)
        key = (where, x.span.row, x.span.column, x.finding.code, x.finding.text)
        if reported.setdefault(key, filename) == filename:
            kept.append(x)
    return kept


class Skipped(msgspec.Struct, frozen=True):
    """A file given to lint that is no flow by its content; ``note`` says what it is."""

    note: str


Outcome = list[Located] | str | Skipped
Folders = tuple[FsPath, ...] | None


def _lint_file(
    path: FsPath,
    selection: Selection,
    rules: Sequence[Rule],
    boundary: Boundary,
    templates: TemplateLookup,
) -> Outcome:
    """One file's findings, the message saying why it could not be read, or why it was
    skipped. A scenario file is checked as one: its problems are errors (exit 2), as
    ``simulate --scenario`` would report them."""
    try:
        loaded = load_path(path, templates=templates)
    except FlowReadError as exc:
        return str(exc)
    if loaded.other == SCENARIO_FILE:
        from flowctl.engine.scenario import load_scenarios

        try:
            load_scenarios(path)
        except FlowReadError as exc:
            return str(exc)
        return Skipped(
            f"{path}: skipped, a scenario file (its format is valid; "
            f"run it with `flowctl simulate --scenario {path}`)"
        )
    if loaded.other is not None:
        return Skipped(f"{path}: skipped, {loaded.other}")
    return _check(loaded, selection, rules, boundary)


def _lint_chunk(
    files: list[FsPath], selection: Selection, boundary: Boundary, folders: Folders
) -> list[Outcome]:
    """Lint ``files`` here; the templates of each folder are read once."""
    from flowctl.engine.template_files import TemplateFolders, template_folders

    lookups: dict[tuple[FsPath, ...], TemplateFolders] = {}
    outcomes: list[Outcome] = []
    with _gc_paused():  # each file's objects are freed by reference counting
        rules = selection.rules()
        for path in files:
            where = tuple(template_folders(path, folders))
            lookup = lookups.get(where)
            if lookup is None:
                lookup = lookups[where] = TemplateFolders(where)
            outcomes.append(_lint_file(path, selection, rules, boundary, lookup))
    return outcomes


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _lint_in_processes(
    files: list[FsPath], selection: Selection, jobs: int, boundary: Boundary, folders: Folders
) -> list[Outcome]:
    """Lint in ``jobs`` forked processes (they inherit the imported rules, so start in
    milliseconds), in contiguous chunks so results keep the order of ``files``. Where
    fork is unavailable, lint here."""
    import multiprocessing

    if "fork" not in multiprocessing.get_all_start_methods():
        return _lint_chunk(files, selection, boundary, folders)
    size = -(-len(files) // (jobs * 4))
    chunks = [files[i : i + size] for i in range(0, len(files), size)]
    with multiprocessing.get_context("fork").Pool(jobs) as pool:
        parts = pool.starmap(
            _lint_chunk, [(chunk, selection, boundary, folders) for chunk in chunks]
        )
    return [outcome for part in parts for outcome in part]
