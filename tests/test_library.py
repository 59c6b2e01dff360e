"""What a worker serves (engine/library.py), per-process session limits
(engine/limits.py) and per-session trace sampling (engine/tracing.py): pure, no LiveKit."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from conftest import FLOWS, minimal

from flowctl.engine.errors import FlowInvalidError
from flowctl.engine.library import FileLibrary, NotServed, session_variables
from flowctl.engine.limits import SessionSlots
from flowctl.engine.routing import Rejected, route
from flowctl.engine.spec import TracingConfig
from flowctl.engine.tenants import Limits, Tenant
from flowctl.engine.tracing import traced


def _folder(tmp_path: Path, flows: dict[str, dict], owned: list[str]) -> Path:  # type: ignore[type-arg]
    for name, doc in flows.items():
        (tmp_path / f"{name}.json").write_text(json.dumps(doc, indent=2))
    (tmp_path / "tenants").mkdir()
    tenant = {"tenant_id": "acme", "flows": owned, "default": owned[0]}
    (tmp_path / "tenants" / "acme.json").write_text(json.dumps(tenant))
    return tmp_path


# --- the library ---------------------------------------------------------------------------


def test_a_folders_catalog_tools_run_the_operators_functions(tmp_path: Path) -> None:
    from flowctl.engine.boundary import CatalogEntry, ToolCatalog
    from flowctl.engine.spec import PythonTool

    doc = minimal(tools=["lookup"])
    doc["tools"] = [{"kind": "catalog", "name": "lookup"}]
    folder = _folder(tmp_path, {"desk": doc}, ["desk"])
    with pytest.raises(FlowInvalidError):  # FL110: no catalog loaded
        FileLibrary.load(folder)
    catalog = ToolCatalog(
        tools={"lookup": CatalogEntry(function="json:dumps", description="Look it up.")}
    )
    [served] = FileLibrary.load(folder, tools=catalog).served()
    tool = served.compiled.tools["lookup"]
    assert isinstance(tool, PythonTool) and tool.function == "json:dumps"
    assert not served.boundary.untrusted and served.secrets is None  # the operator's


async def test_the_examples_are_served_compiled_with_their_owners() -> None:
    library = FileLibrary.load(FLOWS)
    assert [(s.flow_id, s.tenant_id, s.version) for s in library.served()] == [
        ("clinic", "healthcare_clinic", "1.0.0"),
        ("dental", "coastal-care", "1.0.0"),
        ("food_ordering", "peer-examples", "1.0.0"),
        ("insurance_quote", "peer-examples", "1.0.0"),
        ("interview", "dynamic-co", "1.0.0"),
        ("onboarding", "dynamic-co", "1.0.0"),
        ("patient_intake", "peer-examples", "1.0.0"),
        ("restaurant_agent", "peer-examples", "1.0.0"),
        ("restaurant_reservation", "peer-examples", "1.0.0"),
        ("sales", "dynamic-co", "1.0.0"),
        ("support", "dynamic-co", "1.0.0"),
        ("vet", "coastal-care", "1.0.0"),
    ]
    decision = route(library, '{"tenant_id": "dynamic-co", "purpose": "sales"}')
    assert not isinstance(decision, Rejected)
    served = await library.compiled(decision.tenant_id, decision.flow_id, decision.version)
    assert served.compiled.flow_id == "sales"
    assert served.location == str(FLOWS / "sales.json")


def test_a_flow_with_errors_stops_the_library_naming_file_and_finding(tmp_path: Path) -> None:
    broken = copy.deepcopy(minimal())
    broken["agents"][0]["edges"][0]["target_agent"] = "Nowhere"
    folder = _folder(tmp_path, {"good": minimal(), "broken": broken}, ["good", "broken"])
    with pytest.raises(FlowInvalidError) as info:
        FileLibrary.load(folder)
    assert info.value.exit_code == 1
    assert str(info.value) == (
        "1 error in the flows to serve; fix them first:\n"
        f"{folder}/broken.json:10:27: FL102 Unknown agent `Nowhere` - "
        "at `$.agents[0].edges[0].target_agent`"
    )


def test_a_flow_no_tenant_owns_is_neither_linted_nor_served(tmp_path: Path) -> None:
    broken = copy.deepcopy(minimal())
    broken["agents"][0]["edges"][0]["target_agent"] = "Nowhere"
    folder = _folder(tmp_path, {"good": minimal(), "orphan": broken}, ["good"])
    library = FileLibrary.load(folder)
    assert [s.flow_id for s in library.served()] == ["good"]


async def test_a_decision_for_a_flow_not_served_here_is_refused(tmp_path: Path) -> None:
    folder = _folder(tmp_path, {"good": {**minimal(), "version": "2"}}, ["good"])
    library = FileLibrary.load(folder)
    with pytest.raises(NotServed) as info:
        await library.compiled("acme", "good", "1")
    assert str(info.value) == "Flow `good` has no version `1` here (it holds version `2`)"
    with pytest.raises(NotServed) as info:
        await library.compiled("other", "good", None)
    assert str(info.value) == "Flow `good` of tenant `other` is not served here"


async def test_without_tenants_each_flow_is_served_as_its_own_tenant(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    for name, extra in (("desk", {}), ("sales", {"customer_id": "acme"})):
        (tmp_path / f"{name}.json").write_text(json.dumps({**minimal(), **extra}))
    with caplog.at_level("INFO", logger="flowctl.engine.tenants"):
        library = FileLibrary.load(tmp_path)
    assert caplog.messages == [
        f"No `{tmp_path / 'tenants'}` folder: each flow is served as its own tenant "
        "(its customer_id, else its flow id): acme, desk"
    ]
    assert [(s.flow_id, s.tenant_id) for s in library.served()] == [
        ("desk", "desk"),
        ("sales", "acme"),
    ]
    for tenant_id, flow_id in (("acme", "sales"), ("desk", "desk")):
        decision = route(library, json.dumps({"tenant_id": tenant_id}))
        assert not isinstance(decision, Rejected)
        assert (decision.flow_id, decision.rule) == (flow_id, "default")
        assert (await library.compiled(tenant_id, flow_id, None)).flow_id == flow_id
    refused = route(library, '{"tenant_id": "acme", "flow_id": "desk"}')
    assert isinstance(refused, Rejected)


def test_session_variables_are_the_input_variables_the_details_give() -> None:
    library = FileLibrary.load(FLOWS)
    onboarding = next(s.compiled for s in library.served() if s.flow_id == "onboarding")
    details = {"signup_first_name": "Ana", "signup_email": ["not", "text"], "tier": "gold"}
    assert session_variables(onboarding, details) == (
        {"signup_first_name": "Ana"},
        [
            "`user_details.signup_email` does not fit variable `signup_email`: "
            "Expected `str`, got `array`"
        ],
    )


# --- session limits ------------------------------------------------------------------------


def _tenant(limit: int | None) -> Tenant:
    return Tenant(tenant_id="acme", flows=["f"], limits=Limits(max_concurrent_sessions=limit))


def test_slots_admit_up_to_the_limit_and_free_on_release() -> None:
    slots, acme = SessionSlots(), _tenant(2)
    assert slots.admit(acme, "j1") is None
    assert slots.admit(acme, "j1") is None  # the same job twice holds one slot
    assert slots.admit(acme, "j2") is None
    assert slots.admit(acme, "j3") == Rejected(
        reason="Tenant `acme` already runs 2 sessions in this worker process, its limit "
        "(`limits.max_concurrent_sessions`)",
        tenant_id="acme",
    )
    slots.release("j1")
    slots.release("j1")
    assert slots.count("acme") == 1
    assert slots.admit(acme, "j3") is None


def test_slots_of_ended_jobs_are_freed_by_sync_but_jobs_being_accepted_keep_theirs() -> None:
    slots, acme = SessionSlots(), _tenant(None)  # no limit: counted all the same
    for job in ("running", "ended", "accepting"):
        assert slots.admit(acme, job) is None
    slots.started("running")
    slots.started("ended")
    slots.sync(["running"])
    assert (slots.count("acme"), len(slots)) == (2, 2)
    slots.sync([])
    assert slots.count("acme") == 1  # "accepting" is not started yet


# --- trace sampling ------------------------------------------------------------------------


def test_tracing_is_off_unless_enabled_and_samples_by_session() -> None:
    assert not traced(None, "s")
    assert not traced(TracingConfig(enabled=False, sample_rate=1.0), "s")
    assert traced(TracingConfig(enabled=True), "s")
    assert not traced(TracingConfig(enabled=True, sample_rate=0.0), "s")
    quarter = TracingConfig(enabled=True, sample_rate=0.25)
    chosen = [traced(quarter, f"job-{i}") for i in range(2000)]
    assert chosen == [traced(quarter, f"job-{i}") for i in range(2000)]  # stable
    assert 400 < sum(chosen) < 600


def test_public_surfaces() -> None:
    import flowctl.engine.library
    import flowctl.engine.limits
    import flowctl.engine.tracing

    assert flowctl.engine.library.__all__ == [
        "FileLibrary",
        "FlowLibrary",
        "NotServed",
        "ServedFlow",
        "SessionRecord",
        "UnservableFlow",
        "session_variables",
    ]
    assert flowctl.engine.limits.__all__ == ["SessionSlots"]
    assert flowctl.engine.tracing.__all__ == ["traced"]
