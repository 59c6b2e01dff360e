"""The flow document as msgspec structs.

A flow is one customer's conversation: a list of *states* (the seed's ``agents``: a
persona with instructions, a greeting and tools) joined by *edges* (``handoff`` to
another state, or ``action``: run a tool, then stay or move). The structs are the single
source of truth for the format: the loader decodes into them, ``flowctl schema`` prints
their JSON Schema, and ``docs/flow-format.md`` documents them field by field.

The seed-000 ``CustomerSchema`` document decodes unchanged into :class:`Flow`. The
seed-001 single-agent document (``agent_id``, ``prompt_config``, ``schema_config``...)
decodes into :class:`SingleAgentConfig` and becomes a one-state flow through
:meth:`SingleAgentConfig.to_flow`.

The structs check *shape* (types, required fields, unknown fields, value ranges). Rules
that need the whole document — a target naming no state, a function name the LLM
would reject, an output type outside the whitelist — are lint rules, so they can be
reported all at once, with stable codes, instead of stopping at the first.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, get_args

import msgspec
from msgspec import Meta

from flowctl.engine.builtins import BUILTIN_TOOLS, BuiltinName
from flowctl.engine.knowledge.names import NAME_PATTERN

__all__ = [
    "BUILTIN_TOOLS",
    "FIELD_TYPES",
    "TEMPLATE_ID",
    "VARIABLE_TYPES",
    "Abstract",
    "BuiltinTool",
    "CatalogTool",
    "Constraints",
    "Context",
    "Edge",
    "EntryAction",
    "Evaluation",
    "Example",
    "FieldMetadata",
    "Flow",
    "GlobalEdge",
    "Goal",
    "HttpTool",
    "KnowledgeTool",
    "LLMConfig",
    "LintConfig",
    "Memory",
    "MemorySummary",
    "MockTool",
    "OnEnter",
    "Output",
    "OutputField",
    "Overridable",
    "Parameter",
    "PromptConfig",
    "PythonTool",
    "Removal",
    "STTConfig",
    "SchemaConfig",
    "SingleAgentConfig",
    "State",
    "TTSConfig",
    "Template",
    "TenantConfig",
    "Tool",
    "TracingConfig",
    "VADConfig",
    "Variable",
    "fits",
]


class _Spec(
    msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, omit_defaults=True
):
    """Decoding policy shared by every flow type.

    ``frozen``: a decoded flow is a value; a compiled flow shares it between sessions.
    ``kw_only``: fields are named in the document, never positional (msgspec does not
    inherit this one: a subclass with a required field after optional ones repeats it).
    ``forbid_unknown_fields``: a typo such as ``instuctions`` must be an error (with a
    did-you-mean from lint), not a silently ignored key that leaves a state without
    instructions.
    ``omit_defaults``: an encoded flow (a version's content hash, the text lint scans
    for secrets) holds what was written, not every default.
    """


def _doc(text: str) -> Meta:
    """A field's description: shown in the JSON Schema, so editors show it on hover."""
    return Meta(description=text)


Name = Annotated[str, Meta(min_length=1, max_length=256)]
Text = Annotated[str, Meta(max_length=100_000)]
Seconds = Annotated[float, Meta(gt=0, le=300)]

VariableType = Literal[
    "str", "int", "float", "bool", "list[str]", "list[int]", "enum", "object", "list[object]"
]
VARIABLE_TYPES: tuple[str, ...] = get_args(VariableType)

# Output field types are a plain string checked by lint (FL602) against this whitelist,
# so a wrong type gets a did-you-mean and a rule doc instead of a bare decode error.
FIELD_TYPES: tuple[str, ...] = (
    "str",
    "int",
    "float",
    "bool",
    "list[str]",
    "list[int]",
    "list[float]",
    "enum",
)


# The Python type of a JSON value of each variable, parameter or output type (of each
# item, for a list type).
_PYTHON_TYPES: dict[str, type | tuple[type, ...]] = {
    "str": str,
    "enum": str,
    "int": int,
    "float": (int, float),
    "bool": bool,
    "list[str]": str,
    "list[int]": int,
    "list[float]": (int, float),
    "object": dict,
    "list[object]": dict,
}


def fits(value: Any, kind: str) -> bool:
    """Whether a JSON value (a default, say) has the type named ``kind`` (a variable,
    parameter or output field type). JSON's booleans are not numbers here."""
    expected = _PYTHON_TYPES[kind]
    if kind.startswith("list["):
        return isinstance(value, list) and all(
            isinstance(v, expected) and not isinstance(v, bool) for v in value
        )
    return isinstance(value, expected) and (kind == "bool" or not isinstance(value, bool))


# --- variables and parameters ------------------------------------------------------


