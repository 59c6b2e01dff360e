"""Templates in the store, on both backends: versioned and published as flows are, a
tenant's own and the operator's shared ones; a flow version pins the template version
it was resolved against, so publishing a template changes no flow (running, published
or compiled) until the flow is pushed and published again."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from click.testing import CliRunner
from storekit import extending_doc, opened, store_url, template_doc

from flowctl.cli.main import cli
from flowctl.engine.boundary import TenantPolicy
from flowctl.engine.cache import FlowCache
from flowctl.engine.compile import CompiledFlow
from flowctl.engine.runtime import Conversation
from flowctl.engine.store import (
    NotFound,
    NotPublishable,
    QuotaExceeded,
    Store,
    StoreError,
    TemplateRef,
)
from flowctl.engine.store.documents import (
    push_document,
    push_shared_template,
    push_template_document,
)

ACME_DESK_V1 = TemplateRef(template_id="desk", version=1)


def _greeting(compiled: CompiledFlow) -> str | None:
    """What a session of ``compiled`` says first."""
    return Conversation(compiled).greeting()


@pytest.fixture
async def store(store_target: Any) -> AsyncIterator[Store]:
    s = await opened(store_target)
    await s.create_tenant("acme", actor="admin")
    yield s
    await s.close()


async def _template(s: Store, note: str = "", **more: Any) -> None:
    """Push and publish a version of acme's template `desk`."""
    acme = s.tenant("acme")
    pushed = await push_template_document(acme, template_doc(note=note, **more), actor="ana")
    await acme.publish_template("desk", pushed.version.version, actor="ana")


async def test_templates_are_pushed_and_published_as_flows_are(store: Store) -> None:
    acme = store.tenant("acme")
    first = await push_template_document(acme, template_doc(), actor="ana")
    assert first.created and first.version.version == 1 and first.version.template is None
    again = await push_template_document(acme, template_doc(), actor="ana")
    assert (again.created, again.version.version) == (False, 1)
    await push_template_document(acme, template_doc(note=" Hi."), actor="bo")
    info = await acme.publish_template("desk", 2, actor="bo")
    assert (info.template_id, info.shared, info.latest, info.published) == ("desk", False, 2, 2)
    assert [(v.version, v.author) for v in await acme.template_versions("desk")] == [
        (1, "ana"),
        (2, "bo"),
    ]
    assert (await acme.template("desk")).version == 2
    assert json.loads((await acme.template("desk", 1)).document)["template_id"] == "desk"
    actions = [(e.action, e.subject) for e in await acme.audit()]
    assert actions[:3] == [
        ("template.publish", "desk"),
        ("template.push", "desk"),
        ("template.push", "desk"),
    ]


async def test_a_template_with_lint_errors_cannot_be_published(store: Store) -> None:
    acme = store.tenant("acme")
    broken = template_doc(agents=[{"name": "Main", "instructions": "Hi", "tools": ["nosuch"]}])
    pushed = await push_template_document(acme, broken, actor="ana")
    assert pushed.version.errors == 1
    with pytest.raises(NotPublishable) as refused:
        await acme.publish_template("desk", 1, actor="ana")
    assert str(refused.value) == (
        "Cannot publish template `desk` v1: it has 1 lint error: 19:9: FL104 Unknown tool "
        "`nosuch` - at `$.agents[0].tools[0]`. Fix them and push a new version"
    )


