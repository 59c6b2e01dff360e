"""Read a flow file and decode it, reporting every document-level problem as a finding.

The fast path is msgspec all the way: ``json.decode`` then ``convert`` into the spec
structs, in C. Only when that fails does :func:`check_shape` walk the raw document in
Python, to report *every* wrong type, missing field and unknown field at once (msgspec
stops at the first), each with a did-you-mean where one helps.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Callable
from pathlib import Path as FsPath
from typing import Any, TypeVar

import msgspec
from msgspec import inspect as mi

from flowctl.engine.errors import FlowReadError
from flowctl.engine.extends import (
    STAND_IN,
    Origins,
    TemplateLookup,
    TemplateRef,
    extends_of,
    is_template,
    resolve,
    valid_id,
)
from flowctl.engine.findings import Finding, Suggester
from flowctl.engine.source import Path, Source, Span, _values, parse_path
from flowctl.engine.spec import SEED001_PATHS, Flow, SingleAgentConfig

__all__ = [
    "JSON_SCHEMA",
    "MAX_DEPTH",
    "MAX_FILE_BYTES",
    "NOT_JSON",
    "SCENARIO_FILE",
    "Loaded",
    "check_shape",
    "is_flow_file",
    "load_bytes",
    "load_path",
    "located",
    "not_a_flow",
    "parse_json",
    "read_config",
]

# Real flows are tens of kilobytes; a generated 5,000-state flow is about 3 MB. Past
# this a file is a mistake or an attack, and decoding it would only waste memory.
MAX_FILE_BYTES = 10 * 1024 * 1024
# Real flows nest a dozen levels at most (the deepest example here: 9). A deeper document
# is refused: every path into it is as long as it is deep, and each finding inside it
# would carry one (a 1 MiB document nested 900 deep made 1.3 GB of them).
MAX_DEPTH = 64
_BOM = b"\xef\xbb\xbf"


class Loaded(msgspec.Struct):
    """One flow file after decoding: the flow when its shape is valid, and findings.

    A document built on templates (``extends``) is decoded as resolved with them
    (``flowctl.engine.extends``): ``templates`` holds their sources (its template
    first), ``origins`` where each part of the resolved flow was written, ``resolved``
    the resolved document and ``pin`` the stored template version it was resolved
    against (None for files). A template (``template_id``) is decoded the same way,
    its abstract parts standing in, and is linted as a template; it is never served."""

    source: Source
    flow: Flow | None = None
    findings: list[Finding] = []
    seed001: bool = False
    # What the document is when its content says it is no flow (SCENARIO_FILE,
    # JSON_SCHEMA): callers skip or refuse it rather than report a flow's findings.
    other: str | None = None
    template_id: str | None = None  # set for a template
    templates: list[Source] = []
    origins: Origins | None = None
    resolved: dict[str, Any] | None = None
    pin: TemplateRef | None = None

    @property
    def filename(self) -> str:
        return self.source.filename

    @property
    def template(self) -> bool:
        return self.template_id is not None

    def source_path(self, path: Path) -> Path:
        """Where a path of the (converted) flow lives in the document as written."""
        if not self.seed001:
            return path
        if path[:1] == ("variables",):  # a dynamic_vars entry is just its value
            return ("prompt_config", "dynamic_vars", *path[1:2])
        for prefix, target in SEED001_PATHS:
            if path[: len(prefix)] == prefix:
                return target + path[len(prefix) :]
        return ()

    def place(self, findings: list[Finding]) -> list[tuple[Finding, str | None, Span]]:
        """Each finding where it is caused: its path rewritten into the document that
        wrote what it is about (the file's own, or a template's), that document's name
        (None: the file's own) and the span there, in one scan of each document. A
        finding about a part that stands in for a template's abstract one (nothing
        wrote it) is left out."""
        placed: list[tuple[Finding, int]] = []
        for f in findings:
            doc = f.document
            if f.position is None:
                path = f.path
                if doc is None:  # a path of the flow (as resolved): in the text that wrote it
                    doc, path = self.origins.find(path) if self.origins else (0, path)
                    if doc == 0:
                        path = self.source_path(path)
                f = msgspec.structs.replace(f, path=path, document=doc)
            elif doc is None:
                f = msgspec.structs.replace(f, document=0)
            if f.document != STAND_IN:
                placed.append((f, f.document or 0))
        sources = [self.source, *self.templates]
        spans: dict[int, dict[tuple[Path, bool], Span]] = {}
        for k, source in enumerate(sources):
            wanted = [(f.path, f.at_key) for f, d in placed if d == k and f.position is None]
            if wanted:
                spans[k] = source.locate(wanted)
        out: list[tuple[Finding, str | None, Span]] = []
        for f, k in placed:
            if f.position is not None:
                span = Span(*f.position, *f.position)
            else:
                span = spans[k][f.path, f.at_key]
            out.append((f, sources[k].filename if k else None, span))
        return out

    def problems(self) -> list[str]:
        """The findings of loading, as ``file:row:col: message`` lines in order."""
        lines = [
            (name or self.filename, span.row, span.column, f.text)
            for f, name, span in self.place(self.findings)
        ]
        return [f"{n}:{r}:{c}: {t}" for n, r, c, t in sorted(lines, key=lambda x: x[:3])]


def load_path(path: str | os.PathLike[str], *, templates: TemplateLookup | None = None) -> Loaded:
    """Read and decode one file. Raises :class:`FlowReadError` only when the file cannot
    be read at all; everything wrong *inside* it is a finding. ``templates``: where the
    templates it extends are (default: the ``templates`` folder beside it,
    ``flowctl.engine.template_files``)."""
    name = str(path)
    path = FsPath(path)
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            return Loaded(
                Source(name, ""),
                findings=[
                    Finding(
                        "FL006",
                        f"File is {size / 1024 / 1024:.1f} MiB; flows are limited to "
                        f"{MAX_FILE_BYTES // 1024 // 1024} MiB",
                    )
                ],
            )
        data = path.read_bytes()
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise FlowReadError(f"Cannot read `{name}`: {reason}") from None
    if templates is None:
        from flowctl.engine.template_files import TemplateFolders, template_folders

        templates = TemplateFolders(template_folders(path))
    loaded = load_bytes(data, name, stem=path.stem, templates=templates)
    named = loaded.template_id
    if named and valid_id(named) and named != path.stem:  # found by its file's name
        from flowctl.engine.extends import template_finding

        found = template_finding(
            "invalid-flow-template",
            ("template_id",),
            "file",
            file=path.name,
            template=loaded.template_id,
        )
        loaded.findings.append(found)
    return loaded


def load_bytes(
    data: bytes,
    filename: str,
    *,
    stem: str | None = None,
    templates: TemplateLookup | None = None,
) -> Loaded:
    """Decode a flow document from bytes; ``templates`` finds the templates it extends
    (None: none are at hand, and a document that extends one has a finding)."""
    source, raw, findings = parse_json(data, filename)
    loaded = Loaded(source, findings=findings)
    if raw is NOT_JSON:
        return loaded
    if not isinstance(raw, dict):
        findings.append(Finding("FL002", f"Expected `object`, got `{_json_type(raw)}`"))
        return loaded
    loaded.other = not_a_flow(raw)
    if is_template(raw):
        template_id = raw["template_id"]
        loaded.template_id = template_id if isinstance(template_id, str) else ""
        _resolve(loaded, raw, templates)
        return loaded
    loaded.seed001 = "agents" not in raw and ("agent_id" in raw or "prompt_config" in raw)
    target: type[Flow] | type[SingleAgentConfig] = SingleAgentConfig if loaded.seed001 else Flow
    if extends_of(raw) is not None and not loaded.seed001:
        _resolve(loaded, raw, templates, stem=stem)
        return loaded
    try:
        decoded: Flow | SingleAgentConfig = msgspec.convert(raw, target)
    except msgspec.ValidationError as exc:
        problems = check_shape(raw, target)
        if not problems:  # the walker missed something msgspec caught: report msgspec's
            message, _, where = str(exc).partition(" - at `")
            problems = [Finding("FL002", message, parse_path(where.rstrip("`")))]
        # paths of the document as written (a seed-001 config's own shape)
        findings.extend(msgspec.structs.replace(f, document=0) for f in problems)
        return loaded
    template_id = (
        decoded.prompt_config.template_id if isinstance(decoded, SingleAgentConfig) else None
    )
    if template_id is not None and valid_id(template_id):
        # Seed 001's `template_id`: the config extends the template of that id, where
        # there is one (elsewhere it names a prompt template flowctl does not know).
        assert isinstance(decoded, SingleAgentConfig)
        converted = msgspec.to_builtins(decoded.to_flow())
        converted["extends"] = template_id
        _resolve(loaded, converted, templates, stem=stem, optional=True)
        return loaded
    flow = decoded.to_flow() if isinstance(decoded, SingleAgentConfig) else decoded
    if flow.flow_id is None and stem is not None:
        flow = msgspec.structs.replace(flow, flow_id=stem)
    loaded.flow = flow
    return loaded


def _resolve(
    loaded: Loaded,
    raw: dict[str, Any],
    templates: TemplateLookup | None,
    *,
    stem: str | None = None,
    optional: bool = False,
) -> None:
    """Decode ``raw`` resolved with its templates into ``loaded``: shape problems of
    the resolved document are found where they were written."""
    resolution = resolve(loaded.source, raw, templates, optional=optional)
    findings = resolution.findings
    if loaded.seed001:  # resolved as the flow it converts to: its paths, in its own shape
        findings = [
            msgspec.structs.replace(f, path=loaded.source_path(f.path)) if f.document == 0 else f
            for f in findings
        ]
    loaded.findings.extend(findings)
    loaded.templates = resolution.sources[1:]
    loaded.origins = resolution.origins
    loaded.pin = resolution.pin
    loaded.resolved = resolution.raw
    checked = resolution.checked
    if checked is None:  # the chain could not be read: its findings say why
        return
    try:
        flow = msgspec.convert(checked, Flow)
    except msgspec.ValidationError as exc:
        problems = check_shape(checked, Flow)
        if not problems:
            message, _, where = str(exc).partition(" - at `")
            problems = [Finding("FL002", message, parse_path(where.rstrip("`")))]
        loaded.findings.extend(problems)
        return
    if flow.flow_id is None and stem is not None and not loaded.template:
        flow = msgspec.structs.replace(flow, flow_id=stem)
    loaded.flow = flow


class _NotJson:
    def __repr__(self) -> str:
        return "NOT_JSON"


# What :func:`parse_json` returns in place of a value when the text holds no JSON (a
# sentinel, since ``null`` is a JSON value).
NOT_JSON: Any = _NotJson()


def parse_json(
    data: bytes, filename: str, *, kind: str = "a flow"
) -> tuple[Source, Any, list[Finding]]:
    """The source text, the JSON value (``NOT_JSON`` when there is none) and the
    findings about the text itself (FL001, FL007, FL008), each at its row and column.
    ``kind`` names what the file should hold, for the message about an empty file.

    Shared by every JSON file flowctl reads with located errors: flows, tenants.
    """
    findings: list[Finding] = []
    if data.startswith(_BOM):
        findings.append(
            Finding("FL007", "File starts with a UTF-8 byte order mark; save it without one")
        )
        data = data[len(_BOM) :]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        prefix = data[: exc.start].decode("utf-8", errors="replace")
        source = Source(filename, prefix)
        findings.append(
            Finding(
                "FL001",
                f"File is not valid UTF-8 (byte 0x{data[exc.start]:02x})",
                position=source.position(len(prefix)),
            )
        )
        return source, NOT_JSON, findings
    source = Source(filename, text)
    if not text.strip():
        findings.append(Finding("FL001", f"File is empty; {kind} is a JSON object"))
        return source, NOT_JSON, findings
    duplicates: list[int] = []
    try:
        raw = json.loads(
            text, object_pairs_hook=_object(duplicates), parse_constant=_reject, parse_float=_float
        )
    except RecursionError:
        findings.append(Finding("FL001", "Invalid JSON: nested too deeply"))
        return source, NOT_JSON, findings
    except ValueError as exc:
        findings.append(_json_error(source, data, exc))
        return source, NOT_JSON, findings
    if _deeper_than(raw, MAX_DEPTH):
        findings.append(Finding("FL001", "Invalid JSON: nested too deeply"))
        return source, NOT_JSON, findings
    if "\\u" in text and (lone := _LONE_SURROGATE.search(text)):
        # The standard library decodes these into strings no file or terminal can hold.
        findings.append(
            Finding(
                "FL001",
                f"Invalid JSON: `{lone.group()}` is half of a surrogate pair",
                position=source.position(lone.start()),
            )
        )
        return source, NOT_JSON, findings
    if duplicates:
        findings.extend(_duplicate_keys(source))
    return source, raw, findings


T = TypeVar("T")


def read_config(
    path: FsPath, type_: type[T], kind: str, max_bytes: int, problems: list[str]
) -> tuple[Source, T] | None:
    """A small JSON file of the operator's (a tenant, the tool catalog) decoded into
    ``type_``, or None with every problem added to ``problems`` as
    ``file:row:col: message``."""
    try:
        size = path.stat().st_size
        if size > max_bytes:
            name = kind.split(" ", 1)[-1]
            problems.append(
                f"{path}: File is {size:,} bytes; {name} files are limited to "
                f"{max_bytes // 1024} KiB"
            )
            return None
        data = path.read_bytes()
    except OSError as exc:
        problems.append(f"Cannot read `{path}`: {exc.strerror or exc}")
        return None
    source, raw, findings = parse_json(data, str(path), kind=kind)
    if raw is not NOT_JSON and not isinstance(raw, dict):
        findings.append(Finding("FL002", f"Expected `object`, got `{_json_type(raw)}`"))
    elif raw is not NOT_JSON:
        try:
            value = msgspec.convert(raw, type_)
        except msgspec.ValidationError as exc:
            findings.extend(check_shape(raw, type_) or [Finding("FL002", str(exc))])
        else:
            if not findings:
                return source, value
    problems.extend(located(source, findings))
    return None


def located(source: Source, findings: list[Finding]) -> list[str]:
    """``file:row:col: message`` for each finding, in source order."""
    spans = source.locate((f.path, f.at_key) for f in findings if f.position is None)
    lines = []
    for f in findings:
        if f.position is not None:
            row, column = f.position
        else:
            span = spans[f.path, f.at_key]
            row, column = span.row, span.column
        lines.append((row, column, f"{source.filename}:{row}:{column}: {f.text}"))
    return [line for _, _, line in sorted(lines, key=lambda x: (x[0], x[1]))]


SCENARIO_FILE = "a scenario file"
JSON_SCHEMA = "a JSON Schema"


def not_a_flow(raw: dict[str, Any]) -> str | None:
    """What a JSON object is, when its content says it is not a flow: a scenario file (a
    top-level ``scenarios`` list) or a JSON Schema (``$schema``). Shell globs such as
    ``flows/*.json`` pass them to commands that take flows, so the name is not enough.
    A document with ``agents`` is a flow whatever else it holds (its stray keys are
    findings)."""
    if "agents" in raw or "agent_id" in raw:
        return None
    if isinstance(raw.get("scenarios"), list):
        return SCENARIO_FILE
    if "$schema" in raw:
        return JSON_SCHEMA
    return None


def is_flow_file(path: FsPath) -> bool:
    """Whether a file found in a folder is a flow: ``*.json``, except scenario files
    (``*.scenarios.json``), JSON Schemas (``*.schema.json``) and tenant files (any
    file in a folder named ``tenants``, see ``engine/tenants.py``)."""
    name = path.name
    return (
        name.endswith(".json")
        and not name.endswith(".scenarios.json")
        and not name.endswith(".schema.json")
        and path.parent.name != "tenants"
    )


def _object(duplicates: list[int]) -> Callable[[list[tuple[str, Any]]], dict[str, Any]]:
    """A ``json`` object hook that notes objects with a key given twice (the standard
    library and msgspec both keep the last silently, dropping the first value)."""

    def build(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        obj = dict(pairs)
        if len(obj) != len(pairs):
            duplicates.append(1)
        return obj

    return build


def _deeper_than(value: Any, limit: int) -> bool:
    """Whether ``value`` (decoded JSON) nests arrays and objects more than ``limit``
    levels deep; one look at each value, a level of containers at a time."""
    level = [value] if type(value) is dict or type(value) is list else []
    for _ in range(limit):
        children: list[Any] = []
        for container in level:
            children.extend(container.values() if type(container) is dict else container)
        level = [v for v in children if type(v) is dict or type(v) is list]
    return bool(level)


def _reject(constant: str) -> Any:
    raise ValueError(f"`{constant}` is not JSON")


def _float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise ValueError(f"number `{text}` is out of range")
    return value


_LONE_SURROGATE = re.compile(
    r"\\u[dD][89abAB][0-9a-fA-F]{2}(?!\\u[dD][c-fC-F][0-9a-fA-F]{2})"
    r"|(?<!\\u[dD][89abAB][0-9a-fA-F]{2})\\u[dD][c-fC-F][0-9a-fA-F]{2}"
)


def _duplicate_keys(source: Source) -> list[Finding]:
    """FL008 at every repeated key (rare: only scanned when the decoder saw one)."""
    seen: set[Path] = set()
    found: list[Finding] = []
    for path, _, _, ks, _ in _values(source.text):
        if ks < 0:
            continue
        if path in seen:
            found.append(
                Finding(
                    "FL008",
                    f"Duplicate key `{path[-1]}`: the earlier value is ignored",
                    path,
                    at_key=True,
                    position=source.position(ks),
                )
            )
        seen.add(path)
    return found


def _json_error(source: Source, data: bytes, error: ValueError) -> Finding:
    """A decode error as a finding at the offending character. msgspec words errors
    best ("trailing comma in object"), so it re-reads the document to say what is wrong;
    the standard library's message is the fallback."""
    try:
        msgspec.json.decode(data)
    except msgspec.ValidationError as exc:  # "Number out of range - at `$[...]`"
        reason = str(exc).partition(" - at ")[0]
        return Finding("FL001", f"Invalid JSON: {reason[:1].lower()}{reason[1:]}")
    except msgspec.DecodeError as exc:
        message = str(exc)
    except RecursionError:
        return Finding("FL001", "Invalid JSON: nested too deeply")
    else:
        message = ""
    if not message:  # only the standard library objects
        if isinstance(error, json.JSONDecodeError):
            reason = error.msg[:1].lower() + error.msg[1:]
            return Finding("FL001", f"Invalid JSON: {reason}", position=(error.lineno, error.colno))
        return Finding("FL001", f"Invalid JSON: {error}")
    reason = message.removeprefix("JSON is malformed: ")
    if "(byte " in reason:
        reason, _, rest = reason.rpartition(" (byte ")
        offset = int(rest.rstrip(")"))
        if reason == "trailing characters":  # msgspec points just past the first one
            offset = max(offset - 1, 0)
    else:  # "Input data was truncated"
        reason, offset = "unexpected end of file", len(data)
    chars = len(data[:offset].decode("utf-8", errors="replace"))
    return Finding("FL001", f"Invalid JSON: {reason}", position=source.position(chars))


# --- the shape walker -------------------------------------------------------------

_JSON_NAMES = {
    dict: "object",
    list: "array",
    str: "str",
    int: "int",
    float: "float",
    bool: "bool",
    type(None): "null",
}


def _json_type(value: Any) -> str:
    return _JSON_NAMES.get(type(value), type(value).__name__)


def _expected(t: mi.Type) -> str:
    if isinstance(t, mi.Metadata):
        return _expected(t.type)
    if isinstance(t, mi.UnionType):
        return " | ".join(dict.fromkeys(_expected(x) for x in t.types))
    if isinstance(t, mi.StructType | mi.DictType):
        return "object"
    if isinstance(t, mi.ListType):
        return "array"
    if isinstance(t, mi.LiteralType):  # strings, or numbers (a provider's sample rates)
        return " | ".join(dict.fromkeys(_json_type(v) for v in t.values))
    if isinstance(t, mi.NoneType):
        return "null"
    return {mi.StrType: "str", mi.IntType: "int", mi.FloatType: "float", mi.BoolType: "bool"}.get(
        type(t), "any"
    )


class _Problems(list[Finding]):
    """What the shape walker found, and its budget of did-you-mean suggestions (a
    document may hold thousands of unknown keys)."""

    def __init__(self) -> None:
        super().__init__()
        self.suggest = Suggester()


def check_shape(value: Any, t: type | mi.Type) -> list[Finding]:
    """Every shape problem of a raw JSON value against a spec type, as FL002-FL005."""
    out = _Problems()
    _check(value, t if isinstance(t, mi.Type) else mi.type_info(t), (), out)
    return out


def _check(value: Any, t: mi.Type, path: Path, out: _Problems) -> None:
    if isinstance(t, mi.Metadata):
        t = t.type
    if isinstance(t, mi.AnyType):
        return
    if isinstance(t, mi.UnionType):
        _check_union(value, t, path, out)
        return
    if isinstance(t, mi.StructType):
        _check_struct(value, t, path, out)
        return
    ok = _matches(value, t)
    if not ok:
        out.append(Finding("FL002", f"Expected `{_expected(t)}`, got `{_json_type(value)}`", path))
        return
    if isinstance(t, mi.LiteralType):
        if value not in t.values:
            allowed = ", ".join(f"`{v}`" for v in t.values)
            hint = out.suggest(str(value), [str(v) for v in t.values])
            out.append(
                Finding("FL005", f"Invalid value `{value}`: expected one of {allowed}{hint}", path)
            )
    elif isinstance(t, mi.ListType):
        _check_length(value, t, "array", path, out)
        for i, item in enumerate(value):
            _check(item, t.item_type, (*path, i), out)
    elif isinstance(t, mi.DictType):
        for key, item in value.items():
            _check(item, t.value_type, (*path, key), out)
    elif isinstance(t, mi.StrType):
        _check_length(value, t, "str", path, out)
        if t.pattern is not None and not re.search(t.pattern, value):
            out.append(Finding("FL005", f"Expected `str` matching regex {t.pattern!r}", path))
    elif isinstance(t, mi.IntType | mi.FloatType):
        kind = "int" if isinstance(t, mi.IntType) else "float"
        bounds: tuple[tuple[float | None, str, Callable[[float], bool]], ...] = (
            (t.ge, ">=", lambda b: value < b),
            (t.gt, ">", lambda b: value <= b),
            (t.le, "<=", lambda b: value > b),
            (t.lt, "<", lambda b: value >= b),
        )
        for bound, op, failed in bounds:
            if bound is not None and failed(bound):
                out.append(Finding("FL005", f"Expected `{kind}` {op} {bound}", path))
                break


def _matches(value: Any, t: mi.Type) -> bool:
    if isinstance(t, mi.LiteralType):
        return any(type(value) is type(v) for v in t.values)
    if isinstance(t, mi.StrType):
        return isinstance(value, str)
    if isinstance(t, mi.BoolType):
        return isinstance(value, bool)
    if isinstance(t, mi.IntType):
        return isinstance(value, int) and not isinstance(value, bool)
    if isinstance(t, mi.FloatType):
        return isinstance(value, int | float) and not isinstance(value, bool)
    if isinstance(t, mi.ListType):
        return isinstance(value, list)
    if isinstance(t, mi.DictType):
        return isinstance(value, dict)
    if isinstance(t, mi.NoneType):
        return value is None
    return True


def _check_length(value: Any, t: Any, kind: str, path: Path, out: _Problems) -> None:
    if t.min_length is not None and len(value) < t.min_length:
        out.append(Finding("FL005", f"Expected `{kind}` of length >= {t.min_length}", path))
    elif t.max_length is not None and len(value) > t.max_length:
        out.append(Finding("FL005", f"Expected `{kind}` of length <= {t.max_length}", path))


def _check_union(value: Any, t: mi.UnionType, path: Path, out: _Problems) -> None:
    types = [x.type if isinstance(x, mi.Metadata) else x for x in t.types]
    structs = [x for x in types if isinstance(x, mi.StructType)]
    if structs and isinstance(value, dict):
        if len(structs) == 1:
            _check_struct(value, structs[0], path, out)
            return
        # msgspec gives a union of several structs a tag field and every member a tag
        tag_field = str(structs[0].tag_field)
        tags = {str(s.tag): s for s in structs}
        tag = value.get(tag_field)
        if tag is None:
            out.append(Finding("FL003", f"Object missing required field `{tag_field}`", path))
        elif not isinstance(tag, str):
            out.append(
                Finding("FL002", f"Expected `str`, got `{_json_type(tag)}`", (*path, tag_field))
            )
        elif tag not in tags:
            allowed = ", ".join(f"`{k}`" for k in tags)
            hint = out.suggest(str(tag), list(tags))
            out.append(
                Finding(
                    "FL005",
                    f"Invalid value `{tag}`: expected one of {allowed}{hint}",
                    (*path, tag_field),
                )
            )
        else:
            _check_struct(value, tags[tag], path, out)
        return
    for candidate in types:
        if _matches(value, candidate) and not isinstance(candidate, mi.StructType):
            _check(value, candidate, path, out)
            return
    out.append(Finding("FL002", f"Expected `{_expected(t)}`, got `{_json_type(value)}`", path))


def _check_struct(value: Any, t: mi.StructType, path: Path, out: _Problems) -> None:
    if not isinstance(value, dict):
        out.append(Finding("FL002", f"Expected `object`, got `{_json_type(value)}`", path))
        return
    fields = {f.encode_name: f for f in t.fields}
    names = list(fields)
    for key in value:
        if key not in fields and key != t.tag_field:
            hint = out.suggest(key, names)
            out.append(
                Finding(
                    "FL004",
                    f"Object contains unknown field `{key}`{hint}",
                    (*path, key),
                    at_key=True,
                )
            )
    for name, f in fields.items():
        if name in value:
            _check(value[name], f.type, (*path, name), out)
        elif f.required:
            out.append(Finding("FL003", f"Object missing required field `{name}`", path))
