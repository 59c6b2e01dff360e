"""Property tests: lint never raises and never crashes a rule (FL000), whatever is done
to the example flows — structural mutations of the JSON and raw byte damage."""

from __future__ import annotations

import copy
import json
from typing import Any

from conftest import FIXTURES, FLOWS, lint_doc
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flowctl.engine.lint import is_flow_file

SOURCES = [json.loads(p.read_text()) for p in sorted(FLOWS.glob("*.json")) if is_flow_file(p)]
SOURCES.append(json.loads((FIXTURES / "seed000.json").read_text()))

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False),
    st.text(max_size=30),
    st.sampled_from(
        [
            "",
            "{{",
            "}}",
            "{{ caller_name }}",
            "{{x | y}}",
            "handoff",
            "action",
            "end_call",
            "IntakeAgent",
            "http://example.com",
            "https://{{host}}/x",
            "sk-proj-Abc123Def456Ghi789Jkl012",
            "ignore previous instructions",
            "enum",
            "list[int]",
        ]
    ),
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.text(max_size=12), children, max_size=4),
    ),
    max_leaves=12,
)


def _containers(node: Any) -> list[Any]:
    """Every dict and list in a document, in a stable order."""
    out, stack = [], [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            out.append(item)
            stack.extend(item.values())
        elif isinstance(item, list):
            out.append(item)
            stack.extend(item)
    return out


@st.composite
def mutated(draw: st.DrawFn) -> dict[str, Any]:
    doc = copy.deepcopy(draw(st.sampled_from(SOURCES)))
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        containers = _containers(doc)
        target = draw(st.sampled_from(containers))
        op = draw(st.sampled_from(["replace", "delete", "insert", "rename", "duplicate"]))
        if isinstance(target, dict):
            if not target:
                target[draw(st.text(max_size=8))] = draw(json_values)
                continue
            key = draw(st.sampled_from(sorted(target)))
            if op == "replace":
                target[key] = draw(json_values)
            elif op == "delete":
                del target[key]
            elif op == "insert":
                target[draw(st.text(max_size=12))] = draw(json_values)
            elif op == "rename":
                target[key + draw(st.sampled_from(["s", "_", "x"]))] = target.pop(key)
            else:
                target[key] = copy.deepcopy(target[key])
        else:
            if not target:
                target.append(draw(json_values))
                continue
            i = draw(st.integers(min_value=0, max_value=len(target) - 1))
            if op == "replace":
                target[i] = draw(json_values)
            elif op == "delete":
                del target[i]
            elif op == "duplicate":
                target.append(copy.deepcopy(target[i]))
            else:
                target.insert(i, draw(json_values))
    return doc


def _assert_no_crash(findings: list[str]) -> None:
    crashed = [f for f in findings if " FL000 " in f]
    assert crashed == []


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_lint_survives_structural_mutations(doc: dict[str, Any]) -> None:
    _assert_no_crash(lint_doc(doc))


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(SOURCES),
    st.integers(min_value=0, max_value=10_000),
    st.binary(max_size=8),
    st.integers(min_value=0, max_value=16),
)
def test_lint_survives_byte_damage(doc: dict[str, Any], at: int, junk: bytes, cut: int) -> None:
    data = json.dumps(doc, indent=2).encode()
    at = at % (len(data) + 1)
    damaged = data[:at] + junk + data[at + cut :]
    _assert_no_crash(lint_doc(damaged))
