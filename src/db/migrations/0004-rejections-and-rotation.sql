-- Version 3 → 4: refused deliveries are kept (the last 100 per integration), a rotated
-- webhook secret keeps its previous value valid for an overlap, and every event keeps the
-- trace of the decisions made about it.

CREATE TABLE rejections (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    integration_id  TEXT NOT NULL REFERENCES integrations (id) ON DELETE CASCADE,
    at              INTEGER NOT NULL,
    status          INTEGER NOT NULL,                    -- the HTTP status answered
    reason          TEXT NOT NULL,
    source          TEXT,                                -- the sender's address
    headers         TEXT NOT NULL,                       -- JSON [[name, value]]; signatures cut short
    body_bytes      INTEGER NOT NULL,
    body_sha256     TEXT NOT NULL
);
CREATE INDEX rejections_by_integration ON rejections (integration_id, seq);

-- The secret before the last rotation (encrypted like stored secrets), accepted until
-- `previous_secret_until`, and when a delivery last used it.
ALTER TABLE integrations ADD COLUMN previous_secret_enc BLOB;
ALTER TABLE integrations ADD COLUMN previous_secret_until INTEGER;
ALTER TABLE integrations ADD COLUMN previous_secret_used_at INTEGER;

-- The same for a named secret that a config refers to as `${secret:NAME}`.
ALTER TABLE secrets ADD COLUMN previous_value_enc BLOB;
ALTER TABLE secrets ADD COLUMN previous_until INTEGER;

-- The decision trace: how the receiver verified the delivery, and what the last processing
-- attempt decided (JSON; written by the same UPDATE as the outcome).
ALTER TABLE webhook_events ADD COLUMN verified TEXT;
ALTER TABLE webhook_events ADD COLUMN trace TEXT;

-- An event's detail shows what became of the outbox rows it queued.
CREATE INDEX outbox_by_source_event ON outbox (source_event_id) WHERE source_event_id IS NOT NULL;

-- Replays by filter: re-queueing an integration's matching events a batch at a time, so a
-- large replay does not flood the worker; resumed after a restart.
CREATE TABLE replays (
    id              TEXT PRIMARY KEY,                    -- UUIDv7
    integration_id  TEXT NOT NULL REFERENCES integrations (id) ON DELETE CASCADE,
    filter          TEXT NOT NULL,                       -- JSON: status, eventType, from, to
    up_to_seq       INTEGER NOT NULL,                    -- the newest event when it began
    cursor_seq      INTEGER NOT NULL DEFAULT 0,          -- events up to here are handled
    total           INTEGER NOT NULL,                    -- matching events when it began
    requeued        INTEGER NOT NULL DEFAULT 0,
    skipped         INTEGER NOT NULL DEFAULT 0,          -- matched, but waiting or processing
    created_at      INTEGER NOT NULL,
    finished_at     INTEGER
);
