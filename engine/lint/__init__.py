"""``flowctl lint``: the rule catalogue (FL0xx-FL7xx) and the means to run it.

``RULES`` maps codes to rules in order (``registry``); importing this package binds each
rule to its check.
"""

from flowctl.engine.lint import (
    boundary,
    document,
    entering,
    graph,
    guards,
    llm,
    output,
    parameters,
    references,
    security,
    templates,
    variables,
    writes,
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

del boundary, document, entering, graph, guards, llm, output, parameters, references, security
del templates, variables, writes

# Issue 14's rules: edge groups (FL111, FL112) and actions on entry (FL207).
from flowctl.engine.lint import edge_groups, entry_actions  # noqa: E402

del edge_groups, entry_actions

# Issue 17's provider rules (FL010-FL014).
from flowctl.engine.lint import providers  # noqa: E402

del providers

# Issue 18's caller memory rules (FL312, FL313).
from flowctl.engine.lint import memory  # noqa: E402

del memory

# Issue 17's session rules: the evaluation at a call's end and what a session may
# override (FL114, FL115).
from flowctl.engine.lint import sessions  # noqa: E402

del sessions

# Issue 18's template rules (FL701-FL705).
from flowctl.engine.lint import inheritance  # noqa: E402

del inheritance

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
