"""The template rule (FL311): ``{{#if}}`` blocks and ``:formatters`` that make sense.

FL307 (in variables.py) reports placeholders that do not parse at all; this rule reads
what the parser (flowctl.engine.template_syntax) understood and checks it against the
flow: conditions against the declared types (as FL308 does for ``when``), formatters
against the types they format (flowctl.engine.formats). Linear in the text: each text
is parsed once per lint, and each condition and placeholder checked once.
"""

from __future__ import annotations

from collections.abc import Iterator

from flowctl.engine.lint.context import FlowContext
from flowctl.engine.lint.registry import Violation, rule, violation

# The declared types of variables and edge parameters, as the `when` rule reads them:
# one owner of what a name's type is.
from flowctl.engine.lint.variables import variable_types


@rule("invalid-template-logic")
def invalid_template_logic(ctx: FlowContext) -> Iterator[Violation]:
    """
    ## What it does
    Checks the logic in templates: `{{#if ...}}`, `{{else if ...}}`, `{{else}}` and
    `{{/if}}` that pair up, conditions that parse and fit the declared types (the
    language of an edge's `when`), formatters that exist (`number`, `money`, `date`,
    `time`), take the argument given, and format the variable's declared type (numbers
    for `number` and `money`, ISO 8601 text for `date` and `time`). An http tool's `url`
    cannot hold blocks.

    ## Why it matters
    A block that does not pair is rendered as written, braces and all: the caller hears
    "if has insurance". A formatter on the wrong type, or one that does not exist, shows
    the value unformatted ("$81.0" becomes "81.0"), and a condition over mismatched
    types is never true, so one branch is never said.

    ## Example
    ```json
    {"say": "{{#if total > \\"0\\"}}That's {{total:mony}}.{{/if}}"}
    ```
    ``Condition `total > "0"` of an `{{#if}}`: `>` compares numbers, but `total` is
    `float` and `"0"` is `str` - at `$.agents[0].edges[0].say` ``

    ## Instead
    ```json
    {"say": "{{#if total > 0}}That's {{total:money}}.{{/if}}"}
    ```
    """
    for path, template, _, _ in ctx.parsed_templates:
        blocks = [p for p in template.problems if p.kind in ("block", "condition")]
        for problem in blocks[:1]:  # once blocks do not pair, later ones may only echo it
            yield Violation(path, problem.fields, problem.kind)
        for problem in template.problems:
            if problem.kind == "formatter":
                from flowctl.engine.formats import FORMATTERS

                known = ctx.suggest(problem.fields["formatter"], FORMATTERS)
                hint = known or "; formatters are " + ", ".join(f"`{f}`" for f in FORMATTERS)
                yield Violation(path, {**problem.fields, "hint": hint}, "formatter")
            elif problem.kind == "argument":
                yield Violation(path, problem.fields, "argument")
        if path[0] == "tools" and template.conditions:
            yield violation(path, "url")
        for c in template.conditions:
            for error in c.condition.type_errors(ctx.cached(variable_types)):
                yield violation(path, "condition", condition=c.condition.source, error=error)
                break
        for p in template.placeholders:
            if p.format is None:
                continue
            from flowctl.engine.formats import FORMATTERS  # only for a flow that formats

            formatter = FORMATTERS.get(p.format)
            declared = ctx.cached(variable_types).get(p.name)
            if formatter is None or declared is None or declared[0] in formatter.accepts:
                continue
            yield violation(
                path,
                "type",
                formatter=formatter.name,
                placeholder=template.source[p.start : p.end],
                accepts=formatter.accepts_text,
                variable=p.name,
                type=declared[0],
            )
