"""Lint answers hostile flows quickly (issue 12, item 5): every rule is linear in its
input. Each case is a flow built around text that once made a rule quadratic or worse;
it asserts the exact findings, then that four times the text costs less than eight times
the time (a quadratic rule costs sixteen). Medians of a few runs, sizes chosen so the
small run takes milliseconds: a ratio, not a wall-clock budget, is the check. One 1 MiB
flow of every pattern at once bounds the absolute time, generously; a property test
throws random text over the risky alphabet at every rule."""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from conftest import FINISH, GOODBYE
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flowctl.engine.lint import check
from flowctl.engine.load import load_bytes

Doc = dict[str, Any]
TEXT_MAX = 100_000  # the longest instructions or description a flow may hold


def lint(doc: Doc | bytes) -> list[str]:
    """``CODE message - at `path``` for each finding, in source order."""
    data = doc if isinstance(doc, bytes) else json.dumps(doc, indent=2).encode()
    return [f"{x.finding.code} {x.finding.text}" for x in check(load_bytes(data, "flow.json"))]


def flow(instructions: str = "Help the caller.", **extra: Any) -> Doc:
    """Two states: `Main` (with ``instructions``) and `Goodbye`, and a prompt budget no
    long instructions exceed (FL406 is not what these cases are about)."""
    main = {"name": "Main", "instructions": instructions, "edges": [FINISH]}
    return {"agents": [main, dict(GOODBYE)], "lint": {"max_prompt_tokens": 10**9}, **extra}


def at(path: str) -> str:
    return f" - at `{path}`"


def secret(what: str, text: str, path: str = "$.agents[0].instructions") -> str:
    return (
        f"FL501 This looks like {what} (`{text[:6]}…`); keep secrets in the environment "
        "and reference them as `${NAME}`" + at(path)
    )


