"""Packages that re-export their public names without importing their modules up front.

A package's ``__init__`` lists each public name with the module that defines it and
hands the table to :func:`lazy`; a name is imported on first use (PEP 562), so
``import flowctl.engine`` costs nothing and ``flowctl lint`` never loads the runtime.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy"]


def lazy(
    package: str, homes: Mapping[str, str], namespace: dict[str, Any]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The ``__getattr__`` and ``__dir__`` of ``package``: ``homes`` maps each public
    name to its module (relative to the package); ``namespace`` is the package's
    ``globals()``, where a name stays once loaded."""

    def __getattr__(name: str) -> Any:
        home = homes.get(name)
        if home is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{home}"), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted({*namespace, *homes})

    return __getattr__, __dir__
