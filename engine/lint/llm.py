"""The LLM-limit rules (FL4xx): what LLM APIs and models need — valid function names,
few enough tools, descriptions that let the model choose, prompts within budget."""

from __future__ import annotations

import re
from collections.abc import Iterator

from flowctl.engine.lint.context import FlowContext, Function
from flowctl.engine.lint.registry import Violation, rule, violation
from flowctl.engine.lint.text import jaccard, normalize, tokens_in, words

FUNCTION_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
PARAMETER_NAME = re.compile(r"^(?!__)[A-Za-z_][A-Za-z0-9_]{0,63}$")
MAX_FUNCTIONS = 128  # OpenAI's limit on tools per request
MIN_DESCRIPTION = 20  # characters; "Transfer to billing" is 19 and says too little
SIMILAR = 0.8  # share of words in common at which two descriptions read as the same
DEFAULT_PROMPT_TOKENS = 6000


@rule("invalid-function-name")
def invalid_function_name(ctx: FlowContext) -> Iterator[Violation]:
    """
    ## What it does
    Reports an edge or tool name that does not match `^[a-zA-Z0-9_-]{1,64}$`, the
    function-name rule of the OpenAI, Anthropic and Gemini APIs.

    ## Why it matters
    The request that offers the function fails, and the call with it.

    ## Example
    ```json
    {"name": "transfer to billing", "target_agent": "Billing"}
    ```

    ## Instead
    ```json
    {"name": "transfer_to_billing", "target_agent": "Billing"}
    ```
    """
    names = [(e.name, (*p, "name")) for _, e, p in ctx.edges()]
    names += [(t.name, ("tools", k, "name")) for k, t in enumerate(ctx.flow.tools)]
    for name, path in names:
        if not FUNCTION_NAME.match(name):
            yield violation(path, function=name)


@rule("too-many-functions")
def too_many_functions(ctx: FlowContext) -> Iterator[Violation]:
    """
    ## What it does
    Reports a state whose edges, global edges and tools add up to more than 128
    functions.

    ## Why it matters
    OpenAI rejects requests with more than 128 tools; long before that, models choose
    worse among many functions.

    ## Instead
    Split the state into states with fewer, more specific edges.
    """
    for i, state in enumerate(ctx.flow.agents):
        count = ctx.function_count(i)
        if count > MAX_FUNCTIONS:
            yield violation(
                ("agents", i, "name"), state=state.name, count=count, limit=MAX_FUNCTIONS
            )


@rule("missing-description")
def missing_description(ctx: FlowContext) -> Iterator[Violation]:
    """
    ## What it does
    Reports an edge or a tool definition without a `description`. An edge with a
    `when` condition and no description is automatic (it fires by itself when the
    condition holds) and needs none.

    ## Why it matters
    The description is the only thing the model reads to decide when to call a
    function. Without one, the edge is taken at random or never.

    ## Example
    ```json
    {"name": "to_billing", "target_agent": "Billing"}
    ```

    ## Instead
    ```json
    {"name": "to_billing", "target_agent": "Billing",
     "description": "The caller asks about an invoice, a charge or a refund"}
    ```
    """
    for _, edge, path in ctx.edges():
        if not edge.description.strip() and edge.when is None:
            yield violation(path, "edge", edge=edge.name)
    for k, tool in enumerate(ctx.flow.tools):
        if not tool.description.strip():
            yield violation(("tools", k), "tool", tool=tool.name)


@rule("short-description")
def short_description(ctx: FlowContext) -> Iterator[Violation]:
    """
    ## What it does
    Reports a description shorter than 20 characters.

    ## Why it matters
    "Billing" tells the model what the edge is, not *when* to take it. Say when:
    "The caller asks about an invoice, a charge or a refund".
    """
    items = [(e.name, e.description, (*p, "description")) for _, e, p in ctx.edges()]
    items += [
        (t.name, t.description, ("tools", k, "description")) for k, t in enumerate(ctx.flow.tools)
    ]
    for name, description, path in items:
        text = description.strip()
        if text and len(text) < MIN_DESCRIPTION:
            yield violation(path, function=name, length=len(text), minimum=MIN_DESCRIPTION)


