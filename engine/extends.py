"""Flows built on templates: a document that ``extends`` a template, resolved into the
flow it stands for.

A template is a flow document with a ``template_id``, in which every field is optional:
its states, edges, tools, variables and settings are what the flows extending it
start from, and its ``abstract`` block names what each of them must add (a state its
edges lead to, a tool its states use, a variable's value). An extending document
overrides by name: a state, edge, tool, global edge or variable of the template's name
is merged with it (its fields replace the template's, objects merged key by key, its
own edges again by name), anything else is added after the template's; ``remove``
takes parts out first (so removing a part and defining it again replaces it whole). A
template may extend another template, which its own version pins in the store.

Resolution is pure and bounded: templates come from a :class:`TemplateLookup` (a
folder: ``flowctl.engine.template_files``; the store: ``flowctl.engine.store.templates``,
which reads them ahead), a chain is at most :data:`MAX_TEMPLATE_DEPTH` templates deep,
never names a template twice, and its documents together hold at most
:data:`MAX_CHAIN_BYTES`. Merging reads each value once: its cost is linear in the
chain's size.

Every part of the resolved document remembers where it was written (:class:`Origins`),
so a finding about the resolved flow is reported in the file, and at the row and
column, that wrote the part it is about: the template's, or the flow's own.
"""

from __future__ import annotations

import gc
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Literal, Protocol

import msgspec

from flowctl.engine.findings import Finding
from flowctl.engine.source import Path, Source
from flowctl.engine.spec import TEMPLATE_ID, Abstract, Flow, Removal

__all__ = [
    "MAX_CHAIN_BYTES",
    "MAX_TEMPLATE_DEPTH",
    "STAND_IN",
    "Found",
    "Missing",
    "Origins",
    "Resolution",
    "TemplateLookup",
    "TemplateRef",
    "extends_of",
    "is_template",
    "resolve",
    "template_finding",
    "valid_id",
]

# Real templates are a few levels at most (a company's base, a vertical's, a branch's);
# a deeper chain is a mistake, or an attempt to make every resolution slow.
MAX_TEMPLATE_DEPTH = 5
# A flow with its templates: the limit of one flow file (flowctl.engine.load).
MAX_CHAIN_BYTES = 10 * 1024 * 1024
# The document index of the parts a template's lint adds in place of its abstract ones:
# no file wrote them, so nothing found in them is reported.
STAND_IN = -1

# The keys of a document that say how it is built, not what the flow holds: a flow's,
# and a template's.
_FLOW_HEAD = ("extends", "remove")
_TEMPLATE_HEAD = ("extends", "remove", "template_id", "abstract")
# What a template says about itself, not about the flows built on it.
_OWN = ("name", "description")
# Fields that name one flow: a template holding them would give every extension its id.
_ONE_FLOW = ("flow_id", "customer_id", "version")
_ID = re.compile(TEMPLATE_ID)
# A resolved document's keys in the order of the flow format's fields, the flow's own
# (`flow_id`, `name`...) before the template's states and tools.
_ORDER = tuple(f.encode_name for f in msgspec.structs.fields(Flow))


class TemplateRef(msgspec.Struct, frozen=True, kw_only=True):
    """A stored template version: the tenant's own, or the operator's shared one. A
    flow version (and a template version that extends another) pins the one it was
    resolved against."""

    template_id: str
    version: int
    shared: bool = False

    def __str__(self) -> str:
        return f"{'shared:' if self.shared else ''}{self.template_id}@v{self.version}"


class Found(msgspec.Struct, frozen=True, kw_only=True):
    """A template a lookup found: its text, the name findings in it are reported under
    (its file, or its stored version: ``shared:clinic_desk@v2``), and its stored
    version (None for a file)."""

    template_id: str
    data: bytes
    name: str
    ref: TemplateRef | None = None


class Missing(msgspec.Struct, frozen=True, kw_only=True):
    """Why a lookup found no template: ``unknown`` (``known``: the ids it has, for a
    did-you-mean), ``unpublished`` (a stored template with no published version) or
    ``unreadable`` (``reason``)."""

    kind: Literal["unknown", "unpublished", "unreadable"] = "unknown"
    known: tuple[str, ...] = ()
    reason: str = ""


class TemplateLookup(Protocol):
    """Finds the template ``template_id``, named at ``depth`` of a chain (1: by the
    document being resolved, 2: by its template...)."""

    def __call__(self, template_id: str, depth: int, /) -> Found | Missing: ...


