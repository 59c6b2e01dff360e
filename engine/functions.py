"""The functions a compiled state offers the model: an edge or a tool, each with the JSON
Schema the LLM sees and a msgspec type that checks the arguments it sends back.

``engine.compile`` puts them on the states (and re-exports :class:`FunctionSpec` and
:func:`value_type`); this module is what a function looks like to the model.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import msgspec

from flowctl.engine.builtins import builtin_of
from flowctl.engine.spec import BuiltinTool, Flow, Parameter, Tool

__all__ = ["FunctionSpec", "tool_parameters", "value_type"]

_JSON_TYPES = {"str": "string", "int": "integer", "float": "number", "bool": "boolean"}


def value_type(kind: str, enum: list[str] | None = None) -> Any:
    """The Python type of a variable, parameter or output field type name."""
    if kind == "enum":
        return Literal[tuple(enum or ("",))]
    return {
        "str": str,
        "int": int,
        "float": float,
        "bool": bool,
        "list[str]": list[str],
        "list[int]": list[int],
        "list[float]": list[float],
    }[kind]


def tool_parameters(tool: Tool, flow: Flow) -> dict[str, Parameter]:
    """A tool's parameters; a builtin that declares none gets the ones its row of the
    builtins table offers (``flowctl.engine.builtins``)."""
    if tool.parameters or not isinstance(tool, BuiltinTool):
        return dict(tool.parameters)
    builtin = builtin_of(tool)
    return builtin.parameters(tool, flow) if builtin is not None else {}


def _json_schema(kind: str, enum: list[str] | None, description: str) -> dict[str, Any]:
    if kind == "enum":
        schema: dict[str, Any] = {"type": "string", "enum": list(enum or [])}
    elif kind.startswith("list["):
        schema = {"type": "array", "items": {"type": _JSON_TYPES[kind[5:-1]]}}
    else:
        schema = {"type": _JSON_TYPES[kind]}
    if description:
        schema["description"] = description
    return schema


class FunctionSpec:
    """A function offered to the model: an edge or a tool. ``schema`` is what the LLM
    sees (``{"name", "description", "parameters"}``); :meth:`validate` checks the
    arguments with a msgspec type made from the parameters.

    The type is made on the function's first call and shared by every function with the
    same parameters (a struct type costs ~25 us to create; most edges of a 5,000-state
    flow are never called by any one worker).
    """

    __slots__ = ("_args", "_signature", "description", "kind", "name", "schema")

    def __init__(
        self, name: str, kind: str, description: str, params: Mapping[str, Parameter]
    ) -> None:
        self.name = name
        self.kind = kind
        self.description = description
        properties = {
            pname: _json_schema(p.type, p.enum, p.description) for pname, p in params.items()
        }
        self.schema: dict[str, Any] = {
            "name": name,
            "description": description,
            "parameters": {
                "type": "object",
                "properties": properties,
                "required": [pname for pname, p in params.items() if p.required],
                "additionalProperties": False,
            },
        }
        self._signature = tuple(
            (pname, p.type, tuple(p.enum or ()), p.required) for pname, p in params.items()
        )
        self._args: Any = None

    @property
    def args(self) -> Any:
        """The msgspec Struct type validating this function's arguments."""
        if self._args is None:
            self._args = _args_type(self._signature)
        return self._args

    def validate(self, arguments: Mapping[str, Any]) -> dict[str, Any]:
        """The arguments as a dict of typed values; raises ``msgspec.ValidationError``."""
        parsed = msgspec.convert(dict(arguments), self.args)
        return {k: v for k, v in msgspec.structs.asdict(parsed).items() if v is not None}

    def __repr__(self) -> str:
        return f"FunctionSpec({self.name!r}, {self.kind!r})"


_ARGS_TYPES: dict[tuple[Any, ...], Any] = {}


def _args_type(signature: tuple[Any, ...]) -> Any:
    cached = _ARGS_TYPES.get(signature)
    if cached is None:
        fields: list[tuple[Any, ...]] = []
        for pname, kind, enum, required in signature:
            t = value_type(kind, list(enum))
            fields.append((pname, t) if required else (pname, t | None, None))
        fields.sort(key=len)  # msgspec wants required fields before optional ones
        cached = _ARGS_TYPES[signature] = msgspec.defstruct(
            "Arguments", fields, kw_only=True, forbid_unknown_fields=True, frozen=True
        )
    return cached
