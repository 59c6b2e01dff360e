"""The SQLite store's schema and its migrations, applied in order on open.

``PRAGMA user_version`` holds the number of migrations applied; ``PRAGMA
application_id`` marks the file as a flowctl store, so opening some other SQLite
database is refused instead of quietly adding tables to it. A migration is a list of
statements run in one ``BEGIN IMMEDIATE`` transaction with the version bump, so a
crash leaves the file at the old version or the new one, never between. Migrations
are only ever appended: a released one is never edited.
"""

from __future__ import annotations

__all__ = ["APPLICATION_ID", "LATEST", "MIGRATIONS"]

# "flow" in ASCII: `sqlite3 flowctl.db 'PRAGMA application_id'` prints 1718382455.
APPLICATION_ID = 0x666C6F77

_V1 = [
    # Tenants, with their routing document (the router's format, kept as JSON) and limits.
    """CREATE TABLE tenants (
        tenant_id TEXT PRIMARY KEY,
        name TEXT NOT NULL DEFAULT '',
        routing TEXT,
        max_concurrent_sessions INTEGER CHECK (max_concurrent_sessions > 0),
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL
    )""",
    # A flow: its latest version number, the published pointer and how often it moved.
    """CREATE TABLE flows (
        tenant_id TEXT NOT NULL REFERENCES tenants (tenant_id),
        flow_id TEXT NOT NULL,
        latest INTEGER NOT NULL DEFAULT 0,
        published INTEGER,
        published_at REAL,
        publications INTEGER NOT NULL DEFAULT 0,
        created_at REAL NOT NULL,
        PRIMARY KEY (tenant_id, flow_id)
    ) WITHOUT ROWID""",
    # Versions are immutable: the triggers below refuse any UPDATE or DELETE.
    """CREATE TABLE flow_versions (
        tenant_id TEXT NOT NULL,
        flow_id TEXT NOT NULL,
        version INTEGER NOT NULL CHECK (version > 0),
        hash TEXT NOT NULL,
        document TEXT NOT NULL,
        author TEXT NOT NULL,
        created_at REAL NOT NULL,
        findings TEXT NOT NULL,
        errors INTEGER NOT NULL,
        warnings INTEGER NOT NULL,
        PRIMARY KEY (tenant_id, flow_id, version),
        UNIQUE (tenant_id, flow_id, hash),
        FOREIGN KEY (tenant_id, flow_id) REFERENCES flows (tenant_id, flow_id)
    )""",
    """CREATE TRIGGER flow_versions_never_change BEFORE UPDATE ON flow_versions
    BEGIN SELECT RAISE(ABORT, 'flow versions are immutable'); END""",
    """CREATE TRIGGER flow_versions_never_go BEFORE DELETE ON flow_versions
    BEGIN SELECT RAISE(ABORT, 'flow versions are immutable'); END""",
    # Every move of the published pointer, numbered per flow: the pointer's history.
    """CREATE TABLE publications (
        tenant_id TEXT NOT NULL,
        flow_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        version INTEGER NOT NULL,
        previous INTEGER,
        action TEXT NOT NULL CHECK (action IN ('publish', 'rollback')),
        actor TEXT NOT NULL,
        at REAL NOT NULL,
        PRIMARY KEY (tenant_id, flow_id, seq),
        FOREIGN KEY (tenant_id, flow_id, version)
            REFERENCES flow_versions (tenant_id, flow_id, version)
    ) WITHOUT ROWID""",
    # Sessions and everything under them are keyed by tenant first: a session id is
    # unique within its tenant, and no lookup can cross into another tenant's rows.
    """CREATE TABLE sessions (
        tenant_id TEXT NOT NULL REFERENCES tenants (tenant_id),
        session_id TEXT NOT NULL,
        flow_id TEXT NOT NULL,
        version INTEGER NOT NULL,
        routing TEXT,
        started_at REAL NOT NULL,
        ended_at REAL,
        end_reason TEXT,
        events INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (tenant_id, session_id),
        FOREIGN KEY (tenant_id, flow_id, version)
            REFERENCES flow_versions (tenant_id, flow_id, version)
    )""",
    "CREATE INDEX sessions_by_start ON sessions (tenant_id, started_at)",
    "CREATE INDEX sessions_running ON sessions (tenant_id) WHERE ended_at IS NULL",
    # The engine's history and the transcript: kind, time and the msgspec JSON body.
    """CREATE TABLE session_events (
        tenant_id TEXT NOT NULL,
        session_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        kind TEXT NOT NULL,
        at REAL NOT NULL,
        body BLOB NOT NULL,
        PRIMARY KEY (tenant_id, session_id, seq),
        FOREIGN KEY (tenant_id, session_id) REFERENCES sessions (tenant_id, session_id)
    ) WITHOUT ROWID""",
    """CREATE TABLE callbacks (
        callback_id INTEGER PRIMARY KEY,
        tenant_id TEXT NOT NULL,
        session_id TEXT NOT NULL,
        due TEXT,
        reason TEXT,
        busy INTEGER NOT NULL DEFAULT 0,
        requested_at REAL NOT NULL,
        status TEXT NOT NULL DEFAULT 'pending'
            CHECK (status IN ('pending', 'done', 'cancelled')),
        FOREIGN KEY (tenant_id, session_id) REFERENCES sessions (tenant_id, session_id)
    )""",
    "CREATE INDEX callbacks_by_tenant ON callbacks (tenant_id, status, requested_at)",
    """CREATE TABLE audit (
        entry_id INTEGER PRIMARY KEY,
        tenant_id TEXT NOT NULL,
        actor TEXT NOT NULL,
        action TEXT NOT NULL,
        subject TEXT NOT NULL,
        detail TEXT,
        at REAL NOT NULL
    )""",
    "CREATE INDEX audit_by_tenant ON audit (tenant_id, entry_id)",
    # Bumped with every publish, rollback and tenant change; workers poll it.
    "CREATE TABLE changes (id INTEGER PRIMARY KEY CHECK (id = 1), counter INTEGER NOT NULL)",
    "INSERT INTO changes VALUES (1, 0)",
]

