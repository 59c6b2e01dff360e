"""``flowctl lint``, ``rules`` and ``schema`` through click's CliRunner: exit code first,
then the exact output on the right stream."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import FIXTURES, FLOWS, ROOT, minimal

from flowctl.cli.main import cli
from flowctl.engine.schema import flow_json_schema

SEED = FIXTURES / "seed000.json"
RULES_DIR = FIXTURES / "rules"


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


def write(path: Path, doc: dict) -> Path:
    path.write_text(json.dumps(doc, indent=2))
    return path


def test_lint_example_flows_is_clean() -> None:
    code, out, err = run("lint", str(FLOWS))
    assert code == 0
    assert out == ""
    assert err == "All checks passed (13 files).\n"  # 12 flows and a template


def test_lint_skips_files_that_are_not_flows_by_content(tmp_path: Path) -> None:
    """What ``flowctl lint flows/*.json`` passes: every file by name, scenario files and
    the schema among them (renamed here: content decides, not the name)."""
    shutil.copy(FLOWS / "clinic.json", tmp_path / "clinic.json")
    shutil.copy(FLOWS / "clinic.scenarios.json", tmp_path / "tests.json")
    shutil.copy(FLOWS / "flow.schema.json", tmp_path / "editor.json")
    names = ["clinic.json", "editor.json", "tests.json"]
    code, out, err = run("lint", *(str(tmp_path / n) for n in names))
    assert code == 0
    assert out == ""
    assert err == (
        f"{tmp_path}/editor.json: skipped, a JSON Schema\n"
        f"{tmp_path}/tests.json: skipped, a scenario file (its format is valid; "
        f"run it with `flowctl simulate --scenario {tmp_path}/tests.json`)\n"
        "All checks passed (1 file).\n"
    )


def test_lint_checks_a_scenario_file_as_one(tmp_path: Path) -> None:
    path = tmp_path / "bad.scenarios.json"
    path.write_text('{"flow": "clinic.json", "scenarios": [{"turns": []}]}')
    code, out, err = run("lint", str(path))
    assert code == 2
    assert out == ""
    assert err == (
        f"flowctl: error: {path}:1:39: Object missing required field `name` - at "
        "`$.scenarios[0]`\n"
        "No findings in 0 files; 1 path could not be read.\n"
    )


def test_lint_seed_000_text_output_and_exit_1() -> None:
    code, out, err = run("lint", str(SEED))
    assert code == 1
    assert out == (
        f'{SEED}:5:13: FL203 No state ends the conversation: mark one `"end": true` or offer `end_call` - at `$.agents`\n'
        f"{SEED}:10:17: FL104 Unknown tool `appointment_booking` - at `$.agents[0].tools[0]`\n"
        f"{SEED}:10:40: FL104 Unknown tool `insurance_verification` - at `$.agents[0].tools[1]`\n"
        f"{SEED}:24:17: FL104 Unknown tool `medical_lookup` - at `$.agents[1].tools[0]`\n"
        f"{SEED}:24:35: FL104 Unknown tool `prescription_check` - at `$.agents[1].tools[1]`\n"
    )
    assert err == "Found 4 errors and 1 warning in 1 of 1 file.\n"


def test_lint_json_format_has_every_field() -> None:
    code, out, _ = run("lint", "--format", "json", str(RULES_DIR / "fl105.json"))
    assert code == 1
    assert json.loads(out) == [
        {
            "code": "FL105",
            "name": "unknown-start",
            "severity": "error",
            "message": "Unknown start state `Mian`; did you mean `Main`? - at `$.start`",
            "filename": str(RULES_DIR / "fl105.json"),
            "path": "$.start",
            "location": {"row": 2, "column": 12},
            "end_location": {"row": 2, "column": 18},
            "url": "docs/rules.md#fl105-unknown-start",
        }
    ]


def test_lint_github_format_annotations() -> None:
    code, out, _ = run("lint", "--format", "github", str(RULES_DIR / "fl105.json"))
    assert code == 1
    assert out == (
        f"::error title=flowctl (FL105),file={RULES_DIR / 'fl105.json'},line=2,col=12,endLine=2,endColumn=18"
        "::Unknown start state `Mian`; did you mean `Main`? - at `$.start`\n"
    )


def test_lint_github_format_escapes_newlines_and_properties(tmp_path: Path) -> None:
    path = tmp_path / "a,b.json"
    path.write_text("{\n")
    code, out, _ = run("lint", "--format", "github", str(path))
    assert code == 1
    assert (
        out
        == f"::error title=flowctl (FL001),file={tmp_path}/a%2Cb.json,line=2,col=1,endLine=2,endColumn=1::Invalid JSON: unexpected end of file\n"
    )


def test_lint_warnings_alone_exit_0() -> None:
    code, out, err = run("lint", str(RULES_DIR / "fl201.json"))
    assert code == 0
    assert out.endswith(
        "FL201 State `Billing` is unreachable from the start state `Main` - at `$.agents[2].name`\n"
    )
    assert err == "Found 0 errors and 1 warning in 1 of 1 file.\n"


def test_lint_exit_zero_keeps_output() -> None:
    code, out, _ = run("lint", "--exit-zero", str(SEED))
    assert code == 0
    assert out.count("FL104") == 4


@pytest.mark.parametrize(
    ("args", "codes"),
    [
        (["--select", "FL104"], ["FL104"] * 4),
        (["--ignore", "FL104"], ["FL203"]),
        (["--select", "FL1,FL2", "--ignore", "FL104"], ["FL203"]),
        (["--ignore", "FL1", "--select", "FL104"], ["FL104"] * 4),
        (["--select", "all", "--ignore", "fl2"], ["FL104"] * 4),
    ],
    ids=["select-code", "ignore-code", "comma-list", "specific-select-wins", "case-and-all"],
)
def test_lint_select_and_ignore(args: list[str], codes: list[str]) -> None:
    _, out, _ = run("lint", *args, str(SEED))
    assert [line.split(": ")[1].split()[0] for line in out.splitlines()] == codes


def test_lint_unknown_selector_is_a_usage_error() -> None:
    code, out, err = run("lint", "--select", "FL9", str(SEED))
    assert (code, out) == (2, "")
    assert err == "flowctl: error: Unknown rule selector `FL9`\n"


def test_lint_flow_level_ignore_wins_over_select(tmp_path: Path) -> None:
    doc = minimal(tools=["nope"])
    doc["lint"] = {"ignore": ["FL104"]}
    path = write(tmp_path / "f.json", doc)
    assert run("lint", "--select", "FL104", str(path))[:2] == (0, "")


def test_lint_folder_skips_scenarios_schema_tenants_and_hidden(tmp_path: Path) -> None:
    good = minimal()
    write(tmp_path / "a.json", good)
    (tmp_path / "sub").mkdir()
    write(tmp_path / "sub" / "b.json", good)
    (tmp_path / "a.scenarios.json").write_text("not json")
    (tmp_path / "flow.schema.json").write_text("not json")
    (tmp_path / "tenants").mkdir()
    (tmp_path / "tenants" / "acme.json").write_text('{"tenant_id": "acme", "flows": ["a"]}')
    (tmp_path / ".hidden").mkdir()
    (tmp_path / ".hidden" / "c.json").write_text("not json")
    (tmp_path / "notes.txt").write_text("not json")
    code, out, err = run("lint", str(tmp_path))
    assert (code, out, err) == (0, "", "All checks passed (2 files).\n")


def test_lint_tenants_folder_alone_holds_no_flows(tmp_path: Path) -> None:
    tenants = tmp_path / "tenants"
    tenants.mkdir()
    (tenants / "acme.json").write_text('{"tenant_id": "acme", "flows": ["a"]}')
    code, out, err = run("lint", str(tenants))
    assert (code, out) == (2, "")
    assert err == (
        f"flowctl: error: No flow files (`*.json`) in `{tenants}`\n"
        "No findings in 0 files; 1 path could not be read.\n"
    )


def test_lint_missing_path_and_empty_folder_exit_2(tmp_path: Path) -> None:
    write(tmp_path / "ok.json", minimal())
    empty = tmp_path / "empty"
    empty.mkdir()
    code, out, err = run(
        "lint", str(tmp_path / "ok.json"), str(tmp_path / "missing.json"), str(empty)
    )
    assert code == 2
    assert out == ""
    assert err == (
        f"flowctl: error: Cannot read `{tmp_path / 'missing.json'}`: No such file or directory\n"
        f"flowctl: error: No flow files (`*.json`) in `{empty}`\n"
        "No findings in 1 file; 2 paths could not be read.\n"
    )


def test_lint_unreadable_file_exits_2_and_keeps_the_others(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bad = write(tmp_path / "bad.json", minimal())
    write(tmp_path / "good.json", minimal(tools=["nope"]))
    real = Path.read_bytes

    def read_bytes(self: Path) -> bytes:
        if self.name == "bad.json":
            raise PermissionError(13, "Permission denied")
        return real(self)

    monkeypatch.setattr(Path, "read_bytes", read_bytes)
    code, out, err = run("lint", str(tmp_path))
    assert code == 2
    assert (
        out
        == f"{tmp_path / 'good.json'}:14:9: FL104 Unknown tool `nope` - at `$.agents[0].tools[0]`\n"
    )
    assert err == (
        f"flowctl: error: Cannot read `{bad}`: Permission denied\n"
        "Found 1 error and 0 warnings in 1 of 1 file; 1 path could not be read.\n"
    )


def test_lint_without_paths_is_a_usage_error() -> None:
    code, _, err = run("lint")
    assert code == 2
    assert "Missing argument 'PATHS...'" in err


def test_rules_lists_the_catalogue() -> None:
    code, out, _ = run("rules")
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "FL000  internal-error               error    A rule crashed on this flow"
    assert (
        "FL102  unknown-target               error    An edge targets a state that does not exist"
        in lines
    )
    # 59 before issue 14, which added FL111-FL113, FL206, FL207, FL309-FL311, FL408, FL409;
    # issue 15 added FL410, issue 17 FL010-FL014 (providers) and FL114, FL115 (sessions),
    # issue 18 FL312, FL313 (memory), FL701-FL705 (templates) and FL116 (knowledge)
    assert len(lines) == 85


def test_rules_shows_one_rule_by_code_or_name() -> None:
    by_code = run("rules", "fl102")
    by_name = run("rules", "unknown-target")
    assert by_code == by_name
    code, out, _ = by_code
    assert code == 0
    assert out.startswith(
        "# FL102 unknown-target (error)\n\nAn edge targets a state that does not exist.\n\n## What it does\n"
    )


def test_rules_json() -> None:
    code, out, _ = run("rules", "FL203", "--format", "json")
    assert code == 0
    item = json.loads(out)
    assert (item["code"], item["name"], item["severity"]) == (
        "FL203",
        "no-terminal-state",
        "warning",
    )


def test_rules_unknown_exits_2() -> None:
    code, out, err = run("rules", "FL999")
    assert (code, out) == (2, "")
    assert err == "flowctl: error: Unknown rule `FL999`; `flowctl rules` lists them\n"


def test_schema_matches_the_committed_file() -> None:
    code, out, _ = run("schema")
    assert code == 0
    assert json.loads(out) == flow_json_schema()
    assert out == (FLOWS / "flow.schema.json").read_text(), (
        "flows/flow.schema.json is stale: run `flowctl schema > flows/flow.schema.json`"
    )


def test_schema_describes_fields_for_editors() -> None:
    state = flow_json_schema()["$defs"]["State"]
    assert state["required"] == ["name", "instructions"]
    assert state["properties"]["on_enter_prompt"]["description"].startswith("Greeting spoken")
    assert state["additionalProperties"] is False


def test_schema_descriptions_carry_no_docstring_indentation() -> None:
    edge = flow_json_schema()["$defs"]["Edge"]["description"]
    assert edge.splitlines()[2] == (
        "``handoff`` moves to ``target_agent``; ``action`` runs ``tool`` (default: the edge's"
    )


def test_version() -> None:
    code, out, _ = run("--version")
    assert (code, out) == (0, "flowctl, version 0.1.0\n")


def test_console_script_never_shows_a_traceback(tmp_path: Path) -> None:
    import subprocess
    import sys

    flowctl = shutil.which("flowctl", path=str(Path(sys.executable).parent))
    assert flowctl is not None
    bad = tmp_path / "bad.json"
    bad.write_bytes(b"\xff\xfe garbage")
    proc = subprocess.run([flowctl, "lint", str(bad)], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert proc.stdout == f"{bad}:1:1: FL001 File is not valid UTF-8 (byte 0xff)\n"


def test_docs_rules_md_is_generated_from_the_registry() -> None:
    code, out, _ = run("rules", "--format", "markdown")
    assert code == 0
    assert out == (ROOT / "docs" / "rules.md").read_text(), (
        "docs/rules.md is stale: run `flowctl rules --format markdown > docs/rules.md`"
    )
    assert (
        "## FL102 unknown-target\n\n*error* — An edge targets a state that does not exist.\n" in out
    )


def test_lint_in_parallel_matches_linting_in_one_process(tmp_path: Path) -> None:
    for i in range(70):
        doc = minimal(tools=[f"tool_{i}"]) if i % 7 == 0 else minimal()
        write(tmp_path / f"flow_{i:02d}.json", doc)
    (tmp_path / "flow_broken.json").write_text('{"agents": [')
    sequential = run("lint", "--jobs", "1", str(tmp_path))
    parallel = run("lint", "--jobs", "2", str(tmp_path))
    assert parallel == sequential
    code, out, err = parallel
    assert code == 1
    assert (
        out.splitlines()[0]
        == f"{tmp_path / 'flow_00.json'}:14:9: FL104 Unknown tool `tool_0` - at `$.agents[0].tools[0]`"
    )
    assert (
        out.splitlines()[-1]
        == f"{tmp_path / 'flow_broken.json'}:1:13: FL001 Invalid JSON: unexpected end of file"
    )
    assert err == "Found 11 errors and 0 warnings in 11 of 71 files.\n"


# --- route -----------------------------------------------------------------------------


def route(*args: str) -> tuple[int, str, str]:
    """``flowctl route`` over the example flows."""
    return run("route", "--flows", str(FLOWS), *args)


def test_route_prints_the_decision_and_the_rule() -> None:
    code, out, err = route(
        "--metadata", '{"tenant_id": "dynamic-co", "user_details": {"is_new_user": true}}'
    )
    assert code == 0
    assert out == (
        "tenant    dynamic-co\n"
        "flow      onboarding\n"
        "version   1.0.0\n"
        "rule      rule[0]\n"
        "reason    rule[0] `is_new_user` holds\n"
        "origin    job metadata\n"
    )
    assert err == ""


def test_route_json_from_attributes() -> None:
    attributes = '{"tenant_id": "dynamic-co", "purpose": "trial", "user_id": "user-1"}'
    code, out, _ = route("--attributes", attributes, "--format", "json")
    assert code == 0
    assert json.loads(out) == {
        "decision": "routed",
        "tenant_id": "dynamic-co",
        "flow_id": "sales",
        "version": "1.0.0",
        "rule": "split",
        "reason": "the tenant maps purpose `trial` to it, split 2 ways by user id: "
        "variant[1] (weight 50 of 100)",
        "origin": "participant attributes",
        "purpose": "trial",
        "variant": 1,
        "user_id": "user-1",
        "user_details": {},
        "overrides": {},
    }


def test_route_rejected_exits_1_with_the_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)  # --flows defaults to ./flows
    code, out, err = run(
        "route",
        "--metadata",
        "",
        "--room-metadata",
        '{"tenant_id": "healthcare_clinic", "flow_id": "sales"}',
    )
    assert code == 1
    assert out == (
        "rejected  Flow `sales` belongs to another tenant; not serving it to tenant "
        "`healthcare_clinic`\n"
        "origin    room metadata\n"
    )
    assert err == ""
    code, out, _ = run("route", "--metadata", "{", "--format", "json")
    assert code == 1
    assert json.loads(out) == {
        "decision": "rejected",
        "reason": "Job metadata is not valid JSON: input data was truncated",
        "origin": "job metadata",
        "tenant_id": None,
        "flow_id": None,
        "version": None,
    }


def test_route_bad_tenant_files_exit_2_with_each_problem_located(tmp_path: Path) -> None:
    write(tmp_path / "a.json", minimal())
    (tmp_path / "tenants").mkdir()
    bad = tmp_path / "tenants" / "acme.json"
    bad.write_text('{\n  "tenant_id": "acme",\n  "flows": ["a", "b"],\n  "default": "c"\n}\n')
    code, out, err = run("route", "--flows", str(tmp_path), "--metadata", '{"tenant_id": "acme"}')
    assert (code, out) == (2, "")
    assert err == (
        f"flowctl: error: {bad}:3:18: Unknown flow `b` - at `$.flows[1]`\n"
        f"flowctl: error: {bad}:4:14: Unknown flow `c` - at `$.default`\n"
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "give --metadata, --room-metadata or --attributes"),
        (
            ["--attributes", "{"],
            "--attributes is not JSON: Expecting property name enclosed in double quotes: "
            "line 1 column 2 (char 1)",
        ),
        (["--attributes", '["tenant_id"]'], "--attributes must be a JSON object"),
    ],
    ids=["no-metadata", "attributes-not-json", "attributes-not-object"],
)
def test_route_usage_errors_exit_2(args: list[str], message: str) -> None:
    code, out, err = route(*args)
    assert (code, out, err) == (2, "", f"flowctl: error: {message}\n")


def test_route_missing_flows_folder_exits_2(tmp_path: Path) -> None:
    code, out, err = run("route", "--flows", str(tmp_path / "nope"), "--metadata", "{}")
    assert (code, out) == (2, "")
    assert err == (
        f"flowctl: error: Cannot read `{tmp_path / 'nope'}`: No such folder\n"
        f"flowctl: error: Cannot read `{tmp_path / 'nope' / 'tenants'}`: No such folder\n"
    )


# --- failures ------------------------------------------------------------------------------


def test_a_bug_is_an_internal_error_without_a_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken() -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr("flowctl.engine.schema.flow_json_schema", broken)
    assert run("schema") == (
        2,
        "",
        "flowctl: error: internal error: RuntimeError: boom (run with --debug for details)\n",
    )
    result = CliRunner().invoke(cli, ["--debug", "schema"])
    assert result.exit_code == 1  # CliRunner's code for an exception that escaped
    assert isinstance(result.exception, RuntimeError)


def test_an_empty_listing_says_so_on_stderr(tmp_path: Path) -> None:
    env = {"FLOWCTL_STORE": f"sqlite:///{tmp_path / 'flowctl.db'}", "FLOWCTL_TENANT": "acme"}
    for args in (["store", "init"], ["tenants", "create", "acme"]):
        assert CliRunner().invoke(cli, args, env=env).exit_code == 0
    result = CliRunner().invoke(cli, ["keys", "list"], env=env)
    assert (result.exit_code, result.stdout) == (0, "")
    assert result.stderr == "No keys for tenant `acme`; create one with `flowctl keys create`\n"
