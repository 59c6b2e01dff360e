"""The rule registry: the one place a rule's code is written.

Like ruff's ``codes.rs``, the table below binds each rule's code to its name, severity,
summary and message templates. A check (``@rule("unknown-target")``, in the module of
its range) reports what it found as a :class:`Violation` (a path and the fields its
message needs) and never names a code: the runner turns a violation into a
:class:`~flowctl.engine.findings.Finding` under the code of the rule that produced it.
A rule's documentation is its check's docstring (``flowctl rules CODE``,
``docs/rules.md``); the document-level rules (FL0xx), whose findings the loader
reports, get theirs from :func:`declare`.

A rule with several messages keys them by the kind of problem (``violation(path, "global",
edge=...)``); a rule with one message uses the key ``""``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

import msgspec

from flowctl.engine.findings import Finding, Severity
from flowctl.engine.source import Path

if TYPE_CHECKING:
    from flowctl.engine.lint.context import FlowContext

__all__ = [
    "INTERNAL_ERROR",
    "LINT_SETTING",
    "PROTECTED_PREFIX",
    "RULES",
    "SECTIONS",
    "WHOLE_FLOW",
    "Check",
    "Rule",
    "Violation",
    "declare",
    "rule",
    "violation",
]


class Violation(msgspec.Struct, frozen=True):
    """What a check found: where, which of its rule's messages (``kind``) and the
    fields that message is written with. ``at_key`` and ``position`` locate it as on
    :class:`~flowctl.engine.findings.Finding`."""

    path: Path
    fields: dict[str, Any]
    kind: str = ""
    at_key: bool = False
    position: tuple[int, int] | None = None
    document: int | None = None


def violation(
    path: Path,
    kind: str = "",
    /,
    *,
    at_key: bool = False,
    position: tuple[int, int] | None = None,
    document: int | None = None,
    **fields: Any,
) -> Violation:
    """A violation at ``path``: ``violation(path, "global", edge="end_call")``;
    ``document``, as on :class:`~flowctl.engine.findings.Finding`."""
    return Violation(path, fields, kind, at_key, position, document)


Check = Callable[["FlowContext"], Iterable[Violation]]


class Rule(msgspec.Struct, frozen=True):
    code: str
    name: str
    severity: Severity
    summary: str
    doc: str
    messages: Mapping[str, str]  # kind of problem -> message template (str.format)
    check: Check | None = None

    @property
    def url(self) -> str:
        return f"docs/rules.md#{self.code.lower()}-{self.name}"

    def finding(self, v: Violation) -> Finding:
        """``v`` as a finding of this rule: its code, its message written out."""
        message = self.messages[v.kind].format_map(v.fields)
        return Finding(self.code, message, v.path, v.at_key, v.position, v.document)

    def run(self, ctx: FlowContext) -> list[Finding]:
        """This rule's findings on one flow (it must have a check)."""
        assert self.check is not None
        return [self.finding(v) for v in self.check(ctx)]


E, W = Severity.ERROR, Severity.WARNING
Messages = str | dict[str, str]

RULES: dict[str, Rule] = {}
SECTIONS: dict[str, str] = {}  # code prefix -> the title of its range in docs/rules.md
_BY_NAME: dict[str, str] = {}


def _section(prefix: str, title: str, rows: list[tuple[str, str, Severity, str, Messages]]) -> None:
    SECTIONS[prefix] = title
    for code, name, severity, summary, messages in rows:
        if code in RULES or name in _BY_NAME or not code.startswith(prefix):
            raise ValueError(f"rule {code} {name} is misplaced or registered twice")
        templates = {"": messages} if isinstance(messages, str) else messages
        RULES[code] = Rule(code, name, severity, summary, "", templates)
        _BY_NAME[name] = code


# Rules the runner treats apart. A crash report is never filtered out; a flow's own
# `lint.ignore` cannot silence the rule that checks `lint.ignore`; and a tenant's flow
# cannot silence the security rules: the operator's boundary is not the tenant's to
# switch off (engine/boundary.py).
INTERNAL_ERROR = "FL000"
LINT_SETTING = "FL009"
PROTECTED_PREFIX = "FL5"