class Variable(_Spec, frozen=True):
    """A typed conversation variable (seed 001's ``dynamic_vars``), read in templates as
    ``{{name}}`` and set by edge parameters, tool results or the session's input."""

    type: Annotated[VariableType, _doc("Value type. `enum` requires `enum` values.")] = "str"
    description: Annotated[Text, _doc("What the variable holds, for authors.")] = ""
    default: Annotated[Any, _doc("Value at session start. Omit to start unset.")] = None
    enum: Annotated[list[str] | None, _doc("Allowed values when `type` is `enum`.")] = None
    input: Annotated[
        bool,
        _doc("Supplied when the session starts (job metadata, `--var`): counts as set."),
    ] = False


ParameterFormat = Literal["email", "date", "time", "phone"]


class Parameter(_Spec, frozen=True):
    """A typed argument the LLM must supply when it calls an edge or a tool.

    The constraints are JSON Schema's (``minimum``, ``maxLength``... spelled as the rest
    of the format is): the model is offered them in the function's schema and the
    engine checks every argument against them (``flowctl.engine.parameters``)."""

    type: Annotated[
        VariableType,
        _doc(
            "Argument type. `enum` requires `enum` values; `object` and `list[object]` "
            "require `properties`."
        ),
    ] = "str"
    description: Annotated[Text, _doc("What to pass: the model reads this.")] = ""
    enum: Annotated[list[str] | None, _doc("Allowed values when `type` is `enum`.")] = None
    required: Annotated[bool, _doc("Whether the model must supply it.")] = True
    default: Annotated[Any, _doc("Value used when the model leaves out an optional parameter.")] = (
        None
    )
    minimum: Annotated[float | None, _doc("Smallest number allowed (inclusive).")] = None
    maximum: Annotated[float | None, _doc("Largest number allowed (inclusive).")] = None
    min_length: Annotated[
        Annotated[int, Meta(ge=0)] | None, _doc("Fewest characters of a `str`, items of a list.")
    ] = None
    max_length: Annotated[
        Annotated[int, Meta(ge=0)] | None, _doc("Most characters of a `str`, items of a list.")
    ] = None
    pattern: Annotated[
        str | None, _doc("Regular expression a `str` must contain a match of (`^...$`: all).")
    ] = None
    format: Annotated[
        ParameterFormat | None,
        _doc("A `str`'s format: `email`, `date` (2025-03-11), `time` (14:30), `phone` (E.164)."),
    ] = None
    properties: Annotated[
        dict[str, Parameter],
        _doc("The fields of an `object`, or of each item of a `list[object]`."),
    ] = {}
    variable: Annotated[
        Name | None,
        _doc("Variable an edge's argument is stored in. Default: the parameter's name."),
    ] = None
    local: Annotated[
        bool, _doc("An edge's argument that sets no variable: only its tool and `when` see it.")
    ] = False

    def target(self, name: str) -> str | None:
        """The variable an edge parameter called ``name`` sets; None when it is local."""
        return None if self.local else self.variable or name


# --- edges -------------------------------------------------------------------------


class Example(_Spec, frozen=True):
    """A user phrase that should take an edge or call a tool, with the arguments it is
    called with when the offline model picks it: a model would take them from the
    conversation, the offline one cannot make them up, so the flow's author writes them
    once here."""

    text: Annotated[str, _doc("What the user says.")]
    args: Annotated[
        dict[str, Any],
        _doc("The edge's or tool's arguments when this phrase picks it (offline model)."),
    ] = {}


def _phrases(examples: list[str | Example]) -> list[Example]:
    """``examples`` each as an :class:`Example` (a bare phrase has no arguments)."""
    return [Example(text=x) if isinstance(x, str) else x for x in examples]


