"""A parameter as the model sees it and as the engine checks it: one reading of
:class:`~flowctl.engine.spec.Parameter` for both, so the constraints the model is
offered (the function's JSON Schema) are exactly the ones its arguments are held to.

Types and ranges are msgspec's (``Meta(ge=..., min_length=..., pattern=...)``), checked
while the arguments are decoded; formats (email, date, time, E.164 phone) are checked
after, by code rather than a regular expression, so the message names the format and a
long argument costs linear time. A ``pattern`` is an author's regular expression run on
text the caller steers: as for output fields, the text is capped and a pattern that
could backtrack for long is refused (``flowctl.engine.patterns``, lint FL408).
"""

from __future__ import annotations

import copy
import datetime
import functools
import math
import re
from collections.abc import Callable, Iterator, Mapping
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

from flowctl.engine.patterns import pattern_input_limit
from flowctl.engine.spec import Parameter

__all__ = [
    "FORMATS",
    "Format",
    "accepted",
    "arguments_type",
    "check_formats",
    "example_value",
    "parameter_schema",
    "parameter_type",
    "plain",
    "walk_parameters",
]

_JSON_TYPES = {"str": "string", "int": "integer", "float": "number", "bool": "boolean"}
_SCALARS: dict[str, Any] = {"str": str, "int": int, "float": float, "bool": bool}


# --- formats ---------------------------------------------------------------------------

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_TIME = re.compile(r"\d{2}:\d{2}(?::\d{2})?")
_PHONE = re.compile(r"\+[1-9]\d{1,14}")  # E.164: a country code, at most 15 digits


def _is_email(text: str) -> bool:
    """``local@domain.tld``: one ``@``, no spaces, a dot inside the domain; the checks a
    form makes, not RFC 5322 (which accepts what no caller dictates)."""
    local, at, domain = text.partition("@")
    labels = domain.split(".")
    return (
        bool(at and local)
        and len(text) <= 254
        and "@" not in domain
        and not any(c.isspace() for c in text)
        and len(labels) > 1
        and all(labels)
    )


def _iso(shape: re.Pattern[str], parse: Callable[[str], object]) -> Callable[[str], bool]:
    """A check for an ISO 8601 date or time: the shape, then a real calendar or clock
    value (``2025-02-30`` has the shape of a date)."""

    def check(text: str) -> bool:
        if not shape.fullmatch(text):
            return False
        try:
            parse(text)
        except ValueError:
            return False
        return True

    return check


class Format(msgspec.Struct, frozen=True):
    """A string format: how the model is told (JSON Schema), how a value is checked,
    what a refusal calls it, and a value that passes (for ``--explore``)."""

    schema: dict[str, str]
    check: Callable[[str], bool]
    noun: str
    example: str


FORMATS: dict[str, Format] = {
    "email": Format({"format": "email"}, _is_email, "an email address", "caller@example.com"),
    "date": Format(
        {"format": "date"},
        _iso(_DATE, datetime.date.fromisoformat),
        "a date as YYYY-MM-DD",
        "2025-03-11",
    ),
    "time": Format(
        {"pattern": r"^\d{2}:\d{2}(:\d{2})?$"},
        _iso(_TIME, datetime.time.fromisoformat),
        "a time as HH:MM",
        "14:30",
    ),
    "phone": Format(
        {"pattern": r"^\+[1-9]\d{1,14}$"},
        lambda text: _PHONE.fullmatch(text) is not None,
        "a phone number in E.164 form (+15555550142)",
        "+15555550142",
    ),
}


# --- what the model is offered -------------------------------------------------------


def parameter_schema(p: Parameter) -> dict[str, Any]:
    """The JSON Schema of one parameter, constraints included."""
    schema = _type_schema(p)
    if p.description:
        schema["description"] = p.description
    if not p.required and p.default is not None:
        schema["default"] = copy.deepcopy(p.default)
    return schema


def _type_schema(p: Parameter) -> dict[str, Any]:
    if p.type == "enum":
        return {"type": "string", "enum": list(p.enum or [])}
    if p.type.startswith("list["):
        item = _object_schema(p.properties) if p.type == "list[object]" else None
        schema: dict[str, Any] = {
            "type": "array",
            "items": item or {"type": _JSON_TYPES[p.type[5:-1]]},
        }
        _put(schema, minItems=p.min_length, maxItems=p.max_length)
        return schema
    if p.type == "object":
        return _object_schema(p.properties)
    schema = {"type": _JSON_TYPES[p.type]}
    if p.type == "str":
        _put(schema, minLength=p.min_length, maxLength=p.max_length, pattern=p.pattern)
        if p.format is not None:
            schema.update(FORMATS[p.format].schema)
    else:
        _put(schema, minimum=p.minimum, maximum=p.maximum)
    return schema


def _object_schema(properties: Mapping[str, Parameter]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {name: parameter_schema(p) for name, p in properties.items()},
        "required": [name for name, p in properties.items() if p.required],
        "additionalProperties": False,
    }


def _put(schema: dict[str, Any], **values: Any) -> None:
    schema.update({k: v for k, v in values.items() if v is not None})


# --- what the engine checks ------------------------------------------------------------


