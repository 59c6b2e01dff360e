"""``flowctl lint``: the rule catalogue (FL0xx-FL6xx) and the means to run it.

``RULES`` maps codes to rules in order (``registry``); importing this package binds each
rule to its check.
"""

from flowctl.engine.lint import (
    boundary,
    document,
    graph,
    llm,
    output,
    references,
    security,
    templates,
    variables,
)
from flowctl.engine.lint.context import FlowContext
from flowctl.engine.lint.registry import RULES, Rule
from flowctl.engine.lint.report import format_github, format_json, format_text, summary
from flowctl.engine.lint.runner import (
    FileResult,
    LintResult,
    Located,
    Selection,
    check,
    discover,
    is_flow_file,
    lint_paths,
)

del boundary, document, graph, llm, output, references, security, templates, variables

__all__ = [
    "RULES",
    "FileResult",
    "FlowContext",
    "LintResult",
    "Located",
    "Rule",
    "Selection",
    "check",
    "discover",
    "format_github",
    "format_json",
    "format_text",
    "is_flow_file",
    "lint_paths",
    "summary",
]
