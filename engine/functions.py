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
from flowctl.engine.parameters import arguments_type, check_formats, parameter_schema, plain
from flowctl.engine.spec import BuiltinTool, Flow, Parameter, Tool

__all__ = ["FunctionSpec", "tool_parameters", "value_type"]


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
        "object": dict[str, Any],
        "list[object]": list[dict[str, Any]],
    }[kind]


def tool_parameters(tool: Tool, flow: Flow) -> dict[str, Parameter]:
    """A tool's parameters; a builtin that declares none gets the ones its row of the
    builtins table offers (``flowctl.engine.builtins``)."""
    if tool.parameters or not isinstance(tool, BuiltinTool):
        return dict(tool.parameters)
    builtin = builtin_of(tool)
    return builtin.parameters(tool, flow) if builtin is not None else {}


class FunctionSpec:
    """A function offered to the model: an edge or a tool. ``schema`` is what the LLM
    sees (``{"name", "description", "parameters"}``); :meth:`validate` checks the
    arguments with a msgspec type made from the parameters.

    The type is made on the function's first call and shared by every function with the
    same parameters (``flowctl.engine.parameters``; most edges of a 5,000-state flow are
    never called by any one worker).
    """

    __slots__ = ("_args", "_params", "description", "kind", "name", "schema")

    def __init__(
        self, name: str, kind: str, description: str, params: Mapping[str, Parameter]
    ) -> None:
        self.name = name
        self.kind = kind
        self.description = description
        properties = {pname: parameter_schema(p) for pname, p in params.items()}
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
        self._params = dict(params)
        self._args: Any = None

    @property
    def args(self) -> Any:
        """The msgspec Struct type validating this function's arguments."""
        if self._args is None:
            self._args = arguments_type(self._params)
        return self._args

    def validate(self, arguments: Mapping[str, Any]) -> dict[str, Any]:
        """The arguments as a dict of typed values; raises ``msgspec.ValidationError``."""
        parsed = msgspec.convert(dict(arguments), self.args)
        values: dict[str, Any] = plain(parsed)
        check_formats(self._params, values)
        return values

    def __repr__(self) -> str:
        return f"FunctionSpec({self.name!r}, {self.kind!r})"