class Edge(_Spec, frozen=True):
    """A transition the LLM can fire by calling a function of the edge's name.

    ``handoff`` moves to ``target_agent``; ``action`` runs ``tool`` (default: the edge's
    name), stores its parameters and results in variables, then stays, or moves when
    ``target_agent`` is set.
    """

    name: Annotated[Name, _doc("Function name offered to the LLM: `^[a-zA-Z0-9_-]{1,64}$`.")]
    description: Annotated[
        Text, _doc("When the model should call this edge. Written for the model.")
    ] = ""
    action: Annotated[
        Literal["handoff", "action"], _doc("`handoff`: switch state; `action`: run a tool.")
    ] = "handoff"
    target_agent: Annotated[
        str | None, _doc("State to move to. Required for `handoff`; optional for `action`.")
    ] = None
    tool: Annotated[str | None, _doc("Tool an `action` edge runs. Default: the edge's name.")] = (
        None
    )
    parameters: Annotated[
        dict[str, Parameter],
        _doc("Typed arguments; each sets the variable of its name (or its `variable`)."),
    ] = {}
    requires: Annotated[
        list[str], _doc("Variables that must be set before the edge may fire.")
    ] = []
    say: Annotated[Text | None, _doc("Spoken when the edge fires; may use `{{var}}`.")] = None
    examples: Annotated[
        list[str | Example],
        _doc(
            "User phrases that should take this edge (offline model, lint); a phrase as "
            "`{text, args}` also gives the arguments the offline model fires it with."
        ),
    ] = []
    when: Annotated[
        str | None,
        _doc(
            "Condition over variables (`party_size > 4 and not is_member`). With no "
            "description the edge fires by itself as soon as it holds."
        ),
    ] = None
    refusal: Annotated[
        Text | None,
        _doc(
            "Told to the model when `when` is false, instead of the condition (which may "
            "hold a value the caller must not learn)."
        ),
    ] = None
    set: Annotated[
        dict[str, Any], _doc("Variables set to these constants when the edge is taken.")
    ] = {}
    unset: Annotated[list[str], _doc("Variables cleared (made unset) when the edge is taken.")] = []
    append: Annotated[
        dict[str, str],
        _doc(
            "List variables to add to when the edge is taken: each to the name of a "
            "parameter or variable whose value is added (a list's items, one by one)."
        ),
    ] = {}

    def phrases(self) -> list[Example]:
        """The examples, each as an :class:`Example` (a bare phrase has no arguments)."""
        return _phrases(self.examples)


class EntryAction(_Spec, frozen=True):
    """A tool the engine runs on entering a state, before the model speaks (Pipecat's
    ``pre_actions``, livekit-flows' ``on_enter`` actions): look the caller up, fetch
    the menu. Its result's ``sets`` are stored as an action's are; when it fails, the
    ``default`` variables are set instead, or the conversation moves to ``on_error``."""

    tool: Annotated[Name, _doc("The tool to run (by name).")]
    args: Annotated[dict[str, Any], _doc("Literal arguments: parameter name to value.")] = {}
    args_from: Annotated[
        dict[str, str], _doc("Arguments from variables: parameter name to variable name.")
    ] = {}
    on_error: Annotated[
        str | None, _doc("State to move to when the tool fails (the failure edge).")
    ] = None
    default: Annotated[
        dict[str, Any] | None,
        _doc("Variables to set when the tool fails (variable name to value); then go on."),
    ] = None


class GlobalEdge(Edge, frozen=True):
    """An edge offered in many states: every non-terminal state, or the ones listed.

    Scoping is a property of the edge (``only_in``/``except_in``), not a list of edge
    names on each state, so the edge reads whole in one place and a new state gets it
    (or not) by the rule the author wrote.
    """

    only_in: Annotated[
        list[str] | None, _doc("Offered only in these states (by name). Default: every state.")
    ] = None
    except_in: Annotated[list[str], _doc("Offered in every state but these (by name).")] = []

    def offered_in(self, state: str) -> bool:
        """Whether the edge is offered in the (non-terminal) state named ``state``."""
        if self.only_in is not None and state not in self.only_in:
            return False
        return state not in self.except_in

    @property
    def scoped(self) -> bool:
        return self.only_in is not None or bool(self.except_in)


# --- tools -------------------------------------------------------------------------


# The fields every kind of tool has (a knowledge tool has all but `parameters`).
ToolName = Annotated[Name, _doc("Function name: `^[a-zA-Z0-9_-]{1,64}$`.")]
ToolDescription = Annotated[Text, _doc("What the tool does and when to use it, for the model.")]
ToolSets = Annotated[
    dict[str, str], _doc("Variables to store from the result: variable name to a result field.")
]
ToolExamples = Annotated[
    list[str | Example],
    _doc(
        "User phrases that should call this tool (offline model, lint); a phrase as "
        "`{text, args}` also gives the arguments the offline model calls it with."
    ),
]


class _ToolBase(_Spec, frozen=True):
    name: ToolName
    description: ToolDescription = ""
    parameters: Annotated[dict[str, Parameter], _doc("Typed arguments of the tool.")] = {}
    sets: ToolSets = {}
    examples: ToolExamples = []

    def phrases(self) -> list[Example]:
        """The examples, each as an :class:`Example` (a bare phrase has no arguments)."""
        return _phrases(self.examples)


