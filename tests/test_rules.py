"""Every lint rule: one failing fixture in tests/fixtures/rules/ asserting the exact
findings (row:col, code, message, path), plus targeted cases per rule."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import msgspec
import pytest
from conftest import FIXTURES, ROOT, lint_doc, minimal

from flowctl.engine.boundary import OPERATOR, Boundary
from flowctl.engine.lint import RULES, format_text, lint_paths

RULE_FIXTURES = FIXTURES / "rules"

# Each fixture FLnnn.json sits beside FLnnn.expected: the whole text output of linting
# it (file name shortened), which the rule's own finding must be part of.
FIXTURE_CODES = sorted(p.stem.upper() for p in RULE_FIXTURES.glob("*.json"))


FIXTURE_CODES = [c for c in FIXTURE_CODES if not c.endswith(".BOUNDARY")]


def fixture_boundary(path: Path) -> Boundary:
    """The boundary a fixture is linted under: ``flNNN.boundary.json`` beside it (a
    tenant's id, policy, secret names, and the operator's catalog), else the operator's."""
    sidecar = path.with_suffix(".boundary.json")
    if not sidecar.exists():
        return OPERATOR
    return msgspec.json.decode(sidecar.read_bytes(), type=Boundary)


@pytest.mark.parametrize("code", FIXTURE_CODES)
def test_rule_fixture_reports_exact_findings(code: str) -> None:
    path = RULE_FIXTURES / f"{code.lower()}.json"
    expected = path.with_suffix(".expected").read_text()
    result = lint_paths([path], boundary=fixture_boundary(path))
    # a finding in a template is in tests/fixtures/rules/templates/: shown as `templates/...`
    output = format_text(result).replace(str(path), path.name).replace(f"{RULE_FIXTURES}/", "")
    assert output == expected
    assert f": {code} " in expected


def test_every_rule_has_a_fixture_or_a_dedicated_test() -> None:
    dedicated = {"FL000", "FL006"}  # a crash and a 10 MiB file: made in tests below
    assert set(RULES) == set(FIXTURE_CODES) | dedicated


def test_rule_fl006_refuses_files_over_the_limit(tmp_path: Path) -> None:
    big = tmp_path / "big.json"
    big.write_bytes(b'{"agents": [], "x": "' + b"a" * (20 * 1024 * 1024) + b'"}')
    result = lint_paths([big])
    assert format_text(result) == (
        f"{big}:1:1: FL006 File is 20.0 MiB; flows are limited to 10 MiB\n"
    )
    assert result.exit_code == 1


def test_rule_fl000_reports_a_crashing_rule_and_keeps_linting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(ctx: object) -> list:
        raise ZeroDivisionError("division by zero")

    original = RULES["FL405"]
    monkeypatch.setitem(RULES, "FL405", msgspec.structs.replace(original, check=broken))
    doc = minimal(tools=["nope"])
    assert lint_doc(doc) == [
        "1:1 FL000 Rule FL405 (ambiguous-edges) crashed: ZeroDivisionError: division by zero; "
        "please report this - at `$`",
        "14:9 FL104 Unknown tool `nope` - at `$.agents[0].tools[0]`",
    ]


def test_every_rule_is_documented() -> None:
    for r in RULES.values():
        assert r.summary and not r.summary.endswith(".")
        assert "## What it does" in r.doc, r.code
        assert r.name == r.name.lower() and " " not in r.name


def test_registry_is_the_only_place_a_rule_code_is_written() -> None:
    """Checks report violations; the registry binds their codes (like ruff's codes.rs).
    Rule docs may quote a code inside their prose; no string is a code by itself."""
    code = re.compile(r"FL[0-9]+")
    written = [
        f"{path.name}:{node.lineno} {node.value}"
        for path in sorted((ROOT / "engine" / "lint").glob("*.py"))
        if path.name != "registry.py"
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
        if code.fullmatch(node.value)
    ]
    assert written == []


def test_outside_lint_only_the_loader_writes_codes_and_only_the_document_rules() -> None:
    """Everything else names a rule and asks the registry (``code_of``). The loader
    (``engine/load.py``, with ``findings.py`` beneath it) sits below the lint package,
    which imports it, so it writes the codes of the rules it reports: the document
    rules of the registry's FL0 section, which leave their messages to it."""
    code = re.compile(r"FL[0-9]+")
    written: dict[str, set[str]] = {}
    for package in ("engine", "worker", "cli", "api", "metrics"):
        for path in sorted((ROOT / package).rglob("*.py")):
            if path.parent.name == "lint":
                continue
            for node in ast.walk(ast.parse(path.read_text())):
                is_text = isinstance(node, ast.Constant) and isinstance(node.value, str)
                if is_text and code.fullmatch(node.value):
                    name = path.relative_to(ROOT).as_posix()
                    written.setdefault(name, set()).add(node.value)
    assert sorted(written) == ["engine/findings.py", "engine/load.py"]
    document = {c for c, r in RULES.items() if c.startswith("FL0") and not r.messages}
    assert set().union(*written.values()) <= document


def test_registry_gives_every_rule_a_doc_and_every_reported_rule_a_check() -> None:
    for r in RULES.values():
        assert r.doc, r.code
        # Rules with messages are reported by a check (FL000 by the runner itself, the
        # template rules by resolving a flow with its templates, engine/extends.py);
        # the loader writes the messages of the others.
        reported_elsewhere = r.code == "FL000" or r.code.startswith("FL7")
        assert (r.check is not None) == bool(r.messages) or reported_elsewhere, r.code


def test_seed_000_example_verbatim_names_its_four_undefined_tools() -> None:
    result = lint_paths([FIXTURES / "seed000.json"])
    errors = [
        (x.finding.code, x.finding.where, x.span.row, x.span.column)
        for f in result.files
        for x in f.findings
        if x.rule.severity.value == "error"
    ]
    assert errors == [
        ("FL104", "$.agents[0].tools[0]", 10, 17),
        ("FL104", "$.agents[0].tools[1]", 10, 40),
        ("FL104", "$.agents[1].tools[0]", 24, 17),
        ("FL104", "$.agents[1].tools[1]", 24, 35),
    ]
    assert result.exit_code == 1
