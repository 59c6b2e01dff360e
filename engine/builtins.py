"""The builtin tools: one table of what each takes, how it ends the call, what it keeps
and what it does.

A flow names a builtin (``"tools": ["end_call"]``, or ``{"kind": "builtin", "name":
"hang_up", "builtin": "end_call"}``); what that means is written here once, and every
layer reads it: the spec (which names exist), compile (the parameters offered to the
model), the runtime (running one), paths (what firing one does to a test path) and lint
(which states can end the call, which tools set a variable). None of them matches a
builtin by name: that is how they came to disagree (lint once knew only two of the
three builtins that end a call).

Running a builtin is pure: its ``run`` returns an :class:`Effect` (the value for the
model, the variables to store, the callback to book) and the conversation applies it,
then ends the call as the table says. So each builtin's rules are here, and the
bookkeeping (typing the variables, the clock, the history) stays in the runtime.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Literal, get_args

import msgspec

if TYPE_CHECKING:
    from flowctl.engine.spec import BuiltinTool, Flow, Parameter

__all__ = [
    "BUILTINS",
    "BUILTIN_TOOLS",
    "Builtin",
    "BuiltinName",
    "Effect",
    "Ending",
    "builtin_of",
]

BuiltinName = Literal[
    "end_call",
    "transfer_call",
    "set_variables",
    "save_data",
    "schedule_callback",
    "handle_is_busy",
]
BUILTIN_TOOLS: tuple[BuiltinName, ...] = get_args(BuiltinName)

# How a builtin ends the call, as the runtime's `Ended.reason` records it (an end state
# is the one other way a call ends).
Ending = Literal["end_call", "transfer", "busy"]


class Effect(msgspec.Struct, frozen=True, kw_only=True):
    """What running a builtin asks of the conversation. With ``error`` nothing else
    happens: the model hears why, and the call goes on."""

    value: Any = None  # the tool's result, for the model
    error: str | None = None
    save: dict[str, Any] = {}  # variables to store, typed by the conversation: all or none
    # The callback to book: `when` and `reason` in the caller's words, and `details`,
    # the tool's other arguments (a flow that declares its own parameters names them).
    callback: dict[str, Any] | None = None
    detail: str | None = None  # for a builtin that ends the call: where to, or until when


class Builtin(msgspec.Struct, frozen=True, kw_only=True):
    """One row of the table."""

    name: BuiltinName
    ends: Ending | None = None  # how calling it ends the call; None: the call goes on
    stores: Literal["variables", "callback"] | None = None  # what it keeps
    # The parameters offered to the model when the tool declares none of its own.
    parameters: Callable[[BuiltinTool, Flow], dict[str, Parameter]]
    run: Callable[[BuiltinTool, Mapping[str, Any]], Effect]


def builtin_of(tool: BuiltinTool) -> Builtin | None:
    """The builtin ``tool`` stands for (its ``builtin``, by default its own name), or
    None when it names none (lint's FL109)."""
    return BUILTINS.get(tool.builtin or tool.name)


def _parameter(**fields: Any) -> Parameter:
    # The spec reads the builtins' names from this module, so its structs are imported
    # when a parameter is first made rather than when this module loads.
    from flowctl.engine.spec import Parameter

    return Parameter(**fields)


# --- parameters ------------------------------------------------------------------------


def _no_parameters(tool: BuiltinTool, flow: Flow) -> dict[str, Parameter]:
    return {}


def _variables(tool: BuiltinTool, flow: Flow) -> dict[str, Parameter]:
    """The variables it may set, typed as declared, each optional."""
    params = {}
    for name in tool.variables:
        var = flow.variables.get(name)
        params[name] = _parameter(
            type=var.type if var else "str",
            enum=var.enum if var else None,
            description=var.description if var else "",
            required=False,
        )
    return params


def _destinations(tool: BuiltinTool, flow: Flow) -> dict[str, Parameter]:
    """`to` when there are several destinations: one of them (the model never names
    its own)."""
    if isinstance(tool.transfer_to, list) and len(tool.transfer_to) > 1:
        return {
            "to": _parameter(
                type="enum", enum=tool.transfer_to, description="Where to transfer the call"
            )
        }
    return {}


def _callback(tool: BuiltinTool, flow: Flow) -> dict[str, Parameter]:
    return {
        "when": _parameter(description="When to call the caller back, in their words"),
        "reason": _parameter(description="What the callback is about", required=False),
    }


# --- running ---------------------------------------------------------------------------


def _end_call(tool: BuiltinTool, args: Mapping[str, Any]) -> Effect:
    return Effect(value={"ended": True})


def _transfer(tool: BuiltinTool, args: Mapping[str, Any]) -> Effect:
    """Transfer to the destination the flow declares (of several, the one the model
    chose among them): never one the model or the caller names."""
    declared = tool.transfer_to
    destinations = [declared] if isinstance(declared, str) else list(declared or [])
    if not destinations:
        return Effect(
            error=f"Tool `{tool.name}` has no destination (`transfer_to`); the call "
            "cannot be transferred"
        )
    to = args.get("to") if len(destinations) > 1 else destinations[0]
    if to not in destinations:
        listed = ", ".join(f"`{d}`" for d in destinations)
        return Effect(error=f"Tool `{tool.name}` transfers only to one of {listed}")
    return Effect(value={"transferred": True, "to": to}, detail=to)


def _save(tool: BuiltinTool, args: Mapping[str, Any]) -> Effect:
    """Store the arguments naming a variable the tool may set; the others are ignored."""
    save = {k: v for k, v in args.items() if k in tool.variables}
    return Effect(value={"saved": sorted(save)}, save=save)


def _book_callback(tool: BuiltinTool, args: Mapping[str, Any]) -> Effect:
    """Book what the caller asked for. A flow that declares the tool's parameters
    itself (``callback_number``, ``callback_window``) keeps them as the callback's
    details: nothing the caller said is lost for want of being called ``when``."""
    when = args.get("when")
    details = {k: v for k, v in args.items() if k not in ("when", "reason")}
    return Effect(
        value={"scheduled": True, "when": when},
        callback={"when": when, "reason": args.get("reason"), "details": details},
        detail=when,
    )


BUILTINS: dict[str, Builtin] = {
    b.name: b
    for b in (
        Builtin(name="end_call", ends="end_call", parameters=_no_parameters, run=_end_call),
        Builtin(name="transfer_call", ends="transfer", parameters=_destinations, run=_transfer),
        Builtin(name="set_variables", stores="variables", parameters=_variables, run=_save),
        Builtin(name="save_data", stores="variables", parameters=_variables, run=_save),
        Builtin(
            name="schedule_callback",
            stores="callback",
            parameters=_callback,
            run=_book_callback,
        ),
        # Busy: book the callback the caller asked for, then end the call.
        Builtin(
            name="handle_is_busy",
            ends="busy",
            stores="callback",
            parameters=_callback,
            run=_book_callback,
        ),
    )
}