@rule("ambiguous-edges")
def ambiguous_edges(ctx: FlowContext) -> Iterator[Violation]:
    """
    ## What it does
    Reports two functions offered in the same state (global edges included) whose
    descriptions are nearly identical (80% or more of their distinct words in common,
    ignoring case and punctuation), or that list the same example phrase (an edge's or
    a tool's).

    ## Why it matters
    The model cannot tell them apart, so which edge fires is a coin toss; the
    offline model cannot either.

    ## Example
    ```json
    {"edges": [{"name": "to_billing", "description": "The caller has a billing question"},
               {"name": "to_payments", "description": "The caller has a billing question!"}]}
    ```

    ## Instead
    Say what distinguishes them, or merge them.
    """
    cache: dict[str, frozenset[str]] = {}  # a tool listed in many states: one description

    def word_set(text: str) -> frozenset[str]:
        found = cache.get(text)
        if found is None:
            found = cache[text] = words(text)
        return found

    keys: dict[str, str] = {}

    def key(example: str) -> str:
        found = keys.get(example)
        if found is None:
            found = keys[example] = normalize(example)
        return found

    seen: set[str] = set()
    repeated: set[str] = set()
    for phrases in [e.phrases() for _, e, _ in ctx.edges()] + [t.phrases() for t in ctx.flow.tools]:
        for k in {key(x.text) for x in phrases}:
            (repeated if k in seen else seen).add(k)
    repeated.discard("")

    def first_listing(functions: list[Function]) -> dict[str, int]:
        """The index of the first of ``functions`` listing each example phrase seen more
        than once in the flow."""
        first: dict[str, int] = {}
        for j, f in enumerate(functions):
            for example in f.examples:
                if key(example) in repeated:
                    first.setdefault(key(example), j)
        return first

    globals_ = ctx.functions_global()
    globals_first = first_listing(globals_) if repeated else {}

    def compare(functions: list[Function], where: str, fresh: int) -> Iterator[Violation]:
        """Findings for pairs of ``functions`` whose later member is at or after index
        ``fresh`` (the first ``fresh`` are the global edges, compared among themselves
        once), each function reported once, against the first earlier one it
        resembles."""
        sets = [word_set(f.description) for f in functions]
        # The first function listing each example phrase that is in the flow more than
        # once: a global edge's, else one of this group's own.
        shared_with: dict[int, tuple[int, str]] = {}
        if repeated:
            own_first = first_listing(functions[fresh:])
            shared_first = globals_first if fresh else {}
            for j in range(fresh, len(functions)):
                f = functions[j]
                for example in f.examples:
                    k = shared_first.get(key(example))
                    if k is None:
                        k = fresh + own_first.get(key(example), j - fresh)
                    if k != j and functions[k].name != f.name:
                        shared_with.setdefault(j, (k, example))
        for j in range(max(fresh, 1), len(functions)):
            b = functions[j]
            for k in range(j):
                a = functions[k]
                score = 0.0 if a.name == b.name else jaccard(sets[k], sets[j])
                if score >= SIMILAR:
                    path = (*b.path, "description")
                    yield violation(
                        path, "descriptions", first=a.name, second=b.name, where=where, score=score
                    )
                    break
            else:
                if j in shared_with:
                    k, example = shared_with[j]
                    path = (*b.examples_at, b.examples.index(example))
                    first = functions[k].name
                    yield violation(
                        path, "example", first=first, second=b.name, where=where, example=example
                    )

    # The global edges among themselves once; then each state's own functions against
    # the global edges and each other. A state over the function limit is FL402's: its
    # pairs would only repeat that (and more global edges than the limit are over it in
    # every state that offers them). So no group is longer than the limit, and the
    # pairs cost at most the limit times the size of the flow.
    if len(globals_) <= MAX_FUNCTIONS:
        yield from compare(globals_, "in `global_edges`", 0)
    for i, state in enumerate(ctx.flow.agents):
        own = ctx.own_functions(i)
        shared = [] if state.end else globals_
        if len(shared) + len(own) < 2 or not own or len(shared) + len(own) > MAX_FUNCTIONS:
            continue
        yield from compare(shared + own, f"in state `{state.name}`", len(shared))


@rule("prompt-too-long")
def prompt_too_long(ctx: FlowContext) -> Iterator[Violation]:
    """
    ## What it does
    Estimates each state's prompt (instructions, greeting, and the names and
    descriptions of its functions) at about four characters a token, and reports one
    over the budget: 6,000 tokens, or `lint.max_prompt_tokens`.

    ## Why it matters
    Every turn pays for the whole prompt in latency and cost, and on a voice call
    latency is what the caller hears. Long prompts also dilute the instructions.

    ## Instead
    Move reference material behind a tool, or split the state.
    """
    budget = ctx.config.max_prompt_tokens or DEFAULT_PROMPT_TOKENS

    def chars(functions: list[Function]) -> int:
        return sum(len(f.name) + 1 + len(f.description) for f in functions)  # "name description"

    shared = chars(ctx.functions_global())  # counted once, not copied into every state
    persona = len(ctx.flow.instructions)  # the flow's instructions open every prompt
    for i, state in enumerate(ctx.flow.agents):
        size = persona + len(state.instructions) + len(state.on_enter_prompt or "")
        size += chars(ctx.own_functions(i)) + (0 if state.end else shared)
        tokens = tokens_in(size)
        if tokens > budget:
            path = ("agents", i, "instructions")
            yield violation(path, state=state.name, tokens=tokens, budget=budget)


@rule("invalid-parameter-name")
def invalid_parameter_name(ctx: FlowContext) -> Iterator[Violation]:
    """
    ## What it does
    Reports a parameter of an edge or tool whose name is not an identifier of at most
    64 characters (`^[A-Za-z_][A-Za-z0-9_]{0,63}$`).

    ## Why it matters
    Parameters become variables, read in templates as `{{name}}`; LLM APIs also
    restrict property names.

    ## Example
    ```json
    {"parameters": {"preferred day": {"type": "str"}}}
    ```

    ## Instead
    ```json
    {"parameters": {"preferred_day": {"type": "str"}}}
    ```
    """
    places = [(e.parameters, p) for _, e, p in ctx.edges()]
    places += [(t.parameters, ("tools", k)) for k, t in enumerate(ctx.flow.tools)]
    for params, path in places:
        for name in params:
            if not PARAMETER_NAME.match(name):
                yield violation((*path, "parameters", name), at_key=True, parameter=name)