def repeat(unit: str, size: int) -> str:
    return unit * (size // len(unit))


# --- the cases: (name, build(size) -> flow, expected(size) -> findings, small size) --


def ignore_all(n: int) -> Doc:
    return flow("Ignore " + repeat("all ", n) + "instructions")


def ignore_all_expected(n: int) -> list[str]:
    phrase = "Ignore " + repeat("all ", n) + "instructions"
    return [
        f"FL502 Prompt-injection phrase `{phrase}` in authored text"
        + at("$.agents[0].instructions")
    ]


def sk_run(n: int) -> Doc:
    return flow(repeat("sk-", n) + "X")


def sk_run_expected(n: int) -> list[str]:
    # A digit-less run of "sk-" words reads as one key (its scan stops at each "-sk-").
    return [secret("an OpenAI API key", repeat("sk-", n) + "X")]


def many_states(n: int, unit: str) -> Doc:
    """The text ``unit`` as the instructions of enough states to hold ``n`` characters."""
    doc = flow(unit)
    doc["agents"][1:1] = [
        {"name": f"S{i}", "instructions": unit, "end": True}
        for i in range(max(n // len(unit) - 1, 0))
    ]
    return doc


def unreachable(doc: Doc) -> list[str]:
    return [
        f"FL201 State `{s['name']}` is unreachable from the start state `Main`"
        + at(f"$.agents[{i}].name")
        for i, s in enumerate(doc["agents"])
        if s["name"] not in ("Main", "Goodbye")
    ]


CASES: list[tuple[str, Callable[[int], Doc], Callable[[int], list[str]], int]] = [
    ("ignore-all", ignore_all, ignore_all_expected, 24_000),
    ("ignore-all-no-noun", lambda n: flow("ignore " + repeat("all ", n)), lambda n: [], 24_000),
    ("sk-run", sk_run, sk_run_expected, 24_000),
    ("sk-lower-case", lambda n: flow(repeat("sk-", n)), lambda n: [], 24_000),
    ("eyJ-run", lambda n: flow(repeat("eyJ-", n)), lambda n: [], 24_000),
    ("eyJ-word", lambda n: flow(repeat("eyJ", n)), lambda n: [], 24_000),
    (
        "begin-run",
        lambda n: flow(repeat("-----BEGIN ", n) + "PRIVATE KEY-----"),
        lambda n: [secret("a private key", "-----BEGIN PRIVATE KEY-----")],
        24_000,
    ),
    (
        "aws-secret-run",
        lambda n: flow(repeat("aws_secret_access_key=", n)),
        lambda n: [],
        24_000,
    ),
    ("backslashes", lambda n: flow("\\" * n), lambda n: [], 24_000),
    ("token-characters", lambda n: flow(repeat("Ab1+/=", n)), lambda n: [], 24_000),
    (
        "open-braces",
        lambda n: flow(repeat("{{", n)),
        lambda n: [
            "FL307 Invalid template: `{{` is never closed with `}}`"
            + at("$.agents[0].instructions")
        ],
        24_000,
    ),
    (
        "closing-then-opening-braces",
        lambda n: flow(repeat("}}", n // 2) + repeat("{{", n // 2)),
        lambda n: [
            "FL307 Invalid template: `}}` without an opening `{{`" + at("$.agents[0].instructions")
        ],
        24_000,
    ),
    (
        "open-blocks",
        lambda n: flow(repeat("{{#if true}}", n)),
        lambda n: [
            "FL311 Invalid template block: `{{#if true}}` is nested more than 8 blocks deep"
            + at("$.agents[0].instructions")
        ],
        24_000,
    ),
    (
        "closing-blocks",
        lambda n: flow(repeat("{{/if}}", n)),
        lambda n: [
            "FL311 Invalid template block: `{{/if}}` without an opening `{{#if ...}}`"
            + at("$.agents[0].instructions")
        ],
        24_000,
    ),
    (
        "else-if-chain",
        lambda n: flow("{{#if true}}" + repeat("{{else if false}}", n) + "{{/if}}"),
        lambda n: [],
        24_000,
    ),
]


def similar_edges(n: int) -> Doc:
    """States of 100 edges each, all described alike: every edge but the first of a
    state reads like the first (FL405)."""
    doc = flow()
    for s in range(max(n // 100, 1)):
        edges = [
            {
                "name": f"e{j}",
                "description": "The caller asks about a bill",
                "target_agent": "Goodbye",
            }
            for j in range(100)
        ]
        doc["agents"].insert(1 + s, {"name": f"S{s}", "instructions": "x", "edges": edges})
    return doc


def similar_edges_expected(n: int) -> list[str]:
    doc = similar_edges(n)
    out = []
    for i, state in enumerate(doc["agents"]):
        if state["name"].startswith("S"):
            out.append(
                f"FL201 State `{state['name']}` is unreachable from the start state `Main`"
                + at(f"$.agents[{i}].name")
            )
            out += [
                f"FL405 `e0` and `e{j}` in state `{state['name']}` have near-identical "
                "descriptions (100% alike); say what sets them apart"
                + at(f"$.agents[{i}].edges[{j}].description")
                for j in range(1, 100)
            ]
    return out


def global_edges(n: int) -> Doc:
    """``n`` states and ``n // 2`` global edges, each offered in every state: the edges
    were copied into each state's functions and successors (states x global edges)."""
    doc = flow()
    doc["global_edges"] = [
        {
            "name": f"g{j}",
            "description": f"The caller wants {letters(j)} help with {letters(j)}x",
            "target_agent": "Goodbye",
        }
        for j in range(n // 2)
    ]
    doc["agents"][1:1] = [{"name": f"S{i}", "instructions": "x"} for i in range(n)]
    return doc


def global_edges_expected(n: int) -> list[str]:
    doc = global_edges(n)
    offered = len(doc["global_edges"]) + 1
    found = []
    for i, state in enumerate(doc["agents"][:-1]):
        if i > 0:
            found.append(
                f"FL201 State `{state['name']}` is unreachable from the start state `Main`"
                + at(f"$.agents[{i}].name")
            )
        if offered > 128:
            found.append(
                f"FL402 State `{state['name']}` offers {offered - (i > 0)} functions; the limit "
                "is 128" + at(f"$.agents[{i}].name")
            )
    return found


def letters(i: int) -> str:
    """``i`` written with letters only: no did-you-mean links it to a digit name."""
    return "".join("abcdefghij"[int(d)] for d in str(i))


def unknown_targets(n: int) -> Doc:
    """Edges to states that do not exist among many that do: each unknown name was
    compared with every state for a did-you-mean."""
    doc = flow()
    doc["agents"][1:1] = [
        {
            "name": f"S{letters(i)}",
            "instructions": "x",
            "edges": [
                {"name": "on", "description": "The caller asks for more", "target_agent": f"Q{i}"}
            ],
        }
        for i in range(n)
    ]
    return doc


def unknown_targets_expected(n: int) -> list[str]:
    found = []
    for i in range(n):
        found += [
            f"FL201 State `S{letters(i)}` is unreachable from the start state `Main`"
            + at(f"$.agents[{i + 1}].name"),
            f"FL102 Unknown agent `Q{i}`" + at(f"$.agents[{i + 1}].edges[0].target_agent"),
        ]
    return found


def undeclared(n: int) -> Doc:
    doc = flow(" ".join(f"{{{{u{i}}}}}" for i in range(n)))
    doc["variables"] = {f"v{letters(i)}": {"type": "str", "input": True} for i in range(n)}
    return doc


def undeclared_expected(n: int) -> list[str]:
    return [
        f"FL301 Undeclared variable `u{i}`" + at("$.agents[0].instructions") for i in range(n)
    ] + [
        f"FL303 Variable `v{letters(i)}` is declared but never used"
        + at(f"$.variables.v{letters(i)}")
        for i in range(n)
    ]


def keywords(n: int) -> Doc:
    """As many keywords as the text holds, all in it: a regex alternation tried each at
    every position (keywords x text)."""
    words = [f"kw{letters(i)}" for i in range(n // 10)]
    doc = flow(" ".join(words))
    doc["lint"]["prohibited_keywords"] = words
    return doc


def keywords_expected(n: int) -> list[str]:
    return [
        "FL505 Prohibited keyword `kwa` in authored text" + at("$.agents[0].instructions"),
        f"FL505 `lint.prohibited_keywords` lists {n // 10:,} keywords; the first 500 are "
        "checked" + at("$.lint.prohibited_keywords"),
    ]


def deep_keywords(n: int) -> Doc:
    """Keywords sharing ever longer prefixes with the text: each was compared that far
    at every position."""
    doc = flow("a" * min(n, TEXT_MAX - 1) + "b")
    doc["lint"]["prohibited_keywords"] = ["a" * k + "b" for k in range(1, 100)]
    return doc


def hosts(n: int) -> Doc:
    doc = flow()
    doc["tools"] = [
        {
            "kind": "http",
            "name": f"t{i}",
            "description": "Look up the caller's record",
            "url": f"https://h{i}.example.com/find",
        }
        for i in range(n)
    ]
    doc["lint"]["allowed_hosts"] = [f"*.a{i}.example.org" for i in range(n)]
    return doc


def enum_values(n: int) -> Doc:
    fields = [
        {"field_name": "system_response", "field_type": "str"},
        {"field_name": "kind", "field_type": "enum", "enum": [f"v{i}" for i in range(n)]},
    ]
    fields[1]["enum"].append(f"v{n - 1}")
    return flow(output={"fields": fields})


def duplicate_keys(n: int) -> bytes:
    """A mock tool's result (any JSON) with one key ``n`` times."""
    members = ", ".join(['"a": 1'] * n)
    tool = '{"kind": "mock", "name": "m", "description": "Stands in for the CRM", "result": {'
    return (json.dumps(flow())[:-1] + ', "tools": [' + tool + members + "}}]}").encode()


STRUCTURE_CASES: list[tuple[str, Callable[[int], Any], Callable[[int], list[str]], int]] = [
    ("similar-edges", similar_edges, similar_edges_expected, 1_000),
    ("global-edges-in-every-state", global_edges, global_edges_expected, 1_000),
    ("unknown-targets", unknown_targets, unknown_targets_expected, 200),
    ("undeclared-variables", undeclared, undeclared_expected, 200),
    ("prohibited-keywords", keywords, keywords_expected, 24_000),
    (
        "prohibited-keywords-prefixes",
        deep_keywords,
        lambda n: [
            f"FL505 Prohibited keyword `{'a' * 99}b` in authored text"
            + at("$.agents[0].instructions")
        ],
        24_000,
    ),
    (
        "host-allowlist",
        hosts,
        lambda n: [
            f"FL504 Host `h{i}.example.com` of tool `t{i}` is not in `lint.allowed_hosts`"
            + at(f"$.tools[{i}].url")
            for i in range(n)
        ],
        300,
    ),
    (
        "enum-duplicate-last",
        enum_values,
        lambda n: [
            f"FL603 Enum field `kind` lists `v{n - 1}` twice - at `$.output.fields[1].enum`"
        ],
        5_000,
    ),
]


def _seconds(data: bytes, runs: int) -> float:
    """The median CPU time of ``runs`` lints of ``data``: this process's own, so other
    processes on the machine (a parallel build, the CI's neighbours) do not skew it."""
    samples = []
    for _ in range(runs):
        start = time.process_time()
        check(load_bytes(data, "flow.json"))
        samples.append(time.process_time() - start)
    return statistics.median(samples)


def _encoded(doc: Doc | bytes) -> bytes:
    return doc if isinstance(doc, bytes) else json.dumps(doc, indent=2).encode()


# Below this, a run is too short for its ratio to mean anything (a scheduler hiccup is as
# long), and too short to hide a quadratic rule: each case took seconds at 4n when it was.
NOISE = 0.05


def assert_linear(build: Callable[[int], Any], n: int) -> None:
    """Four times the input costs less than eight times the time (medians of runs)."""
    small, large = _encoded(build(n)), _encoded(build(4 * n))
    _seconds(small, 1)  # warm: imports, caches
    t_small, t_large = _seconds(small, 5), _seconds(large, 3)
    ratio = t_large / t_small
    assert t_large < NOISE or ratio < 8, f"4x the input took {ratio:.1f}x the time"


@pytest.mark.parametrize(
    ("build", "expected", "n"),
    [(build, expected, n) for _, build, expected, n in [*CASES, *STRUCTURE_CASES]],
    ids=[name for name, *_ in [*CASES, *STRUCTURE_CASES]],
)
def test_lint_pattern_finds_exactly_and_in_linear_time(
    build: Callable[[int], Any], expected: Callable[[int], list[str]], n: int
) -> None:
    """Each text pattern (CASES) and structure pattern (STRUCTURE_CASES): the exact
    findings at n and at 4n, and 4n costing about four times n."""
    assert lint(build(n)) == expected(n)
    assert lint(build(4 * n)) == expected(4 * n)
    assert_linear(build, n)


def test_lint_duplicate_keys_finds_exactly_and_in_linear_time() -> None:
    assert (
        lint(duplicate_keys(1_000))
        == ["FL008 Duplicate key `a`: the earlier value is ignored - at `$.tools[0].result.a`"]
        * 999
    )
    assert_linear(duplicate_keys, 2_000)


def test_lint_refuses_nesting_deeper_than_64_levels() -> None:
    # The flow, `variables` and `v` are three levels; the default holds the rest.
    start = json.dumps(flow())[:-1] + ', "variables": {"v": {"type": "str", "default": '
    deepest = start + "[" * 61 + "]" * 61 + "}}}"
    assert lint(deepest.encode()) == [
        "FL303 Variable `v` is declared but never used" + at("$.variables.v"),
        f"FL304 Default `{'[' * 61}{']' * 61}` of variable `v` is not of type `str`"
        + at("$.variables.v.default"),
    ]
    too_deep = start + "[" * 62 + "]" * 62 + "}}}"
    assert lint(too_deep.encode()) == ["FL001 Invalid JSON: nested too deeply"]


def test_lint_a_1_mib_adversarial_flow_in_seconds() -> None:
    """Every text pattern at once, a megabyte in all: generous, for slow machines."""
    units = [build(TEXT_MAX // 2)["agents"][0]["instructions"] for _, build, _, _ in CASES]
    texts = (units * 20)[: 1024 * 1024 // (TEXT_MAX // 2)]
    doc = flow()
    doc["agents"][1:1] = [
        {"name": f"S{i}", "instructions": text, "end": True} for i, text in enumerate(texts)
    ]
    data = json.dumps(doc).encode()
    assert len(data) >= 1024 * 1024
    start = time.perf_counter()
    found = lint(data)
    assert time.perf_counter() - start < 5
    assert all(not f.startswith("FL000") for f in found)


# --- random text over the risky alphabet ---------------------------------------------

RISKY = [
    "sk-", "ant-", "proj-", "ignore", "all", "previous", "instructions", " ", " ", "\n",
    "{", "}", "{{", "}}", "-", "_", "=", "+", "/", ".", "eyJ", "A", "z", "0", "9", "\\",
    '"', "-----BEGIN ", "PRIVATE KEY-----", "aws_secret=", "AKIA", "API", "ghp_", "|",
    "#if ", "/if", "else", ":", "money(", ")",
]  # fmt: skip


@settings(
    max_examples=25,
    deadline=timedelta(seconds=3),
    suppress_health_check=[HealthCheck.too_slow],
)
@given(st.lists(st.sampled_from(RISKY), min_size=1, max_size=60))
def test_lint_random_risky_text_is_answered_quickly(pieces: list[str]) -> None:
    unit = "".join(pieces)
    text = unit * (60_000 // len(unit) + 1)
    where = {
        "instructions": text[:TEXT_MAX],
        "on_enter_prompt": text[: TEXT_MAX // 2],
    }
    doc = flow(**{})
    doc["agents"][0].update(where)
    doc["agents"][0]["edges"] = [{**FINISH, "description": text[:TEXT_MAX]}]
    doc["tools"] = [
        {
            "kind": "http",
            "name": "lookup",
            "description": "Look up the caller's record",
            "url": "https://crm.example.com/find",
            "headers": {"X-Note": text},
        }
    ]
    found = lint(doc)
    assert all(not f.startswith("FL000") for f in found), found[:3]


def scoped_edges(n: int) -> Doc:
    """``n`` states and ``n`` global edges, each scoped with `except_in`: analysed state
    by state, they would cost states x edges x list length."""
    doc = flow()
    doc["agents"][1:1] = [{"name": f"S{i}", "instructions": "x"} for i in range(n)]
    doc["global_edges"] = [
        {"name": f"g{j}", "description": "d", "target_agent": f"S{j}", "except_in": ["Main"]}
        for j in range(n)
    ]
    return doc


def test_lint_scoped_global_edges_in_linear_time() -> None:
    """Past 128 scoped edges (more than any state can offer) lint reports them once and
    analyses them as offered everywhere, so thousands cost no more than thousands."""
    findings = lint(scoped_edges(2_000))
    assert [f for f in findings if "FL113" in f] == [
        "FL113 The flow scopes 2000 global edges with `only_in`/`except_in`; a state offers "
        "at most 128 functions, so no more than 128 may be scoped" + at("$.global_edges[128]")
    ]
    assert_linear(scoped_edges, 500)