def is_template(raw: Mapping[str, Any]) -> bool:
    """Whether a JSON object is a template: it has a ``template_id``."""
    return "template_id" in raw


def extends_of(raw: Mapping[str, Any]) -> str | None:
    """The template a document names: its ``extends``, or for a seed-001 single-agent
    config its ``prompt_config.template_id``. None when it names none (or not as a
    string: lint says so)."""
    value = raw.get("extends")
    if value is None and "agents" not in raw:
        prompt = raw.get("prompt_config")
        value = prompt.get("template_id") if isinstance(prompt, dict) else None
    return value if isinstance(value, str) else None


# --- where each part was written -------------------------------------------------------


class Origins:
    """Where the parts of a resolved document were written: a tree over its paths whose
    every node names a document of the chain (0: the one resolved, 1: its template...)
    and the path there. A path below the deepest node given lies in that node's
    document, as far below its path."""

    __slots__ = ("at", "children")

    def __init__(self, doc: int, path: Path, children: dict[str | int, Origins] | None = None):
        self.at = (doc, path)
        self.children = children or {}

    def child(self, key: str | int) -> Origins:
        """The node of ``key`` below this one (made from this one's place when the tree
        holds none)."""
        found = self.children.get(key)
        if found is not None:
            return found
        doc, path = self.at
        return Origins(doc, (*path, key))

    def find(self, path: Path) -> tuple[int, Path]:
        """The document, and the path in it, that wrote ``path`` of the resolved one."""
        node, rest = self, 0
        for i, key in enumerate(path):
            found = node.children.get(key)
            if found is None:
                break
            node, rest = found, i + 1
        doc, at = node.at
        return doc, (*at, *path[rest:])


# --- resolving -------------------------------------------------------------------------


class _Doc(msgspec.Struct):
    """One document of a chain as read: its text, value, name and stored version."""

    source: Source
    raw: dict[str, Any]
    ref: TemplateRef | None = None


class Resolution(msgspec.Struct):
    """A document resolved with its templates: the resolved value (None when the chain
    could not be read) and what is checked (for a template, the value with stand-ins
    for its abstract parts), where each part came from, the chain's documents
    (``sources[0]`` is the one resolved), the findings about the chain (each naming its
    ``document``) and the template the document was resolved against, as found."""

    raw: dict[str, Any] | None
    checked: dict[str, Any] | None
    origins: Origins
    sources: list[Source]
    findings: list[Finding]
    pin: TemplateRef | None = None


def resolve(
    source: Source,
    raw: dict[str, Any],
    lookup: TemplateLookup | None,
    *,
    optional: bool = False,
) -> Resolution:
    """``raw`` (the document in ``source``) with the templates it extends, found by
    ``lookup`` (None: no templates are at hand). A template is resolved as a template:
    its abstract parts stand in (:data:`STAND_IN`) so what it defines can be checked.
    ``optional``: a template that is not found is no problem (a seed-001 config's
    ``template_id`` extends a template only where there is one)."""
    with _gc_paused():
        out = _Chain(source, raw)
        out.check_head(0)
        out.walk(lookup, optional=optional)
        if out.failed:
            return Resolution(None, None, Origins(0, ()), out.sources(), out.findings)
        value, origins = out.merge()
        value = {**{k: value[k] for k in _ORDER if k in value}, **value}  # as flows are written
        checked = value
        if is_template(raw):
            checked, origins = out.stand_ins(value, origins)
        else:
            out.check_abstract(value)
        pin = out.docs[1].ref if len(out.docs) > 1 else None
        return Resolution(value, checked, origins, out.sources(), out.findings, pin)


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Merging allocates many small, acyclic objects (the documents' copies, their
    origins); the cyclic collector finds nothing to free in them, and on a wide chain
    its passes over the growing heap cost more than the merge (as lint's do,
    ``flowctl.engine.lint.runner``). Reference counting still frees everything."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def template_finding(
    rule: str, path: Path, kind: str = "", *, doc: int = 0, **fields: Any
) -> Finding:
    """A finding of the rule named ``rule`` (its code from the registry) in document
    ``doc``, its message written with ``fields``."""
    from flowctl.engine.lint.registry import RULES, code_of, violation

    finding = RULES[code_of(rule)].finding(violation(path, kind, **fields))
    return msgspec.structs.replace(finding, document=doc)