_V2 = [
    # API keys (``flowctl keys``, ``flowctl serve``): each belongs to one tenant and has
    # one role. Only the SHA-256 of the whole key is kept; ``key_id`` is its public
    # prefix (``fk_`` and 12 hex digits), shown in listings and in the audit log.
    """CREATE TABLE api_keys (
        key_id TEXT PRIMARY KEY,
        tenant_id TEXT NOT NULL REFERENCES tenants (tenant_id),
        role TEXT NOT NULL CHECK (role IN ('admin', 'developer', 'viewer')),
        name TEXT NOT NULL DEFAULT '',
        hash TEXT NOT NULL,
        created_at REAL NOT NULL,
        created_by TEXT NOT NULL,
        revoked_at REAL,
        revoked_by TEXT
    )""",
    "CREATE INDEX api_keys_by_tenant ON api_keys (tenant_id, created_at)",
    # A flow can be unpublished (no version for new sessions, history kept): the
    # pointer's history gains an `unpublish` move, the one with no version. SQLite
    # cannot change a CHECK constraint in place, so the table is rebuilt; no other
    # table refers to it.
    """CREATE TABLE publications_v2 (
        tenant_id TEXT NOT NULL,
        flow_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        version INTEGER,
        previous INTEGER,
        action TEXT NOT NULL CHECK (action IN ('publish', 'rollback', 'unpublish')),
        actor TEXT NOT NULL,
        at REAL NOT NULL,
        CHECK ((action = 'unpublish') = (version IS NULL)),
        PRIMARY KEY (tenant_id, flow_id, seq),
        FOREIGN KEY (tenant_id, flow_id, version)
            REFERENCES flow_versions (tenant_id, flow_id, version)
    ) WITHOUT ROWID""",
    "INSERT INTO publications_v2 SELECT * FROM publications",
    "DROP TABLE publications",
    "ALTER TABLE publications_v2 RENAME TO publications",
]

