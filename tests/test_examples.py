"""The example flows: lint-clean to the last warning, and faithful to the seeds."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import FLOWS

from flowctl.engine.lint import check, is_flow_file
from flowctl.engine.load import load_path

EXAMPLES = sorted(p for p in FLOWS.glob("*.json") if is_flow_file(p))


def test_the_five_examples_exist() -> None:
    assert [p.name for p in EXAMPLES] == [
        "clinic.json",
        "interview.json",
        "onboarding.json",
        "sales.json",
        "support.json",
    ]


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_example_has_no_findings_at_all(path: Path) -> None:
    loaded = load_path(path)
    assert loaded.flow is not None
    assert [f"{x.finding.code} {x.finding.text}" for x in check(loaded)] == []


def _doc(name: str) -> dict:
    return json.loads((FLOWS / f"{name}.json").read_text())


def test_clinic_completes_the_seed_000_example() -> None:
    doc = _doc("clinic")
    assert doc["customer_id"] == "healthcare_clinic"
    states = {a["name"]: a for a in doc["agents"]}
    assert states["IntakeAgent"]["tools"] == ["appointment_booking", "insurance_verification"]
    assert states["SpecialistAgent"]["tools"] == ["medical_lookup", "prescription_check"]
    edge = next(e for e in states["IntakeAgent"]["edges"] if e["name"] == "transfer_to_specialist")
    assert edge["target_agent"] == "SpecialistAgent"
    defined = {t["name"] for t in doc["tools"]}
    assert {
        "appointment_booking",
        "insurance_verification",
        "medical_lookup",
        "prescription_check",
    } <= defined


def _fields(doc: dict) -> dict[str, dict]:
    return {f["field_name"]: f for f in doc["output"]["fields"]}


def test_support_output_fields_follow_seed_003() -> None:
    fields = _fields(_doc("support"))
    assert list(fields) == [
        "system_response",
        "issue_category",
        "sentiment",
        "issue_resolved",
        "escalation_needed",
    ]
    assert fields["issue_category"]["enum"] == [
        "technical",
        "billing",
        "account",
        "feature_request",
        "other",
    ]
    assert (
        fields["issue_resolved"]["field_type"]
        == fields["escalation_needed"]["field_type"]
        == "bool"
    )


def test_sales_stages_are_states_and_the_score_is_bounded() -> None:
    doc = _doc("sales")
    names = [a["name"] for a in doc["agents"]]
    assert names[:5] == [
        "Discovery",
        "NeedsAnalysis",
        "Presentation",
        "ObjectionHandling",
        "Closing",
    ]
    fields = _fields(doc)
    assert "sales_stage" not in fields
    assert fields["qualification_score"]["constraints"] == {"ge": 0, "le": 100}
    assert {"pain_points", "objections_raised", "customer_intent"} <= set(fields)


def test_onboarding_steps_are_states() -> None:
    doc = _doc("onboarding")
    names = [a["name"] for a in doc["agents"]]
    assert names == [
        "Welcome",
        "AccountSetup",
        "ProfileCreation",
        "FeatureTour",
        "FirstAction",
        "Completion",
    ]
    fields = _fields(doc)
    assert "onboarding_step" not in fields
    assert fields["completion_percentage"]["constraints"] == {"ge": 0, "le": 100}
    assert fields["user_understanding"]["enum"] == ["clear", "confused", "needs_help"]


def test_interview_stages_are_states_and_voice_is_steered() -> None:
    doc = _doc("interview")
    assert [a["name"] for a in doc["agents"]] == [
        "DocumentCheck",
        "BackgroundInquiry",
        "StudyPlans",
        "FinancialCapacity",
        "FutureIntentions",
        "Closing",
        "SessionComplete",
    ]
    fields = _fields(doc)
    assert "interview_stage" not in fields
    assert fields["credibility_score"]["constraints"] == {"ge": 1, "le": 10}
    assert fields["red_flags"]["field_type"] == "list[str]"
    assert fields["voice_instructions"]["metadata"]["hidden"] is True
    assert doc["tts"]["instruction_field"] == "voice_instructions"