_section(
    "FL0",
    "Document",
    [
        (
            "FL000",
            "internal-error",
            E,
            "A rule crashed on this flow",
            "Rule {rule} ({name}) crashed: {error}; please report this",
        ),
        # FL001-FL008: the loader (flowctl.engine.load) writes their messages.
        ("FL001", "invalid-json", E, "The file is not a JSON document", {}),
        ("FL002", "wrong-type", E, "A value has the wrong JSON type", {}),
        ("FL003", "missing-field", E, "A required field is missing", {}),
        ("FL004", "unknown-field", E, "An object has a field the format does not define", {}),
        ("FL005", "invalid-value", E, "A value is outside what the field accepts", {}),
        ("FL006", "file-too-large", E, "The file is over the 10 MiB limit", {}),
        ("FL007", "byte-order-mark", W, "The file starts with a UTF-8 byte order mark", {}),
        ("FL008", "duplicate-key", E, "An object has the same key twice", {}),
        (
            "FL009",
            "invalid-lint-setting",
            E,
            "A flow's `lint.ignore` names no rule",
            {
                "empty": "Empty rule selector in `lint.ignore`",
                "unknown": "`{selector}` in `lint.ignore` names no rule",
            },
        ),
        # FL010-FL014: provider blocks against flowctl.engine.providers' table.
        (
            "FL010",
            "unknown-provider",
            E,
            "A provider block names a provider flowctl does not run",
            "Unknown `{block}` provider `{provider}`{hint}",
        ),
        (
            "FL011",
            "unknown-provider-option",
            E,
            "A provider's `options` has an option it does not take",
            "Unknown option `{option}` of `{block}` provider `{provider}`{hint}",
        ),
        (
            "FL012",
            "invalid-provider-option",
            E,
            "A provider option has the wrong type or is out of range",
            "Option `{option}` of `{block}` provider `{provider}`: {problem}",
        ),
        (
            "FL013",
            "ignored-provider-setting",
            W,
            "A provider block sets a field its provider does not use",
            "`{block}` provider `{provider}` does not use `{field}`; it reads {used}",
        ),
        (
            "FL014",
            "unsupported-structured-output",
            E,
            "A state answers in structured output its model's provider cannot give",
            "`llm` provider `{provider}` cannot answer in the structured output of state "
            "`{state}`{more}; use `openai` or `groq` there",
        ),
    ],
)

