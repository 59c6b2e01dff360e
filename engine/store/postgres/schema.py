"""The PostgreSQL store's schema and its migrations, applied in order on open.

The same tables as the SQLite store (``flowctl.engine.store.sqlite.schema``), so the
statements in ``flowctl.engine.store.sql`` run on both, in PostgreSQL's types: times
are ``double precision`` (seconds since the epoch, as the records hold them), event
bodies ``bytea``, documents and JSON values ``text`` exactly as stored on SQLite,
and text compared byte by byte (``COLLATE "C"``) so listings sort as on SQLite.

``flowctl_meta`` marks the schema as a flowctl store and holds the number of migrations
applied. A migration runs in one transaction with the version bump, under the store's
write lock, so two processes opening a new store at once apply it once. Migrations
are only ever appended: a released one is never edited.

Two triggers do what SQLite's do: flow versions refuse UPDATE and DELETE, and every
bump of the change counter sends ``NOTIFY flowctl_changes`` (payload: the schema and
the counter), which is how a publish reaches every worker at once.
"""

from __future__ import annotations

__all__ = ["CHANNEL", "LATEST", "MIGRATIONS"]

CHANNEL = "flowctl_changes"

_V1 = [
    """CREATE TABLE flowctl_meta (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        application TEXT COLLATE "C" NOT NULL,
        version INTEGER NOT NULL
    )""",
    "INSERT INTO flowctl_meta VALUES (1, 'flowctl', 0)",
    """CREATE TABLE tenants (
        tenant_id TEXT COLLATE "C" PRIMARY KEY,
        name TEXT COLLATE "C" NOT NULL DEFAULT '',
        routing TEXT COLLATE "C",
        max_concurrent_sessions INTEGER CHECK (max_concurrent_sessions > 0),
        created_at DOUBLE PRECISION NOT NULL,
        updated_at DOUBLE PRECISION NOT NULL,
        policy TEXT COLLATE "C",
        stored_versions INTEGER NOT NULL DEFAULT 0,
        stored_bytes BIGINT NOT NULL DEFAULT 0
    )""",
    """CREATE TABLE flows (
        tenant_id TEXT COLLATE "C" NOT NULL REFERENCES tenants (tenant_id),
        flow_id TEXT COLLATE "C" NOT NULL,
        latest INTEGER NOT NULL DEFAULT 0,
        published INTEGER,
        published_at DOUBLE PRECISION,
        publications INTEGER NOT NULL DEFAULT 0,
        created_at DOUBLE PRECISION NOT NULL,
        deleted_at DOUBLE PRECISION,
        disabled_at DOUBLE PRECISION,
        PRIMARY KEY (tenant_id, flow_id)
    )""",
    """CREATE TABLE flow_versions (
        tenant_id TEXT COLLATE "C" NOT NULL,
        flow_id TEXT COLLATE "C" NOT NULL,
        version INTEGER NOT NULL CHECK (version > 0),
        hash TEXT COLLATE "C" NOT NULL,
        document TEXT COLLATE "C" NOT NULL,
        author TEXT COLLATE "C" NOT NULL,
        created_at DOUBLE PRECISION NOT NULL,
        findings TEXT COLLATE "C" NOT NULL,
        errors INTEGER NOT NULL,
        warnings INTEGER NOT NULL,
        enabled INTEGER NOT NULL DEFAULT 1,
        PRIMARY KEY (tenant_id, flow_id, version),
        UNIQUE (tenant_id, flow_id, hash),
        FOREIGN KEY (tenant_id, flow_id) REFERENCES flows (tenant_id, flow_id)
    )""",
    """CREATE FUNCTION flowctl_versions_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN RAISE EXCEPTION 'flow versions are immutable'; END $$""",
    """CREATE TRIGGER flow_versions_never_change BEFORE UPDATE OR DELETE ON flow_versions
    FOR EACH ROW EXECUTE FUNCTION flowctl_versions_immutable()""",
    """CREATE TABLE publications (
        tenant_id TEXT COLLATE "C" NOT NULL,
        flow_id TEXT COLLATE "C" NOT NULL,
        seq INTEGER NOT NULL,
        version INTEGER,
        previous INTEGER,
        action TEXT COLLATE "C" NOT NULL CHECK (action IN ('publish', 'rollback', 'unpublish')),
        actor TEXT COLLATE "C" NOT NULL,
        at DOUBLE PRECISION NOT NULL,
        CHECK ((action = 'unpublish') = (version IS NULL)),
        PRIMARY KEY (tenant_id, flow_id, seq),
        FOREIGN KEY (tenant_id, flow_id, version)
            REFERENCES flow_versions (tenant_id, flow_id, version)
    )""",
    """CREATE TABLE sessions (
        tenant_id TEXT COLLATE "C" NOT NULL REFERENCES tenants (tenant_id),
        session_id TEXT COLLATE "C" NOT NULL,
        flow_id TEXT COLLATE "C" NOT NULL,
        version INTEGER NOT NULL,
        routing TEXT COLLATE "C",
        started_at DOUBLE PRECISION NOT NULL,
        ended_at DOUBLE PRECISION,
        end_reason TEXT COLLATE "C",
        events INTEGER NOT NULL DEFAULT 0,
        summary TEXT COLLATE "C",
        holder TEXT COLLATE "C",
        lease_until DOUBLE PRECISION,
        PRIMARY KEY (tenant_id, session_id),
        FOREIGN KEY (tenant_id, flow_id, version)
            REFERENCES flow_versions (tenant_id, flow_id, version)
    )""",
    "CREATE INDEX sessions_by_start ON sessions (tenant_id, started_at)",
    "CREATE INDEX sessions_running ON sessions (tenant_id) WHERE ended_at IS NULL",
    "CREATE INDEX sessions_by_holder ON sessions (holder) WHERE ended_at IS NULL",
    "CREATE INDEX sessions_by_lease ON sessions (lease_until) WHERE ended_at IS NULL",
    """CREATE TABLE session_events (
        tenant_id TEXT COLLATE "C" NOT NULL,
        session_id TEXT COLLATE "C" NOT NULL,
        seq INTEGER NOT NULL,
        kind TEXT COLLATE "C" NOT NULL,
        at DOUBLE PRECISION NOT NULL,
        body BYTEA NOT NULL,
        PRIMARY KEY (tenant_id, session_id, seq),
        FOREIGN KEY (tenant_id, session_id) REFERENCES sessions (tenant_id, session_id)
    )""",
    """CREATE TABLE callbacks (
        callback_id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
        tenant_id TEXT COLLATE "C" NOT NULL,
        session_id TEXT COLLATE "C" NOT NULL,
        caller TEXT COLLATE "C",
        due TEXT COLLATE "C",
        reason TEXT COLLATE "C",
        details TEXT COLLATE "C",
        busy INTEGER NOT NULL DEFAULT 0,
        requested_at DOUBLE PRECISION NOT NULL,
        status TEXT COLLATE "C" NOT NULL DEFAULT 'pending'
            CHECK (status IN ('pending', 'claimed', 'done', 'cancelled')),
        claimed_by TEXT COLLATE "C",
        claimed_at DOUBLE PRECISION,
        closed_by TEXT COLLATE "C",
        closed_at DOUBLE PRECISION,
        FOREIGN KEY (tenant_id, session_id) REFERENCES sessions (tenant_id, session_id)
    )""",
    "CREATE INDEX callbacks_by_tenant ON callbacks (tenant_id, status, requested_at)",
    """CREATE TABLE audit (
        entry_id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
        tenant_id TEXT COLLATE "C" NOT NULL,
        actor TEXT COLLATE "C" NOT NULL,
        action TEXT COLLATE "C" NOT NULL,
        subject TEXT COLLATE "C" NOT NULL,
        detail TEXT COLLATE "C",
        at DOUBLE PRECISION NOT NULL
    )""",
    "CREATE INDEX audit_by_tenant ON audit (tenant_id, entry_id)",
    "CREATE TABLE changes (id INTEGER PRIMARY KEY CHECK (id = 1), counter BIGINT NOT NULL)",
    "INSERT INTO changes VALUES (1, 0)",
    f"""CREATE FUNCTION flowctl_notify_change() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN PERFORM pg_notify('{CHANNEL}', current_schema() || ':' || NEW.counter); RETURN NULL;
    END $$""",
    """CREATE TRIGGER changes_notify AFTER UPDATE ON changes
    FOR EACH ROW EXECUTE FUNCTION flowctl_notify_change()""",
    """CREATE TABLE api_keys (
        key_id TEXT COLLATE "C" PRIMARY KEY,
        tenant_id TEXT COLLATE "C" NOT NULL REFERENCES tenants (tenant_id),
        role TEXT COLLATE "C" NOT NULL CHECK (role IN ('admin', 'developer', 'viewer')),
        name TEXT COLLATE "C" NOT NULL DEFAULT '',
        hash TEXT COLLATE "C" NOT NULL,
        created_at DOUBLE PRECISION NOT NULL,
        created_by TEXT COLLATE "C" NOT NULL,
        revoked_at DOUBLE PRECISION,
        revoked_by TEXT COLLATE "C"
    )""",
    "CREATE INDEX api_keys_by_tenant ON api_keys (tenant_id, created_at)",
    """CREATE TABLE secrets (
        tenant_id TEXT COLLATE "C" NOT NULL REFERENCES tenants (tenant_id),
        name TEXT COLLATE "C" NOT NULL,
        value TEXT COLLATE "C" NOT NULL,
        created_at DOUBLE PRECISION NOT NULL,
        updated_at DOUBLE PRECISION NOT NULL,
        updated_by TEXT COLLATE "C" NOT NULL,
        PRIMARY KEY (tenant_id, name)
    )""",
    """CREATE TABLE webhooks (
        tenant_id TEXT COLLATE "C" NOT NULL REFERENCES tenants (tenant_id),
        webhook_id TEXT COLLATE "C" NOT NULL,
        url TEXT COLLATE "C" NOT NULL,
        events TEXT COLLATE "C" NOT NULL,
        secret TEXT COLLATE "C" NOT NULL,
        created_at DOUBLE PRECISION NOT NULL,
        created_by TEXT COLLATE "C" NOT NULL,
        PRIMARY KEY (tenant_id, webhook_id)
    )""",
    """CREATE TABLE webhook_deliveries (
        tenant_id TEXT COLLATE "C" NOT NULL,
        delivery_id TEXT COLLATE "C" NOT NULL,
        webhook_id TEXT COLLATE "C" NOT NULL,
        event TEXT COLLATE "C" NOT NULL,
        session_id TEXT COLLATE "C",
        payload TEXT COLLATE "C" NOT NULL,
        created_at DOUBLE PRECISION NOT NULL,
        status TEXT COLLATE "C" NOT NULL DEFAULT 'pending'
            CHECK (status IN ('pending', 'delivering', 'delivered', 'dead')),
        attempts INTEGER NOT NULL DEFAULT 0,
        next_at DOUBLE PRECISION NOT NULL,
        claimed_by TEXT COLLATE "C",
        claimed_until DOUBLE PRECISION,
        last_error TEXT COLLATE "C",
        delivered_at DOUBLE PRECISION,
        PRIMARY KEY (tenant_id, delivery_id)
    )""",
    "CREATE INDEX webhook_deliveries_due ON webhook_deliveries (status, next_at)",
    "CREATE INDEX webhook_deliveries_by_tenant ON webhook_deliveries (tenant_id, created_at)",
]

