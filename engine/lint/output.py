"""The output-schema rules (FL6xx): structured output schemas (seed 001's ``schema_config``)."""

from __future__ import annotations

import json
import keyword
import re
from collections import Counter
from collections.abc import Iterator
from typing import Any

from flowctl.engine.findings import did_you_mean
from flowctl.engine.lint.context import FlowContext
from flowctl.engine.lint.registry import Violation, rule, violation
from flowctl.engine.patterns import pattern_problem
from flowctl.engine.source import Path
from flowctl.engine.spec import FIELD_TYPES, OutputField, fits

SPOKEN_DEFAULT = "system_response"
# Names people write for the whitelisted types, to suggest the right one.
_ALIASES = {
    "string": "str",
    "text": "str",
    "integer": "int",
    "number": "float",
    "double": "float",
    "boolean": "bool",
    "list": "list[str]",
    "array": "list[str]",
    "List[str]": "list[str]",
    "List[int]": "list[int]",
    "List[float]": "list[float]",
    "Literal": "enum",
}
_NUMERIC = {"int", "float"}
_SIZED = {"str", "list[str]", "list[int]", "list[float]"}


def _fields(ctx: FlowContext) -> Iterator[tuple[Path, OutputField]]:
    for path, output in ctx.outputs():
        for j, f in enumerate(output.fields):
            yield (*path, "fields", j), f


@rule("invalid-field-name")
def invalid_field_name(ctx: FlowContext) -> Iterator[Violation]:
    """
    ## What it does
    Reports an output `field_name` that is not a Python identifier, or is a Python
    keyword (`class`, `from`, `return`...).

    ## Why it matters
    Output fields become the attributes of a generated struct (seed 001's dynamic
    schema generation) and keys the frontend reads; `class` or `user name` break both.

    ## Example
    ```json
    {"field_name": "class", "field_type": "str"}
    ```

    ## Instead
    ```json
    {"field_name": "issue_class", "field_type": "str"}
    ```
    """
    for path, f in _fields(ctx):
        name = f.field_name
        if not name.isidentifier():
            kind = "not_identifier"
        elif keyword.iskeyword(name) or keyword.issoftkeyword(name):
            kind = "keyword"
        else:
            continue
        yield violation((*path, "field_name"), kind, field=name)


@rule("unsupported-field-type")
def unsupported_field_type(ctx: FlowContext) -> Iterator[Violation]:
    """
    ## What it does
    Reports an output `field_type` that is not one of `str`, `int`, `float`, `bool`,
    `list[str]`, `list[int]`, `list[float]`, `enum`, with the closest allowed type.

    ## Why it matters
    Only these types map onto every LLM provider's structured-output mode and onto a
    generated struct; anything else would be accepted here and rejected mid-call.

    ## Example
    ```json
    {"field_name": "score", "field_type": "integer"}
    ```
    ``Unsupported field type `integer`; did you mean `int`? ...``
    """
    allowed = ", ".join(f"`{t}`" for t in FIELD_TYPES)
    for path, f in _fields(ctx):
        t = f.field_type
        if t in FIELD_TYPES:
            continue
        hint = (
            f"; did you mean `{_ALIASES[t]}`?"
            if t in _ALIASES
            else did_you_mean(t, list(FIELD_TYPES))
        )
        if hint:
            yield violation((*path, "field_type"), "suggest", type=t, hint=hint)
        else:
            yield violation((*path, "field_type"), "allowed", type=t, allowed=allowed)


@rule("empty-enum")
def empty_enum(ctx: FlowContext) -> Iterator[Violation]:
    """
    ## What it does
    Reports an output field of type `enum` with no `enum` values, or with duplicates.

    ## Example
    ```json
    {"field_name": "sentiment", "field_type": "enum", "enum": []}
    ```

    ## Instead
    ```json
    {"field_name": "sentiment", "field_type": "enum",
     "enum": ["positive", "neutral", "negative"]}
    ```
    """
    for path, f in _fields(ctx):
        if f.field_type != "enum":
            continue
        if not f.enum:
            yield violation(path, "no_values", field=f.field_name)
        elif len(set(f.enum)) != len(f.enum):
            counts = Counter(f.enum)  # counting each value afresh cost len(enum)^2
            dup = next(v for v in f.enum if counts[v] > 1)
            yield violation((*path, "enum"), "repeated", field=f.field_name, value=dup)


def _contradictions(f: OutputField) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(field key, kind of FL604 message, its fields) for each contradiction in a
    field's declaration."""
    t, c = f.field_type, f.constraints
    if t != "enum" and f.enum is not None:
        yield "enum", "enum_not_enum", {"type": t}
    if c is not None:
        numeric = [k for k in ("ge", "gt", "le", "lt") if getattr(c, k) is not None]
        sized = [k for k in ("min_length", "max_length") if getattr(c, k) is not None]
        if numeric and t not in _NUMERIC:
            yield "constraints", "cannot_have", {"type": t, "constraint": numeric[0]}
        if sized and t not in _SIZED:
            yield "constraints", "cannot_have", {"type": t, "constraint": sized[0]}
        if c.pattern is not None:
            if t != "str":
                yield "constraints", "cannot_have", {"type": t, "constraint": "pattern"}
            elif slow := pattern_problem(c.pattern, c.max_length):
                yield "constraints", "slow_pattern", {"problem": slow}
            else:
                try:
                    re.compile(c.pattern)
                except re.error as exc:
                    yield "constraints", "bad_pattern", {"error": exc}
        lower = [(v, op) for v, op in ((c.ge, ">="), (c.gt, ">")) if v is not None]
        upper = [(v, op) for v, op in ((c.le, "<="), (c.lt, "<")) if v is not None]
        if lower and upper:
            low, low_op = max(lower)
            high, high_op = min(upper)
            if low > high or (low == high and (low_op, high_op) != (">=", "<=")):
                bounds = {"low_op": low_op, "low": low, "high_op": high_op, "high": high}
                yield "constraints", "empty_range", bounds
        if c.min_length is not None and c.max_length is not None and c.min_length > c.max_length:
            lengths = {"min_length": c.min_length, "max_length": c.max_length}
            yield "constraints", "empty_length", lengths
    if f.default is not None:
        shown = json.dumps(f.default)
        if not fits(f.default, t):
            yield "default", "default_type", {"value": shown, "type": t}
        elif t == "enum" and f.enum and f.default not in f.enum:
            yield "default", "default_enum", {"value": shown}
        elif t in _NUMERIC and c is not None and isinstance(f.default, int | float):
            v = f.default
            if (
                (c.ge is not None and v < c.ge)
                or (c.gt is not None and v <= c.gt)
                or (c.le is not None and v > c.le)
                or (c.lt is not None and v >= c.lt)
            ):
                yield "default", "default_range", {"value": shown}