_section(
    "FL1",
    "References",
    [
        (
            "FL101",
            "duplicate-state",
            E,
            "Two states share a name",
            "Duplicate state `{state}` (first defined at `$.agents[{first}]`)",
        ),
        (
            "FL102",
            "unknown-target",
            E,
            "An edge targets a state that does not exist",
            "Unknown agent `{target}`{hint}",
        ),
        (
            "FL103",
            "duplicate-edge",
            E,
            "Two edges offered in one state share a name",
            {
                "global": "Duplicate global edge `{edge}`",
                "in_state": "Duplicate edge `{edge}` in state `{state}`",
                "repeats_global": "Edge `{edge}` of state `{state}` repeats a global edge",
            },
        ),
        (
            "FL104",
            "unknown-tool",
            E,
            "A tool is referenced but never defined",
            "Unknown tool `{tool}`{hint}",
        ),
        (
            "FL105",
            "unknown-start",
            E,
            "`start` names no state",
            "Unknown start state `{start}`{hint}",
        ),
        (
            "FL106",
            "duplicate-tool",
            E,
            "Two tool definitions share a name",
            "Duplicate tool `{tool}`",
        ),
        (
            "FL107",
            "name-collision",
            E,
            "Two functions of one state share a name",
            {
                "edge_name": "Tool `{tool}` has the name of an edge of state `{state}`",
                "listed_twice": "Tool `{tool}` is listed twice in state `{state}`",
            },
        ),
        (
            "FL108",
            "missing-target",
            E,
            "A handoff edge has no `target_agent`",
            "Handoff edge `{edge}` has no `target_agent`",
        ),
        (
            "FL109",
            "unknown-builtin",
            E,
            "A builtin tool names no builtin",
            "Tool `{tool}` is not a builtin; set `builtin` to one of {allowed}",
        ),
        (
            "FL110",
            "unknown-catalog-tool",
            E,
            "A catalog tool names no entry of the tool catalog",
            {
                "no_catalog": "Tool `{tool}` is a catalog tool, but no tool catalog is loaded; "
                "pass the operator's catalog with `--tools FILE`",
                "unknown": "Unknown catalog tool `{entry}`{hint}",
                "parameters": "Catalog tool `{tool}` takes its parameters from the catalog; "
                "remove `parameters`",
            },
        ),
        (
            "FL111",
            "unknown-scope-state",
            E,
            "A global edge's `only_in`/`except_in` names no state",
            "Global edge `{edge}` lists unknown state `{state}` in `{field}`{hint}",
        ),
        (
            "FL112",
            "edge-offered-nowhere",
            W,
            "A global edge's scope leaves it in no state, or is given twice",
            {
                "both": "Global edge `{edge}` has both `only_in` and `except_in`; give one",
                "nowhere": "Global edge `{edge}` is offered in no state: its `{field}` leaves "
                "out every state that is not an end",
            },
        ),
        (
            "FL113",
            "too-many-scoped-edges",
            E,
            "More global edges are scoped than a state can offer",
            "The flow scopes {count} global edges with `only_in`/`except_in`; a state offers "
            "at most {limit} functions, so no more than {limit} may be scoped",
        ),
        # FL114-FL115: what the flow says of its sessions (flowctl.engine.lint.sessions).
        (
            "FL114",
            "invalid-evaluation",
            E,
            "The evaluation names a state, variable or output field that does not exist",
            {
                "state": "Goal `{goal}` names unknown state `{name}`{hint}",
                "variable": "Goal `{goal}` names undeclared variable `{name}`{hint}",
                "output": "Goal `{goal}` names `{name}`, which is no output field of the "
                "flow{hint}",
                "required": "`required` names undeclared variable `{name}`{hint}",
                "shape": "Goal `{goal}` must name one of `state`, `variable` and `output` "
                "(found {found})",
                "duplicate": "Duplicate goal `{goal}`",
            },
        ),
        (
            "FL115",
            "invalid-overridable",
            E,
            "`overridable` lists a variable that does not exist, or a value twice",
            {
                "variable": "`overridable.variables` names undeclared variable `{name}`{hint}",
                "duplicate": "`overridable.{field}` lists `{name}` twice",
            },
        ),
        # FL116: a knowledge tool's base (flowctl.engine.lint.boundary).
        (
            "FL116",
            "unknown-knowledge-base",
            W,
            "A knowledge tool reads a base the tenant has no documents in",
            {
                "missing": "Knowledge base `{base}` of tool `{tool}` has no documents for "
                "tenant `{tenant}`; add them with `flowctl knowledge add -t {tenant} {base} "
                "FILE...`",
                "similar": "Knowledge base `{base}` of tool `{tool}` has no documents for "
                "tenant `{tenant}`{hint}",
            },
        ),
    ],
)

_section(
    "FL2",
    "Graph",
    [
        (
            "FL201",
            "unreachable-state",
            W,
            "No path from the start reaches a state",
            "State `{state}` is unreachable from the start state `{start}`",
        ),
        (
            "FL202",
            "no-path-to-end",
            W,
            "A state can never reach an end",
            "State `{state}` cannot reach an end: no path leads to a terminal state or to "
            "`end_call`/`transfer_call`",
        ),
        (
            "FL203",
            "no-terminal-state",
            W,
            "No state ends the conversation",
            'No state ends the conversation: mark one `"end": true` or offer `end_call`',
        ),
        (
            "FL204",
            "cycle-without-exit",
            E,
            "States form a cycle the conversation cannot leave",
            {
                "loop": "State {states} only leads back to itself: it can never reach an end",
                "cycle": "States {states} form a cycle with no exit: none of them can reach an end",
            },
        ),
        (
            "FL205",
            "terminal-with-edges",
            W,
            "A terminal state has edges or tools",
            "Terminal state `{state}` has {what}; they are never offered",
        ),
        (
            "FL206",
            "dead-air",
            W,
            "A transition enters a state that says nothing",
            "`{edge}` enters `{state}` in silence: the edge has no `say`, and `{state}` has "
            "no `on_enter_prompt` and no `on_enter` turn, so the caller hears nothing",
        ),
        (
            "FL207",
            "entry-action-can-stick",
            E,
            "An action on entry can fail in a state that then offers nothing",
            "Action `{tool}` on entering `{state}` has no `on_error` or `default`, and "
            "`{state}` offers the model nothing and no automatic edge that can fire without "
            "its result: if it fails, the call is stuck",
        ),
    ],
)