class _Head(msgspec.Struct, frozen=True, kw_only=True):
    """The keys that say how a document is built, for checking their shape."""

    extends: str | None = None
    remove: Removal | None = None
    template_id: str | None = None
    abstract: Abstract | None = None


class _Chain:
    """The documents of one resolution, walked, checked and merged."""

    def __init__(self, source: Source, raw: dict[str, Any]) -> None:
        self.docs = [_Doc(source, raw)]
        self.heads: list[_Head] = []
        self.findings: list[Finding] = []
        self.failed = False
        self.size = len(source.text.encode())

    def sources(self) -> list[Source]:
        return [d.source for d in self.docs]

    def check_head(self, k: int) -> None:
        """Shape-check document ``k``'s head keys (FL002-FL005, FL701 and FL705 for a
        malformed id); a bad one fails the resolution, as a flow that does not decode
        does. A template's fields that name one flow are FL705 (and left out)."""
        from flowctl.engine.load import check_shape

        raw = self.docs[k].raw
        keys = _TEMPLATE_HEAD if is_template(raw) else _FLOW_HEAD
        head = {key: raw[key] for key in keys if key in raw}
        problems = check_shape(head, _Head)
        for key in ("extends", "template_id"):
            value = head.get(key)
            if isinstance(value, str) and not valid_id(value):
                rule = "unknown-template" if key == "extends" else "invalid-flow-template"
                problems.append(template_finding(rule, (key,), "not_an_id", id=value))
        if problems:
            self.findings.extend(msgspec.structs.replace(f, document=k) for f in problems)
            self.failed = True
            self.heads.append(_Head())
            return
        self.heads.append(msgspec.convert(head, _Head))
        if is_template(raw):
            for key in _ONE_FLOW:
                if key in raw:
                    self.findings.append(
                        template_finding(
                            "invalid-flow-template", (key,), "one_flow", doc=k, field=key
                        )
                    )
        elif "remove" in raw and "extends" not in raw and extends_of(raw) is None:
            self.findings.append(
                template_finding("unknown-removal", ("remove",), "no_template", doc=k)
            )

    def walk(self, lookup: TemplateLookup | None, *, optional: bool) -> None:
        """Read the templates the documents extend, one after another, until one names
        none, or a limit or a missing template stops the walk (a finding, and a failed
        resolution)."""
        if self.failed:
            return
        root = self.docs[0].raw
        wanted = extends_of(root)
        names = [str(root["template_id"])] if is_template(root) else []
        while wanted is not None:
            k = len(self.docs) - 1  # the document naming it
            trail = " → ".join(f"`{n}`" for n in (*names, wanted))
            if wanted in names:
                self._fail("template-chain", ("extends",), "cycle", k, chain=trail)
                return
            if len(self.docs) > MAX_TEMPLATE_DEPTH:
                self._fail(
                    "template-chain",
                    ("extends",),
                    "deep",
                    k,
                    chain=trail,
                    limit=MAX_TEMPLATE_DEPTH,
                )
                return
            found = lookup(wanted, k + 1) if lookup is not None else Missing()
            if isinstance(found, Missing):
                if not (optional and k == 0):
                    self._missing(wanted, found, k)
                return
            if not self._read(found, k + 1, wanted):
                return
            names.append(wanted)
            wanted = extends_of(self.docs[-1].raw)

    def _fail(self, rule: str, path: Path, kind: str, k: int, **fields: Any) -> None:
        self.findings.append(template_finding(rule, path, kind, doc=k, **fields))
        self.failed = True

    def _missing(self, wanted: str, found: Missing, k: int) -> None:
        from flowctl.engine.findings import did_you_mean

        hint = did_you_mean(wanted, found.known) if found.known else ""
        self._fail(
            "unknown-template",
            ("extends",),
            found.kind,
            k,
            template=wanted,
            hint=hint,
            reason=found.reason,
        )

    def _read(self, found: Found, k: int, wanted: str) -> bool:
        """Add the template ``found`` as document ``k``; False (with findings) when it
        cannot be used."""
        from flowctl.engine.load import NOT_JSON, parse_json

        self.size += len(found.data)
        if self.size > MAX_CHAIN_BYTES:
            mib, rest = divmod(MAX_CHAIN_BYTES, 1024 * 1024)
            limit = f"{MAX_CHAIN_BYTES:,} bytes" if rest else f"{mib} MiB"
            self._fail("template-chain", ("extends",), "large", k - 1, template=wanted, limit=limit)
            return False
        source, raw, problems = parse_json(found.data, found.name, kind="a template")
        self.docs.append(_Doc(source, raw if isinstance(raw, dict) else {}, found.ref))
        self.findings.extend(msgspec.structs.replace(f, document=k) for f in problems)
        if raw is NOT_JSON:
            self.failed = True
            return False
        if not isinstance(raw, dict) or not is_template(raw):
            self._fail("unknown-template", ("extends",), "not_template", k - 1, template=wanted)
            return False
        if raw["template_id"] != wanted:  # a file named for another template
            file = found.name.replace("\\", "/").rsplit("/", 1)[-1]
            template = raw["template_id"]
            self._fail(
                "invalid-flow-template", ("template_id",), "file", k, file=file, template=template
            )
            return False
        self.check_head(k)
        return not self.failed

    # --- merging --------------------------------------------------------------------

    def merge(self) -> tuple[dict[str, Any], Origins]:
        """The chain merged, deepest template first: each document's ``remove`` taken
        out of what its templates hold, then its own parts merged in."""
        last = len(self.docs) - 1
        value, origins = self._content(last), Origins(last, ())
        for k in range(last - 1, -1, -1):
            removal = self.heads[k].remove
            if removal is not None:
                value, origins = self._remove(value, origins, removal, k)
            value, origins = _merge(value, origins, self._content(k), k, (), _TOP)
        return value, origins

    def _content(self, k: int) -> dict[str, Any]:
        """What document ``k`` gives the flow: not its head keys; for a template, not
        the fields that name one flow (FL705), nor, when it is another's template, its
        own name and description."""
        raw = self.docs[k].raw
        if not is_template(raw):
            return {key: v for key, v in raw.items() if key not in _FLOW_HEAD}
        left_out = (*_TEMPLATE_HEAD, *_ONE_FLOW, *(_OWN if k else ()))
        return {key: v for key, v in raw.items() if key not in left_out}

    def _remove(
        self, value: dict[str, Any], origins: Origins, removal: Removal, k: int
    ) -> tuple[dict[str, Any], Origins]:
        """``value`` without what document ``k`` removes; a name it does not hold is a
        finding at the name."""
        template = self.docs[k + 1].raw.get("template_id", "")
        value = dict(value)
        origins = Origins(*origins.at, dict(origins.children))
        for field, kind in (("agents", "state"), ("tools", "tool"), ("global_edges", "edge")):
            names: list[str] = getattr(removal, field)
            if not names:
                continue
            kept, node, gone = _without(value.get(field), origins.child(field), names)
            if field in value:
                value[field], origins.children[field] = kept, node
            self._unknown_removals(names, gone, (field,), kind, template, k, value.get(field))
        variables = value.get("variables")
        held = variables if isinstance(variables, dict) else {}
        if removal.variables and held:
            gone = set(removal.variables)
            value["variables"] = {n: v for n, v in held.items() if n not in gone}
        for i, name in enumerate(removal.variables):
            if name not in held:
                self._unknown(("remove", "variables", i), "variable", name, template, k, list(held))
        if removal.edges:
            self._remove_edges(value, origins, removal.edges, template, k)
        return value, origins

    def _remove_edges(
        self,
        value: dict[str, Any],
        origins: Origins,
        removal: dict[str, list[str]],
        template: str,
        k: int,
    ) -> None:
        """Take out of ``value`` (a copy: changed in place, with ``origins``) the edges
        ``removal`` names, state by state; the states' list is copied once."""
        agents = value.get("agents")
        index = _index(agents)
        if isinstance(agents, list):
            agents = value["agents"] = list(agents)
            node = origins.child("agents")
            node = origins.children["agents"] = Origins(*node.at, dict(node.children))
        for state_name, edges in removal.items():
            if state_name not in index:
                at: Path = ("remove", "edges", state_name)
                known = list(index)
                self._unknown(
                    at, "state", state_name, template, k, known, at_key=True, where=" with edges"
                )
                continue
            assert isinstance(agents, list)
            i = index[state_name]
            state_node = node.child(i)
            held = agents[i].get("edges")
            kept, edges_node, gone = _without(held, state_node.child("edges"), edges)
            if isinstance(held, list):  # a state with no edges keeps none
                agents[i] = {**agents[i], "edges": kept}
                children = {**state_node.children, "edges": edges_node}
                node.children[i] = Origins(*state_node.at, children)
            self._unknown_removals(
                edges, gone, ("edges", state_name), "edge", template, k, kept, owner=state_name
            )

    def _unknown_removals(
        self,
        names: list[str],
        gone: set[str],
        field: Path,
        kind: str,
        template: str,
        k: int,
        items: Any,
        owner: str | None = None,
    ) -> None:
        known = list(_index(items))
        for i, name in enumerate(names):
            if name not in gone:
                self._unknown(("remove", *field, i), kind, name, template, k, known, owner=owner)

    def _unknown(
        self,
        path: Path,
        kind: str,
        name: str,
        template: str,
        k: int,
        known: list[str],
        *,
        at_key: bool = False,
        owner: str | None = None,
        where: str = "",
    ) -> None:
        from flowctl.engine.findings import did_you_mean
        from flowctl.engine.lint.registry import RULES, code_of, violation

        where = f" in state `{owner}`" if owner else where
        v = violation(
            path,
            at_key=at_key,
            what=kind,
            name=name,
            template=template,
            where=where,
            hint=did_you_mean(name, known),
        )
        finding = RULES[code_of("unknown-removal")].finding(v)
        self.findings.append(msgspec.structs.replace(finding, document=k))

    # --- abstract parts ---------------------------------------------------------------

    def abstract(self) -> Iterator[tuple[int, str, str, str]]:
        """Every abstract part the chain's templates declare: (document, kind, name,
        what it is for); a part declared by several, once (the deepest's)."""
        seen: set[tuple[str, str]] = set()
        for k in range(len(self.docs) - 1, -1, -1):
            abstract = self.heads[k].abstract
            if abstract is None:
                continue
            for kind, parts in (
                ("agents", abstract.agents),
                ("tools", abstract.tools),
                ("variables", abstract.variables),
            ):
                for name, what in parts.items():
                    if (kind, name) not in seen:
                        seen.add((kind, name))
                        yield k, kind, name, what

    def check_abstract(self, value: dict[str, Any]) -> None:
        """FL703 at the flow's ``extends`` for each abstract part it leaves undefined."""
        if len(self.docs) == 1:
            return
        states, tools = _index(value.get("agents")), _index(value.get("tools"))
        variables = value.get("variables")
        variables = variables if isinstance(variables, dict) else {}
        for k, kind, name, what in self.abstract():
            template = self.docs[k].raw.get("template_id", "")
            if kind == "agents" and name not in states:
                self._missing_part("state", name, what, template)
            elif kind == "tools" and name not in tools:
                self._missing_part("tool", name, what, template)
            elif kind == "variables":
                variable = variables.get(name)
                given = isinstance(variable, dict) and (
                    variable.get("default") is not None or variable.get("input") is True
                )
                if not given:
                    self._missing_part("variable", name, what, template)

    def _missing_part(self, kind: str, name: str, what: str, template: str) -> None:
        self.findings.append(
            template_finding(
                "missing-abstract",
                ("extends",),
                kind,
                doc=0,
                name=name,
                what=f" ({what})" if what else "",
                template=template,
            )
        )

    def stand_ins(self, value: dict[str, Any], origins: Origins) -> tuple[dict[str, Any], Origins]:
        """A template resolved for its lint: each abstract state and tool it leaves to
        its extensions stands in as the least an extension could write (a state that
        ends on hang-up, a mock tool), so what the template defines checks against
        them; a template with no state at all gets one. Its own declarations are
        checked here (FL705)."""
        value = dict(value)
        origins = Origins(*origins.at, dict(origins.children))
        states = _index(value.get("agents"))
        tools = _index(value.get("tools"))
        variables = value.get("variables")
        variables = variables if isinstance(variables, dict) else {}
        added: dict[str, list[Any]] = {"agents": [], "tools": []}
        for k, kind, name, what in self.abstract():
            if kind == "agents":
                if name in states:
                    if k == 0:
                        self._declared(("abstract", "agents", name), "defined", "state", name)
                    continue
                added["agents"].append(
                    {"name": name, "instructions": what or name, "ends_on_hangup": True}
                )
            elif kind == "tools":
                if name in tools:
                    if k == 0:
                        self._declared(("abstract", "tools", name), "defined", "tool", name)
                    continue
                added["tools"].append({"kind": "mock", "name": name, "description": what})
            elif name not in variables and k == 0:
                self._declared(("abstract", "variables", name), "undeclared", "variable", name)
        if not states and not added["agents"]:
            added["agents"].append(
                {"name": "(extension)", "instructions": "", "ends_on_hangup": True}
            )
        for field, items in added.items():
            if not items:
                continue
            current = value.get(field)
            current = current if isinstance(current, list) else []
            node = origins.child(field)
            node = Origins(*node.at, dict(node.children))
            for i in range(len(current), len(current) + len(items)):
                node.children[i] = Origins(STAND_IN, ())
            value[field] = [*current, *items]
            origins.children[field] = node
        return value, origins

    def _declared(self, path: Path, kind: str, what: str, name: str) -> None:
        self.findings.append(
            template_finding("invalid-flow-template", path, kind, doc=0, what=what, name=name)
        )


