"""What templates format: times as every listing shows them (``flowctl sessions``'s
``format_time``), JSON as the API sends it."""

from __future__ import annotations

import json
from typing import Any

from flowctl.cli.timeline import format_time

__all__ = ["FILTERS"]


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, indent=2, sort_keys=False)


def _version(number: int | None) -> str:
    return "-" if number is None else f"v{number}"


FILTERS = {"when": format_time, "pretty_json": _json, "v": _version}
