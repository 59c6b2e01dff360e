"""flowctl command line: ``cli`` is the click group (``flowctl.cli.main``, loaded on
first use; the console entry point is ``flowctl.cli.main:main``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flowctl.engine.exports import lazy

if TYPE_CHECKING:  # what the name below resolves to, for type checkers
    from flowctl.cli.main import cli

__all__ = ["cli"]

__getattr__, __dir__ = lazy(__name__, {"cli": "main"}, globals())
