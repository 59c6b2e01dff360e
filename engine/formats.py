"""Formatters for template values: ``{{ total:money }}`` says "$81.00", not "81.0".

A value goes into a prompt or into the agent's words as Python prints it: ``81.0``,
``250000``, ``2025-03-14``. A voice reads those badly ("eighty-one point zero", "two
hundred fifty thousand" only if the engine guesses the grouping). A formatter writes the
value the way a person would say it. Each is a pure function of the value and the
optional argument written in the template (``money(EUR)``); it returns None when the
value is not one it reads (text where a number belongs, a date that is not ISO 8601),
and the template then shows the value as it is, so a formatter never fails a turn.

Output is English and independent of the process locale (no ``strftime``): a worker's
``LANG`` must not change what the agent says. Time zones are not converted: a date-time
is read as the wall-clock time it carries.

One table, :data:`FORMATTERS`, is read by the renderer (``flowctl.engine.templates``)
and by lint (FL311: an unknown formatter, a bad argument, a formatter on a variable of a
type it cannot format).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from datetime import date, datetime, time
from typing import Any

import msgspec

__all__ = ["FORMATTERS", "Formatter", "format_value"]

# ISO 8601 text longer than this is not a date or a time (the longest form the parser
# reads, with microseconds and an offset, is 32 characters); a longer value is shown as
# it is rather than handed to the parser.
_MAX_ISO_CHARS = 40

_CURRENCY = re.compile(r"[A-Z]{3}")
_SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£"}
_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


class Formatter(msgspec.Struct, frozen=True):
    """A formatter: the variable types it formats, and what its argument may be."""

    name: str
    accepts: tuple[str, ...]  # declared variable types (``int``, ``str``...)
    argument: str  # what may go in the parentheses, as a message says it
    takes: Callable[[str], bool]  # whether an argument is one it understands
    apply: Callable[[Any, str | None], str | None]

    @property
    def accepts_text(self) -> str:
        """The accepted types, as a message says them: "`int` or `float`"."""
        return " or ".join(f"`{t}`" for t in self.accepts)


def _is_number(value: Any) -> bool:
    if isinstance(value, bool):  # a bool is an int to Python, not to a caller
        return False
    return isinstance(value, int) or (isinstance(value, float) and math.isfinite(value))


def _number(value: Any, argument: str | None) -> str | None:
    """``250000`` -> ``250,000``; ``3.50`` -> ``3.5``; ``number(2)``: ``3.50``."""
    if not _is_number(value):
        return None
    if argument is not None:
        digits = int(argument)
        return f"{round(value, digits) + 0.0:,.{digits}f}"
    if isinstance(value, int):
        return f"{value:,}"
    # At most two decimals, and none that are zero: "81", "3.5", "1,234.57". Adding 0.0
    # turns a rounded -0.0 into 0.0, so a tiny negative amount does not say "minus zero".
    return f"{round(value, 2) + 0.0:,.2f}".rstrip("0").rstrip(".")


def _money(value: Any, argument: str | None) -> str | None:
    """``81.0`` -> ``$81.00``; ``250000`` -> ``$250,000``; ``money(EUR)``: ``€81.00``.

    A whole number (an ``int``) has no cents, as people say prices and limits; an
    amount (a ``float``) always has two, as a receipt shows it.
    """
    if not _is_number(value):
        return None
    if isinstance(value, float):
        value = round(value, 2) + 0.0
        amount = f"{abs(value):,.2f}"
    else:
        amount = f"{abs(value):,}"
    sign = "-" if value < 0 else ""
    code = argument or "USD"
    symbol = _SYMBOLS.get(code)
    return f"{sign}{symbol}{amount}" if symbol else f"{sign}{amount} {code}"


def _moment(value: Any, *, need_date: bool) -> datetime | time | None:
    """An ISO 8601 date, date-time or (when ``need_date`` is false) time of day."""
    if not isinstance(value, str) or len(value) > _MAX_ISO_CHARS:
        return None
    text = value.strip()
    try:
        if len(text) >= 10 and text[4:5] == "-":  # starts like a date: 2025-03-14...
            return datetime.fromisoformat(text)
        return None if need_date else time.fromisoformat(text)
    except ValueError:
        return None


def _date(value: Any, argument: str | None) -> str | None:
    """``2025-03-14`` -> ``Friday, March 14, 2025``; ``date(short)``: ``March 14``."""
    moment = _moment(value, need_date=True)
    if not isinstance(moment, date):
        return None
    month = f"{_MONTHS[moment.month - 1]} {moment.day}"
    if argument == "short":
        return month
    return f"{_WEEKDAYS[moment.weekday()]}, {month}, {moment.year}"


def _time(value: Any, argument: str | None) -> str | None:
    """``19:30`` (or a date-time) -> ``7:30 PM``; ``19:00`` -> ``7 PM``."""
    moment = _moment(value, need_date=False)
    if moment is None:
        return None
    if isinstance(moment, datetime):
        if len(value.strip()) == 10:  # a date alone has no time of day
            return None
        moment = moment.time()
    hour = moment.hour % 12 or 12
    half = "AM" if moment.hour < 12 else "PM"
    return f"{hour} {half}" if moment.minute == 0 else f"{hour}:{moment.minute:02d} {half}"


FORMATTERS: dict[str, Formatter] = {
    f.name: f
    for f in (
        Formatter(
            "number",
            ("int", "float"),
            "a number of decimals, 0 to 6",
            lambda a: a.isdigit() and len(a) == 1 and int(a) <= 6,
            _number,
        ),
        Formatter(
            "money",
            ("int", "float"),
            "a currency code such as `EUR`",
            lambda a: _CURRENCY.fullmatch(a) is not None,
            _money,
        ),
        Formatter("date", ("str",), "`short` or nothing", lambda a: a == "short", _date),
        Formatter("time", ("str",), "nothing", lambda a: False, _time),
    )
}


def format_value(name: str, argument: str | None, value: Any) -> str | None:
    """``value`` written by the formatter ``name``, or None when there is no such
    formatter, it does not take ``argument``, or it cannot read ``value``."""
    formatter = FORMATTERS.get(name)
    if formatter is None or (argument is not None and not formatter.takes(argument)):
        return None
    return formatter.apply(value, argument)
