"""The store's SQL, written once for every backend.

``store.SQLStore`` is the :class:`flowctl.engine.store.Store` over a connection
(``db``: the protocol each backend implements, with ``?`` placeholders); it hands out
one ``tenant.SQLTenantStore`` per tenant, made of parts over ``part.TenantPart``
(``flows``, ``sessions``, ``keys``, ``secrets``, ``knowledge``...); ``versioned`` is
what flows and templates share (push, the publish check, the pointer). ``events`` writes
sessions' events in groups and ``rows`` reads rows into records by column name. The backends
(``flowctl.engine.store.sqlite``, ``flowctl.engine.store.postgres``) connect, migrate
their own schema and turn their driver's errors into the store's.
"""
