"""Import hygiene: the engine is pure, lint never loads LiveKit, the public surface is
pinned so it only changes on purpose."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT

import flowctl.engine.lint
import flowctl.engine.routing
import flowctl.engine.spec
import flowctl.engine.store
import flowctl.engine.tenants


def _python(code: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
    )
    return proc.stdout.strip()


# What neither the linter nor the store commands may load: LiveKit (~1.5 s), the worker,
# and the admin API's web stack (flowctl serve loads it, and only it).
WEB = "('livekit', 'flowctl.worker', 'flowctl.api', 'flowctl.console', 'litestar', 'uvicorn', 'jinja2')"
# A loaded module's package as the lists above name it: `flowctl.api` for our own,
# the distribution's top-level name for everyone else's.
TOP = (
    "top = lambda n: '.'.join(n.split('.')[:2]) if n.startswith('flowctl.') else n.split('.')[0]\n"
)


def test_engine_imports_neither_livekit_nor_click() -> None:
    code = (
        "import importlib, pkgutil, sys, flowctl.engine\n"
        "for m in pkgutil.walk_packages(flowctl.engine.__path__, 'flowctl.engine.'):\n"
        "    importlib.import_module(m.name)\n"
        + TOP
        + "print(sorted({top(n) for n in sys.modules} & {'livekit', 'click', 'flowctl.worker',\n"
        "             'flowctl.cli', 'flowctl.api', 'litestar', 'uvicorn'}))"
    )
    assert _python(code) == "[]"


def test_flowctl_lint_and_route_never_import_livekit_or_the_web_stack() -> None:
    code = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from flowctl.cli.main import cli\n"
        "result = CliRunner().invoke(cli, ['lint', 'flows', 'tests/fixtures/seed000.json'])\n"
        "assert result.exit_code == 1, result.output\n"
        "for args in (['rules'], ['rules', 'FL101'], ['schema'],\n"
        "             ['route', '--metadata', '{\"tenant_id\": \"dynamic-co\"}']):\n"
        "    assert CliRunner().invoke(cli, args).exit_code == 0\n"
        f"WEB = {WEB}\n" + TOP + "print(sorted(n for n in sys.modules if top(n) in WEB))"
    )
    assert _python(code) == "[]"


def test_flowctl_store_keys_never_import_livekit_or_the_web_stack(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'flowctl.db'}"
    code = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from flowctl.cli.main import cli\n"
        f"url = {url!r}\n"
        "env = {'FLOWCTL_STORE': url, 'FLOWCTL_TENANT': 'acme', 'FLOWCTL_USER': 'ci'}\n"
        "for args in (['store', 'init'], ['tenants', 'create', 'acme'],\n"
        "             ['tenants', 'policy', 'acme', '--allow-transfer', 'tel:+15555550100'],\n"
        "             ['store', 'push', 'flows/clinic.json', '--publish'], ['store', 'list'],\n"
        "             ['store', 'templates', 'push', 'flows/templates/clinic_desk.json'],\n"
        "             ['store', 'templates', 'list'], ['store', 'templates', 'usage'],\n"
        "             ['store', 'show', 'clinic'], ['store', 'diff', 'clinic', '1'],\n"
        "             ['tenants', 'list'], ['sessions', 'list'],\n"
        "             ['keys', 'create', '--role', 'viewer'], ['keys', 'list'], ['serve', '--help']):\n"
        "    result = CliRunner().invoke(cli, args, env=env)\n"
        "    assert result.exit_code == 0, (args, result.output)\n"
        f"WEB = {WEB}\n" + TOP + "print(sorted(n for n in sys.modules if top(n) in WEB))"
    )
    assert _python(code) == "[]"


def test_public_surface_of_engine_store() -> None:
    assert flowctl.engine.store.__all__ == [
        "ABANDONED",
        "DEFAULT_URL",
        "AbandonedSession",
        "ApiKey",
        "AuditEntry",
        "Callback",
        "CallbackStatus",
        "CallerMemory",
        "Delivery",
        "Document",
        "DocumentInfo",
        "DocumentPut",
        "DocumentRevision",
        "FlowInfo",
        "Forgotten",
        "KnowledgeBase",
        "Lease",
        "Outbound",
        "Publication",
        "PushResult",
        "Remembered",
        "RoutingValidator",
        "SecretInfo",
        "SessionEvent",
        "SessionInfo",
        "Store",
        "StoredFinding",
        "TemplateInfo",
        "TemplatePushResult",
        "TemplateRef",
        "TemplateShelf",
        "TemplateUse",
        "TemplateVersion",
        "TemplateVersionInfo",
        "Tenant",
        "TenantStore",
        "Turn",
        "Version",
        "VersionInfo",
        "Webhook",
        "open_store",
        # the exceptions, in errors.__all__'s order
        "AlreadyExists",
        "CallbackRefused",
        "CallerInCall",
        "FlowInUse",
        "NotFound",
        "NotPublishable",
        "PointerRefused",
        "QuotaExceeded",
        "SessionLimitReached",
        "StoreConflict",
        "StoreCorrupt",
        "StoreError",
        "StoreLocked",
        "StoreReadOnly",
        "StoreSchemaTooNew",
        "StoreUnavailable",
    ]
    for name in flowctl.engine.store.__all__:
        assert hasattr(flowctl.engine.store, name), name


def test_public_surface_of_engine_lint() -> None:
    assert flowctl.engine.lint.__all__ == [
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


def test_public_surface_of_engine_spec() -> None:
    assert flowctl.engine.spec.__all__ == [
        "BUILTIN_TOOLS",
        "FIELD_TYPES",
        "TEMPLATE_ID",
        "VARIABLE_TYPES",
        "Abstract",
        "BuiltinTool",
        "CatalogTool",
        "Constraints",
        "Context",
        "Edge",
        "EntryAction",
        "Evaluation",
        "Example",
        "FieldMetadata",
        "Flow",
        "GlobalEdge",
        "Goal",
        "HttpTool",
        "KnowledgeTool",
        "LLMConfig",
        "LintConfig",
        "Memory",
        "MemorySummary",
        "MockTool",
        "OnEnter",
        "Output",
        "OutputField",
        "Overridable",
        "Parameter",
        "PromptConfig",
        "PythonTool",
        "Removal",
        "STTConfig",
        "SchemaConfig",
        "SingleAgentConfig",
        "State",
        "TTSConfig",
        "Template",
        "TenantConfig",
        "Tool",
        "TracingConfig",
        "VADConfig",
        "Variable",
        "fits",
    ]
    for name in flowctl.engine.spec.__all__:
        assert hasattr(flowctl.engine.spec, name), name


def test_public_surface_of_engine_routing() -> None:
    assert flowctl.engine.routing.__all__ == [
        "ATTRIBUTES",
        "JOB_METADATA",
        "MAX_METADATA_BYTES",
        "ROOM_METADATA",
        "Catalog",
        "Rejected",
        "Request",
        "Routed",
        "decide",
        "pick_variant",
        "read_request",
        "route",
        "user_bucket",
    ]
    for name in flowctl.engine.routing.__all__:
        assert hasattr(flowctl.engine.routing, name), name


def test_public_surface_of_engine_tenants() -> None:
    assert flowctl.engine.tenants.__all__ == [
        "MAX_TENANT_BYTES",
        "FileCatalog",
        "FlowEntry",
        "Limits",
        "Rule",
        "Target",
        "Tenant",
        "TenantError",
        "Variant",
        "load_catalog",
    ]
    for name in flowctl.engine.tenants.__all__:
        assert hasattr(flowctl.engine.tenants, name), name


def test_public_surface_of_api() -> None:
    import flowctl.api

    assert flowctl.api.__all__ == ["Settings", "create_app", "livekit_from_env"]


def test_public_surface_of_console() -> None:
    import flowctl.console

    assert flowctl.console.__all__ == ["Console", "console_routes", "template_config"]


def test_flowctl_serve_app_with_its_console_never_imports_livekit() -> None:
    # The try-it chat and the replay need LiveKit's agents (1.5 s to import): they load
    # on first use, so `flowctl serve` starts without them.
    code = (
        "import sys, warnings\n"
        "warnings.simplefilter('ignore')\n"
        "from flowctl.api import Settings, create_app\n"
        "create_app(Settings(store_url='sqlite:///unused.db'))\n"
        + TOP
        + "print(sorted({top(n) for n in sys.modules} & {'livekit', 'flowctl.worker'}))"
    )
    assert _python(code) == "[]"


def test_packages_re_export_their_public_names_without_loading_them() -> None:
    code = (
        "import sys, flowctl.engine, flowctl.worker, flowctl.cli\n"
        "print(sorted(m for m in sys.modules if m.startswith(('flowctl.', 'livekit'))))\n"
        "from flowctl.engine import Conversation, compile_flow, load_path\n"
        "from flowctl.worker import run_scenario\n"
        "from flowctl.cli import cli\n"
        "print(Conversation.__module__, compile_flow.__module__, load_path.__module__)\n"
        "print(run_scenario.__module__, cli.name)"
    )
    assert _python(code).splitlines() == [
        "['flowctl.cli', 'flowctl.engine', 'flowctl.engine.exports', 'flowctl.worker']",
        "flowctl.engine.runtime flowctl.engine.compile flowctl.engine.load",
        "flowctl.worker.simulate cli",
    ]


def test_public_surfaces_of_the_packages() -> None:
    import flowctl.cli
    import flowctl.engine
    import flowctl.worker

    assert flowctl.engine.__all__ == [
        "Action",
        "CompiledFlow",
        "Conversation",
        "Event",
        "Flow",
        "FlowError",
        "FlowInvalidError",
        "FlowReadError",
        "Handoff",
        "Outcome",
        "Refused",
        "Rejected",
        "Routed",
        "check",
        "compile_flow",
        "lint_paths",
        "load_bytes",
        "load_path",
        "open_store",
        "route",
    ]
    assert flowctl.worker.__all__ == [
        "Call",
        "FlowAgent",
        "FlowServer",
        "OfflineLLM",
        "ScenarioResult",
        "ScriptedLLM",
        "WorkerConfig",
        "run_scenario",
        "run_scenarios",
    ]
    assert flowctl.cli.__all__ == ["cli"]
    for package in (flowctl.engine, flowctl.worker, flowctl.cli):
        for name in package.__all__:
            value = getattr(package, name)  # a union (Event) has no __name__ of its own
            assert getattr(value, "__name__", name) == name, (package.__name__, name)
        assert set(package.__all__) <= set(dir(package))
    with pytest.raises(AttributeError, match=r"^module 'flowctl\.engine' has no attribute 'nope'$"):
        flowctl.engine.nope  # noqa: B018
