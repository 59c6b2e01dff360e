"""A process that writes to a store, for the reliability tests (run as a script).

python tests/storeproc.py many URL WORKER COUNT   push and publish COUNT versions,
                                                   retrying on conflicts; waits for
                                                   a line on stdin after "ready"
python tests/storeproc.py forever URL ROUND       push and publish until killed,
                                                   printing each committed version
python tests/storeproc.py hold URL NAME COUNT LEASE
                                                   a worker's StoreLibrary: record COUNT
                                                   sessions of tenant acme's published
                                                   flow (NAME-0, NAME-1...) holding
                                                   LEASE-second leases, print "holding"
                                                   and its holder id, then keep the
                                                   leases (and reap) until killed
"""

from __future__ import annotations

import asyncio
import json
import sys

from flowctl.engine.store import StoreConflict, TenantStore, open_store
from flowctl.engine.store.documents import push_document

FLOW = "shared"


def document(note: str) -> bytes:
    return json.dumps(
        {
            "flow_id": FLOW,
            "agents": [
                {
                    "name": "Main",
                    "instructions": f"Help the caller with their question. ({note})",
                    "edges": [
                        {
                            "name": "finish",
                            "description": "The caller has no more questions and says goodbye",
                            "target_agent": "Goodbye",
                        }
                    ],
                },
                {"name": "Goodbye", "instructions": "Say goodbye.", "end": True},
            ],
        }
    ).encode()


async def publish(t: TenantStore, version: int, actor: str) -> int:
    """Publish with the optimistic check, re-reading the pointer on each conflict."""
    conflicts = 0
    while True:
        current = await t.published(FLOW)
        try:
            await t.publish(FLOW, version, actor=actor, expected_current=current)
            return conflicts
        except StoreConflict:
            conflicts += 1


async def many(url: str, worker: str, count: int) -> None:
    async with await open_store(url, timeout=60) as store:
        t = store.tenant("acme")
        print("ready", flush=True)
        sys.stdin.readline()
        conflicts = 0
        for i in range(count):
            pushed = await push_document(t, document(f"worker {worker}, number {i}"), actor=worker)
            assert pushed.created
            conflicts += await publish(t, pushed.version.version, worker)
        print(json.dumps({"worker": worker, "conflicts": conflicts}), flush=True)


async def forever(url: str, round_: str) -> None:
    async with await open_store(url, timeout=60) as store:
        t = store.tenant("acme")
        i = 0
        while True:
            pushed = await push_document(t, document(f"round {round_}, number {i}"), actor="killed")
            await publish(t, pushed.version.version, "killed")
            print(pushed.version.version, flush=True)
            i += 1


async def hold(url: str, worker: str, count: int, lease: float) -> None:
    from flowctl.engine.runtime import Conversation
    from flowctl.worker.store_flows import StoreLibrary

    library = StoreLibrary(url, lease=lease, report=False)
    await library.preload()
    await library.start()
    assert library.leases is not None
    [served] = library.served()
    for i in range(count):
        conversation = Conversation(served.compiled, session_id=f"{worker}-{i}")
        await library.record(served, conversation, {"rule": "default"})
    print("holding", library.leases.lease.holder, flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    mode, url, name, *rest = sys.argv[1:]
    if mode == "many":
        asyncio.run(many(url, name, int(rest[0])))
    elif mode == "hold":
        asyncio.run(hold(url, name, int(rest[0]), float(rest[1])))
    else:
        asyncio.run(forever(url, name))