async def test_a_flow_pins_the_template_version_it_was_resolved_against(store: Store) -> None:
    acme = store.tenant("acme")
    await _template(store)
    v1 = await push_document(acme, extending_doc(), actor="ana")
    assert (v1.version.version, v1.version.template) == (1, ACME_DESK_V1)
    await acme.publish("clinic", 1, actor="ana")
    cache = FlowCache()
    before = await cache.compiled(acme, "clinic")
    assert _greeting(before) == "Thanks for calling Acme."

    await _template(store, note=" Version two.")  # the template moves on
    assert await acme.published("clinic") == 1
    stored = await acme.version("clinic", 1)
    assert stored.template == ACME_DESK_V1  # the published flow does not
    fresh = FlowCache()
    assert _greeting(await fresh.compiled(acme, "clinic", 1)) == "Thanks for calling Acme."

    v2 = await push_document(acme, extending_doc(), actor="ana")  # the same document again
    assert (v2.created, v2.version.version) == (True, 2)
    assert v2.version.template == TemplateRef(template_id="desk", version=2)
    assert v2.version.hash != v1.version.hash
    await acme.publish("clinic", 2, actor="ana")
    after = await cache.compiled(acme, "clinic")
    assert _greeting(after) == "Thanks for calling Acme. Version two."
    same = await push_document(acme, extending_doc(), actor="ana")
    assert (same.created, same.version.version) == (False, 2)
    assert [
        (u.flow_id, u.version, u.published, str(u.template)) for u in await acme.template_usage()
    ] == [
        ("clinic", 1, False, "desk@v1"),
        ("clinic", 2, True, "desk@v2"),
    ]


async def test_a_flow_on_an_unpublished_or_unknown_template_cannot_be_published(
    store: Store,
) -> None:
    acme = store.tenant("acme")
    pushed = await push_document(acme, extending_doc(template="desk"), actor="ana")
    version = await acme.version("clinic", pushed.version.version)
    assert [(f.row, f.column, f.code, f.message, f.file) for f in version.findings] == [
        (3, 14, "FL701", "Unknown template `desk` - at `$.extends`", None)
    ]
    await push_template_document(acme, template_doc(), actor="ana")  # not published
    pushed = await push_document(acme, extending_doc("front"), actor="ana")
    version = await acme.version("front", 1)
    assert [f.message for f in version.findings] == [
        "Template `desk` has no published version; publish one with "
        "`flowctl store templates publish desk VERSION` - at `$.extends`"
    ]
    with pytest.raises(NotPublishable):
        await acme.publish("front", 1, actor="ana")


async def test_findings_in_a_template_are_kept_with_the_template_version(store: Store) -> None:
    acme = store.tenant("acme")
    variables = {
        "company": {"type": "str", "description": "The company's name."},
        "spare": {"type": "str", "description": "Read by no one."},
    }
    await _template(store, variables=variables)  # clean as a template: a flow may read it
    pushed = await push_document(acme, extending_doc(), actor="ana")
    assert (pushed.version.errors, pushed.version.warnings) == (0, 1)
    [finding] = (await acme.version("clinic", 1)).findings
    assert (finding.file, finding.row, finding.column, finding.code, finding.message) == (
        "desk@v1",
        13,
        5,
        "FL303",
        "Variable `spare` is declared but never used - at `$.variables.spare`",
    )


async def test_shared_templates_are_the_operators_and_a_tenants_own_come_first(
    store: Store,
) -> None:
    shelf = store.shared_templates()
    await push_shared_template(shelf, template_doc(note=" (shared)"), actor="op")
    await shelf.publish_template("desk", 1, actor="op")
    acme = store.tenant("acme")
    pushed = await push_document(acme, extending_doc(), actor="ana")
    assert pushed.version.template == TemplateRef(template_id="desk", version=1, shared=True)
    compiled = await FlowCache().compiled(acme, "clinic", 1)
    assert _greeting(compiled) == "Thanks for calling Acme. (shared)"
    assert [(t.template_id, t.shared) for t in await acme.templates()] == [("desk", True)]
    await _template(store)  # acme's own `desk` now shadows the shared one for new pushes
    assert [(t.template_id, t.shared) for t in await acme.templates()] == [
        ("desk", False),
        ("desk", True),
    ]
    again = await push_document(acme, extending_doc(), actor="ana")
    assert again.version.template == ACME_DESK_V1
    # the operator's shelf holds only the operator's
    assert [t.template_id for t in await shelf.templates()] == ["desk"]
    assert (await shelf.template_versions("desk"))[0].shared
    with pytest.raises(NotFound) as missing:
        await shelf.template("nosuch")
    assert str(missing.value) == "Unknown shared template `nosuch`"