def valid_id(value: str) -> bool:
    """Whether ``value`` can be a template's id."""
    return _ID.match(value) is not None


def _index(items: Any) -> dict[str, int]:
    """Name to index (the first of a name) of a list of named objects."""
    index: dict[str, int] = {}
    if isinstance(items, list):
        for i, item in enumerate(items):
            if isinstance(item, dict) and isinstance(item.get("name"), str):
                index.setdefault(item["name"], i)
    return index


def _without(items: Any, node: Origins, names: list[str]) -> tuple[Any, Origins, set[str]]:
    """A named list without the items of ``names``, its origins renumbered, and the
    names it held."""
    if not isinstance(items, list):
        return items, node, set()
    wanted = set(names)
    kept: list[Any] = []
    out = Origins(*node.at)
    gone: set[str] = set()
    for i, item in enumerate(items):
        name = item.get("name") if isinstance(item, dict) else None
        if isinstance(name, str) and name in wanted:
            gone.add(name)
            continue
        out.children[len(kept)] = node.child(i)
        kept.append(item)
    return kept, out, gone


# How to merge what lies below a key: its named lists (merged by `name`, each with the
# named lists of its items, and the key of the field whose change replaces an item
# whole instead of merging into it: a tool of another `kind`).
class _Named(msgspec.Struct, frozen=True):
    inner: Mapping[str, _Named] = {}
    tag: str | None = None