_V3 = [
    # The operator's grants to the tenant's flows (engine.boundary.TenantPolicy, as JSON;
    # NULL: the default policy, which grants nothing).
    "ALTER TABLE tenants ADD COLUMN policy TEXT",
    # What the tenant's versions take, kept by every push (versions are never deleted)
    # so the policy's quotas are checked without reading every document.
    "ALTER TABLE tenants ADD COLUMN stored_versions INTEGER NOT NULL DEFAULT 0",
    "ALTER TABLE tenants ADD COLUMN stored_bytes INTEGER NOT NULL DEFAULT 0",
    """UPDATE tenants SET
        stored_versions = (SELECT count(*) FROM flow_versions v
                           WHERE v.tenant_id = tenants.tenant_id),
        stored_bytes = (SELECT coalesce(sum(length(CAST(document AS BLOB))), 0)
                        FROM flow_versions v WHERE v.tenant_id = tenants.tenant_id)""",
    # The tenant's secrets: what `${NAME}` and `api_key_env` mean in its flows. Written
    # and rotated through the API and CLI, never returned by them; only the worker
    # reads values, to run the tenant's calls.
    """CREATE TABLE secrets (
        tenant_id TEXT NOT NULL REFERENCES tenants (tenant_id),
        name TEXT NOT NULL,
        value TEXT NOT NULL,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        updated_by TEXT NOT NULL,
        PRIMARY KEY (tenant_id, name)
    ) WITHOUT ROWID""",
]

_V4 = [
    # A deleted flow (`flowctl store delete`): gone from every read, refused for new
    # sessions. Its versions stay, immutable, because recorded sessions are pinned to
    # them (and stay readable); pushing a flow with its id again brings it back.
    "ALTER TABLE flows ADD COLUMN deleted_at REAL",
]

_V5_CALLBACKS = [
    # Callbacks are worked through: claimed by someone (who, when; no one else may then
    # take it), then done or cancelled (who, when). Each is written from the session's
    # recorded `callback` event, with who to call (`caller`) and the tool's other
    # arguments (`details`, JSON). SQLite cannot change a CHECK constraint in place,
    # so the table is rebuilt, as _V2 rebuilt publications; no other table refers to it.
    """CREATE TABLE callbacks_v5 (
        callback_id INTEGER PRIMARY KEY,
        tenant_id TEXT NOT NULL,
        session_id TEXT NOT NULL,
        caller TEXT,
        due TEXT,
        reason TEXT,
        details TEXT,
        busy INTEGER NOT NULL DEFAULT 0,
        requested_at REAL NOT NULL,
        status TEXT NOT NULL DEFAULT 'pending'
            CHECK (status IN ('pending', 'claimed', 'done', 'cancelled')),
        claimed_by TEXT,
        claimed_at REAL,
        closed_by TEXT,
        closed_at REAL,
        FOREIGN KEY (tenant_id, session_id) REFERENCES sessions (tenant_id, session_id)
    )""",
    """INSERT INTO callbacks_v5
        (callback_id, tenant_id, session_id, due, reason, busy, requested_at, status)
    SELECT callback_id, tenant_id, session_id, due, reason, busy, requested_at, status
    FROM callbacks""",
    "DROP TABLE callbacks",
    "ALTER TABLE callbacks_v5 RENAME TO callbacks",
    "CREATE INDEX callbacks_by_tenant ON callbacks (tenant_id, status, requested_at)",
    # A flow can be disabled (`flowctl store disable`): never routed to, whatever is
    # published, until enabled again.
    "ALTER TABLE flows ADD COLUMN disabled_at REAL",
    # A version's own `enabled` (the document's top-level `enabled`, default true), kept
    # at push so routing need not read documents. Versions pushed before are read once
    # here: the immutability trigger steps aside for that one update.
    "ALTER TABLE flow_versions ADD COLUMN enabled INTEGER NOT NULL DEFAULT 1",
    "DROP TRIGGER flow_versions_never_change",
    """UPDATE flow_versions SET enabled = 0
    WHERE CASE WHEN json_valid(document)
               THEN json_type(document, '$.enabled') = 'false' ELSE 0 END""",
    """CREATE TRIGGER flow_versions_never_change BEFORE UPDATE ON flow_versions
    BEGIN SELECT RAISE(ABORT, 'flow versions are immutable'); END""",
]

