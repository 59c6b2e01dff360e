"""Defaults that several layers show before they load what they configure: the CLI
prints them in ``--help`` and takes them as option defaults without importing the
store (msgspec, the runtime), so ``flowctl lint`` starts as fast without a store.
"""

__all__ = ["STORE_URL"]

# Where the store is unless `--store` or FLOWCTL_STORE says: a file in the working folder.
STORE_URL = "sqlite:///flowctl.db"
