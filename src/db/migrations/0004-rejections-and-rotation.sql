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

-- How the receiver checked the delivery (verification, type, delivery id): a JSON array.
ALTER TABLE event_bodies ADD COLUMN checks TEXT;

-- What processing decided, the last attempt's steps (a JSON array); written with the outcome.
CREATE TABLE event_traces (
    event_seq  INTEGER PRIMARY KEY REFERENCES webhook_events (seq) ON DELETE CASCADE,
    steps      TEXT NOT NULL
);

-- An event's detail shows what became of the outbox rows it queued.
CREATE INDEX outbox_by_source_event ON outbox (source_event_id) WHERE source_event_id IS NOT NULL;