class BuiltinTool(_ToolBase, tag_field="kind", tag="builtin", kw_only=True, frozen=True):
    """A tool flowctl provides: end or transfer the call, save variables, callbacks."""

    builtin: Annotated[BuiltinName | None, _doc("Which builtin. Default: the tool's `name`.")] = (
        None
    )
    variables: Annotated[
        list[str], _doc("For `set_variables`/`save_data`: the variables it may set.")
    ] = []
    transfer_to: Annotated[
        str | Annotated[list[str], Meta(min_length=1)] | None,
        _doc(
            "For `transfer_call`: the phone number or SIP URI to transfer to, or a list "
            "the model chooses from. The model never names a destination of its own."
        ),
    ] = None


class PythonTool(_ToolBase, tag_field="kind", tag="python", kw_only=True, frozen=True):
    """A Python function, imported by ``module:function`` path."""

    function: Annotated[
        Annotated[str, Meta(pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")],
        _doc("Import path `package.module:function`."),
    ]
    timeout: Annotated[Seconds, _doc("Seconds before the call is abandoned.")] = 10.0


class CatalogTool(_ToolBase, tag_field="kind", tag="catalog", kw_only=True, frozen=True):
    """A Python function from the operator's tool catalog, used by name: the only
    Python a tenant's flow may run, and only when the operator granted it."""

    catalog: Annotated[Name | None, _doc("The catalog entry. Default: the tool's `name`.")] = None


class HttpTool(_ToolBase, tag_field="kind", tag="http", kw_only=True, frozen=True):
    """A declarative webhook. Header values reference the environment (``${CRM_TOKEN}``);
    a literal secret in a flow is a lint error."""

    url: Annotated[Annotated[str, Meta(min_length=1)], _doc("URL; may use `{{var}}`.")]
    method: Annotated[Literal["GET", "POST", "PUT", "PATCH", "DELETE"], _doc("HTTP method.")] = (
        "POST"
    )
    headers: Annotated[dict[str, str], _doc("Headers; values may use `${ENV_VAR}`.")] = {}
    timeout: Annotated[Seconds, _doc("Seconds before the call is abandoned.")] = 10.0


class MockTool(_ToolBase, tag_field="kind", tag="mock", kw_only=True, frozen=True):
    """A tool with a fixed result, for dry runs and demos."""

    result: Annotated[Any, _doc("Returned to the model as the tool's result.")] = None


# A knowledge tool's one argument, as the model is offered it.
KNOWLEDGE_QUERY = Parameter(
    type="str",
    description="What to look up: the caller's question in their own words, or a few "
    "keywords of it.",
    min_length=1,
)


class KnowledgeTool(_Spec, tag_field="kind", tag="knowledge", kw_only=True, frozen=True):
    """Passages from a knowledge base of the tenant's documents: the model calls it with
    the caller's question (``query``, its one parameter) and gets the passages that
    best answer it, each with its source, to answer from (docs/knowledge.md)."""

    name: ToolName
    description: ToolDescription = ""
    base: Annotated[
        Annotated[str, Meta(pattern=NAME_PATTERN)],
        _doc("The knowledge base to search (its documents: `flowctl knowledge add BASE ...`)."),
    ]
    top_k: Annotated[
        Annotated[int, Meta(ge=1, le=20)], _doc("Passages returned at most, best first.")
    ] = 3
    min_score: Annotated[
        Annotated[float, Meta(ge=0, le=1)],
        _doc(
            "Leave out passages scoring below this; scores are relative to the best "
            "passage found (1.0). 0: keep every one of `top_k`."
        ),
    ] = 0.0
    timeout: Annotated[Seconds, _doc("Seconds before the search is abandoned.")] = 5.0
    sets: ToolSets = {}
    examples: ToolExamples = []

    @property
    def parameters(self) -> dict[str, Parameter]:
        """The one argument the model passes: ``query``."""
        return {"query": KNOWLEDGE_QUERY}

    def phrases(self) -> list[Example]:
        """The examples, each as an :class:`Example` (a bare phrase has no arguments)."""
        return _phrases(self.examples)


Tool = BuiltinTool | PythonTool | CatalogTool | HttpTool | MockTool | KnowledgeTool

# --- structured output (seed 001 schema_config.fields) --------------------------------


class Constraints(_Spec, frozen=True):
    """Value constraints of an output field."""

    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    lt: float | None = None
    min_length: Annotated[int, Meta(ge=0)] | None = None
    max_length: Annotated[int, Meta(ge=0)] | None = None
    pattern: str | None = None


class FieldMetadata(_Spec, frozen=True):
    """How an output field is used at run time."""

    use_in_tts: Annotated[bool, _doc("This field is the text spoken by TTS.")] = False
    hidden: Annotated[bool, _doc("Not sent to the frontend.")] = False


class OutputField(_Spec, frozen=True):
    """One field of a state's structured output (seed 001)."""

    field_name: Annotated[Name, _doc("A Python identifier that is not a keyword.")]
    field_type: Annotated[
        str, _doc("One of str, int, float, bool, list[str], list[int], list[float], enum.")
    ] = "str"
    description: Annotated[Text, _doc("What the model should put in the field.")] = ""
    required: bool = True
    default: Any = None
    enum: Annotated[list[str] | None, _doc("Allowed values when `field_type` is `enum`.")] = None
    constraints: Constraints | None = None
    metadata: FieldMetadata | None = None


class Output(_Spec, frozen=True):
    """A structured output schema: the LLM answers every turn in this JSON shape."""

    schema_id: str | None = None
    fields: list[OutputField] = []


# --- provider configuration (seed 001 *_config blocks) ------------------------------

# Which providers exist and what options each takes is `flowctl.engine.providers`' table;
# lint checks a block against it (FL010-FL014).
_OPTIONS = _doc(
    "Options of this block's provider, e.g. ElevenLabs' `voice_settings` "
    "(docs/flow-format.md#providers)."
)


class LLMConfig(_Spec, frozen=True):
    """The language model."""

    provider: str = "openai"
    model: str | None = None
    temperature: Annotated[float, Meta(ge=0, le=2)] | None = None
    max_tokens: Annotated[int, Meta(ge=1)] | None = None
    base_url: Annotated[
        str | None, _doc("The provider's endpoint; for `openai`, any OpenAI-compatible one.")
    ] = None
    api_key_env: Annotated[
        str | None, _doc("Environment variable holding the key. Never the key itself.")
    ] = None
    supports_structured_output: bool | None = None
    options: Annotated[dict[str, Any], _OPTIONS] = {}


class STTConfig(_Spec, frozen=True):
    """Speech to text."""

    provider: str = "deepgram"
    model: str | None = None
    language: str | None = None
    base_url: Annotated[str | None, _doc("The provider's endpoint instead of its own.")] = None
    api_key_env: str | None = None
    options: Annotated[dict[str, Any], _OPTIONS] = {}


class TTSConfig(_Spec, frozen=True):
    """Text to speech."""

    provider: str = "openai"
    model: str | None = None
    voice: str | None = None
    language: str | None = None
    speed: Annotated[float, Meta(gt=0, le=4)] | None = None
    instruction_field: Annotated[
        str | None, _doc("Output field whose value steers the voice (`voice_instructions`).")
    ] = None
    base_url: Annotated[str | None, _doc("The provider's endpoint instead of its own.")] = None
    api_key_env: str | None = None
    options: Annotated[dict[str, Any], _OPTIONS] = {}


class VADConfig(_Spec, frozen=True):
    """Voice activity detection, and what ends the caller's turn."""

    provider: Literal["silero"] = "silero"
    activation_threshold: Annotated[float, Meta(gt=0, lt=1)] | None = None
    min_speech_duration: Annotated[float, Meta(ge=0)] | None = None
    min_silence_duration: Annotated[float, Meta(ge=0)] | None = None
    turn_detection: Annotated[
        Literal["vad", "stt"],
        _doc("What ends the caller's turn: `vad` (silence) or `stt` (the STT's end of speech)."),
    ] = "vad"
    min_endpointing_delay: Annotated[
        Annotated[float, Meta(ge=0, le=10)] | None,
        _doc("Seconds to wait after the caller stops before answering (LiveKit: 0.5)."),
    ] = None
    max_endpointing_delay: Annotated[
        Annotated[float, Meta(ge=0, le=30)] | None,
        _doc("Most seconds to wait for the caller to go on (LiveKit: 3.0)."),
    ] = None


class TracingConfig(_Spec, frozen=True):
    """OpenTelemetry tracing of sessions."""

    enabled: bool = False
    provider: str | None = None
    sample_rate: Annotated[float, Meta(ge=0, le=1)] = 1.0


class LintConfig(_Spec, frozen=True):
    """Per-flow lint settings."""

    ignore: Annotated[list[str], _doc("Rule codes or prefixes to silence, e.g. `FL405`.")] = []
    max_prompt_tokens: Annotated[int, Meta(ge=1)] | None = None
    allowed_hosts: Annotated[
        list[str], _doc("When set, http tools may only call these hosts (FL504).")
    ] = []
    prohibited_keywords: Annotated[
        list[str], _doc("Words that must not appear in authored text (FL505).")
    ] = []


# --- caller memory -----------------------------------------------------------------


class MemorySummary(_Spec, frozen=True):
    """A summary of the call the session's model writes when it ends, kept with the
    caller's memory and shown to the model on their next call (with
    ``into_instructions``)."""

    enabled: Annotated[bool, _doc("Write the summary (false: keep the block, write none).")] = True
    prompt: Annotated[
        Text | None,
        _doc("How the model should summarise the call for next time. Default: a recap."),
    ] = None


class Memory(_Spec, frozen=True):
    """What to remember about a caller between calls (``flowctl.engine.memory``): kept per
    tenant and caller id (a phone caller's number, else the job's user id) when the call
    ends, loaded when their next call starts, before the greeting."""

    remember: Annotated[
        list[Name],
        _doc("Variables whose values are kept when the call ends and set again next call."),
    ] = []
    summary: Annotated[
        MemorySummary | None, _doc("A summary of the call written by the model, kept too.")
    ] = None
    into_instructions: Annotated[
        bool,
        _doc(
            "Show what is remembered (values as quoted data) and the last call's outcome "
            "and summary to the model, after every state's instructions."
        ),
    ] = False
    ttl_days: Annotated[
        Annotated[int, Meta(ge=1, le=3650)] | None,
        _doc(
            "Days a caller's memory is kept after their last call (the tenant's retention, "
            "when shorter, wins). Default: the tenant's, else 365."
        ),
    ] = None


# --- the end of a call, and what a session may change ------------------------------


class Goal(_Spec, frozen=True):
    """Something a call should achieve, checked when it ends: a state entered, a
    variable set, or an output field given (exactly one of the three; lint FL114)."""

    name: Annotated[Name, _doc("What the goal is called in the result, e.g. `booked`.")]
    description: Annotated[Text, _doc("What the goal means, for people.")] = ""
    state: Annotated[str | None, _doc("Met when the call entered this state.")] = None
    variable: Annotated[str | None, _doc("Met when this variable is set at the end.")] = None
    output: Annotated[
        str | None, _doc("Met when a structured answer gave this output field a value.")
    ] = None


class Evaluation(_Spec, frozen=True):
    """What to evaluate when a call ends: the result is recorded with the session and
    sent as the ``call.evaluated`` webhook. The goals and variables are checked from
    the conversation itself; the ``rubric``, when given, is graded by the session's
    own model."""

    goals: Annotated[list[Goal], _doc("What the call should achieve.")] = []
    required: Annotated[
        list[str], _doc("Variables the call must have collected (set) by its end.")
    ] = []
    rubric: Annotated[
        Annotated[list[Annotated[str, Meta(min_length=1, max_length=1000)]], Meta(max_length=20)],
        _doc(
            "Criteria the session's model grades the transcript against (met or not, "
            "with a reason). Empty: no model is asked."
        ),
    ] = []


class Overridable(_Spec, frozen=True):
    """What a session's ``overrides`` (job metadata, the API's token call) may change:
    only what is listed here; anything else refuses the job."""

    variables: Annotated[
        list[str], _doc("Variables a session may set at its start (values as data).")
    ] = []
    tracing: Annotated[
        bool, _doc("A session may turn tracing on or off and set its sample rate.")
    ] = False
    voices: Annotated[list[Name], _doc("The `tts` voices a session may pick.")] = []
    languages: Annotated[
        list[Name], _doc("The languages a session may pick (`stt` and `tts` `language`).")
    ] = []


# --- states and the flow -----------------------------------------------------------


class OnEnter(_Spec, frozen=True):
    """What the model does as the state is entered (``on_enter_prompt``, the fixed
    greeting, is spoken first). One object, so every entry behaviour has one home."""

    respond: Annotated[
        bool,
        _doc(
            "The model speaks first (and may call a function) as the state is entered, "
            "guided by the state's instructions and `task`."
        ),
    ] = True
    task: Annotated[
        Text | None,
        _doc("Instructions for that one entry turn only; may use `{{var}}`."),
    ] = None


class Context(_Spec, frozen=True):
    """History carried into a state, as an object: a summary written by the session's
    model, the last items word for word, the variables known so far."""

    summary: Annotated[
        bool, _doc("Start with a summary of the history so far, written by the model.")
    ] = False
    prompt: Annotated[
        Text | None, _doc("How the model should summarise (with `summary`); may use `{{var}}`.")
    ] = None
    last: Annotated[
        Annotated[int, Meta(ge=0)] | None,
        _doc("Items kept word for word after it. Default: all, or none with `summary`."),
    ] = None
    variables: Annotated[bool, _doc("Add the variables known so far (values as JSON data).")] = (
        False
    )


class State(_Spec, frozen=True):
    """A state of the machine: one agent persona (an entry of ``agents``)."""

    name: Annotated[Name, _doc("Unique state name, e.g. `IntakeAgent`.")]
    instructions: Annotated[Text, _doc("System prompt of this state; may use `{{var}}`.")]
    on_enter_prompt: Annotated[
        Text | None, _doc("Greeting spoken on entering the state; may use `{{var}}`.")
    ] = None
    on_enter: Annotated[
        OnEnter | None, _doc("A model turn on entering the state, after the greeting.")
    ] = None
    tools: Annotated[list[str], _doc("Tools (by name) the model may call in this state.")] = []
    edges: Annotated[list[Edge], _doc("Transitions out of this state.")] = []
    end: Annotated[bool, _doc("Terminal: the call ends after the greeting.")] = False
    on_enter_actions: Annotated[
        list[EntryAction],
        _doc("Tools run on entering the state, in order, before its automatic edges."),
    ] = []
    ends_on_hangup: Annotated[
        bool,
        _doc(
            "The caller hanging up here is this state's way to end (an open-ended "
            "specialist): lint counts it as an end (FL202, FL203, FL204)."
        ),
    ] = False
    output: Annotated[Output | None, _doc("Structured output for this state.")] = None
    llm: Annotated[LLMConfig | None, _doc("Overrides the flow's `llm`.")] = None
    tts: Annotated[TTSConfig | None, _doc("Overrides the flow's `tts` (another voice).")] = None
    context: Annotated[
        Literal["keep", "summary", "reset"] | Annotated[int, Meta(ge=0)] | Context,
        _doc(
            "History carried into this state: keep, summary (a fixed recap), reset, the "
            "last N items, or an object (a model-written summary, last N plus variables)."
        ),
    ] = "keep"


class Flow(_Spec, kw_only=True, frozen=True):
    """A customer's conversation flow (a superset of seed 000's ``CustomerSchema``)."""

    customer_id: Annotated[str | None, _doc("The tenant this flow belongs to.")] = None
    flow_id: Annotated[str | None, _doc("Default: the file name without `.json`.")] = None
    name: str = ""
    description: Text = ""
    instructions: Annotated[
        Text,
        _doc(
            "Persona and rules shared by every state, put before each state's own "
            "`instructions`; may use `{{var}}`."
        ),
    ] = ""
    version: str | None = None
    enabled: Annotated[
        bool,
        _doc(
            "False: no job is routed to this flow (a job naming it is refused as "
            "disabled); it still lints, simulates and publishes."
        ),
    ] = True
    start: Annotated[str | None, _doc("First state. Default: the first agent.")] = None
    variables: dict[str, Variable] = {}
    tools: Annotated[list[Tool], _doc("Tool definitions, referenced by name.")] = []
    global_edges: Annotated[
        list[GlobalEdge],
        _doc(
            "Edges offered in every non-terminal state (transfer to a human, end the call), "
            "or in those `only_in`/`except_in` lists."
        ),
    ] = []
    agents: Annotated[list[State], Meta(min_length=1), _doc("The states, in order.")]
    ends_on_hangup: Annotated[
        bool,
        _doc(
            "The caller hanging up is how this flow ends, in every state (a companion "
            "that chats until the caller leaves): lint counts it as an end."
        ),
    ] = False
    output: Annotated[Output | None, _doc("Structured output for every state.")] = None
    memory: Annotated[
        Memory | None, _doc("What to remember about a caller from one call to the next.")
    ] = None
    llm: LLMConfig | None = None
    stt: STTConfig | None = None
    tts: TTSConfig | None = None
    vad: VADConfig | None = None
    tracing: TracingConfig | None = None
    lint: LintConfig | None = None
    evaluation: Annotated[
        Evaluation | None, _doc("What to evaluate when a call ends (goals, variables, rubric).")
    ] = None
    overridable: Annotated[
        Overridable | None,
        _doc("What a session's `overrides` may change (variables, tracing, voice, language)."),
    ] = None


# --- templates: what a flow extends (flowctl.engine.extends) -------------------------

# A template's id names a file (`templates/<id>.json`) and a row of the store: plain,
# with no path separator, so no `extends` can reach outside the templates it may use.
TEMPLATE_ID = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$"
TemplateId = Annotated[str, Meta(pattern=TEMPLATE_ID)]


class Removal(_Spec, frozen=True):
    """What an extending document takes out of its template, by name, before its own
    definitions are merged in (removing a part and defining it again replaces it
    whole, instead of merging into it)."""

    agents: Annotated[list[Name], _doc("States to remove (with the edges into them).")] = []
    edges: Annotated[
        dict[str, list[Name]], _doc("Edges to remove: state name to the names of its edges.")
    ] = {}
    tools: Annotated[list[Name], _doc("Tool definitions to remove.")] = []
    global_edges: Annotated[list[Name], _doc("Global edges to remove.")] = []
    variables: Annotated[list[Name], _doc("Variables to remove.")] = []


class Abstract(_Spec, frozen=True):
    """The parts a template leaves to its extensions, each with what it is for: states
    its edges lead to, tools its states use, variables whose value each extension
    gives. A flow that extends the template must define every one (FL704)."""

    agents: Annotated[
        dict[Name, Text], _doc("States an extension must define: name to what the state does.")
    ] = {}
    tools: Annotated[
        dict[Name, Text], _doc("Tools an extension must define: name to what the tool does.")
    ] = {}
    variables: Annotated[
        dict[Name, Text],
        _doc(
            "Variables the template declares (in `variables`) whose value an extension "
            "gives (a `default`, or `input`): name to what it holds."
        ),
    ] = {}


class Template(_Spec, kw_only=True, frozen=True):
    """What a template document holds besides the flow fields it shares with the flows
    that extend it (every one optional in a template, `agents` too): its id, what it
    leaves abstract, and what it itself extends and removes."""

    template_id: Annotated[TemplateId, _doc("The template's id: what `extends` names.")]
    abstract: Annotated[Abstract | None, _doc("What an extension must define.")] = None
    extends: Annotated[TemplateId | None, _doc("The template this one extends.")] = None
    remove: Annotated[Removal | None, _doc("What to take out of the template it extends.")] = None


# --- seed 001: a single-agent configuration ------------------------------------------


class PromptConfig(_Spec, frozen=True):
    instructions: Text
    dynamic_vars: dict[str, Any] = {}
    template_id: Annotated[
        str | None,
        _doc("A template the agent extends, when there is one of this id (see `extends`)."),
    ] = None
    on_enter_prompt: Text | None = None


# Seed 001's `schema_config` block is an output schema by another name (no docstring of
# its own, so the JSON Schema describes it as before).
class SchemaConfig(Output, frozen=True):
    pass


class TenantConfig(_Spec, frozen=True):
    tenant_id: str
    isolation_level: str | None = None


class SingleAgentConfig(_Spec, kw_only=True, frozen=True):
    """Seed 001's single-agent configuration, accepted as a one-state flow."""

    agent_id: Name
    agent_type: str | None = None
    version: str | None = None
    enabled: bool = True
    description: Text = ""
    prompt_config: PromptConfig
    schema_config: SchemaConfig | None = None
    llm_config: LLMConfig | None = None
    stt_config: STTConfig | None = None
    tts_config: TTSConfig | None = None
    vad_config: VADConfig | None = None
    tracing_config: TracingConfig | None = None
    tenant_config: TenantConfig | None = None
    lint: LintConfig | None = None

    def to_flow(self) -> Flow:
        """The equivalent one-state flow; see ``SEED001_PATHS`` for where its fields came
        from."""
        variables = {
            name: Variable(type=_infer_type(value), default=value)
            for name, value in self.prompt_config.dynamic_vars.items()
        }
        schema = self.schema_config
        return Flow(
            customer_id=self.tenant_config.tenant_id if self.tenant_config else None,
            flow_id=self.agent_id,
            name=self.agent_type or self.agent_id,
            description=self.description,
            version=self.version,
            enabled=self.enabled,
            variables=variables,
            agents=[
                State(
                    name=self.agent_id,
                    instructions=self.prompt_config.instructions,
                    on_enter_prompt=self.prompt_config.on_enter_prompt,
                )
            ],
            output=Output(schema_id=schema.schema_id, fields=schema.fields) if schema else None,
            llm=self.llm_config,
            stt=self.stt_config,
            tts=self.tts_config,
            vad=self.vad_config,
            tracing=self.tracing_config,
            lint=self.lint,
        )


def _infer_type(value: Any) -> VariableType:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, list) and value and all(isinstance(v, int) for v in value):
        return "list[int]"
    if isinstance(value, list):
        return "list[str]"
    return "str"


# Where a converted seed-001 document's fields live in its source, longest prefix first.
SEED001_PATHS: tuple[tuple[tuple[str | int, ...], tuple[str | int, ...]], ...] = (
    (("agents", 0, "instructions"), ("prompt_config", "instructions")),
    (("agents", 0, "on_enter_prompt"), ("prompt_config", "on_enter_prompt")),
    (("agents", 0, "name"), ("agent_id",)),
    (("agents", 0), ()),
    (("variables",), ("prompt_config", "dynamic_vars")),
    (("output",), ("schema_config",)),
    (("llm",), ("llm_config",)),
    (("stt",), ("stt_config",)),
    (("tts",), ("tts_config",)),
    (("vad",), ("vad_config",)),
    (("tracing",), ("tracing_config",)),
    (("customer_id",), ("tenant_config", "tenant_id")),
    (("flow_id",), ("agent_id",)),
    (("enabled",), ("enabled",)),
    (("extends",), ("prompt_config", "template_id")),
)
