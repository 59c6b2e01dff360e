"""Defaults that several layers show before they load what they configure: the CLI
prints them in ``--help`` and takes them as option defaults without importing the
store (msgspec, the runtime), so ``flowctl lint`` starts as fast without a store.
"""

__all__ = ["CALLS_PER_CORE", "LEASE_SECONDS", "LOAD_THRESHOLD", "MEMORY_DAYS", "STORE_URL"]

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

# How many voice calls a core carries before callers notice (bench/capacity_bench.py on
# the 2-core development VM, nothing else running: the knee, where a turn first waits
# 100 ms longer at p95 than with one call; one call per job process, Silero VAD, a turn
# every 3 s). A worker's load is its calls over this many per core, or its CPU use if
# that is higher (worker/capacity.py); LiveKit sends it no more jobs at LOAD_THRESHOLD.
CALLS_PER_CORE = 10.0
# Three quarters of the knee: room for calls that turn busier than the measured ones,
# and for the jobs LiveKit offers while a load report is on its way.
LOAD_THRESHOLD = 0.75
