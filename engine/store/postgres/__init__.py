"""The store on PostgreSQL: one database shared by every worker on every host.

``store`` connects a pool (asyncpg, the ``postgres`` extra), migrates the schema
(``schema``) and builds the backend-neutral ``flowctl.engine.store.sql.store.SQLStore``
over ``db``, which runs the store's statements and turns the driver's errors into the
store's. Publishes reach workers by ``NOTIFY``. Open it with
``flowctl.engine.store.open_store("postgresql://USER@HOST/DATABASE")``.
"""

from flowctl.engine.store.postgres.store import PostgresStore

__all__ = ["PostgresStore"]
