"""The store on SQLite: one file in WAL mode, shared by every process on one machine.

``store`` opens the file and migrates it (``schema``), and hands out one
``tenant.SQLiteTenantStore`` per tenant, made of parts over ``part.TenantPart``
(``flows``, ``sessions``, ``keys``, ``secrets``); ``events`` writes sessions' events in
groups, ``db`` holds the connections and turns SQLite's errors into the store's, and
``rows`` reads rows into records by column name. Open it with
``flowctl.engine.store.open_store("sqlite:///PATH")``.
"""

from flowctl.engine.store.sqlite.store import SQLiteStore

__all__ = ["SQLiteStore"]