_TOP: Mapping[str, _Named] = {
    "agents": _Named(inner={"edges": _Named()}),
    "tools": _Named(tag="kind"),
    "global_edges": _Named(),
}


def _merge(
    base: dict[str, Any],
    origins: Origins,
    over: dict[str, Any],
    k: int,
    at: Path,
    named: Mapping[str, _Named],
) -> tuple[dict[str, Any], Origins]:
    """``over`` (document ``k``'s object at ``at``) merged into ``base`` (whose origins
    are ``origins``): a key of both is merged when both are objects (or named lists),
    else ``over``'s value replaces ``base``'s."""
    value: dict[str, Any] = {}
    node = Origins(k, at)
    for key, old in base.items():
        if key not in over:
            value[key] = old
            node.children[key] = origins.child(key)
            continue
        new = over[key]
        spec = named.get(key)
        if spec is not None and isinstance(old, list) and isinstance(new, list):
            value[key], node.children[key] = _merge_named(
                old, origins.child(key), new, k, (*at, key), spec
            )
        elif isinstance(old, dict) and isinstance(new, dict) and spec is None:
            value[key], node.children[key] = _merge(old, origins.child(key), new, k, (*at, key), {})
        else:
            value[key] = new
    for key, new in over.items():
        if key not in base:
            value[key] = new
    return value, node


def _merge_named(
    base: list[Any], origins: Origins, over: list[Any], k: int, at: Path, spec: _Named
) -> tuple[list[Any], Origins]:
    """A named list: each item of ``over`` merged into ``base``'s item of its name (or
    replacing it when ``spec.tag`` differs), the others added after ``base``'s."""
    by_name = _index(over)
    value: list[Any] = []
    node = Origins(k, at)
    used: set[int] = set()
    for i, old in enumerate(base):
        name = old.get("name") if isinstance(old, dict) else None
        j = by_name.get(name) if isinstance(name, str) else None
        if j is None:
            node.children[len(value)] = origins.child(i)
            value.append(old)
            continue
        used.add(j)
        new = over[j]
        tag = spec.tag
        if tag is not None and tag in new and new.get(tag) != old.get(tag):
            node.children[len(value)] = Origins(k, (*at, j))
            value.append(new)
            continue
        merged, merged_node = _merge(old, origins.child(i), new, k, (*at, j), spec.inner)
        node.children[len(value)] = merged_node
        value.append(merged)
    for j, new in enumerate(over):
        if j not in used:
            node.children[len(value)] = Origins(k, (*at, j))
            value.append(new)
    return value, node