_section(
    "FL3",
    "Variables",
    [
        (
            "FL301",
            "undeclared-variable",
            E,
            "A variable is used but never declared",
            "Undeclared variable `{variable}`{hint}",
        ),
        (
            "FL302",
            "variable-maybe-unset",
            W,
            "A variable may be read before it is set",
            {
                "edge": "Variable `{variable}` may be unset when edge `{edge}` fires; add it "
                "to the edge's `parameters` or `requires`, or write `{{{{{variable} | ...}}}}`",
                "state": "Variable `{variable}` may be unset when state `{state}` is entered; "
                "set it on every edge into the state or list it in their `requires`, or "
                "write `{{{{{variable} | ...}}}}`",
            },
        ),
        (
            "FL303",
            "unused-variable",
            W,
            "A declared variable is never used",
            "Variable `{variable}` is declared but never used",
        ),
        (
            "FL304",
            "variable-type-mismatch",
            E,
            "A variable's type disagrees with its use",
            {
                "default_type": "Default `{value}` of variable `{variable}` is not of type "
                "`{type}`",
                "default_enum": "Default `{value}` of variable `{variable}` is not one of its "
                "`enum` values",
                "parameter": "Parameter `{parameter}` is `{type}` but variable `{variable}` "
                "is declared `{declared}`",
            },
        ),
        (
            "FL305",
            "enum-without-values",
            E,
            "An `enum` has no values, or values without `enum`",
            {
                "no_values": "{item} `{name}` is an `enum` with no values",
                "not_enum": "{item} `{name}` lists `enum` values but its type is `{type}`",
            },
        ),
        (
            "FL306",
            "variable-never-set",
            W,
            "A variable is read but nothing sets it",
            "Variable `{variable}` is read but nothing sets it: give it a `default`, mark it "
            "`input`, or set it from an edge or a tool",
        ),
        (
            "FL307",
            "invalid-template",
            E,
            "A `{{...}}` placeholder is malformed",
            "Invalid template: {error}",
        ),
        (
            "FL308",
            "invalid-condition",
            E,
            "An edge's `when` condition is malformed or ill-typed",
            {
                "syntax": "Invalid condition: {error}",
                "types": "Condition of `{edge}`: {problem}",
            },
        ),
        (
            "FL309",
            "parameter-type-conflict",
            E,
            "Two parameters set one variable with different types",
            {
                "type": "Parameter `{parameter}` of `{edge}` sets `{variable}` as `{type}`, but "
                "`{other}` sets it as `{other_type}`; map one to another variable with "
                "`variable`, or make it `local`",
                "enum": "Parameter `{parameter}` of `{edge}` sets `{variable}` to other `enum` "
                "values than `{other}` does; map one to another variable with `variable`, or "
                "make it `local`",
            },
        ),
        (
            "FL310",
            "invalid-state-write",
            E,
            "An edge writes a variable it cannot",
            {
                "undeclared": "Edge `{edge}` writes undeclared variable `{variable}`{hint}",
                "set_type": "Edge `{edge}` sets `{variable}` to `{value}`, which is not of its "
                "type `{type}`",
                "set_enum": "Edge `{edge}` sets `{variable}` to `{value}`, which is not one of "
                "its `enum` values",
                "not_list": "Edge `{edge}` appends to `{variable}`, which is `{type}`, not a list",
                "no_source": "Edge `{edge}` appends `{source}`, which is neither a parameter of "
                "the edge nor a variable",
                "item_type": "Edge `{edge}` appends `{source}` (`{source_type}`) to `{variable}` "
                "(`{type}`)",
                "twice": "Edge `{edge}` writes `{variable}` more than once",
            },
        ),
        (
            "FL311",
            "invalid-template-logic",
            E,
            "A template's `{{#if}}` block or `:formatter` is malformed or ill-typed",
            {
                "block": "Invalid template block: {error}",
                "condition": "Condition `{condition}` of an `{{{{#if}}}}`: {error}",
                "formatter": "Unknown formatter `{formatter}` in `{placeholder}`{hint}",
                "argument": "Formatter `{formatter}` in `{placeholder}` takes {expected}, "
                "not `{argument}`",
                "type": "Formatter `{formatter}` in `{placeholder}` formats {accepts}, but "
                "`{variable}` is `{type}`",
                "url": "An http tool's `url` cannot choose with `{{{{#if}}}}`: give each URL "
                "its own tool, or pass the choice as an argument",
            },
        ),
        (
            "FL312",
            "invalid-memory",
            E,
            "The `memory` block remembers what cannot be remembered",
            {
                "undeclared": "`memory.remember` names undeclared variable `{variable}`{hint}",
                "twice": "`memory.remember` names `{variable}` more than once",
                "never_set": "Variable `{variable}` is remembered but nothing in the flow sets "
                "it: set it from an edge, a tool or the session's `input`, or stop remembering it",
            },
        ),
        (
            "FL313",
            "memory-never-shown",
            W,
            "What the `memory` block keeps never reaches a later call",
            {
                "summary": "`memory.summary` is written but never shown: set "
                "`memory.into_instructions` to show it to the model, or drop the summary",
                "empty": "`memory` keeps nothing: list variables in `remember`, or add a `summary`",
            },
        ),
    ],
)