_V2_MEMORY = [
    # As SQLite's _V8_MEMORY: caller memory, tenants' retention, sessions' callers.
    """CREATE TABLE caller_memory (
        tenant_id TEXT COLLATE "C" NOT NULL REFERENCES tenants (tenant_id),
        caller TEXT COLLATE "C" NOT NULL,
        variables TEXT COLLATE "C" NOT NULL,
        summary TEXT COLLATE "C",
        outcome TEXT COLLATE "C",
        flow_id TEXT COLLATE "C" NOT NULL,
        session_id TEXT COLLATE "C",
        calls INTEGER NOT NULL,
        first_at DOUBLE PRECISION NOT NULL,
        updated_at DOUBLE PRECISION NOT NULL,
        expires_at DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (tenant_id, caller)
    )""",
    "CREATE INDEX caller_memory_by_expiry ON caller_memory (tenant_id, expires_at)",
    "ALTER TABLE tenants ADD COLUMN memory_days INTEGER CHECK (memory_days > 0)",
    'ALTER TABLE sessions ADD COLUMN caller TEXT COLLATE "C"',
    "CREATE INDEX sessions_by_caller ON sessions (tenant_id, caller) WHERE caller IS NOT NULL",
    "CREATE INDEX callbacks_by_caller ON callbacks (tenant_id, caller) WHERE caller IS NOT NULL",
]