_V6_WEBHOOKS = [
    # A tenant's webhook subscriptions (engine/webhooks.py): where, which events, and
    # the secret deliveries are signed with (kept: signing needs it).
    """CREATE TABLE webhooks (
        tenant_id TEXT NOT NULL REFERENCES tenants (tenant_id),
        webhook_id TEXT NOT NULL,
        url TEXT NOT NULL,
        events TEXT NOT NULL,
        secret TEXT NOT NULL,
        created_at REAL NOT NULL,
        created_by TEXT NOT NULL,
        PRIMARY KEY (tenant_id, webhook_id)
    ) WITHOUT ROWID""",
    # The outbox: one row per event per subscription, written in the transaction of
    # what it tells of, claimed by a deliverer for a lease, retried until `dead`.
    """CREATE TABLE webhook_deliveries (
        tenant_id TEXT NOT NULL,
        delivery_id TEXT NOT NULL,
        webhook_id TEXT NOT NULL,
        event TEXT NOT NULL,
        session_id TEXT,
        payload TEXT NOT NULL,
        created_at REAL NOT NULL,
        status TEXT NOT NULL DEFAULT 'pending'
            CHECK (status IN ('pending', 'delivering', 'delivered', 'dead')),
        attempts INTEGER NOT NULL DEFAULT 0,
        next_at REAL NOT NULL,
        claimed_by TEXT,
        claimed_until REAL,
        last_error TEXT,
        delivered_at REAL,
        PRIMARY KEY (tenant_id, delivery_id)
    ) WITHOUT ROWID""",
    "CREATE INDEX webhook_deliveries_due ON webhook_deliveries (status, next_at)",
    "CREATE INDEX webhook_deliveries_by_tenant ON webhook_deliveries (tenant_id, created_at)",
    # What the call came to (engine/summary.py), written when it ends.
    "ALTER TABLE sessions ADD COLUMN summary TEXT",
]

_V7_LEASES = [
    # A running session's lease (engine/store/sql/leases.py): the worker process running
    # it (`holder`) renews `lease_until` every few seconds; once it lapses the session
    # no longer counts against its tenant's limit and is closed as `abandoned`. Ending
    # a session clears `lease_until` and keeps `holder` (who ran it). Sessions from
    # before this migration, like dry runs, have no lease and are never reaped.
    "ALTER TABLE sessions ADD COLUMN holder TEXT",
    "ALTER TABLE sessions ADD COLUMN lease_until REAL",
    # The heartbeat renews one holder's running sessions; the reaper looks for lapsed ones.
    "CREATE INDEX sessions_by_holder ON sessions (holder) WHERE ended_at IS NULL",
    "CREATE INDEX sessions_by_lease ON sessions (lease_until) WHERE ended_at IS NULL",
]