_section(
    "FL4",
    "LLM limits",
    [
        (
            "FL401",
            "invalid-function-name",
            E,
            "A function name LLM APIs reject",
            "Function name `{function}` must match `^[a-zA-Z0-9_-]{{1,64}}$`",
        ),
        (
            "FL402",
            "too-many-functions",
            E,
            "A state offers more than 128 functions",
            "State `{state}` offers {count} functions; the limit is {limit}",
        ),
        (
            "FL403",
            "missing-description",
            E,
            "An edge or tool has no description",
            {
                "edge": "Edge `{edge}` has no description",
                "tool": "Tool `{tool}` has no description",
            },
        ),
        (
            "FL404",
            "short-description",
            W,
            "An edge or tool description is too short",
            "Description of `{function}` is {length} characters; say when to call it in at "
            "least {minimum}",
        ),
        (
            "FL405",
            "ambiguous-edges",
            W,
            "Two functions of one state read alike",
            {
                "descriptions": "`{first}` and `{second}` {where} have near-identical "
                "descriptions ({score:.0%} alike); say what sets them apart",
                "example": "`{first}` and `{second}` {where} share the example `{example}`",
            },
        ),
        (
            "FL406",
            "prompt-too-long",
            W,
            "A state's prompt is over the token budget",
            "Prompt of state `{state}` is about {tokens} tokens; the budget is {budget}",
        ),
        (
            "FL407",
            "invalid-parameter-name",
            E,
            "A parameter name is not an identifier",
            "Parameter name `{parameter}` must be an identifier (letters, digits, `_`)",
        ),
        (
            "FL408",
            "invalid-parameter-constraints",
            E,
            "A parameter's constraints are invalid or contradict",
            {
                "cannot_have": "Parameter `{parameter}` of type `{type}` cannot have "
                "`{constraint}`",
                "empty_range": "Parameter `{parameter}` can hold no value: `minimum` {minimum:g} "
                "is above `maximum` {maximum:g}",
                "empty_length": "Parameter `{parameter}` can hold no value: `min_length` "
                "{min_length} is above `max_length` {max_length}",
                "bad_pattern": "Parameter `{parameter}` has an invalid `pattern`: {error}",
                "slow_pattern": "The `pattern` of parameter `{parameter}` {problem}",
                "no_properties": "Parameter `{parameter}` is `{type}` but lists no `properties`",
                "required_default": "Parameter `{parameter}` is required, so its `default` is "
                'never used; make it `"required": false`',
                "default": "Default `{value}` of parameter `{parameter}` is invalid: {error}",
                "local_variable": "Parameter `{parameter}` is `local` but names the variable "
                "`{variable}`",
                "not_edge": "Parameter `{parameter}` of tool `{tool}` cannot have `{constraint}`: "
                "only an edge's parameters set variables",
            },
        ),
        (
            "FL409",
            "guard-reveals-literal",
            W,
            "A refused edge would tell the model the text its condition compares with",
            "Edge `{edge}` compares with {literals}; a refusal quoting its condition would tell "
            "the model, so give the edge a `refusal`",
        ),
        (
            "FL410",
            "invalid-example-arguments",
            E,
            "An example's arguments do not fit its edge's or tool's parameters",
            {
                "unknown": "`{function}` has no parameter `{argument}`{hint}",
                "invalid": "Argument `{argument}` of an example of `{function}` is invalid: "
                "{error}",
            },
        ),
    ],
)

