"""The engine's exceptions: one root, each class carrying the exit code the CLI uses.

::

    FlowError                  exit 2   anything the engine refuses
    ├── FlowReadError          exit 2   a file or folder cannot be read
    │   ├── ScenarioError      exit 2   a scenario file cannot be used (engine/scenario.py)
    │   ├── TenantError        exit 2   tenant files cannot be used (engine/tenants.py)
    │   └── KnowledgeError     exit 2   knowledge files cannot be read, or hold no such
    │                                   base (engine/knowledge/files.py)
    └── FlowInvalidError       exit 1   a flow has error-level findings (compile refuses it)

A user's mistake never surfaces as a traceback: the CLI catches ``FlowError`` and
prints its message.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence

    from flowctl.engine.findings import Finding
    from flowctl.engine.lint.runner import Located

__all__ = ["FlowError", "FlowInvalidError", "FlowReadError"]


class FlowError(Exception):
    """Root of every error the engine raises on purpose."""

    exit_code = 2


class FlowReadError(FlowError):
    """A path does not exist, is not readable, or holds no flow."""

    exit_code = 2


class FlowInvalidError(FlowError):
    """A flow has error-level findings; ``findings`` lists them."""

    exit_code = 1

    def __init__(self, message: str, findings: Sequence[Finding | Located] = ()) -> None:
        super().__init__(message)
        self.findings = list(findings)
