-- Version 2 → 3: event rows stay small however large deliveries are. The body and headers
-- move to `event_bodies` (one row per event, read only for an event's detail and its
-- processing), bodies may be stored compressed, and one integration's events filtered by
-- status have an index. SQLite rewrites a whole row on every UPDATE: with the body inline,
-- each status change rewrote the payload, and lists read past it.
CREATE TABLE webhook_events_v3 (
    seq              INTEGER PRIMARY KEY AUTOINCREMENT,
    id               TEXT NOT NULL UNIQUE,
    integration_id   TEXT NOT NULL REFERENCES integrations (id) ON DELETE CASCADE,
    event_type       TEXT NOT NULL,
    delivery_id      TEXT,
    status           TEXT NOT NULL CHECK (status IN ('RECEIVED', 'PROCESSING', 'PROCESSED', 'FAILED')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    error            TEXT,
    outcome          TEXT,
    content_type     TEXT,
    received_at      INTEGER NOT NULL,
    processed_at     INTEGER,
    next_attempt_at  INTEGER
);
INSERT INTO webhook_events_v3
    (seq, id, integration_id, event_type, delivery_id, status, attempts, error, outcome,
     content_type, received_at, processed_at, next_attempt_at)
SELECT seq, id, integration_id, event_type, delivery_id, status, attempts, error, outcome,
       content_type, received_at, processed_at, next_attempt_at
FROM webhook_events;
-- Dropping a parent table deletes its rows first, with their cascades: the bodies wait in a
-- temporary table while the events table is replaced.
CREATE TEMP TABLE bodies_v2 AS SELECT seq, headers, payload FROM webhook_events;
DROP TABLE webhook_events;
ALTER TABLE webhook_events_v3 RENAME TO webhook_events;
CREATE TABLE event_bodies (
    event_seq  INTEGER PRIMARY KEY REFERENCES webhook_events (seq) ON DELETE CASCADE,
    headers    TEXT NOT NULL,
    encoding   TEXT,
    body       BLOB NOT NULL
);
INSERT INTO event_bodies (event_seq, headers, encoding, body)
SELECT seq, headers, NULL, payload FROM bodies_v2;
DROP TABLE bodies_v2;
CREATE UNIQUE INDEX webhook_events_delivery
    ON webhook_events (integration_id, delivery_id) WHERE delivery_id IS NOT NULL;
CREATE INDEX webhook_events_by_integration ON webhook_events (integration_id, seq);
CREATE INDEX webhook_events_status ON webhook_events (status, seq)
    WHERE status IN ('RECEIVED', 'PROCESSING', 'FAILED');
CREATE INDEX webhook_events_by_integration_status ON webhook_events (integration_id, status, seq)
    WHERE status IN ('RECEIVED', 'PROCESSING', 'FAILED');
CREATE INDEX webhook_events_received_at ON webhook_events (received_at);
CREATE INDEX integrations_by_type ON integrations (type, is_active);

-- One row the health check rewrites: a read succeeds on a full disk, a read-only file or a
-- locked database; only a write tells whether deliveries can be stored.
CREATE TABLE health_probe (
    id  INTEGER PRIMARY KEY CHECK (id = 1),
    at  INTEGER NOT NULL
);
