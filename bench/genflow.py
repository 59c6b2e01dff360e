"""Generated flows for benchmarks and scaling tests: N states in a chain with
branches, loops back, parameters, templates, tools and a structured output — every rule
has something to look at, and the flow is lint-clean."""

from __future__ import annotations

from typing import Any

TOPICS = (
    "billing",
    "delivery",
    "returns",
    "warranty",
    "accounts",
    "pricing",
    "installation",
    "security",
)


def generate(states: int, *, seed: int = 0) -> dict[str, Any]:
    """A lint-clean flow with ``states`` states (at least 2)."""
    states = max(states, 2)
    agents: list[dict[str, Any]] = []
    for i in range(states - 1):
        topic = TOPICS[(i + seed) % len(TOPICS)]
        edges: list[dict[str, Any]] = [
            {
                "name": f"advance_{i}",
                "description": f"The caller has finished with step {i} about {topic} and "
                "wants to move on to the next step",
                "target_agent": f"Step{i + 1}",
                "parameters": {
                    f"note_{i}": {"type": "str", "description": f"What was agreed in step {i}"}
                },
                "say": f"Noted: {{{{note_{i}}}}}.",
                "examples": [f"done with {topic} step {i}", f"next after {i}"],
            },
            {
                "name": f"skip_{i}",
                "description": f"The caller says {topic} does not apply to them at all, "
                f"so step {i} can be skipped entirely",
                "target_agent": f"Step{min(i + 2, states - 1)}",
                "examples": [f"skip {topic} {i}"],
            },
        ]
        if i > 0:
            edges.append(
                {
                    "name": f"back_{i}",
                    "description": f"Going back: the caller wants to revisit an earlier "
                    f"answer before step {i}",
                    "target_agent": f"Step{i - 1}",
                    "examples": [f"go back from {i}"],
                }
            )
        agents.append(
            {
                "name": f"Step{i}",
                "instructions": (
                    f"You are step {i} of a {topic} conversation for {{{{customer | our "
                    f"customer}}}}. Ask one question at a time, confirm what you heard, "
                    f"and keep answers short: this is a phone call."
                ),
                "on_enter_prompt": f"Let's talk about {topic}.",
                "tools": ["lookup_order"],
                "edges": edges,
            }
        )
    agents.append(
        {
            "name": f"Step{states - 1}",
            "instructions": "Thank the caller and close the call politely.",
            "on_enter_prompt": "Thanks for calling. Goodbye!",
            "end": True,
        }
    )
    return {
        "customer_id": f"bench_{seed}",
        "flow_id": f"generated_{states}_{seed}",
        "version": "1.0.0",
        "variables": {
            "customer": {"type": "str", "description": "Caller's name", "input": True},
        },
        "tools": [
            {
                "kind": "mock",
                "name": "lookup_order",
                "description": "Look up the caller's most recent order by their phone number",
                "result": {"order": "A-1001", "status": "shipped"},
            },
            {
                "kind": "builtin",
                "name": "end_call",
                "description": "End the call once the caller has said goodbye",
            },
        ],
        "global_edges": [
            {
                "name": "end_call",
                "action": "action",
                "description": "The caller says goodbye or asks to end the call right now",
                "examples": ["bye", "hang up please"],
            }
        ],
        "output": {
            "fields": [
                {"field_name": "system_response", "field_type": "str", "description": "Reply"},
                {
                    "field_name": "sentiment",
                    "field_type": "enum",
                    "enum": ["positive", "neutral", "negative"],
                    "description": "How the caller feels",
                },
            ]
        },
        "agents": agents,
    }