_V3_EVALUATION = [
    # How the call did against its flow's `evaluation` (engine/evaluation.py), written
    # once it is evaluated, after it ends (TenantStore.record_evaluation).
    'ALTER TABLE sessions ADD COLUMN evaluation TEXT COLLATE "C"',
]


_V4_TEMPLATES = [
    # As SQLite's _V8_TEMPLATES: templates versioned as flows are, a tenant's own
    # (`owner`: its id) or the operator's shared ones (`owner` ''), and the template
    # version each flow version was resolved against.
    """CREATE TABLE templates (
        owner TEXT COLLATE "C" NOT NULL,
        template_id TEXT COLLATE "C" NOT NULL,
        latest INTEGER NOT NULL DEFAULT 0,
        published INTEGER,
        published_at DOUBLE PRECISION,
        created_at DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (owner, template_id)
    )""",
    """CREATE TABLE template_versions (
        owner TEXT COLLATE "C" NOT NULL,
        template_id TEXT COLLATE "C" NOT NULL,
        version INTEGER NOT NULL CHECK (version > 0),
        hash TEXT COLLATE "C" NOT NULL,
        document TEXT COLLATE "C" NOT NULL,
        author TEXT COLLATE "C" NOT NULL,
        created_at DOUBLE PRECISION NOT NULL,
        findings TEXT COLLATE "C" NOT NULL,
        errors INTEGER NOT NULL,
        warnings INTEGER NOT NULL,
        template TEXT COLLATE "C",
        PRIMARY KEY (owner, template_id, version),
        UNIQUE (owner, template_id, hash),
        FOREIGN KEY (owner, template_id) REFERENCES templates (owner, template_id)
    )""",
    """CREATE FUNCTION flowctl_template_versions_immutable() RETURNS trigger
    LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'template versions are immutable'; END $$""",
    """CREATE TRIGGER template_versions_never_change BEFORE UPDATE OR DELETE
    ON template_versions FOR EACH ROW EXECUTE FUNCTION flowctl_template_versions_immutable()""",
    'ALTER TABLE flow_versions ADD COLUMN template TEXT COLLATE "C"',
]