_section(
    "FL5",
    "Security",
    [
        (
            "FL501",
            "hardcoded-secret",
            E,
            "A secret (API key, token, private key) is in the flow",
            "This looks like {what} (`{redacted}`); keep secrets in the environment and "
            "reference them as `${{NAME}}`",
        ),
        (
            "FL502",
            "prompt-injection",
            E,
            "Authored text contains a prompt-injection phrase",
            "Prompt-injection phrase `{phrase}` in authored text",
        ),
        (
            "FL503",
            "insecure-url",
            E,
            "An http tool calls a URL that is not https",
            {
                "no_scheme": "URL `{url}` of tool `{tool}` must start with `https://`",
                "variable_host": "The host of `{url}` must be written out, not taken from a "
                "variable",
                "plain_http": "Tool `{tool}` calls `{url}`; use `https://`",
            },
        ),
        (
            "FL504",
            "host-not-allowed",
            E,
            "An http tool calls a host outside `lint.allowed_hosts`",
            "Host `{host}` of tool `{tool}` is not in `lint.allowed_hosts`",
        ),
        (
            "FL505",
            "prohibited-keyword",
            E,
            "Authored text contains a prohibited keyword",
            {
                "long": "Prohibited keyword of {chars:,} characters: keywords are checked up "
                "to {limit}",
                "many": "`lint.prohibited_keywords` lists {count:,} keywords; the first "
                "{limit} are checked",
                "found": "Prohibited keyword `{keyword}` in authored text",
            },
        ),
        (
            "FL506",
            "literal-credential",
            E,
            "A credential is written literally instead of referenced",
            {
                "header": "Header `{header}` of tool `{tool}` holds a literal value; reference "
                "the environment instead, e.g. `${{CRM_TOKEN}}`",
                "api_key_env": "`api_key_env` must name an environment variable (like "
                "`OPENAI_API_KEY`), not hold the key",
            },
        ),
        (
            "FL507",
            "python-in-tenant-flow",
            E,
            "A tenant's flow imports a Python function",
            "Tool `{tool}` imports `{function}`: a tenant's flow runs Python only from the "
            'operator\'s catalog; use `"kind": "catalog"` with a tool granted to tenant '
            "`{tenant}`",
        ),
        (
            "FL508",
            "tool-not-granted",
            E,
            "A tenant's flow uses a catalog tool not granted to it",
            "Catalog tool `{entry}` is not granted to tenant `{tenant}`; the operator grants "
            "tools with `flowctl tenants policy {tenant} --grant-tool {entry}`",
        ),
        (
            "FL509",
            "secret-not-set",
            W,
            "A tenant's flow names a secret the tenant does not have",
            "`{secret}` names no secret of tenant `{tenant}`; set it with `flowctl secrets set "
            "-t {tenant} {secret}` (tenant flows never read the environment)",
        ),
        (
            "FL510",
            "endpoint-without-key",
            E,
            "A tenant's flow sends a provider's requests to its own endpoint without its own key",
            "`base_url` `{base_url}` needs `api_key_env` naming a secret of tenant `{tenant}`: "
            "the operator's key only goes to the operator's endpoint",
        ),
        (
            "FL511",
            "egress-not-granted",
            E,
            "A tenant's http tool calls a host not granted to it",
            {
                "not_https": "Tool `{tool}` calls `{url}`; a tenant's tools call `https://` URLs",
                "address": "Host `{host}` of tool `{tool}` is not on the egress allowlist of "
                "tenant `{tenant}`; tenants call hosts by name, never by address",
                "host": "Host `{host}` of tool `{tool}` is not on the egress allowlist of "
                "tenant `{tenant}`; the operator grants hosts with `flowctl tenants policy "
                "{tenant} --allow-host {host}`",
            },
        ),
        (
            "FL512",
            "transfer-without-destination",
            E,
            "`transfer_call` is offered with nowhere to transfer to",
            "`{tool}` has no `transfer_to`: name the number or SIP URI it transfers to (or a "
            "list the model chooses from)",
        ),
        (
            "FL513",
            "transfer-not-granted",
            E,
            "A tenant's flow transfers to a destination not granted to it",
            "`{tool}` transfers to `{destination}`, which tenant `{tenant}` may not call; the "
            "operator grants destinations with `flowctl tenants policy {tenant} "
            "--allow-transfer {destination}`",
        ),
    ],
)