_V8_MEMORY = [
    # Caller memory (engine/memory.py): per tenant and caller id, what its flows mark
    # to remember, written when a call ends; `expires_at` is when it is no longer
    # loaded (then purged): the flow's `ttl_days`, capped by the tenant's `memory_days`.
    """CREATE TABLE caller_memory (
        tenant_id TEXT NOT NULL REFERENCES tenants (tenant_id),
        caller TEXT NOT NULL,
        variables TEXT NOT NULL,
        summary TEXT,
        outcome TEXT,
        flow_id TEXT NOT NULL,
        session_id TEXT,
        calls INTEGER NOT NULL,
        first_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        expires_at REAL NOT NULL,
        PRIMARY KEY (tenant_id, caller)
    ) WITHOUT ROWID""",
    "CREATE INDEX caller_memory_by_expiry ON caller_memory (tenant_id, expires_at)",
    "ALTER TABLE tenants ADD COLUMN memory_days INTEGER CHECK (memory_days > 0)",
    # Who called, so a caller's sessions can be found and deleted on request
    # (`flowctl callers forget`); NULL for sessions recorded before.
    "ALTER TABLE sessions ADD COLUMN caller TEXT",
    "CREATE INDEX sessions_by_caller ON sessions (tenant_id, caller) WHERE caller IS NOT NULL",
    "CREATE INDEX callbacks_by_caller ON callbacks (tenant_id, caller) WHERE caller IS NOT NULL",
]

_V9_EVALUATION = [
    # How the call did against its flow's `evaluation` (engine/evaluation.py), written
    # once it is evaluated, after it ends (TenantStore.record_evaluation).
    "ALTER TABLE sessions ADD COLUMN evaluation TEXT",
]

_V10_TEMPLATES = [
    # Templates (engine/extends.py), versioned as flows are: a tenant's own (`owner`: its
    # id) and the operator's shared ones (`owner` ''). No foreign key to tenants: the
    # operator's have no tenant. A version's `template` is the template version it
    # extends, pinned at push (JSON: template_id, version, shared).
    """CREATE TABLE templates (
        owner TEXT NOT NULL,
        template_id TEXT NOT NULL,
        latest INTEGER NOT NULL DEFAULT 0,
        published INTEGER,
        published_at REAL,
        created_at REAL NOT NULL,
        PRIMARY KEY (owner, template_id)
    ) WITHOUT ROWID""",
    """CREATE TABLE template_versions (
        owner TEXT NOT NULL,
        template_id TEXT NOT NULL,
        version INTEGER NOT NULL CHECK (version > 0),
        hash TEXT NOT NULL,
        document TEXT NOT NULL,
        author TEXT NOT NULL,
        created_at REAL NOT NULL,
        findings TEXT NOT NULL,
        errors INTEGER NOT NULL,
        warnings INTEGER NOT NULL,
        template TEXT,
        PRIMARY KEY (owner, template_id, version),
        UNIQUE (owner, template_id, hash),
        FOREIGN KEY (owner, template_id) REFERENCES templates (owner, template_id)
    )""",
    """CREATE TRIGGER template_versions_never_change BEFORE UPDATE ON template_versions
    BEGIN SELECT RAISE(ABORT, 'template versions are immutable'); END""",
    """CREATE TRIGGER template_versions_never_go BEFORE DELETE ON template_versions
    BEGIN SELECT RAISE(ABORT, 'template versions are immutable'); END""",
    # The template version a flow version was resolved against (NULL: none), pinned at
    # push: publishing another template version changes no flow version.
    "ALTER TABLE flow_versions ADD COLUMN template TEXT",
]