@rule("contradictory-constraints")
def contradictory_constraints(ctx: FlowContext) -> Iterator[Violation]:
    """
    ## What it does
    Reports output fields whose declaration cannot be satisfied or does not fit its
    type: a lower bound above the upper bound, `min_length` above `max_length`,
    numeric bounds on a non-number, `pattern` on a non-string or an invalid regex,
    `enum` values on a non-enum, a `default` outside the constraints or the enum.

    A `pattern` is checked against every answer of the model, with a regex engine that
    backtracks: it must not be able to take long. It is refused when it is over 100
    characters, has a backreference, nests a repeat or an alternation inside a repeat
    (`(a+)+`, `(a|ab)*`), or has so many repeats that a bad answer could take millions
    of tries (`a*a*a*b`; anchoring with `^` helps). A field with a `pattern` holds at
    most 200 characters.

    ## Example
    ```json
    {"field_name": "qualification_score", "field_type": "int",
     "constraints": {"ge": 100, "le": 0}}
    ```

    ## Instead
    ```json
    {"field_name": "qualification_score", "field_type": "int",
     "constraints": {"ge": 0, "le": 100}}
    ```
    """
    for path, f in _fields(ctx):
        if f.field_type not in FIELD_TYPES:
            continue  # FL602's
        for key, kind, fields in _contradictions(f):
            yield violation((*path, key), kind, field=f.field_name, **fields)


@rule("duplicate-field")
def duplicate_field(ctx: FlowContext) -> Iterator[Violation]:
    """
    ## What it does
    Reports an output field whose `field_name` an earlier field of the same schema
    already uses.

    ## Why it matters
    The model would be asked for one key twice; one value is lost.
    """
    for path, output in ctx.outputs():
        seen: set[str] = set()
        for j, f in enumerate(output.fields):
            if f.field_name in seen:
                yield violation((*path, "fields", j, "field_name"), field=f.field_name)
            seen.add(f.field_name)


@rule("unknown-speech-field")
def unknown_speech_field(ctx: FlowContext) -> Iterator[Violation]:
    """
    ## What it does
    For each structured output schema, checks the fields the voice uses: the spoken
    field (the one with `metadata.use_in_tts`, else `system_response`) must exist and
    be a `str`; at most one field may be marked `use_in_tts`; and the TTS
    `instruction_field` (seed 001's `voice_instructions`), when set, must name a
    `str` field of the schema.

    ## Why it matters
    Without a spoken field the agent answers in JSON and says nothing.

    ## Example
    ```json
    {"output": {"fields": [{"field_name": "reply", "field_type": "str"}]}}
    ```

    ## Instead
    Name the field `system_response`, or mark it:
    `"metadata": {"use_in_tts": true}`.
    """
    for path, output in ctx.outputs():
        if not output.fields:
            continue
        by_name = {f.field_name: f for f in output.fields}
        marked = [f for f in output.fields if f.metadata and f.metadata.use_in_tts]
        if len(marked) > 1:
            names = ", ".join(f"`{f.field_name}`" for f in marked)
            yield violation(path, "many_spoken", fields=names)
        spoken = marked[0].field_name if marked else SPOKEN_DEFAULT
        if spoken not in by_name:
            yield violation((*path, "fields"), "no_spoken")
        elif by_name[spoken].field_type != "str":
            yield violation(path, "spoken_not_str", field=spoken)
    # The voice steering field, per state: a state's `tts` and `output` each replace the
    # flow's, so each state pairs its own (or the flow's) tts with its own (or the
    # flow's) output. Each pair is reported once.
    reported: set[tuple[Path, Path]] = set()
    for i, state in enumerate(ctx.flow.agents):
        tts, tts_path = (state.tts, ("agents", i, "tts")) if state.tts else (ctx.flow.tts, ("tts",))
        if state.output is not None:
            output, owner = state.output, f"state `{state.name}`"
            out_path: Path = ("agents", i, "output")
        elif ctx.flow.output is not None:
            output, owner, out_path = ctx.flow.output, "the flow", ("output",)
        else:
            continue
        field_name = tts.instruction_field if tts is not None else None
        if field_name is None or not output.fields or (tts_path, out_path) in reported:
            continue
        reported.add((tts_path, out_path))
        field = next((f for f in output.fields if f.field_name == field_name), None)
        where = (*tts_path, "instruction_field")
        if field is None:
            yield violation(where, "instruction_missing", field=field_name, owner=owner)
        elif field.field_type != "str":
            yield violation(where, "instruction_not_str", field=field_name, type=field.field_type)