_section(
    "FL6",
    "Output schema",
    [
        (
            "FL601",
            "invalid-field-name",
            E,
            "An output field name is not a usable identifier",
            {
                "not_identifier": "Field name `{field}` is not an identifier (letters, digits, "
                "`_`; not starting with a digit)",
                "keyword": "Field name `{field}` is a Python keyword",
            },
        ),
        (
            "FL602",
            "unsupported-field-type",
            E,
            "An output field type is outside the whitelist",
            {
                "suggest": "Unsupported field type `{type}`{hint}",
                "allowed": "Unsupported field type `{type}`; allowed: {allowed}",
            },
        ),
        (
            "FL603",
            "empty-enum",
            E,
            "An enum output field has no values",
            {
                "no_values": "Enum field `{field}` has no values",
                "repeated": "Enum field `{field}` lists `{value}` twice",
            },
        ),
        (
            "FL604",
            "contradictory-constraints",
            E,
            "An output field's constraints contradict",
            {
                "enum_not_enum": "Field `{field}` lists `enum` values but its type is `{type}`",
                "cannot_have": "Field `{field}` of type `{type}` cannot have `{constraint}`",
                "slow_pattern": "The `pattern` of field `{field}` {problem}",
                "bad_pattern": "Field `{field}` has an invalid `pattern`: {error}",
                "empty_range": "Field `{field}` can hold no value: it must be {low_op} {low:g} "
                "and {high_op} {high:g}",
                "empty_length": "Field `{field}` can hold no value: `min_length` {min_length} "
                "is above `max_length` {max_length}",
                "default_type": "Default `{value}` of field `{field}` is not of type `{type}`",
                "default_enum": "Default `{value}` of field `{field}` is not one of its `enum` "
                "values",
                "default_range": "Default `{value}` of field `{field}` is outside its constraints",
            },
        ),
        (
            "FL605",
            "duplicate-field",
            E,
            "Two output fields share a name",
            "Duplicate output field `{field}`",
        ),
        (
            "FL606",
            "unknown-speech-field",
            E,
            "The fields to speak or to steer the voice are missing",
            {
                "many_spoken": "Fields {fields} are all marked `use_in_tts`; mark one",
                "no_spoken": "No field to speak: add `system_response` or mark a field "
                "`use_in_tts`",
                "spoken_not_str": "Spoken field `{field}` must be a `str`",
                "instruction_missing": "`instruction_field` names `{field}`, which is not an "
                "output field of {owner}",
                "instruction_not_str": "`instruction_field` names `{field}`, a `{type}`; it "
                "must be a `str`",
            },
        ),
    ],
)


