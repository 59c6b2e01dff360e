"""A webhook deliverer in a process of its own, for the crash test (run as a script).

python tests/hookproc.py STORE_URL RECEIVER_PORT   deliver until killed, claiming for a
                                                   one-second lease, printing "ready"
"""

from __future__ import annotations

import asyncio
import sys

from flowctl.engine.egress import EgressPolicy
from flowctl.engine.store import open_store
from flowctl.worker.webhooks import Deliverer


async def main(url: str, port: int) -> None:
    egress = EgressPolicy(hosts=(f"127.0.0.1:{port}",), https_only=False, allow_private=True)
    async with await open_store(url) as store:
        deliverer = Deliverer(store, egress=egress, lease=1.0, batch=10, idle=0.01)
        print("ready", flush=True)
        await deliverer.run(asyncio.Event())


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2])))
