"""Defaults that several layers show before they load what they configure: the CLI
prints them in ``--help`` and takes them as option defaults without importing the
store (msgspec, the runtime), so ``flowctl lint`` starts as fast without a store.
"""

__all__ = ["LEASE_SECONDS", "MEMORY_DAYS", "STORE_URL"]

# Where the store is unless `--store` or FLOWCTL_STORE says: a file in the working folder.
STORE_URL = "sqlite:///flowctl.db"

# How long a worker's session stays held in the store without a heartbeat (the worker
# renews every third of it): a worker that dies frees its tenants' slots within this.
# Well above the store's busy timeout (5 s), so a briefly locked store lapses nothing.
LEASE_SECONDS = 30.0

# How long a caller's memory is kept after their last call when neither the flow
# (`memory.ttl_days`) nor the tenant (`memory_days`) says: a year, long enough to
# greet a patient at their annual checkup, not kept forever by default.
MEMORY_DAYS = 365
