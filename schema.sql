-- The whole current schema. Applied to a new database at start; PRAGMA user_version records
-- which version a database file holds (see src/db/migrate.rs). Times are Unix milliseconds (UTC).

CREATE TABLE integrations (
    id                   TEXT PRIMARY KEY,               -- UUIDv4: it appears in public webhook URLs
    type                 TEXT NOT NULL CHECK (type IN ('GITHUB', 'GITLAB', 'SLACK', 'WEBHOOK')),
    name                 TEXT NOT NULL,
    config               TEXT NOT NULL,                  -- JSON object, unmasked
    is_active            INTEGER NOT NULL DEFAULT 1,
    created_at           INTEGER NOT NULL,
    updated_at           INTEGER NOT NULL,
    rejected_count       INTEGER NOT NULL DEFAULT 0,     -- deliveries refused for bad signatures
    last_rejected_at     INTEGER,
    last_rejected_reason TEXT
);

CREATE TABLE webhook_events (
    seq              INTEGER PRIMARY KEY AUTOINCREMENT,  -- arrival order; the pagination cursor
    id               TEXT NOT NULL UNIQUE,
    integration_id   TEXT NOT NULL REFERENCES integrations (id) ON DELETE CASCADE,
    event_type       TEXT NOT NULL,
    delivery_id      TEXT,
    status           TEXT NOT NULL CHECK (status IN ('RECEIVED', 'PROCESSING', 'PROCESSED', 'FAILED')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    error            TEXT,
    outcome          TEXT,
    content_type     TEXT,
    headers          TEXT NOT NULL,                      -- JSON array of [name, value] pairs
    payload          BLOB NOT NULL,                      -- the raw body, exactly as received
    received_at      INTEGER NOT NULL,
    processed_at     INTEGER,
    next_attempt_at  INTEGER                             -- when a RECEIVED event may be claimed
);

-- Providers re-send a delivery with the same id; one row per (integration, delivery id).
CREATE UNIQUE INDEX webhook_events_delivery
    ON webhook_events (integration_id, delivery_id) WHERE delivery_id IS NOT NULL;
CREATE INDEX webhook_events_by_integration ON webhook_events (integration_id, seq);
-- The worker's queue (RECEIVED in arrival order) and the health page's counts by status.
CREATE INDEX webhook_events_status ON webhook_events (status, seq);
CREATE INDEX webhook_events_received_at ON webhook_events (received_at);