_V11_KNOWLEDGE = [
    # A tenant's knowledge bases (engine/store/sql/knowledge.py): each document as it is
    # now, every revision of it as added (kept until the document is deleted), and the
    # chunks of its current revision, which the full-text index below reads.
    """CREATE TABLE knowledge_documents (
        tenant_id TEXT NOT NULL REFERENCES tenants (tenant_id),
        base TEXT NOT NULL,
        name TEXT NOT NULL,
        revision INTEGER NOT NULL CHECK (revision > 0),
        format TEXT NOT NULL CHECK (format IN ('text', 'markdown', 'html')),
        hash TEXT NOT NULL,
        bytes INTEGER NOT NULL,
        chunks INTEGER NOT NULL,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        updated_by TEXT NOT NULL,
        PRIMARY KEY (tenant_id, base, name)
    ) WITHOUT ROWID""",
    """CREATE TABLE knowledge_revisions (
        tenant_id TEXT NOT NULL,
        base TEXT NOT NULL,
        name TEXT NOT NULL,
        revision INTEGER NOT NULL CHECK (revision > 0),
        format TEXT NOT NULL,
        hash TEXT NOT NULL,
        bytes INTEGER NOT NULL,
        content TEXT NOT NULL,
        author TEXT NOT NULL,
        created_at REAL NOT NULL,
        PRIMARY KEY (tenant_id, base, name, revision),
        FOREIGN KEY (tenant_id, base, name) REFERENCES knowledge_documents (tenant_id, base, name)
    ) WITHOUT ROWID""",
    # `chunk_id` is the full-text index's rowid: an INTEGER PRIMARY KEY, which VACUUM
    # never renumbers. `scope` is one token naming the chunk's tenant and base (a hash of
    # them), which the index holds so that a search matches its own base's chunks only.
    # Chunks are replaced with their document, never updated.
    """CREATE TABLE knowledge_chunks (
        chunk_id INTEGER PRIMARY KEY,
        tenant_id TEXT NOT NULL,
        base TEXT NOT NULL,
        document TEXT NOT NULL,
        seq INTEGER NOT NULL,
        scope TEXT NOT NULL,
        section TEXT NOT NULL,
        text TEXT NOT NULL,
        FOREIGN KEY (tenant_id, base, document)
            REFERENCES knowledge_documents (tenant_id, base, name)
    )""",
    "CREATE INDEX knowledge_chunks_by_document ON knowledge_chunks (tenant_id, base, document)",
    # In how many chunks of a base each word is (engine/store/sql/knowledge.py): what a
    # search reads to leave out the terms too common to rank anything.
    """CREATE TABLE knowledge_terms (
        tenant_id TEXT NOT NULL,
        base TEXT NOT NULL,
        term TEXT NOT NULL,
        chunks INTEGER NOT NULL,
        PRIMARY KEY (tenant_id, base, term)
    ) WITHOUT ROWID""",
    """CREATE TRIGGER knowledge_chunks_never_change BEFORE UPDATE ON knowledge_chunks
    BEGIN SELECT RAISE(ABORT, 'knowledge chunks are replaced, never updated'); END""",
    # The full-text index (BM25): an FTS5 table over the chunks' scope, section and text
    # ("external content": it keeps only the index, the text stays in knowledge_chunks),
    # kept in step by the triggers below, so every insert indexes, a store copied in
    # (`flowctl store copy`) included. Porter stemming: "hours" finds "hour".
    """CREATE VIRTUAL TABLE knowledge_fts USING fts5(
        scope, section, text, content='knowledge_chunks', content_rowid='chunk_id',
        tokenize='porter unicode61 remove_diacritics 2'
    )""",
    """CREATE TRIGGER knowledge_chunks_indexed AFTER INSERT ON knowledge_chunks BEGIN
        INSERT INTO knowledge_fts (rowid, scope, section, text)
        VALUES (new.chunk_id, new.scope, new.section, new.text);
    END""",
    """CREATE TRIGGER knowledge_chunks_unindexed AFTER DELETE ON knowledge_chunks BEGIN
        INSERT INTO knowledge_fts (knowledge_fts, rowid, scope, section, text)
        VALUES ('delete', old.chunk_id, old.scope, old.section, old.text);
    END""",
]

MIGRATIONS: list[list[str]] = [
    _V1,
    _V2,
    _V3,
    _V4,
    _V5_CALLBACKS,
    _V6_WEBHOOKS,
    _V7_LEASES,
    _V8_MEMORY,
    _V9_EVALUATION,
    _V10_TEMPLATES,
    _V11_KNOWLEDGE,
]
LATEST = len(MIGRATIONS)