def parameter_type(p: Parameter, name: str = "Arguments") -> Any:
    """The msgspec type of one parameter's value (``name``: of its object struct)."""
    if p.type == "enum":
        return Literal[tuple(p.enum or ("",))]
    if p.type in ("object", "list[object]"):
        item = _struct(p.properties, name)
        if p.type == "object":
            return item
        return _sized(list[item], p.min_length, p.max_length)  # type: ignore[valid-type]
    if p.type.startswith("list["):
        return _sized(list[_SCALARS[p.type[5:-1]]], p.min_length, p.max_length)  # type: ignore[misc]
    t = _SCALARS[p.type]
    meta: dict[str, Any] = {}
    if p.type in ("int", "float"):
        low, high = p.minimum, p.maximum
        if p.type == "int":  # an int's bounds must be ints: round inwards
            low = None if low is None else math.ceil(low)
            high = None if high is None else math.floor(high)
        _put(meta, ge=low, le=high)
    elif p.type == "str":
        _put(meta, min_length=p.min_length, max_length=p.max_length)
        if p.pattern is not None:  # matched by a backtracking `re`: see engine.patterns
            meta.update(pattern=p.pattern, max_length=pattern_input_limit(p.max_length))
    return Annotated[t, Meta(**meta)] if meta else t


def _sized(t: Any, min_length: int | None, max_length: int | None) -> Any:
    meta: dict[str, Any] = {}
    _put(meta, min_length=min_length, max_length=max_length)
    return Annotated[t, Meta(**meta)] if meta else t


def _struct(params: Mapping[str, Parameter], name: str) -> Any:
    """A struct with a field per parameter: required ones first, as msgspec wants; an
    optional one defaults to its ``default`` (a fresh copy of a list or object)."""
    fields: list[tuple[Any, ...]] = []
    for pname, p in params.items():
        t = parameter_type(p, f"{name}_{pname}")
        if p.required:
            fields.append((pname, t))
        elif isinstance(p.default, list | dict):
            factory = functools.partial(copy.deepcopy, p.default)
            fields.append((pname, t | None, msgspec.field(default_factory=factory)))
        else:
            fields.append((pname, t | None, p.default))
    fields.sort(key=len)
    return msgspec.defstruct(name, fields, kw_only=True, forbid_unknown_fields=True, frozen=True)


_ARGS_TYPES: dict[bytes, Any] = {}


def arguments_type(params: Mapping[str, Parameter]) -> Any:
    """The struct validating a function's arguments, shared by every function with the
    same parameters (a struct type costs ~25 us to create)."""
    key = msgspec.json.encode(params)
    cached = _ARGS_TYPES.get(key)
    if cached is None:
        cached = _ARGS_TYPES[key] = _struct(params, "Arguments")
    return cached


def check_formats(
    params: Mapping[str, Parameter], values: Mapping[str, Any], at: str = "$"
) -> None:
    """Raise ``msgspec.ValidationError`` for the first value (nested ones included) that
    is not of its parameter's ``format``, in msgspec's words."""
    for name, p in params.items():
        value = values.get(name)
        if value is None:
            continue
        where = f"{at}.{name}"
        if p.format is not None and isinstance(value, str) and not FORMATS[p.format].check(value):
            raise msgspec.ValidationError(
                f"Expected {FORMATS[p.format].noun}, got `{value}` - at `{where}`"
            )
        if p.type == "object" and isinstance(value, dict):
            check_formats(p.properties, value, where)
        elif p.type == "list[object]" and isinstance(value, list):
            for i, item in enumerate(value):
                check_formats(p.properties, item, f"{where}[{i}]")


def plain(value: Any) -> Any:
    """A decoded argument as JSON data: structs as dicts, fields left out dropped."""
    if isinstance(value, msgspec.Struct):
        return {k: plain(v) for k, v in msgspec.structs.asdict(value).items() if v is not None}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


# --- walking and examples ------------------------------------------------------------


def walk_parameters(
    params: Mapping[str, Parameter], path: tuple[str | int, ...] = ()
) -> Iterator[tuple[str, Parameter, tuple[str | int, ...]]]:
    """Each parameter and, after it, its nested ones: ``(dotted name, parameter, path)``
    (the path relative to the mapping, through ``properties``)."""
    for name, p in params.items():
        here = (*path, name)
        yield name, p, here
        for sub, q, sub_path in walk_parameters(p.properties, (*here, "properties")):
            yield f"{name}.{sub}", q, sub_path


def accepted(p: Parameter, candidates: list[Any]) -> list[Any]:
    """The ``candidates`` the parameter accepts; or, when it accepts none (an object, an
    email address...), one example that it does."""
    if not _constrained(p):  # the type alone decides, and the candidates have it
        return candidates
    args = arguments_type({"value": p})
    kept = []
    for value in candidates:
        try:
            check_formats({"value": p}, plain(msgspec.convert({"value": value}, args)))
        except msgspec.ValidationError:
            continue
        kept.append(value)
    return kept or [example_value(p)]


def _constrained(p: Parameter) -> bool:
    limits = (p.minimum, p.maximum, p.min_length, p.max_length, p.pattern, p.format)
    return p.type in ("object", "list[object]") or any(v is not None for v in limits)


def example_value(p: Parameter) -> Any:
    """A value the parameter accepts, for ``--explore``'s arguments."""
    if p.enum:
        return p.enum[0]
    if p.type == "object":
        return {n: example_value(q) for n, q in p.properties.items() if q.required}
    if p.type.startswith("list["):
        item = (
            Parameter(type="object", properties=p.properties) if p.type == "list[object]" else None
        )
        first = example_value(item or Parameter(type=p.type[5:-1]))  # type: ignore[arg-type]
        return [first] * max(1, p.min_length or 0)
    if p.type in ("int", "float"):
        low = p.minimum if p.minimum is not None else (p.maximum if p.maximum is not None else 1)
        return math.ceil(low) if p.type == "int" else float(low)
    if p.type == "bool":
        return True
    if p.format is not None:
        return FORMATS[p.format].example
    return "x" * max(1, p.min_length or 0) if p.min_length else "example"
