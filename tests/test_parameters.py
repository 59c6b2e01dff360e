"""Parameters: the constraints the model is offered are the ones the engine enforces;
nested objects, defaults, a variable mapping and edge-local parameters."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import FIXTURES, lint_doc, minimal
from flowkit import compile_doc, compile_file

from flowctl.engine.errors import FlowInvalidError
from flowctl.engine.parameters import accepted, example_value
from flowctl.engine.runtime import Conversation, Handoff, Refused
from flowctl.engine.spec import Parameter

LANG = FIXTURES / "lang"
MEDS = [{"name": "ibuprofen", "dosage_mg": 200}]
GOOD = {"email": "ana@example.com", "birth_date": "1990-03-03", "age": 34, "medications": MEDS}


@pytest.fixture(scope="module")
def intake():  # type: ignore[no-untyped-def]
    return compile_file(LANG / "parameters.json")


def test_parameters_offer_their_constraints_to_the_model(intake) -> None:  # type: ignore[no-untyped-def]
    schema = Conversation(intake).offered()[0]["parameters"]
    assert schema["required"] == ["email", "birth_date", "age", "medications"]
    props = schema["properties"]
    assert props["email"] == {"type": "string", "format": "email", "description": "Email address"}
    assert props["age"] == {
        "type": "integer",
        "minimum": 0,
        "maximum": 120,
        "description": "Age in years",
    }
    assert props["medications"]["minItems"] == 1
    assert props["medications"]["items"]["required"] == ["name", "dosage_mg"]
    assert props["medications"]["items"]["properties"]["times_per_day"] == {
        "type": "integer",
        "minimum": 1,
        "description": "Doses a day",
        "default": 1,
    }
    assert props["note"] == {
        "type": "string",
        "maxLength": 200,
        "description": "Anything else the patient said",
    }


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"email": "ana"}, "Expected an email address, got `ana` - at `$.email`"),
        (
            {"birth_date": "1990-02-30"},
            "Expected a date as YYYY-MM-DD, got `1990-02-30` - at `$.birth_date`",
        ),
        ({"age": -1}, "Expected `int` >= 0 - at `$.age`"),
        ({"medications": []}, "Expected `array` of length >= 1 - at `$.medications`"),
        (
            {"medications": [{"name": "x", "dosage_mg": 1}]},
            "Expected `str` of length >= 2 - at `$.medications[0].name`",
        ),
        (
            {"medications": [{"name": "ibuprofen"}]},
            "Object missing required field `dosage_mg` - at `$.medications[0]`",
        ),
    ],
    ids=["email", "date", "minimum", "min-items", "nested-length", "nested-required"],
)
async def test_arguments_outside_the_constraints_are_refused_with_the_reason(
    intake,
    change: dict[str, Any],
    reason: str,  # type: ignore[no-untyped-def]
) -> None:
    conv = Conversation(intake)
    outcome = await conv.fire("record_patient", {**GOOD, **change})
    assert outcome == Refused(
        name="record_patient", reason=f"Invalid arguments for `record_patient`: {reason}"
    )
    assert conv.state == "Intake" and conv.variables == {}


async def test_arguments_set_their_mapped_variables_with_defaults_and_local_ones_set_nothing(
    intake,  # type: ignore[no-untyped-def]
) -> None:
    conv = Conversation(intake)
    outcome = await conv.fire("record_patient", {**GOOD, "note": "allergic to penicillin"})
    assert isinstance(outcome, Handoff) and outcome.target == "Review"
    assert conv.variables == {
        "patient_email": "ana@example.com",
        "birth_date": "1990-03-03",
        "patient_age": 34,
        "medications": [{"name": "ibuprofen", "dosage_mg": 200.0, "times_per_day": 1}],
    }


@pytest.mark.parametrize(
    ("param", "good", "bad"),
    [
        (Parameter(format="phone"), "+15555550142", "555-0142"),
        (Parameter(format="time"), "14:30", "25:00"),
        (Parameter(format="email"), "a@b.co", "a@b"),
        (Parameter(pattern="^[A-Z]{3}-[0-9]{3}$"), "ABC-123", "abc-123"),
        (Parameter(type="float", maximum=2.5), 2.5, 3),
        (Parameter(type="list[str]", max_length=1), ["a"], ["a", "b"]),
    ],
    ids=["phone", "time", "email", "pattern", "maximum", "max-items"],
)
def test_accepted_keeps_what_a_parameter_takes(param: Parameter, good: Any, bad: Any) -> None:
    assert accepted(param, [good, bad]) == [good]
    assert accepted(param, [bad]) == [example_value(param)]


def test_a_slow_parameter_pattern_is_refused_even_when_lint_is_silenced() -> None:
    edge = {
        "name": "code",
        "description": "The caller reads out the code from the letter",
        "parameters": {"code": {"type": "str", "pattern": "^(a+)+$"}},
        "target_agent": "Goodbye",
    }
    doc = minimal(edges=[edge])
    doc["lint"] = {"ignore": ["FL408"]}
    with pytest.raises(FlowInvalidError) as exc:
        compile_doc(doc)
    assert str(exc.value) == (
        "The flow cannot be compiled: The `pattern` of parameter `code` has a repeat "
        "inside a repeat, which takes exponential time"
    )


WHEN = {
    "order_pizza": "The caller orders a pizza and names the kind they want",
    "order_sushi": "Someone wants sushi, giving how many pieces to prepare",
    "order_rolls": "A request for bread rolls, with the count of rolls",
    "give_details": "The caller gives the details of their request",
}


def _edge(name: str, params: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": name,
        "description": WHEN[name],
        "parameters": params,
        "target_agent": "Goodbye",
    }


def test_fl309_a_local_or_mapped_parameter_does_not_conflict() -> None:
    pizza = _edge("order_pizza", {"type": {"type": "enum", "enum": ["margherita"]}})
    sushi = _edge("order_sushi", {"type": {"type": "int", "local": True}})
    rolls = _edge("order_rolls", {"type": {"type": "int", "variable": "pieces"}})
    assert lint_doc(minimal(edges=[pizza, sushi, rolls])) == []


@pytest.mark.parametrize(
    ("param", "finding"),
    [
        (
            {"type": "str", "minimum": 1},
            "FL408 Parameter `p` of type `str` cannot have `minimum` - at "
            "`$.agents[0].edges[0].parameters.p.minimum`",
        ),
        (
            {"type": "object"},
            "FL408 Parameter `p` is `object` but lists no `properties` - at "
            "`$.agents[0].edges[0].parameters.p.type`",
        ),
        (
            {"type": "str", "format": "email", "required": False, "default": "nobody"},
            'FL408 Default `"nobody"` of parameter `p` is invalid: Expected an email '
            "address, got `nobody` - at `$.agents[0].edges[0].parameters.p.default`",
        ),
        (
            {"type": "int", "default": 2},
            "FL408 Parameter `p` is required, so its `default` is never used; make it "
            '`"required": false` - at `$.agents[0].edges[0].parameters.p.default`',
        ),
        (
            {"type": "str", "local": True, "variable": "q"},
            "FL408 Parameter `p` is `local` but names the variable `q` - at "
            "`$.agents[0].edges[0].parameters.p.variable`",
        ),
        (
            {"type": "object", "properties": {"n": {"type": "int", "minimum": 3, "maximum": 1}}},
            "FL408 Parameter `p.n` can hold no value: `minimum` 3 is above `maximum` 1 - at "
            "`$.agents[0].edges[0].parameters.p.properties.n.minimum`",
        ),
    ],
    ids=["cannot-have", "no-properties", "default", "required-default", "local", "nested"],
)
def test_fl408_reports_each_invalid_constraint(param: dict[str, Any], finding: str) -> None:
    found = lint_doc(minimal(edges=[_edge("give_details", {"p": param})]))
    assert [f.split(" ", 1)[1] for f in found] == [finding]
