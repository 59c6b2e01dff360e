"""How ``flowctl`` ends: its exit codes, the one exception every command fails with, and
the fast exit of commands that hold nothing.

Exit codes (design.md): 0 clean, 1 findings or failed expectations, 2 usage, I/O or
internal; 130 for a session left with Ctrl-C (128 + SIGINT, what shells report). A
command that cannot do what it was asked raises :class:`Failure` (click's
own mechanism: click prints it and exits with its code, under ``CliRunner`` too); the
engine's ``FlowError`` becomes one where the command group runs its commands
(``flowctl.cli.main``), so no command catches it only to print it.
"""

from __future__ import annotations

from typing import IO, Any

import click

__all__ = [
    "EXIT_FINDINGS",
    "EXIT_INTERRUPTED",
    "EXIT_USAGE",
    "Failure",
    "fast_exit_allowed",
    "skip_finalization",
]

EXIT_FINDINGS = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class Failure(click.ClickException):
    """``flowctl: error: MESSAGE`` on stderr, and exit ``exit_code`` (default 2)."""

    def __init__(self, message: str, exit_code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self._exit_code = exit_code

    # click declares ``exit_code`` a class variable (one code per exception class); a
    # failure's code is the instance's own (a FlowError's, say), so it is a property.
    @property
    def exit_code(self) -> int:
        return self._exit_code

    @exit_code.setter
    def exit_code(self, value: int) -> None:
        self._exit_code = value

    def show(self, file: IO[Any] | None = None) -> None:
        click.echo(f"flowctl: error: {self.format_message()}", file=file, err=file is None)


# Set by commands that hold no resources (no threads, no child processes, no open
# files) once their output is written: they may skip interpreter finalization.
_fast_exit = False


def skip_finalization() -> None:
    global _fast_exit
    _fast_exit = True


def fast_exit_allowed() -> bool:
    return _fast_exit
