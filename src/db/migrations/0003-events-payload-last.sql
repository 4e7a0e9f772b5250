-- Version 2 → 3: lists stay fast however many events are stored. The payload moves to the end
-- of the row (SQLite reads a row's columns in order: a column stored after a large payload
-- means walking the payload's overflow pages to reach it), payloads may be stored compressed
-- (`payload_encoding`), and one integration's events filtered by status have an index.
CREATE TABLE webhook_events_v3 (
    seq              INTEGER PRIMARY KEY AUTOINCREMENT,
    id               TEXT NOT NULL UNIQUE,
    integration_id   TEXT NOT NULL REFERENCES integrations (id) ON DELETE CASCADE,
    event_type       TEXT NOT NULL,
    delivery_id      TEXT,
    status           TEXT NOT NULL CHECK (status IN ('RECEIVED', 'PROCESSING', 'PROCESSED', 'FAILED')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    received_at      INTEGER NOT NULL,
    processed_at     INTEGER,
    next_attempt_at  INTEGER,
    error            TEXT,
    outcome          TEXT,
    content_type     TEXT,
    headers          TEXT NOT NULL,
    payload_encoding TEXT,
    payload          BLOB NOT NULL
);
INSERT INTO webhook_events_v3
    (seq, id, integration_id, event_type, delivery_id, status, attempts, received_at,
     processed_at, next_attempt_at, error, outcome, content_type, headers, payload_encoding,
     payload)
SELECT seq, id, integration_id, event_type, delivery_id, status, attempts, received_at,
       processed_at, next_attempt_at, error, outcome, content_type, headers, NULL, payload
FROM webhook_events;
DROP TABLE webhook_events;
ALTER TABLE webhook_events_v3 RENAME TO webhook_events;
CREATE UNIQUE INDEX webhook_events_delivery
    ON webhook_events (integration_id, delivery_id) WHERE delivery_id IS NOT NULL;
CREATE INDEX webhook_events_by_integration ON webhook_events (integration_id, seq);
CREATE INDEX webhook_events_by_integration_status ON webhook_events (integration_id, status, seq);
CREATE INDEX webhook_events_status ON webhook_events (status, seq);
CREATE INDEX webhook_events_received_at ON webhook_events (received_at);
