"""Hostile flows for the benchmarks: each built around text or structure that once made
a lint rule quadratic or worse (issue 12, item 5), at a given size in bytes.

    adversarial("sk-run", 1024 * 1024)  # a flow of about 1 MiB, as JSON bytes

tests/security/test_lint_dos.py holds the same patterns with their exact findings.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

__all__ = ["PATTERNS", "adversarial"]

TEXT_MAX = 90_000  # under the 100,000 characters a flow's text may hold
GOODBYE = {"name": "Goodbye", "instructions": "Thank the caller and say goodbye.", "end": True}
FINISH = {
    "name": "finish",
    "description": "The caller has no more questions and says goodbye",
    "target_agent": "Goodbye",
}


def _flow(agents: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    main = {"name": "Main", "instructions": "Help the caller.", "edges": [FINISH]}
    return {"flow_id": "hostile", "agents": [main, *agents, GOODBYE], **extra}


def _letters(i: int) -> str:
    return "".join("abcdefghij"[int(d)] for d in str(i))


def _texts(unit: str, size: int, prefix: str = "", suffix: str = "") -> dict[str, Any]:
    """States whose instructions are ``prefix``, ``unit`` repeated, ``suffix``: about
    ``size`` characters in all, at most TEXT_MAX a state."""
    states = []
    while size > 0:
        room = min(size, TEXT_MAX) - len(prefix) - len(suffix)
        text = prefix + unit * max(room // len(unit), 1) + suffix
        states.append({"name": f"S{len(states)}", "instructions": text, "end": True})
        size -= len(text)
    return _flow(states)


def _similar_edges(size: int) -> dict[str, Any]:
    edge = {"name": "e", "description": "The caller asks about a bill", "target_agent": "Goodbye"}
    per_state = 100 * 80
    states = [
        {
            "name": f"S{s}",
            "instructions": "x",
            "edges": [{**edge, "name": f"e{j}"} for j in range(100)],
        }
        for s in range(max(size // per_state, 1))
    ]
    return _flow(states)


def _global_edges(size: int) -> dict[str, Any]:
    shared = [
        {
            "name": f"g{j}",
            "description": f"The caller wants {_letters(j)} help with {_letters(j)}x",
            "target_agent": "Goodbye",
        }
        for j in range(100)
    ]
    states = [{"name": f"S{i}", "instructions": "x"} for i in range(max(size // 40, 1))]
    return _flow(states, global_edges=shared)


def _unknown_targets(size: int) -> dict[str, Any]:
    edge = {"name": "on", "description": "The caller asks for more"}
    states = [
        {"name": f"S{_letters(i)}", "instructions": "x", "edges": [{**edge, "target_agent": q}]}
        for i, q in ((i, f"Q{i}") for i in range(max(size // 130, 1)))
    ]
    return _flow(states)


def _undeclared(size: int) -> dict[str, Any]:
    count = max(size // 60, 1)
    names = " ".join(f"{{{{u{i}}}}}" for i in range(count))
    states = [
        {"name": f"S{k}", "instructions": names[k : k + TEXT_MAX], "end": True}
        for k in range(0, len(names), TEXT_MAX)
    ]
    variables = {f"v{_letters(i)}": {"type": "str", "input": True} for i in range(count)}
    return _flow(states, variables=variables)


def _keywords(size: int) -> dict[str, Any]:
    doc = _texts("a", size, suffix="b")
    doc["lint"] = {"prohibited_keywords": ["a" * k + "b" for k in range(1, 100)] + ["c"]}
    return doc


def _hosts(size: int) -> dict[str, Any]:
    count = max(size // 160, 1)
    tools = [
        {
            "kind": "http",
            "name": f"t{i}",
            "description": "Look up the caller's record",
            "url": f"https://h{i}.example.com/find",
        }
        for i in range(count)
    ]
    allowed = [f"*.a{i}.example.org" for i in range(count)]
    return _flow([], tools=tools, lint={"allowed_hosts": allowed})


def _enum(size: int) -> dict[str, Any]:
    values = [f"v{i}" for i in range(max(size // 10, 2))]
    fields = [
        {"field_name": "system_response", "field_type": "str"},
        {"field_name": "kind", "field_type": "enum", "enum": [*values, values[-1]]},
    ]
    return _flow([], output={"fields": fields})


def _secrets(size: int) -> dict[str, Any]:
    """Distinct keys, every one a finding to place in the document."""
    keys = " ".join(f"sk-proj-A{i:07d}bcdefghijklmnopqrstuvwxyz0123" for i in range(size // 46))
    states = [
        {"name": f"S{k}", "instructions": keys[k : k + TEXT_MAX], "end": True}
        for k in range(0, len(keys), TEXT_MAX)
    ]
    return _flow(states)


def _duplicate_keys(size: int) -> bytes:
    members = ", ".join(['"a": 1'] * (size // 8))
    tool = '{"kind": "mock", "name": "m", "description": "Stands in for the CRM", "result": {'
    return (json.dumps(_flow([]))[:-1] + ', "tools": [' + tool + members + "}}]}").encode()


PATTERNS: dict[str, Callable[[int], dict[str, Any] | bytes]] = {
    "ignore-all": lambda n: _texts("all ", n, prefix="ignore "),
    "sk-run": lambda n: _texts("sk-", n, suffix="X"),
    "eyJ-run": lambda n: _texts("eyJ-", n),
    "begin-run": lambda n: _texts("-----BEGIN ", n, suffix="PRIVATE KEY-----"),
    "aws-secret-run": lambda n: _texts("aws_secret_access_key=", n),
    "backslashes": lambda n: _texts("\\", n // 2),
    "token-characters": lambda n: _texts("Ab1+/=", n),
    "open-braces": lambda n: _texts("{{", n),
    "many-secrets": _secrets,
    "similar-edges": _similar_edges,
    "global-edges": _global_edges,
    "unknown-targets": _unknown_targets,
    "undeclared-variables": _undeclared,
    "prohibited-keywords": _keywords,
    "host-allowlist": _hosts,
    "enum-duplicate": _enum,
    "duplicate-keys": _duplicate_keys,
}


def adversarial(name: str, size: int) -> bytes:
    """The flow ``name`` of at most ``size`` bytes and close to it, pretty-printed as
    authors write it (the builders' sizes are estimates: scaled until they fit)."""
    asked = size
    for _ in range(8):
        data = _encoded(PATTERNS[name](asked))
        if size * 0.9 <= len(data) <= size:
            break
        asked = int(asked * size / len(data) * (0.97 if len(data) > size else 1.0))
    return data


def _encoded(built: dict[str, Any] | bytes) -> bytes:
    return built if isinstance(built, bytes) else json.dumps(built, indent=2).encode()