_V5_KNOWLEDGE = [
    # The SQLite store's _V11_KNOWLEDGE tables (engine/store/sql/knowledge.py).
    """CREATE TABLE knowledge_documents (
        tenant_id TEXT COLLATE "C" NOT NULL REFERENCES tenants (tenant_id),
        base TEXT COLLATE "C" NOT NULL,
        name TEXT COLLATE "C" NOT NULL,
        revision INTEGER NOT NULL CHECK (revision > 0),
        format TEXT COLLATE "C" NOT NULL CHECK (format IN ('text', 'markdown', 'html')),
        hash TEXT COLLATE "C" NOT NULL,
        bytes INTEGER NOT NULL,
        chunks INTEGER NOT NULL,
        created_at DOUBLE PRECISION NOT NULL,
        updated_at DOUBLE PRECISION NOT NULL,
        updated_by TEXT COLLATE "C" NOT NULL,
        PRIMARY KEY (tenant_id, base, name)
    )""",
    """CREATE TABLE knowledge_revisions (
        tenant_id TEXT COLLATE "C" NOT NULL,
        base TEXT COLLATE "C" NOT NULL,
        name TEXT COLLATE "C" NOT NULL,
        revision INTEGER NOT NULL CHECK (revision > 0),
        format TEXT COLLATE "C" NOT NULL,
        hash TEXT COLLATE "C" NOT NULL,
        bytes INTEGER NOT NULL,
        content TEXT COLLATE "C" NOT NULL,
        author TEXT COLLATE "C" NOT NULL,
        created_at DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (tenant_id, base, name, revision),
        FOREIGN KEY (tenant_id, base, name) REFERENCES knowledge_documents (tenant_id, base, name)
    )""",
    """CREATE TABLE knowledge_chunks (
        chunk_id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
        tenant_id TEXT COLLATE "C" NOT NULL,
        base TEXT COLLATE "C" NOT NULL,
        document TEXT COLLATE "C" NOT NULL,
        seq INTEGER NOT NULL,
        scope TEXT COLLATE "C" NOT NULL,
        section TEXT COLLATE "C" NOT NULL,
        text TEXT COLLATE "C" NOT NULL,
        FOREIGN KEY (tenant_id, base, document)
            REFERENCES knowledge_documents (tenant_id, base, name)
    )""",
    "CREATE INDEX knowledge_chunks_by_document ON knowledge_chunks (tenant_id, base, document)",
    # In how many chunks of a base each word is (engine/store/sql/knowledge.py): what a
    # search reads to leave out the terms too common to rank anything.
    """CREATE TABLE knowledge_terms (
        tenant_id TEXT COLLATE "C" NOT NULL,
        base TEXT COLLATE "C" NOT NULL,
        term TEXT COLLATE "C" NOT NULL,
        chunks INTEGER NOT NULL,
        PRIMARY KEY (tenant_id, base, term)
    )""",
    """CREATE FUNCTION flowctl_chunks_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN RAISE EXCEPTION 'knowledge chunks are replaced, never updated'; END $$""",
    """CREATE TRIGGER knowledge_chunks_never_change BEFORE UPDATE ON knowledge_chunks
    FOR EACH ROW EXECUTE FUNCTION flowctl_chunks_immutable()""",
    # The full-text index: each chunk's terms (English stemming; its section weighted
    # above its text; its scope, the token naming its tenant and base, as it is) in a
    # table of their own with a GIN index, written by the trigger below on every insert
    # (a store copied in too) and gone with the chunk. Derived data: `flowctl store copy`
    # leaves it out, and the target's trigger rebuilds it.
    """CREATE TABLE knowledge_search (
        chunk_id BIGINT PRIMARY KEY REFERENCES knowledge_chunks (chunk_id) ON DELETE CASCADE,
        tenant_id TEXT COLLATE "C" NOT NULL,
        base TEXT COLLATE "C" NOT NULL,
        terms TSVECTOR NOT NULL
    )""",
    # Without GIN's pending list (`fastupdate`): an insert updates the index at once, so
    # no search reads a list of recent inserts beside it (which, after a large document,
    # doubled every search's time until a vacuum merged it).
    """CREATE INDEX knowledge_search_terms ON knowledge_search USING GIN (terms)
    WITH (fastupdate = off)""",
    """CREATE FUNCTION flowctl_index_chunk() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO knowledge_search (chunk_id, tenant_id, base, terms)
        VALUES (NEW.chunk_id, NEW.tenant_id, NEW.base,
                setweight(to_tsvector('english', NEW.section), 'A')
                || setweight(to_tsvector('english', NEW.text), 'D')
                || array_to_tsvector(ARRAY[NEW.scope]));
        RETURN NULL;
    END $$""",
    """CREATE TRIGGER knowledge_chunks_indexed AFTER INSERT ON knowledge_chunks
    FOR EACH ROW EXECUTE FUNCTION flowctl_index_chunk()""",
]


MIGRATIONS: list[list[str]] = [_V1, _V2_MEMORY, _V3_EVALUATION, _V4_TEMPLATES, _V5_KNOWLEDGE]
LATEST = len(MIGRATIONS)
