"""``flowctl tenants policy``, ``flowctl secrets`` and ``--tools`` through CliRunner, on
real SQLite files: exit code first, then the exact output."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import minimal

from flowctl.cli.main import cli


def run(url: str, *args: str, stdin: str | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(
        cli, [*args, "--store", url], env={"FLOWCTL_USER": "ana"}, input=stdin
    )
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'flowctl.db'}"
    assert run(url, "store", "init")[0] == 0
    assert run(url, "tenants", "create", "acme")[0] == 0
    return url


DEFAULT = (
    "tools             none\n"
    "egress hosts      none\n"
    "transfer to       none\n"
    "max versions      1,000\n"
    "max stored bytes  67,108,864\n"
)


def test_policy_shows_grants_and_changes_them(url: str) -> None:
    assert run(url, "tenants", "policy", "acme") == (0, DEFAULT, "")
    code, out, _ = run(
        url,
        "tenants",
        "policy",
        "acme",
        "--grant-tool",
        "lookup_order",
        "--grant-tool",
        "refund",
        "--allow-host",
        "api.acme.example",
        "--allow-transfer",
        "+15550100",
        "--max-versions",
        "50",
    )
    assert (code, out) == (
        0,
        "tools             lookup_order, refund\n"
        "egress hosts      api.acme.example\n"
        "transfer to       +15550100\n"
        "max versions      50\n"
        "max stored bytes  67,108,864\n",
    )
    code, out, _ = run(
        url, "tenants", "policy", "acme", "--revoke-tool", "refund", "--format", "json"
    )
    assert code == 0
    assert json.loads(out) == {
        "tools": ["lookup_order"],
        "egress_hosts": ["api.acme.example"],
        "transfer_to": ["+15550100"],
        "max_versions": 50,
        "max_stored_bytes": 67108864,
    }
    assert run(url, "tenants", "policy", "acme", "--reset") == (0, DEFAULT, "")


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        (
            "--allow-host",
            "https://api.acme.example",
            "egress host `https://api.acme.example` is not a host name: grant hosts by name, "
            "in lowercase, without scheme or port (`api.example.com`, or `*.example.com` for "
            "its subdomains); addresses are never granted",
        ),
        (
            "--allow-host",
            "169.254.169.254",
            "egress host `169.254.169.254` is not a host name: grant hosts by name, in "
            "lowercase, without scheme or port (`api.example.com`, or `*.example.com` for its "
            "subdomains); addresses are never granted",
        ),
        (
            "--allow-transfer",
            "911",
            "transfer destination `911` is not an E.164 number (`+15550100`) or a SIP URI "
            "(`sip:desk@pbx.example`)",
        ),
    ],
    ids=["scheme", "address", "short-number"],
)
def test_policy_refuses_what_cannot_be_granted(
    url: str, option: str, value: str, message: str
) -> None:
    assert run(url, "tenants", "policy", "acme", option, value) == (
        2,
        "",
        f"flowctl: error: Invalid policy for tenant `acme`: {message}\n",
    )
    assert run(url, "tenants", "policy", "acme") == (0, DEFAULT, "")


def test_secrets_are_set_from_stdin_listed_by_name_and_never_shown(url: str) -> None:
    assert run(url, "secrets", "set", "-t", "acme", "CRM_TOKEN", stdin="s3cr3t-1\n") == (
        0,
        "Secret CRM_TOKEN of tenant acme set\n",
        "",
    )
    assert run(url, "secrets", "set", "-t", "acme", "CRM_TOKEN", stdin="s3cr3t-2") == (
        0,
        "Secret CRM_TOKEN of tenant acme rotated\n",
        "",
    )
    code, out, _ = run(url, "secrets", "list", "-t", "acme", "--format", "json")
    assert code == 0 and "s3cr3t" not in out
    assert [s["name"] for s in json.loads(out)] == ["CRM_TOKEN"]
    code, out, _ = run(url, "tenants", "show", "acme", "--audit")
    assert code == 0 and "s3cr3t" not in out
    assert 'secret.rotate CRM_TOKEN {"name": "CRM_TOKEN"}' in out
    assert run(url, "secrets", "set", "-t", "acme", "bad name", stdin="x") == (
        2,
        "",
        "flowctl: error: Invalid secret name `bad name`: use letters, digits and `_`, "
        "starting with a letter or `_` (as `${NAME}` in a flow), at most 128 characters\n",
    )
    assert run(url, "secrets", "delete", "-t", "acme", "NOPE") == (
        2,
        "",
        "flowctl: error: Unknown secret `NOPE` for tenant `acme`\n",
    )
    assert run(url, "secrets", "delete", "-t", "acme", "CRM_TOKEN") == (
        0,
        "Secret CRM_TOKEN of tenant acme deleted\n",
        "",
    )
    assert run(url, "secrets", "list", "-t", "acme") == (0, "", "Tenant acme has no secrets\n")


def test_lint_as_a_tenant_holds_a_file_to_its_policy(url: str, tmp_path: Path) -> None:
    flow = tmp_path / "f.json"
    doc = minimal(tools=["lookup"])
    doc["tools"] = [{"kind": "catalog", "name": "lookup", "catalog": "lookup_order"}]
    flow.write_text(json.dumps(doc, indent=2))
    catalog = tmp_path / "tools.json"
    catalog.write_text(
        json.dumps(
            {
                "tools": {
                    "lookup_order": {
                        "function": "toolbox:lookup_patient",
                        "description": "Find the caller by their phone number",
                        "parameters": {"phone": {"description": "The caller's phone"}},
                    }
                }
            }
        )
    )
    # the operator's own file, with the catalog: clean
    result = CliRunner().invoke(cli, ["lint", str(flow), "--tools", str(catalog)])
    assert (result.exit_code, result.stdout) == (0, "")
    # as acme's flow: the entry is not granted to acme
    code, out, _ = run(url, "lint", str(flow), "--tools", str(catalog), "--tenant", "acme")
    assert (code, out) == (
        1,
        f"{flow}:24:5: FL508 Catalog tool `lookup_order` is not granted to tenant `acme`; the "
        "operator grants tools with `flowctl tenants policy acme --grant-tool lookup_order` "
        "- at `$.tools[0]`\n",
    )
    run(url, "tenants", "policy", "acme", "--grant-tool", "lookup_order")
    code, out, _ = run(url, "lint", str(flow), "--tools", str(catalog), "--tenant", "acme")
    assert (code, out) == (0, "")


def test_a_catalog_that_does_not_fit_its_functions_is_named(tmp_path: Path) -> None:
    from flowctl.engine.boundary import CatalogError, ToolCatalog

    catalog = tmp_path / "tools.json"
    catalog.write_text(
        json.dumps(
            {
                "tools": {
                    "missing": {"function": "toolbox:no_such_function"},
                    "wrong": {
                        "function": "toolbox:lookup_patient",
                        "parameters": {"name": {"description": "A name"}},
                    },
                }
            }
        )
    )
    with pytest.raises(CatalogError) as caught:
        ToolCatalog.load(catalog)
    assert caught.value.problems == [
        f"{catalog}: Tool `missing`: cannot import `toolbox:no_such_function`: module "
        "'toolbox' has no attribute 'no_such_function'",
        f"{catalog}: Tool `wrong`: `toolbox:lookup_patient` takes no keyword argument `name`",
        f"{catalog}: Tool `wrong`: `toolbox:lookup_patient` needs `phone`, which the catalog "
        "does not declare as a required parameter",
    ]
    assert ToolCatalog.load(catalog, check_functions=False).tools["wrong"].function == (
        "toolbox:lookup_patient"
    )
    result = CliRunner().invoke(cli, ["lint", str(catalog), "--tools", str(tmp_path / "no.json")])
    assert result.exit_code == 2
    assert (
        result.stderr
        == f"flowctl: error: Cannot use tool catalog `{tmp_path / 'no.json'}`:\nCannot read `{tmp_path / 'no.json'}`: No such file or directory\n"
    )