async def test_template_versions_count_against_the_tenants_quota(store: Store) -> None:
    acme = store.tenant("acme")
    await acme.set_policy(TenantPolicy(max_versions=1), actor="admin")
    await push_template_document(acme, template_doc(), actor="ana")
    with pytest.raises(QuotaExceeded):
        await push_document(acme, extending_doc(), actor="ana")
    assert (await acme.info()).tenant_id == "acme"


async def test_a_template_is_not_a_flow_and_a_flow_is_not_a_template(store: Store) -> None:
    acme = store.tenant("acme")
    with pytest.raises(StoreError) as as_flow:
        await push_document(acme, template_doc(), actor="ana")
    assert str(as_flow.value) == (
        "`desk` is a template, not a flow; push it with `flowctl store templates push`"
    )
    with pytest.raises(StoreError) as as_template:
        await push_template_document(acme, extending_doc(), actor="ana")
    assert str(as_template.value) == (
        "`clinic` is a flow, not a template; push it with `flowctl store push`"
    )


# --- the command line -------------------------------------------------------------------


def _run(url: str, *args: str) -> tuple[int, str, str]:
    env = {"FLOWCTL_STORE": url, "FLOWCTL_USER": "ana", "FLOWCTL_TENANT": ""}
    result = CliRunner().invoke(cli, list(args), env=env)
    return result.exit_code, result.stdout, result.stderr


def test_store_templates_commands_show_which_flows_use_which_version(
    store_target: Any, tmp_path: Any
) -> None:
    url = store_url(store_target)
    assert _run(url, "store", "init")[0] == 0
    assert _run(url, "tenants", "create", "acme")[0] == 0
    template = tmp_path / "desk.json"
    template.write_bytes(template_doc())
    flow = tmp_path / "clinic.json"
    flow.write_bytes(extending_doc())
    code, out, _ = _run(url, "store", "templates", "push", str(template), "--shared", "--publish")
    assert code == 0
    assert out.splitlines()[1] == "shared:desk v1 published (was none)"
    assert _run(url, "store", "push", str(flow), "-t", "acme", "--publish")[0] == 0
    template.write_bytes(template_doc(note=" Two."))
    code, out, _ = _run(url, "store", "templates", "push", str(template), "--shared")
    assert code == 0 and out.startswith("shared:desk v2 pushed (")
    assert _run(url, "store", "templates", "publish", "desk", "2", "--shared") == (
        0,
        "shared:desk v2 published (was v1)\n",
        "",
    )
    code, out, _ = _run(url, "store", "templates", "usage", "-t", "acme")
    assert code == 0
    assert out == (
        "FLOW    VERSION  TEMPLATE        PUBLISHED NOW\nclinic  v1 *     shared:desk@v1  v2\n"
    )
    code, out, _ = _run(url, "store", "show", "clinic", "-t", "acme", "--resolved")
    assert code == 0
    assert json.loads(out)["agents"][0]["on_enter_prompt"] == "Thanks for calling {{company}}."
    assert _run(url, "store", "push", str(flow), "-t", "acme", "--publish")[1].splitlines() == [
        f"clinic v2 pushed ({_hash(url)}, clean)",
        "clinic v2 published (was v1)",
    ]
    code, out, _ = _run(url, "store", "templates", "usage", "-t", "acme")
    assert out.splitlines()[1:] == [
        "clinic  v1       shared:desk@v1  v2",
        "clinic  v2 *     shared:desk@v2  v2",
    ]
    code, out, _ = _run(url, "store", "show", "clinic", "-t", "acme", "--resolved")
    assert json.loads(out)["agents"][0]["on_enter_prompt"] == "Thanks for calling {{company}}. Two."
    code, _, err = _run(url, "store", "templates", "list")
    assert (code, err) == (
        2,
        "flowctl: error: Name whose templates: `--tenant TENANT`, or `--shared`\n",
    )


def _hash(url: str) -> str:
    code, out, _ = _run(url, "store", "list", "clinic", "-t", "acme", "--format", "json")
    assert code == 0
    return str(json.loads(out)[-1]["hash"][:12])