_section(
    "FL7",
    "Templates",
    [
        # FL701-FL705: resolving a flow with its templates (flowctl.engine.extends)
        # finds them; each is reported in the document that causes it.
        (
            "FL701",
            "unknown-template",
            E,
            "`extends` names no template the flow can use",
            {
                "unknown": "Unknown template `{template}`{hint}",
                "unpublished": "Template `{template}` has no published version; publish one "
                "with `flowctl store templates publish {template} VERSION`",
                "unreadable": "Cannot read template `{template}`: {reason}",
                "not_template": "`{template}` is not a template: it has no `template_id`",
                "not_an_id": "`{id}` is not a template id: 1-128 letters, digits, `_`, `.` "
                "or `-`, starting with a letter or digit",
            },
        ),
        (
            "FL702",
            "template-chain",
            E,
            "Templates extend each other in a loop, too deep, or past the size limit",
            {
                "cycle": "Templates extend each other in a loop: {chain}",
                "deep": "Templates extend each other more than {limit} deep: {chain}",
                "large": "The flow and its templates are over {limit} together "
                "(reading template `{template}`)",
            },
        ),
        (
            "FL703",
            "missing-abstract",
            E,
            "A flow does not define a part its template leaves abstract",
            {
                "state": "Template `{template}` leaves state `{name}`{what} to the flow: "
                "define it in `agents`",
                "tool": "Template `{template}` leaves tool `{name}`{what} to the flow: "
                "define it in `tools`",
                "variable": "Template `{template}` leaves the value of variable `{name}`{what} "
                "to the flow: give it a `default` in `variables`, or mark it `input`",
            },
        ),
        (
            "FL704",
            "unknown-removal",
            E,
            "`remove` names something the template does not hold",
            {
                "": "Template `{template}` has no {what} `{name}`{where} to remove{hint}",
                "no_template": "`remove` takes parts out of a template, and this flow extends "
                "none; add `extends`",
            },
        ),
        (
            "FL705",
            "invalid-flow-template",
            E,
            "A template sets what only a flow can, or declares an abstract part wrongly",
            {
                "one_flow": "A template cannot set `{field}`: it names one flow; set it in "
                "the flows that extend the template",
                "defined": "Abstract {what} `{name}` is defined in the template; an abstract "
                "part is left to the flows that extend it",
                "undeclared": "Abstract variable `{name}` is not declared in `variables`; "
                "declare its type there",
                "file": "`{file}` holds template `{template}`; templates are found by file "
                "name: name it `{template}.json`",
                "not_an_id": "`{id}` is not a template id: 1-128 letters, digits, `_`, `.` "
                "or `-`, starting with a letter or digit",
            },
        ),
    ],
)


def _document(name: str, doc: str, check: Check | None) -> None:
    code = _BY_NAME.get(name)
    if code is None:
        raise ValueError(f"no rule named `{name}` in the registry")
    if RULES[code].doc:
        raise ValueError(f"rule {code} ({name}) documented twice")
    RULES[code] = msgspec.structs.replace(RULES[code], doc=inspect.cleandoc(doc), check=check)


def code_of(name: str) -> str:
    """The code of the rule named ``name`` (``"unknown-target"`` -> ``"FL102"``): code
    outside lint names a rule by its name and reads the code here."""
    return _BY_NAME[name]


# Rules compiling cannot do without, so a flow's `lint.ignore` does not silence them for
# `compile_flow`: there would be no machine to build (an edge to nowhere, a tool that
# does not exist, a condition that does not parse...).
STRUCTURAL = frozenset(
    code_of(name)
    for name in (
        "duplicate-state",
        "unknown-target",
        "duplicate-edge",
        "unknown-tool",
        "unknown-start",
        "duplicate-tool",
        "missing-target",
        "unknown-builtin",
        "invalid-condition",
        "invalid-function-name",
        "invalid-parameter-name",
        "too-many-scoped-edges",
    )
)


# Rules whose verdict needs the whole flow: its graph, or every use and write of a
# variable. A template is linted without them (the flows extending it are linted with
# them, with their own parts in place of the template's abstract ones).
WHOLE_FLOW = frozenset(
    code_of(name)
    for name in (
        "unreachable-state",
        "no-path-to-end",
        "no-terminal-state",
        "cycle-without-exit",
        "dead-air",
        "entry-action-can-stick",
        "variable-maybe-unset",
        "unused-variable",
        "variable-never-set",
        "edge-offered-nowhere",
    )
)


def declare(name: str, doc: str) -> None:
    """Document a rule whose findings come from elsewhere (the loader)."""
    _document(name, doc, None)


def rule(name: str) -> Callable[[Check], Check]:
    """Bind ``check`` to the rule named ``name``; its docstring is the rule's doc."""

    def decorate(check: Check) -> Check:
        _document(name, check.__doc__ or "", check)
        return check

    return decorate
