"""The example flows: lint-clean to the last warning, and faithful to the seeds: the
clinic completes seed 000's example; support, sales, onboarding and interview answer in
seed 003's structured output, bounded as the seed asks, with their stages as states and
the interview's voice steered by a field the frontend never sees."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import msgspec
import pytest
from conftest import EXAMPLES, FLOWS
from flowkit import compile_example

from flowctl.engine.compile import OutputSpec
from flowctl.engine.lint import check
from flowctl.engine.load import load_path
from flowctl.engine.runtime import Conversation


def test_the_examples_exist() -> None:
    assert [p.name for p in EXAMPLES] == [
        "clinic.json",
        "dental.json",
        "food_ordering.json",
        "insurance_quote.json",
        "interview.json",
        "onboarding.json",
        "patient_intake.json",
        "restaurant_agent.json",
        "restaurant_reservation.json",
        "sales.json",
        "support.json",
        "vet.json",
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
    # and, beyond the seed, answers questions about the clinic from its documents (issue 18)
    assert states["IntakeAgent"]["tools"] == [
        "appointment_booking",
        "insurance_verification",
        "clinic_info",
    ]
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


# --- seed 003: structured answers, stages as states, a steered voice ----------------------

# An answer that fits each example's output schema, as the model would give it.
ANSWERS: dict[str, dict[str, Any]] = {
    "support": {
        "system_response": "Let me look at that invoice.",
        "issue_category": "billing",
        "sentiment": "neutral",
        "issue_resolved": False,
        "escalation_needed": False,
    },
    "sales": {
        "system_response": "How many invoices do you process a month?",
        "customer_intent": "evaluating",
        "pain_points": ["manual data entry"],
        "qualification_score": 70,
        "objections_raised": [],
    },
    "onboarding": {
        "system_response": "Let's name your workspace.",
        "completion_percentage": 40,
        "user_understanding": "clear",
        "next_step": "Create the workspace",
    },
    "interview": {
        "system_response": "Good morning. May I see your offer letter?",
        "credibility_score": 7,
        "red_flags": [],
        "voice_instructions": "calm, formal, unhurried",
    },
}


def _properties(output: OutputSpec) -> list[str]:
    """The answer's fields in the order the schema asks the model to write them."""
    [struct] = output.schema["$defs"].values()
    return list(struct["properties"])


@pytest.mark.parametrize("name", ANSWERS)
def test_every_state_of_the_example_answers_in_its_schema_spoken_field_first(name: str) -> None:
    compiled = compile_example(name)
    for state in compiled.states:
        assert state.output is not None, state.name
        assert state.output.validate(ANSWERS[name]) == ANSWERS[name]
        # The model writes the spoken field first, so speech starts before the rest of
        # the answer has arrived (flowctl.engine.spoken).
        assert _properties(state.output)[0] == state.output.spoken == "system_response"


# (example, field, value out of bounds, what msgspec says)
OUT_OF_BOUNDS: list[tuple[str, str, Any, str]] = [
    ("support", "issue_category", "weather", "Invalid enum value 'weather'"),
    ("support", "sentiment", "happy", "Invalid enum value 'happy'"),
    ("support", "issue_resolved", "yes", "Expected `bool`, got `str`"),
    ("support", "escalation_needed", 1, "Expected `bool`, got `int`"),
    ("sales", "qualification_score", 101, "Expected `int` <= 100"),
    ("sales", "qualification_score", -1, "Expected `int` >= 0"),
    ("sales", "customer_intent", "buying", "Invalid enum value 'buying'"),
    ("sales", "pain_points", "price", "Expected `array`, got `str`"),
    ("onboarding", "completion_percentage", 101, "Expected `int` <= 100"),
    ("onboarding", "user_understanding", "lost", "Invalid enum value 'lost'"),
    ("interview", "credibility_score", 0, "Expected `int` >= 1"),
    ("interview", "credibility_score", 11, "Expected `int` <= 10"),
    ("interview", "red_flags", "late", "Expected `array`, got `str`"),
]


@pytest.mark.parametrize(
    ("name", "field", "value", "error"),
    OUT_OF_BOUNDS,
    ids=[f"{name}-{field}={value}" for name, field, value, _ in OUT_OF_BOUNDS],
)
def test_an_example_answer_out_of_its_bounds_is_refused(
    name: str, field: str, value: Any, error: str
) -> None:
    conv = Conversation(compile_example(name))
    with pytest.raises(msgspec.ValidationError) as refused:
        conv.record_output({**ANSWERS[name], field: value})
    assert str(refused.value) == f"{error} - at `$.{field}`"
    conv.close()


@pytest.mark.parametrize(
    ("name", "stage_field", "stages"),
    [
        (
            "sales",
            "sales_stage",
            ["Discovery", "NeedsAnalysis", "Presentation", "ObjectionHandling", "Closing"],
        ),
        (
            "onboarding",
            "onboarding_step",
            [
                "Welcome",
                "AccountSetup",
                "ProfileCreation",
                "FeatureTour",
                "FirstAction",
                "Completion",
            ],
        ),
        (
            "interview",
            "interview_stage",
            [
                "DocumentCheck",
                "BackgroundInquiry",
                "StudyPlans",
                "FinancialCapacity",
                "FutureIntentions",
                "Closing",
                "SessionComplete",
            ],
        ),
    ],
    ids=["sales", "onboarding", "interview"],
)
def test_an_examples_stages_are_its_states_in_order(
    name: str, stage_field: str, stages: list[str]
) -> None:
    compiled = compile_example(name)
    conv = Conversation(compiled)
    assert conv.state == stages[0]
    moves = {(t.source, t.dest) for t in compiled.table}  # handoffs, and actions that move
    assert [pair for pair in itertools.pairwise(stages) if pair not in moves] == []
    # The stage is the state the conversation is in: the model has no field to name one.
    with pytest.raises(msgspec.ValidationError) as refused:
        conv.record_output({**ANSWERS[name], stage_field: stages[1]})
    assert str(refused.value) == f"Object contains unknown field `{stage_field}`"
    conv.close()


def test_the_interviews_voice_is_steered_by_a_field_the_frontend_never_sees() -> None:
    compiled = compile_example("interview")
    for state in compiled.states:
        assert state.output is not None, state.name
        assert (state.output.voice, state.output.hidden) == (
            "voice_instructions",
            frozenset({"voice_instructions"}),
        )
