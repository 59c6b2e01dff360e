"""The store side of ``flowctl simulate``: ``--record`` records each dry-run session in a
tenant's store, as the worker records a call, so ``flowctl sessions show`` and
``--replay`` can be tried with no LiveKit, and keeps what the callers of its scenarios
leave in the tenant's memory of them; ``--replay`` runs a recorded session again.

A session is recorded as the tenant's published version of the flow: that is the
version a call routed to the flow would run, and the one ``--replay`` runs by default."""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple, NoReturn, TypeVar

import click

from flowctl.cli.check import compiled
from flowctl.cli.exits import EXIT_FINDINGS, Failure
from flowctl.cli.store_common import store_hints

if TYPE_CHECKING:
    from flowctl.engine.boundary import ToolCatalog
    from flowctl.engine.compile import CompiledFlow
    from flowctl.engine.knowledge.files import FileKnowledge
    from flowctl.engine.knowledge.retrieval import Retriever
    from flowctl.engine.library import SessionRecord
    from flowctl.engine.memory import MemoryBank
    from flowctl.engine.runtime import Conversation
    from flowctl.engine.scenario import Scenario
    from flowctl.worker.recording import Record

__all__ = ["RecordTo", "record_to", "replay_session", "with_knowledge", "with_record"]

T = TypeVar("T")


class RecordTo(NamedTuple):
    """Where ``--record`` writes: the store and the tenant."""

    url: str
    tenant: str
    catalog: ToolCatalog | None


async def with_record(
    to: RecordTo | None,
    flow_id: str,
    run: Callable[[Record | None, MemoryBank], Awaitable[T]],
) -> T:
    """``run`` with a ``Record`` that starts each session's record in ``to`` (None: no
    record), printing each session's id on stderr, and where callers are remembered:
    the tenant's store with a record, else a memory of this run's own. Refused when
    ``flow_id`` has no published version for the tenant."""
    if to is None:
        from flowctl.engine.memory import InMemoryBank

        return await run(None, InMemoryBank())
    from flowctl.engine.store import open_store
    from flowctl.worker.store_flows import SessionRecorder

    async with await open_store(to.url, catalog=to.catalog) as store:
        tenant_store = store.tenant(to.tenant)
        # The tenant's flows first: an unknown tenant is named as such, not as a flow.
        pushed = {info.flow_id for info in await tenant_store.flows()}
        version = await tenant_store.published(flow_id) if flow_id in pushed else None
        if version is None:
            raise Failure(
                store_hints(
                    f"--record: flow `{flow_id}` is not published for tenant `{to.tenant}`; "
                    f"publish it with `flowctl store push FLOW -t {to.tenant} --publish`"
                )
            )

        async def record(conversation: Conversation) -> SessionRecord:
            recorder = await SessionRecorder.start(
                tenant_store, conversation, flow_id=flow_id, version=version
            )
            conversation.session_id = recorder.session_id  # what its caller's memory names
            click.echo(f"recorded: {recorder.session_id}", err=True)
            return recorder

        return await run(record, tenant_store)


async def with_knowledge(
    documents: FileKnowledge | None, run: Callable[[Retriever | None], Awaitable[T]]
) -> T:
    """``run`` with the dry run's knowledge bases indexed (None: none given), closed
    after."""
    if documents is None:
        return await run(None)
    async with documents:
        return await run(documents)


def record_to(
    record: bool, url: str, tenant: str | None, catalog: ToolCatalog | None
) -> RecordTo | None:
    """``--record``'s destination, or None without ``--record``."""
    if not record:
        return None
    if tenant is None:
        raise Failure("--record needs --tenant (or FLOWCTL_TENANT)")
    return RecordTo(url, tenant, catalog)


def replay_session(
    session_id: str,
    against: str | None,
    url: str,
    tenant: str,
    fmt: str,
    catalog: ToolCatalog | None,
) -> NoReturn:
    """``simulate --replay``: the recorded session as a scenario, run against a version
    (a stored one as its tenant's flow, held to its policy; a file as the operator's)."""
    import asyncio

    from flowctl.cli.store_common import echo_json
    from flowctl.engine.replay import recorded, stored_version
    from flowctl.engine.store import open_store
    from flowctl.worker.simulate import run_scenario

    async def fetch() -> tuple[Scenario, CompiledFlow, str]:
        async with await open_store(url, catalog=catalog) as store:
            ts = store.tenant(tenant)
            scenario, info = await recorded(ts, session_id)
            if against is not None and not against.isdigit():
                return scenario, compiled(Path(against), "replay against it", catalog), against
            number = int(against) if against is not None else None
            number, version = await stored_version(ts, info.flow_id, number)
            label = f"{info.flow_id} v{number} (recorded on v{info.version})"
            return scenario, version, label

    scenario, machine, label = asyncio.run(fetch())
    result = asyncio.run(run_scenario(machine, scenario))
    if fmt == "json":
        echo_json(result)
    elif result.passed:
        click.echo(f"same path: {len(result.turns)} turns of {session_id} replayed on {label}")
    else:
        first = next((t for t in result.turns if t.problems), None)
        where = (
            f"turn {first.number} ({first.user!r}): " + "; ".join(first.problems)
            if first is not None
            else result.error
        )
        click.echo(f"diverges on {label}: {where}")
    sys.exit(0 if result.passed else EXIT_FINDINGS)
