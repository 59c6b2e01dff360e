"""Tenant files: the examples load; every problem is reported at file:row:col with the
exact message, within a file and across files and flows."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import FLOWS, PEER_EXAMPLES, minimal

from flowctl.engine.errors import FlowReadError
from flowctl.engine.tenants import (
    MAX_TENANT_BYTES,
    FileCatalog,
    FlowEntry,
    Limits,
    Rule,
    Tenant,
    TenantError,
    Variant,
    load_catalog,
)


@pytest.fixture
def flows(tmp_path: Path) -> Path:
    """Flows `a` (version 1.0.0), `b` (no version) and `c` (customer `acme`), and an
    empty tenants folder."""
    for name, extra in (("a", {"version": "1.0.0"}), ("b", {}), ("c", {"customer_id": "acme"})):
        doc = minimal()
        doc.update(extra)
        (tmp_path / f"{name}.json").write_text(json.dumps(doc, indent=2))
    (tmp_path / "tenants").mkdir()
    return tmp_path


def tenant_file(flows: Path, name: str, text: str) -> str:
    path = flows / "tenants" / f"{name}.json"
    path.write_text(text)
    return str(path)


def problems(flows: Path) -> list[str]:
    with pytest.raises(TenantError) as exc:
        load_catalog(flows)
    assert exc.value.exit_code == 2
    assert str(exc.value) == "\n".join(exc.value.problems)
    return exc.value.problems


def test_examples_load_with_owners_and_versions() -> None:
    catalog = load_catalog(FLOWS)
    assert sorted(catalog.tenants) == [
        "coastal-care",
        "dynamic-co",
        "healthcare_clinic",
        "peer-examples",
    ]
    assert catalog.flow("clinic") == FlowEntry(
        flow_id="clinic",
        tenant_id="healthcare_clinic",
        version="1.0.0",
        location=str(FLOWS / "clinic.json"),
    )
    owners = {f.flow_id: f.tenant_id for f in catalog.flows.values()}
    assert owners == {
        "clinic": "healthcare_clinic",
        "dental": "coastal-care",  # the two flows on flows/templates/clinic_desk.json
        "vet": "coastal-care",
        "interview": "dynamic-co",
        "onboarding": "dynamic-co",
        "sales": "dynamic-co",
        "support": "dynamic-co",
        **{flow: "peer-examples" for flow in PEER_EXAMPLES},
    }
    dynamic = catalog.tenant("dynamic-co")
    assert dynamic is not None
    assert dynamic.rules == [
        Rule(when="is_new_user", flow="onboarding"),
        Rule(when='tier == "premium"', flow="support"),
    ]
    assert dynamic.purposes["trial"] == [
        Variant(flow="onboarding", weight=50),
        Variant(flow="sales", weight=50),
    ]
    assert dynamic.limits == Limits(max_concurrent_sessions=50)
    assert catalog.tenant("nobody") is None
    assert repr(catalog) == "FileCatalog(<4 tenants, 12 flows>)"


def test_a_minimal_tenant_gets_defaults(flows: Path) -> None:
    tenant_file(flows, "acme", '{"tenant_id": "acme", "flows": ["a"]}')
    catalog = load_catalog(flows)
    assert catalog.tenant("acme") == Tenant(tenant_id="acme", flows=["a"])
    tenant = catalog.tenants["acme"]
    assert (tenant.name, tenant.purposes, tenant.rules, tenant.default) == ("", {}, [], None)
    assert tenant.limits == Limits(max_concurrent_sessions=None)
    assert catalog.flow("b") == FlowEntry(flow_id="b", location=str(flows / "b.json"))


def test_shape_problems_are_all_reported_where_they_are(flows: Path) -> None:
    path = tenant_file(
        flows,
        "t",
        "{\n"
        '  "tenant_id": "acme corp",\n'
        '  "flow": ["a"],\n'
        '  "purposes": {"x": 3, "y": [{"flow": "a", "weight": -1}]},\n'
        '  "limits": {"max_concurrent_sessions": 0}\n'
        "}\n",
    )
    assert problems(flows) == [
        f"{path}:1:1: Object missing required field `flows` - at `$`",
        f"{path}:2:16: Expected `str` matching regex '^[A-Za-z0-9][A-Za-z0-9_.-]{{0,127}}$' - at `$.tenant_id`",
        f"{path}:3:3: Object contains unknown field `flow`; did you mean `flows`? - at `$.flow`",
        f"{path}:4:21: Expected `str | array`, got `int` - at `$.purposes.x`",
        f"{path}:4:54: Expected `int` >= 0 - at `$.purposes.y[0].weight`",
        f"{path}:5:41: Expected `int` >= 1 - at `$.limits.max_concurrent_sessions`",
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '{\n  "tenant_id": "acme",\n  "flows": ["a"],\n}\n',
            "4:1: Invalid JSON: trailing comma in object",
        ),
        ("", "1:1: File is empty; a tenant is a JSON object"),
        ("[]", "1:1: Expected `object`, got `array` - at `$`"),
        (
            '{\n  "tenant_id": "acme",\n  "flows": ["a"],\n  "default": "a",\n  "default": "b"\n}',
            "5:3: Duplicate key `default`: the earlier value is ignored - at `$.default`",
        ),
        (
            '\ufeff{"tenant_id": "acme", "flows": ["a"]}',
            "1:1: File starts with a UTF-8 byte order mark; save it without one",
        ),
    ],
    ids=["trailing-comma", "empty", "not-an-object", "duplicate-key", "bom"],
)
def test_documents_that_are_not_tenants(flows: Path, text: str, message: str) -> None:
    path = tenant_file(flows, "t", text)
    assert problems(flows) == [f"{path}:{message}"]


def test_references_are_checked_against_the_flows(flows: Path) -> None:
    path = tenant_file(
        flows,
        "t",
        "{\n"
        '  "tenant_id": "zeta",\n'
        '  "flows": ["c", "aa", "a", "a", "b"],\n'
        '  "purposes": {"x": "d", "y": [{"flow": "a", "weight": 0, "version": "2.0"}]},\n'
        '  "rules": [{"when": "tier = 1", "flow": "a"}, {"when": "ok", "flow": "zz"}],\n'
        '  "default": [{"flow": "b", "weight": 1, "version": "1.0.0"}]\n'
        "}\n",
    )
    (flows / "d.json").write_text(json.dumps(minimal()))
    assert problems(flows) == [
        f"{path}:3:13: Flow `c` declares `customer_id` `acme`; it cannot belong to tenant `zeta` - at `$.flows[0]`",
        f"{path}:3:18: Unknown flow `aa`; did you mean `a`? - at `$.flows[1]`",
        f"{path}:3:29: Flow `a` is listed twice - at `$.flows[3]`",
        f"{path}:4:21: Flow `d` is not one of this tenant's `flows` - at `$.purposes.x`",
        f"{path}:4:31: The weights of this split add up to 0; give a variant a positive weight - at `$.purposes.y`",
        f"{path}:4:70: Flow `a` has no version `2.0` here: its file holds version `1.0.0` - at `$.purposes.y[0].version`",
        f"{path}:5:22: Invalid condition: unexpected `=` at column 6 - at `$.rules[0].when`",
        f"{path}:5:71: Unknown flow `zz` - at `$.rules[1].flow`",
        f"{path}:6:53: Flow `b` has no version `1.0.0` here: its file holds no `version` - at `$.default[0].version`",
    ]


def test_a_flow_has_one_owner_and_a_tenant_one_file(flows: Path) -> None:
    tenant_file(flows, "1-acme", '{"tenant_id": "acme", "flows": ["c", "a"]}')
    second = tenant_file(flows, "2-beta", '{"tenant_id": "beta", "flows": ["b", "a"]}')
    third = tenant_file(flows, "3-acme", '{"tenant_id": "acme", "flows": ["b"]}')
    first = flows / "tenants" / "1-acme.json"
    assert problems(flows) == [
        f"{second}:1:38: Flow `a` is already owned by tenant `acme` (`{first}`) - at `$.flows[1]`",
        f"{third}:1:15: Tenant `acme` is also defined in `{first}` - at `$.tenant_id`",
    ]


def test_a_flow_whose_customer_id_names_the_tenant_belongs_to_it(flows: Path) -> None:
    tenant_file(flows, "acme", '{"tenant_id": "acme", "flows": ["c"], "default": "c"}')
    assert load_catalog(flows).flow("c") == FlowEntry(
        flow_id="c", tenant_id="acme", location=str(flows / "c.json")
    )


def test_flow_files_that_cannot_be_routed_to(flows: Path) -> None:
    (flows / "broken.json").write_text('{"agents": []}')
    (flows / "e.json").write_text(json.dumps({**minimal(), "flow_id": "a"}, indent=2))
    tenant_file(flows, "acme", '{"tenant_id": "acme", "flows": ["a"]}')
    assert problems(flows) == [
        f"{flows / 'broken.json'}:1:12: Expected `array` of length >= 1 - at `$.agents`",
        f"{flows / 'e.json'}:20:14: Flow id `a` is also the id of `{flows / 'a.json'}` - at `$.flow_id`",
    ]


def test_folders_without_tenants_or_flows(tmp_path: Path) -> None:
    assert problems(tmp_path / "missing") == [
        f"Cannot read `{tmp_path / 'missing'}`: No such folder",
        f"Cannot read `{tmp_path / 'missing' / 'tenants'}`: No such folder",
    ]
    (tmp_path / "tenants").mkdir()
    assert problems(tmp_path) == [
        f"No flow files (`*.json`) in `{tmp_path}`",
        f"No tenant files (`*.json`) in `{tmp_path / 'tenants'}`",
    ]


def test_without_a_tenants_folder_flows_sharing_a_customer_share_a_tenant(
    flows: Path,
) -> None:
    (flows / "tenants").rmdir()
    (flows / "d.json").write_text(json.dumps({**minimal(), "customer_id": "acme"}))
    catalog = load_catalog(flows)
    assert catalog.tenants == {
        "a": Tenant(tenant_id="a", flows=["a"], default="a"),
        "acme": Tenant(tenant_id="acme", flows=["c", "d"]),  # jobs name the flow
        "b": Tenant(tenant_id="b", flows=["b"], default="b"),
    }
    assert catalog.flow("d") == FlowEntry(
        flow_id="d", tenant_id="acme", location=str(flows / "d.json")
    )


def test_without_a_tenants_folder_a_flow_id_must_fit_a_tenant_id(tmp_path: Path) -> None:
    (tmp_path / "x.json").write_text(json.dumps({**minimal(), "flow_id": "front desk"}))
    assert problems(tmp_path) == [
        f"`{tmp_path / 'x.json'}`: `front desk` cannot be a tenant id (letters, digits, `_`, "
        "`.` and `-`); give the flow a `customer_id`, or write a `tenants` folder"
    ]


def test_a_tenant_folder_can_be_elsewhere(flows: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "acme.json").write_text('{"tenant_id": "acme", "flows": ["a"]}')
    assert list(load_catalog(flows, elsewhere).tenants) == ["acme"]


def test_huge_tenant_file_is_refused_without_reading_it(flows: Path) -> None:
    path = flows / "tenants" / "huge.json"
    with path.open("wb") as f:
        f.truncate(MAX_TENANT_BYTES + 1)
    assert problems(flows) == [
        f"{path}: File is 1,048,577 bytes; tenant files are limited to 1024 KiB"
    ]


def test_tenant_error_is_a_read_error() -> None:
    assert issubclass(TenantError, FlowReadError)
    assert TenantError(["a", "b"]).problems == ["a", "b"]


def test_file_catalog_is_built_from_mappings() -> None:
    tenant = Tenant(tenant_id="t", flows=["f"])
    entry = FlowEntry(flow_id="f", tenant_id="t")
    catalog = FileCatalog({"t": tenant}, {"f": entry})
    assert (catalog.tenant("t"), catalog.flow("f"), catalog.flow("g")) == (tenant, entry, None)
