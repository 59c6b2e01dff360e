"""Routing: each step in order of precedence, every refusal with its exact reason, the
metadata fallbacks, and a split that is stable and follows its weights."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import msgspec
import pytest
from conftest import FLOWS, ROOT, minimal
from hypothesis import given, settings
from hypothesis import strategies as st

from flowctl.engine.routing import (
    MAX_METADATA_BYTES,
    Rejected,
    Request,
    Routed,
    decide,
    pick_variant,
    read_request,
    route,
    user_bucket,
)
from flowctl.engine.tenants import FileCatalog, FlowEntry, Tenant, Variant, load_catalog

EXAMPLES = load_catalog(FLOWS)


def meta(**fields: Any) -> str:
    return json.dumps(fields)


def routed(flow_id: str, rule: str, reason: str, **extra: Any) -> Routed:
    """A decision for the example tenant `dynamic-co`, from job metadata."""
    fields: dict[str, Any] = {
        "tenant_id": "dynamic-co",
        "flow_id": flow_id,
        "version": "1.0.0",
        "rule": rule,
        "reason": reason,
        "origin": "job metadata",
    }
    fields.update(extra)
    return Routed(**fields)


def catalog(tenant: dict[str, Any], versions: dict[str, str | None]) -> FileCatalog:
    """One tenant (a tenant document) owning flows with these versions."""
    t = msgspec.convert(tenant, Tenant)
    flows = {f: FlowEntry(flow_id=f, tenant_id=t.tenant_id, version=v) for f, v in versions.items()}
    return FileCatalog({t.tenant_id: t}, flows)


# --- precedence --------------------------------------------------------------------

NEW = {"is_new_user": True}
PREMIUM = {"tier": "premium"}


# (what the job asks of tenant `dynamic-co`, the flow, rule and reason routing gives,
# what the decision adds to the job's own fields)
PRECEDENCE: list[tuple[dict[str, Any], str, str, str, dict[str, Any]]] = [
    (
        {"flow_id": "interview", "purpose": "sales", "user_details": NEW},
        "interview",
        "explicit",
        "the job names flow `interview`",
        {},
    ),
    ({"agent_id": "interview"}, "interview", "explicit", "the job names flow `interview`", {}),
    (
        {"flow_id": "sales", "agent_id": "sales"},
        "sales",
        "explicit",
        "the job names flow `sales`",
        {},
    ),
    (
        {"purpose": "sales", "user_details": NEW},
        "sales",
        "purpose",
        "the tenant maps purpose `sales` to it",
        {},
    ),
    (
        {"user_details": {**PREMIUM, **NEW}},
        "onboarding",
        "rule[0]",
        "rule[0] `is_new_user` holds",
        {},
    ),
    (
        {"purpose": "billing", "user_details": PREMIUM},
        "support",
        "rule[1]",
        'purpose `billing` is not mapped; rule[1] `tier == "premium"` holds',
        {},
    ),
    (
        {"purpose": "trial", "user_id": "user-1"},
        "sales",
        "split",
        "the tenant maps purpose `trial` to it, split 2 ways by user id: "
        "variant[1] (weight 50 of 100)",
        {"variant": 1},
    ),
    (
        {"user_details": {"is_new_user": False, "tier": "free"}},
        "support",
        "default",
        "nothing else matched: the tenant's default",
        {},
    ),
    (
        {"purpose": "billing"},
        "support",
        "default",
        "purpose `billing` is not mapped; nothing else matched: the tenant's default",
        {},
    ),
]


@pytest.mark.parametrize(
    ("job", "flow_id", "rule", "reason", "decided"),
    PRECEDENCE,
    ids=[
        "explicit-beats-purpose-and-rules",
        "agent-id-is-flow-id",
        "agent-id-and-flow-id-agree",
        "purpose-beats-rules",
        "first-rule-that-holds",
        "unmapped-purpose-falls-to-rules",
        "split-by-user-id",
        "default",
        "unmapped-purpose-falls-to-default",
    ],
)
def test_route_precedence(
    job: dict[str, Any], flow_id: str, rule: str, reason: str, decided: dict[str, Any]
) -> None:
    # The decision carries the job's own fields, but for the flow it names.
    carried = {k: v for k, v in job.items() if k not in ("flow_id", "agent_id")}
    expected = routed(flow_id, rule, reason, **carried, **decided)
    assert route(EXAMPLES, meta(tenant_id="dynamic-co", **job)) == expected


def test_route_clinic_tenant() -> None:
    assert route(EXAMPLES, meta(tenant_id="healthcare_clinic", purpose="appointments")) == Routed(
        tenant_id="healthcare_clinic",
        flow_id="clinic",
        version="1.0.0",
        rule="purpose",
        reason="the tenant maps purpose `appointments` to it",
        origin="job metadata",
        purpose="appointments",
    )


SPLIT_DEFAULT = {
    "tenant_id": "t",
    "flows": ["a", "b"],
    "default": [
        {"flow": "a", "weight": 1},
        {"flow": "b", "weight": 3, "version": "2.0.0"},
        {"flow": "a", "weight": 3, "version": "1.0.0"},
    ],
}


def test_route_default_split_takes_the_variant_version() -> None:
    """A variant may pin a version other than the flow's current one (a store holds
    several); the files catalog only ever holds one, so it refuses others at load."""
    cat = catalog(SPLIT_DEFAULT, {"a": "1.1.0", "b": "2.0.0"})
    assert route(cat, meta(tenant_id="t", user_id="u-7")) == Routed(
        tenant_id="t",
        flow_id="a",
        version="1.0.0",
        rule="split",
        reason="nothing else matched: the tenant's default, split 3 ways by user id: "
        "variant[2] (weight 3 of 7)",
        origin="job metadata",
        variant=2,
        user_id="u-7",
    )
    result = route(cat, meta(tenant_id="t", user_id="u-0"))
    assert isinstance(result, Routed)
    assert (result.flow_id, result.version, result.variant) == ("a", "1.1.0", 0)


def test_route_split_without_user_id_takes_the_heaviest_variant_first_of_equals() -> None:
    result = route(catalog(SPLIT_DEFAULT, {"a": "1.0.0", "b": "2.0.0"}), meta(tenant_id="t"))
    assert isinstance(result, Routed)
    assert (result.flow_id, result.version, result.variant) == ("b", "2.0.0", 1)
    assert result.reason == (
        "nothing else matched: the tenant's default, split 3 ways; the job has no user id: "
        "the heaviest variant, variant[1]"
    )


def test_route_numeric_user_id_is_its_decimal_text() -> None:
    cat = catalog(SPLIT_DEFAULT, {"a": "1.0.0", "b": "2.0.0"})
    as_int = route(cat, '{"tenant_id": "t", "user_id": 12345}')
    as_text = route(cat, '{"tenant_id": "t", "user_id": "12345"}')
    assert isinstance(as_int, Routed)
    assert as_int == as_text
    assert as_int.user_id == "12345"


def test_route_version_is_none_when_the_flow_has_none() -> None:
    result = route(
        catalog({"tenant_id": "t", "flows": ["a"], "default": "a"}, {"a": None}),
        meta(tenant_id="t"),
    )
    assert isinstance(result, Routed)
    assert (result.flow_id, result.version) == ("a", None)


@pytest.mark.parametrize(
    "details",
    [
        {"tier": ["premium"]},
        {"tier": {"premium": True}},
        {"tier": None},
        {"is_new_user": "false", "tier": 3},
        {"tier": [[[[[[]]]]]]},
    ],
    ids=["list", "object", "null", "text-and-number", "nested"],
)
def test_route_rules_on_odd_details_do_not_hold_and_never_raise(details: dict) -> None:
    cat = catalog(
        {
            "tenant_id": "t",
            "flows": ["a", "b"],
            "rules": [
                {"when": 'tier == "premium" or tier > 2 and tier < 3', "flow": "b"},
                {"when": "is_new_user == true", "flow": "b"},
                {"when": 'tier in ["gold"] or "x" in tier', "flow": "b"},
            ],
            "default": "a",
        },
        {"a": "1", "b": "1"},
    )
    result = route(cat, meta(tenant_id="t", user_details=details))
    assert isinstance(result, Routed)
    assert result.rule == "default"


# --- refusals ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("metadata", "reason"),
    [
        (meta(tenant_id="nobody"), "Unknown tenant `nobody`"),
        (
            meta(tenant_id="dynamic-co", flow_id="clinic"),
            "Flow `clinic` belongs to another tenant; not serving it to tenant `dynamic-co`",
        ),
        (
            meta(tenant_id="healthcare_clinic", agent_id="sales", purpose="appointments"),
            "Flow `sales` belongs to another tenant; not serving it to tenant `healthcare_clinic`",
        ),
        (
            meta(tenant_id="dynamic-co", flow_id="billing"),
            "Unknown flow `billing` (tenant `dynamic-co`)",
        ),
        (
            meta(tenant_id="dynamic-co", flow_id="sales", agent_id="support"),
            "`flow_id` `sales` and `agent_id` `support` name different flows",
        ),
        (
            meta(tenant_id="x\n\x1b[31mred" + "z" * 100),
            "Unknown tenant `x\\x0a\\x1b[31mred" + "z" * 70 + "…`",
        ),
    ],
    ids=[
        "unknown-tenant",
        "another-tenants-flow",
        "another-tenants-flow-by-agent-id",
        "unknown-flow",
        "flow-id-and-agent-id-disagree",
        "reason-escapes-and-shortens-user-text",
    ],
)
def test_route_refuses(metadata: str, reason: str) -> None:
    result = route(EXAMPLES, metadata)
    assert isinstance(result, Rejected)
    assert result.reason == reason
    assert result.origin == "job metadata"
    assert result.tenant_id == json.loads(metadata)["tenant_id"]


def test_route_refuses_a_flow_no_tenant_owns() -> None:
    cat = catalog({"tenant_id": "t", "flows": ["a"], "default": "a"}, {"a": "1"})
    cat.flows["orphan"] = FlowEntry(flow_id="orphan")  # type: ignore[index]
    assert route(cat, meta(tenant_id="t", flow_id="orphan")) == Rejected(
        reason="Flow `orphan` belongs to no tenant; not serving it to tenant `t`",
        origin="job metadata",
        tenant_id="t",
    )


@pytest.mark.parametrize(
    ("metadata", "reason"),
    [
        (meta(tenant_id="t"), "No purpose or rule matched and tenant `t` has no default flow"),
        (
            meta(tenant_id="t", purpose="x"),
            "Purpose `x` is not mapped, no rule matched and tenant `t` has no default flow",
        ),
    ],
)
def test_route_refuses_when_nothing_matches_and_there_is_no_default(
    metadata: str, reason: str
) -> None:
    cat = catalog({"tenant_id": "t", "flows": ["a"], "purposes": {"p": "a"}}, {"a": "1"})
    assert route(cat, metadata) == Rejected(reason=reason, origin="job metadata", tenant_id="t")


# --- disabled flows -------------------------------------------------------------------

ROUTED_TO_B = {
    "tenant_id": "t",
    "flows": ["a", "b", "c"],
    "purposes": {"p": "b", "trial": [{"flow": "b", "weight": 1}, {"flow": "c", "weight": 1}]},
    "rules": [{"when": "vip", "flow": "b"}, {"when": "vip", "flow": "c"}],
    "default": "a",
}


def disabled(tenant: dict[str, Any], *flow_ids: str) -> FileCatalog:
    """``catalog(tenant, ...)`` with version 1 of every flow, ``flow_ids`` disabled."""
    cat = catalog(tenant, dict.fromkeys(tenant["flows"], "1"))
    for flow_id in flow_ids:
        entry = cat.flows[flow_id]
        cat.flows[flow_id] = msgspec.structs.replace(entry, enabled=False)  # type: ignore[index]
    return cat


def test_route_refuses_a_job_naming_a_disabled_flow() -> None:
    assert route(disabled(ROUTED_TO_B, "b"), meta(tenant_id="t", flow_id="b")) == Rejected(
        reason="Flow `b` is disabled (tenant `t`)",
        origin="job metadata",
        tenant_id="t",
        flow_id="b",
        version="1",
    )


@pytest.mark.parametrize(
    ("job", "flow_id", "rule", "reason"),
    [
        (
            {"purpose": "p"},
            "a",
            "default",
            "purpose `p` goes to disabled flow `b`; nothing else matched: the tenant's default",
        ),
        (
            {"purpose": "p", "user_details": {"vip": True}},
            "c",
            "rule[1]",
            "purpose `p` goes to disabled flow `b`; rule[0] `vip` holds but goes to disabled "
            "flow `b`; rule[1] `vip` holds",
        ),
    ],
    ids=["purpose-falls-to-default", "purpose-and-rule-fall-to-the-next-rule"],
)
def test_route_passes_over_a_disabled_flow_to_the_next_step(
    job: dict[str, Any], flow_id: str, rule: str, reason: str
) -> None:
    result = route(disabled(ROUTED_TO_B, "b"), meta(tenant_id="t", **job))
    assert isinstance(result, Routed)
    assert (result.flow_id, result.rule, result.reason) == (flow_id, rule, reason)


@pytest.mark.parametrize(
    ("job", "reason"),
    [
        (
            {"purpose": "p"},
            "No enabled flow for this job: purpose `p` goes to disabled flow `b`; the "
            "tenant's default goes to disabled flow `a`",
        ),
        (
            {"purpose": "trial"},
            "No enabled flow for this job: purpose `trial` goes to a split whose flows are "
            "all disabled; the tenant's default goes to disabled flow `a`",
        ),
        (
            {"purpose": "nope"},
            "No enabled flow for this job: purpose `nope` is not mapped; the tenant's "
            "default goes to disabled flow `a`",
        ),
    ],
    ids=["purpose-and-default", "split-and-default", "unmapped-and-default"],
)
def test_route_refuses_when_every_choice_is_disabled(job: dict[str, Any], reason: str) -> None:
    cat = disabled(ROUTED_TO_B, "a", "b", "c")
    assert route(cat, meta(tenant_id="t", **job)) == Rejected(
        reason=reason, origin="job metadata", tenant_id="t"
    )
    no_default = disabled({**ROUTED_TO_B, "default": None}, "b")
    assert route(no_default, meta(tenant_id="t", purpose="p")) == Rejected(
        reason="No enabled flow for this job: purpose `p` goes to disabled flow `b`; "
        "tenant `t` has no default",
        origin="job metadata",
        tenant_id="t",
    )


def test_a_split_with_a_disabled_variant_moves_only_its_users() -> None:
    def trial(cat: FileCatalog, user_id: str) -> Routed:
        result = route(cat, meta(tenant_id="t", purpose="trial", user_id=user_id))
        assert isinstance(result, Routed)
        return result

    users = [f"user-{i}" for i in range(40)]
    before = {u: trial(disabled(ROUTED_TO_B), u) for u in users}
    cat = disabled(ROUTED_TO_B, "b")
    after = {u: trial(cat, u) for u in users}
    moved = [u for u in users if before[u].flow_id == "b"]
    assert 0 < len(moved) < len(users)
    assert {after[u].flow_id for u in users} == {"c"}
    assert all(after[u] == before[u] for u in users if u not in moved)  # theirs, unchanged
    assert after[moved[0]].reason == (
        "the tenant maps purpose `trial` to it, split 2 ways by user id among the enabled "
        "(variant[0] goes to disabled flow `b`): variant[1] (weight 1 of 1)"
    )
    anonymous = route(cat, meta(tenant_id="t", purpose="trial"))
    assert isinstance(anonymous, Routed)
    assert (anonymous.flow_id, anonymous.variant, anonymous.reason) == (
        "c",
        1,
        "the tenant maps purpose `trial` to it, split 2 ways; the job has no user id: the "
        "heaviest enabled variant, variant[1]",
    )


def test_a_flow_file_that_says_enabled_false_is_not_routed_to(tmp_path: Path) -> None:
    for name, enabled in (("on", True), ("off", False)):
        doc = {"flow_id": name, "customer_id": "t", "enabled": enabled, **minimal()}
        (tmp_path / f"{name}.json").write_text(json.dumps(doc))
    cat = load_catalog(tmp_path)
    assert [(f.flow_id, f.enabled) for f in cat.flows.values()] == [("off", False), ("on", True)]
    assert route(cat, meta(tenant_id="t", flow_id="off")) == Rejected(
        reason="Flow `off` is disabled (tenant `t`)",
        origin="job metadata",
        tenant_id="t",
        flow_id="off",
    )


class InconsistentCatalog:
    """A catalog (the protocol, not the files) whose tenant routes to a flow someone
    else owns: the router checks every flow it serves."""

    def __init__(self) -> None:
        self.t = msgspec.convert(
            {
                "tenant_id": "t",
                "flows": ["a"],
                "purposes": {"p": "b"},
                "default": [{"flow": "b", "weight": 1}],
            },
            Tenant,
        )

    def tenant(self, tenant_id: str, /) -> Tenant | None:
        return self.t if tenant_id == "t" else None

    def flow(self, flow_id: str, tenant_id: str | None = None, /) -> FlowEntry | None:
        return FlowEntry(flow_id=flow_id, tenant_id="other")


@pytest.mark.parametrize(
    ("metadata", "reason"),
    [
        (
            meta(tenant_id="t", purpose="p"),
            "Tenant `t` routes to flow `b` by purpose, which is not one of its flows",
        ),
        (
            meta(tenant_id="t"),
            "Tenant `t` routes to flow `b` by split, which is not one of its flows",
        ),
    ],
)
def test_route_never_serves_a_flow_the_catalog_says_is_someone_elses(
    metadata: str, reason: str
) -> None:
    assert route(InconsistentCatalog(), metadata) == Rejected(
        reason=reason, origin="job metadata", tenant_id="t"
    )


def test_route_logs_each_refusal(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="flowctl.engine.routing"):
        route(EXAMPLES, meta(tenant_id="nobody"))
        route(EXAMPLES, meta(tenant_id="dynamic-co"))
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        ("WARNING", "job rejected (job metadata): Unknown tenant `nobody`")
    ]


def test_route_logs_decisions_at_debug(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="flowctl.engine.routing"):
        route(EXAMPLES, meta(tenant_id="dynamic-co"))
    assert [r.getMessage() for r in caplog.records] == [
        "job routed (job metadata): tenant dynamic-co, flow support 1.0.0 by default: "
        "nothing else matched: the tenant's default"
    ]


# --- reading the metadata --------------------------------------------------------------


@pytest.mark.parametrize(
    ("metadata", "reason"),
    [
        (
            '{"tenant_id": "t",}',
            "Job metadata is not valid JSON: trailing comma in object (byte 18)",
        ),
        ('{"tenant_id": "t"', "Job metadata is not valid JSON: input data was truncated"),
        ('{"tenant_id": "t"} x', "Job metadata is not valid JSON: trailing characters (byte 20)"),
        ("[1, 2]", "Job metadata is malformed: Expected `object`, got `array`"),
        ("null", "Job metadata is malformed: Expected `object`, got `null`"),
        (
            '{"purpose": "sales"}',
            "Job metadata is malformed: Object missing required field `tenant_id`",
        ),
        (
            '{"tenant_id": ""}',
            "Job metadata is malformed: Expected `str` of length >= 1 - at `$.tenant_id`",
        ),
        (
            '{"tenant_id": 7}',
            "Job metadata is malformed: Expected `str`, got `int` - at `$.tenant_id`",
        ),
        (
            '{"tenant_id": "t", "user_id": 1.5}',
            "Job metadata is malformed: Expected `int | str | null`, got `float` - at `$.user_id`",
        ),
        (
            '{"tenant_id": "t", "user_details": "vip"}',
            "Job metadata is malformed: Expected `object | null`, got `str` - at `$.user_details`",
        ),
        (b'{"tenant_id": "\xff"}', "Job metadata is not valid UTF-8 text"),
        ('{"tenant_id": "\udc80"}', "Job metadata is not valid UTF-8 text"),
        (
            '{"tenant_id": "t", "user_details": {"x": ' + "[" * 5000 + "]" * 5000 + "}}",
            "Job metadata is nested too deeply",
        ),
        (" " * (MAX_METADATA_BYTES + 1), "Job metadata is over the 65,536-byte limit"),
        ('{"tenant_id": "' + "é" * 40_000 + '"}', "Job metadata is over the 65,536-byte limit"),
    ],
    ids=[
        "trailing-comma",
        "truncated",
        "trailing-characters",
        "array",
        "null",
        "no-tenant",
        "empty-tenant",
        "tenant-not-text",
        "user-id-float",
        "details-not-object",
        "bad-utf8-bytes",
        "lone-surrogate",
        "nested-too-deeply",
        "huge-blank",
        "huge-in-bytes-not-characters",
    ],
)
def test_read_request_refuses_malformed_metadata(metadata: str | bytes, reason: str) -> None:
    assert read_request(metadata) == Rejected(reason=reason, origin="job metadata")


def test_read_request_refuses_metadata_that_is_not_text() -> None:
    assert read_request(7) == Rejected(  # type: ignore[arg-type]
        reason="Job metadata must be text, got `int`", origin="job metadata"
    )


def test_read_request_ignores_unknown_keys() -> None:
    request, origin = read_request('{"tenant_id": "t", "session_name": "x", "email": "a@b"}')  # type: ignore[misc]
    assert (request, origin) == (Request(tenant_id="t"), "job metadata")


JOB = meta(tenant_id="job")
ROOM = meta(tenant_id="room")
ATTRS = {"tenant_id": "attrs"}


@pytest.mark.parametrize(
    ("job", "room", "attributes", "tenant", "origin"),
    [
        (JOB, ROOM, ATTRS, "job", "job metadata"),
        (None, ROOM, ATTRS, "room", "room metadata"),
        ("", ROOM, ATTRS, "room", "room metadata"),
        ("  \n", b"", ATTRS, "attrs", "participant attributes"),
        (None, None, ATTRS, "attrs", "participant attributes"),
    ],
    ids=[
        "job-first",
        "then-room",
        "blank-job-is-absent",
        "blank-room-is-absent",
        "then-attributes",
    ],
)
def test_read_request_falls_back_job_room_attributes(
    job: str | None, room: str | bytes | None, attributes: dict, tenant: str, origin: str
) -> None:
    request, where = read_request(job, room, attributes)  # type: ignore[misc]
    assert (request.tenant_id, where) == (tenant, origin)


def test_read_request_malformed_job_metadata_is_refused_not_skipped() -> None:
    assert read_request("{", ROOM, ATTRS) == Rejected(
        reason="Job metadata is not valid JSON: input data was truncated", origin="job metadata"
    )


@pytest.mark.parametrize("attributes", [None, {}])
def test_read_request_without_any_metadata(attributes: dict | None) -> None:
    assert read_request(None, "", attributes) == Rejected(
        reason="No routing request: the job, the room and the participant carry none"
    )


def test_route_from_room_metadata_says_so() -> None:
    result = route(EXAMPLES, None, meta(tenant_id="dynamic-co", purpose="sales"))
    assert isinstance(result, Routed)
    assert (result.flow_id, result.origin) == ("sales", "room metadata")


def test_attributes_are_typed_and_merged_with_a_user_details_attribute() -> None:
    attributes = {
        "tenant_id": "dynamic-co",
        "user_id": "42",
        "is_new_user": "true",
        "visits": "3",
        "tier": "premium",
        "user_details": '{"tier": "gold", "nested": {"a": [1]}}',
        "sip.callID": "abc",
    }
    request, origin = read_request(None, None, attributes)  # type: ignore[misc]
    assert origin == "participant attributes"
    assert request == Request(
        tenant_id="dynamic-co",
        user_id="42",
        user_details={
            "is_new_user": True,
            "visits": 3,
            "tier": "gold",
            "sip.callID": "abc",
            "nested": {"a": [1]},
        },
    )
    result = route(EXAMPLES, None, None, attributes)
    assert isinstance(result, Routed)
    assert (result.flow_id, result.rule) == ("onboarding", "rule[0]")


def test_overrides_do_not_route_and_are_passed_on_with_the_decision() -> None:
    overrides = {"voice": "nova", "variables": {"caller_name": "Ana"}}
    result = route(EXAMPLES, meta(tenant_id="dynamic-co", purpose="sales", overrides=overrides))
    assert isinstance(result, Routed)
    assert (result.flow_id, result.rule, result.overrides) == ("sales", "purpose", overrides)
    attributes = {"tenant_id": "dynamic-co", "purpose": "sales", "overrides": '{"voice": "nova"}'}
    result = route(EXAMPLES, None, None, attributes)
    assert isinstance(result, Routed)
    assert (result.overrides, result.user_details) == ({"voice": "nova"}, {})
    result = route(EXAMPLES, meta(tenant_id="dynamic-co", purpose="sales", overrides=["nova"]))
    assert result == Rejected(
        reason="Job metadata is malformed: Expected `object | null`, got `array` - at "
        "`$.overrides`",
        origin="job metadata",
    )


@pytest.mark.parametrize(
    ("attributes", "reason"),
    [
        ({"tenant_id": 3}, "Participant attributes must map strings to strings"),
        (
            {"tenant_id": "t", "overrides": "[1]"},
            "Participant attributes hold an `overrides` that is not a JSON object",
        ),
        (
            {"tenant_id": "t", "user_details": "[1]"},
            "Participant attributes hold a `user_details` that is not a JSON object",
        ),
        (
            {"tenant_id": "t", "user_details": "vip"},
            "Participant attributes hold a `user_details` that is not a JSON object",
        ),
        (
            {"purpose": "sales"},
            "Participant attributes are malformed: Object missing required field `tenant_id`",
        ),
        ({"tenant_id": "t", "x": "\udc80"}, "Participant attributes are not valid UTF-8 text"),
        (
            {"tenant_id": "t", "x": "y" * MAX_METADATA_BYTES},
            "Participant attributes is over the 65,536-byte limit",
        ),
        (["tenant_id"], "Participant attributes must be a mapping, got `list`"),
    ],
    ids=[
        "not-text",
        "overrides-array",
        "details-array",
        "details-not-json",
        "no-tenant",
        "surrogate",
        "huge",
        "not-a-mapping",
    ],
)
def test_attributes_refused(attributes: Any, reason: str) -> None:
    assert read_request(None, None, attributes) == Rejected(
        reason=reason, origin="participant attributes"
    )


def test_decide_takes_a_request_already_read() -> None:
    result = decide(Request(tenant_id="dynamic-co", purpose="interview"), EXAMPLES, origin="test")
    assert isinstance(result, Routed)
    assert (result.flow_id, result.origin) == ("interview", "test")


# --- the split -----------------------------------------------------------------------


def test_user_bucket_is_pinned() -> None:
    """The hash is part of the contract: experiments are analysed elsewhere by it."""
    assert user_bucket("dynamic-co", "purpose:trial", "user-123") == 8225938260716909642


def test_user_bucket_is_the_same_in_another_process() -> None:
    code = (
        "from flowctl.engine.routing import user_bucket\n"
        "print(user_bucket('dynamic-co', 'purpose:trial', 'user-123'))"
    )
    for seed in ("0", "1"):
        proc = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            cwd=ROOT,
            check=True,
            env={"PYTHONHASHSEED": seed, "PYTHONDONTWRITEBYTECODE": "1"},
        )
        assert proc.stdout.strip() == "8225938260716909642"


def test_split_sends_fixed_users_to_fixed_variants() -> None:
    flows = {}
    for user in ("user-1", "user-2", "user-3", "user-4", "user-123", "user-789"):
        result = route(EXAMPLES, meta(tenant_id="dynamic-co", purpose="trial", user_id=user))
        assert isinstance(result, Routed)
        flows[user] = result.flow_id
    assert flows == {
        "user-1": "sales",
        "user-2": "onboarding",
        "user-3": "sales",
        "user-4": "onboarding",
        "user-123": "onboarding",
        "user-789": "sales",
    }


def test_split_follows_its_weights_over_10000_users() -> None:
    variants = [
        Variant(flow="a", weight=70),
        Variant(flow="b", weight=20),
        Variant(flow="c", weight=10),
    ]
    counts = Counter(pick_variant(variants, "t", "default", f"user-{i}") for i in range(10_000))
    # The binomial standard deviation is at most 0.5 point; 2 points is four of them.
    for index, weight in enumerate((70, 20, 10)):
        assert abs(counts[index] / 100 - weight) < 2, counts


def test_split_depends_on_tenant_and_purpose_too() -> None:
    variants = [Variant(flow="a", weight=1), Variant(flow="b", weight=1)]
    users = [f"user-{i}" for i in range(200)]
    a = [pick_variant(variants, "t", "purpose:x", u) for u in users]
    b = [pick_variant(variants, "t", "purpose:y", u) for u in users]
    c = [pick_variant(variants, "u", "purpose:x", u) for u in users]
    assert a != b and a != c


def test_split_weight_zero_variant_is_never_picked() -> None:
    variants = [Variant(flow="a", weight=0), Variant(flow="b", weight=5)]
    assert {pick_variant(variants, "t", "default", f"u{i}") for i in range(500)} == {1}
    assert pick_variant(variants, "t", "default", None) == 1


# --- never an exception ----------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=20,
)
routing_keys = st.sampled_from(
    ["tenant_id", "flow_id", "agent_id", "purpose", "user_id", "user_details", "overrides", "other"]
)
ids = st.sampled_from(
    ["dynamic-co", "healthcare_clinic", "clinic", "sales", "trial", "support", ""]
)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_arbitrary_bytes_never_raise(data: bytes) -> None:
    assert isinstance(route(EXAMPLES, data), Routed | Rejected)
    assert isinstance(route(EXAMPLES, None, data), Routed | Rejected)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(routing_keys, ids | json_values, max_size=6))
def test_arbitrary_metadata_objects_never_raise(fields: dict) -> None:
    assert isinstance(route(EXAMPLES, json.dumps(fields)), Routed | Rejected)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(routing_keys | st.text(max_size=10), ids | st.text(max_size=30), max_size=6))
def test_arbitrary_attributes_never_raise(attributes: dict) -> None:
    assert isinstance(route(EXAMPLES, None, None, attributes), Routed | Rejected)
