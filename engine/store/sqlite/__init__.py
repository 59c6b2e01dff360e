"""The store on SQLite: one file in WAL mode, shared by every process on one machine.

``store`` opens the file and migrates it (``schema``) and builds the backend-neutral
``flowctl.engine.store.sql.store.SQLStore`` over ``db``, which holds the connections
and turns SQLite's errors into the store's. Open it with
``flowctl.engine.store.open_store("sqlite:///PATH")``.
"""

from flowctl.engine.store.sqlite.store import SQLiteStore

__all__ = ["SQLiteStore"]
