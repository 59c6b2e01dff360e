"""The document rules (FL0xx): the document itself. Most are reported by the loader
(``flowctl.engine.load``), and documented here like every other rule."""

from __future__ import annotations

from collections.abc import Iterator

from flowctl.engine.lint.context import FlowContext
from flowctl.engine.lint.registry import Violation, declare, rule, violation

declare(
    "internal-error",
    """
    ## What it does
    Reports a bug in flowctl itself: a lint rule raised an exception on this flow.
    The other rules still run and the file is reported as failing.

    ## Why it matters
    A linter that crashes hides every other finding. This keeps lint going and tells
    you what to report.

    ## What to do
    Report the message (it names the rule and the exception) with the flow attached.
    """,
)

declare(
    "invalid-json",
    """
    ## What it does
    Reports a file that cannot be decoded: malformed JSON (with the line and column
    of the first error), an empty file, bytes that are not UTF-8, or nesting deeper
    than 64 levels (no flow nests past a dozen).

    ## Why it matters
    Nothing else can be checked until the document parses.

    ## Example
    ```json
    {"agents": [{"name": "Intake", "instructions": "Hi",}]}
    ```
    `Invalid JSON: trailing comma in object` at 1:52.

    ## Instead
    ```json
    {"agents": [{"name": "Intake", "instructions": "Hi"}]}
    ```
    """,
)

declare(
    "wrong-type",
    """
    ## What it does
    Reports a value whose JSON type is not the one the flow format expects: a number
    where a list belongs, a string where an object belongs.

    ## Example
    ```json
    {"name": "Intake", "instructions": "...", "tools": 5}
    ```
    ``Expected `array`, got `int` - at `$.agents[0].tools` ``

    ## Instead
    ```json
    {"name": "Intake", "instructions": "...", "tools": ["appointment_booking"]}
    ```
    """,
)

declare(
    "missing-field",
    """
    ## What it does
    Reports an object that lacks a required field: a state without `name` or
    `instructions`, a tool without `kind`, a flow without `agents`.

    ## Example
    ```json
    {"agents": [{"name": "Intake"}]}
    ```
    ``Object missing required field `instructions` - at `$.agents[0]` ``

    ## Instead
    ```json
    {"agents": [{"name": "Intake", "instructions": "You book appointments."}]}
    ```
    """,
)

declare(
    "unknown-field",
    """
    ## What it does
    Reports a key the flow format does not know, with the closest known key.

    ## Why it matters
    A typo such as `instuctions` would otherwise be silently ignored, and the state
    would run with no instructions at all.

    ## Example
    ```json
    {"name": "Intake", "instuctions": "You book appointments."}
    ```
    ``Object contains unknown field `instuctions`; did you mean `instructions`? - at
    `$.agents[0].instuctions` ``

    ## Instead
    ```json
    {"name": "Intake", "instructions": "You book appointments."}
    ```
    """,
)

declare(
    "invalid-value",
    """
    ## What it does
    Reports a value of the right type but outside the field's range: an unknown
    `action` or tool `kind`, an empty name, a `sample_rate` above 1, a `temperature`
    above 2, a python `function` that is not `module:function`.

    ## Example
    ```json
    {"name": "to_billing", "action": "hanoff", "target_agent": "Billing"}
    ```
    ``Invalid value `hanoff`: expected one of `action`, `handoff`; did you mean
    `handoff`? - at `$.agents[0].edges[0].action` ``

    ## Instead
    ```json
    {"name": "to_billing", "action": "handoff", "target_agent": "Billing"}
    ```
    """,
)

declare(
    "file-too-large",
    """
    ## What it does
    Refuses files over 10 MiB without reading them.

    ## Why it matters
    A real flow is tens of kilobytes; a generated 5,000-state flow is about 3 MB.
    A bigger file is a mistake (a log or a dump saved as `.json`) or an attack, and
    decoding it would only waste memory in every worker that loads it.

    ## Instead
    Split the flow, or move large data (catalogues, FAQs) behind a tool.
    """,
)

declare(
    "byte-order-mark",
    """
    ## What it does
    Reports a UTF-8 byte order mark (BOM) at the start of the file. The flow is still
    decoded and checked.

    ## Why it matters
    JSON (RFC 8259) forbids a BOM; other tools that read your flows may reject it.

    ## Instead
    Save the file as UTF-8 without BOM (most editors: "UTF-8" rather than "UTF-8 with
    BOM").
    """,
)

declare(
    "duplicate-key",
    """
    ## What it does
    Reports a key given twice in one JSON object.

    ## Why it matters
    JSON parsers keep the last value and silently drop the first: a second `edges` list
    pasted below the first replaces it, and the first one's edges vanish without a word.

    ## Example
    ```json
    {"name": "Intake", "instructions": "...", "edges": [...], "edges": [...]}
    ```
    ``Duplicate key `edges`: the earlier value is ignored - at `$.agents[0].edges` ``

    ## Instead
    Merge the two values under one key.
    """,
)


@rule("invalid-lint-setting")
def invalid_lint_setting(ctx: FlowContext) -> Iterator[Violation]:
    """
    ## What it does
    Reports an entry of the flow's `"lint": {"ignore": [...]}` that is empty or matches
    no rule code (`FL4O5` with a letter O, `W605`).

    ## Why it matters
    An empty entry would silence every rule; a typo silences nothing while the author
    believes a rule is off.

    ## Example
    ```json
    {"lint": {"ignore": ["FL4O5"]}}
    ```

    ## Instead
    ```json
    {"lint": {"ignore": ["FL405"]}}
    ```
    """
    from flowctl.engine.lint.registry import RULES

    for k, selector in enumerate(ctx.config.ignore):
        code = selector.strip().upper()
        if not code:
            yield violation(("lint", "ignore", k), "empty")
        elif code != "ALL" and not any(c.startswith(code) for c in RULES):
            yield violation(("lint", "ignore", k), "unknown", selector=selector)
