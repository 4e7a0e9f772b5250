-- Version 3 → 4: refused deliveries are kept (the last 100 per integration), a rotated
-- webhook secret keeps its previous value valid for an overlap, every event keeps the trace
-- of the decisions made about it, replays by filter and GitHub reconciling are recorded, and
-- the outbox takes redelivery requests (its kind check is widened by rebuilding the table).

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

-- (An event's detail shows what became of the outbox rows it queued: index created with the
-- rebuilt outbox below.)

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

CREATE TABLE outbox_v4 (
    seq              INTEGER PRIMARY KEY AUTOINCREMENT,
    id               TEXT NOT NULL UNIQUE,
    kind             TEXT NOT NULL CHECK (kind IN ('SLACK_MESSAGE', 'COMMIT_STATUS', 'DEPLOYMENT', 'DEPLOYMENT_STATUS', 'ACCESS_CHECK', 'REDELIVERY')),
    integration_id   TEXT NOT NULL REFERENCES integrations (id) ON DELETE CASCADE,
    destination      TEXT NOT NULL,
    event_type       TEXT,
    dedupe_key       TEXT,
    coalesce_key     TEXT,
    subject_id       TEXT,
    source_event_id  TEXT,
    request          TEXT NOT NULL,
    status           TEXT NOT NULL CHECK (status IN ('PENDING', 'SENDING', 'SENT', 'FAILED')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    last_error       TEXT,
    next_attempt_at  INTEGER,
    created_at       INTEGER NOT NULL,
    sent_at          INTEGER,
    response_status  INTEGER,
    response_excerpt TEXT,
    UNIQUE (integration_id, dedupe_key)
);
INSERT INTO outbox_v4 SELECT seq, id, kind, integration_id, destination, event_type, dedupe_key,
    coalesce_key, subject_id, source_event_id, request, status, attempts, last_error,
    next_attempt_at, created_at, sent_at, response_status, response_excerpt FROM outbox;
DROP TABLE outbox;
ALTER TABLE outbox_v4 RENAME TO outbox;
CREATE INDEX outbox_open ON outbox (destination, seq) WHERE status IN ('PENDING', 'SENDING');
CREATE INDEX outbox_status ON outbox (status, seq);
CREATE INDEX outbox_subject ON outbox (subject_id, seq);
CREATE INDEX outbox_coalesce ON outbox (coalesce_key, status);
CREATE INDEX outbox_by_source_event ON outbox (source_event_id) WHERE source_event_id IS NOT NULL;

-- Reconciling with GitHub's delivery log: each check (what was listed, found missing and
-- asked for again), and every delivery asked for, so none is asked for twice.
CREATE TABLE reconcile_checks (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    integration_id  TEXT NOT NULL REFERENCES integrations (id) ON DELETE CASCADE,
    at              INTEGER NOT NULL,
    listed          INTEGER NOT NULL,                    -- deliveries in the remote's log
    missing         INTEGER NOT NULL,                    -- of them, never stored here
    requested       INTEGER NOT NULL,                    -- redeliveries asked for by this check
    error           TEXT
);
CREATE INDEX reconcile_checks_by_integration ON reconcile_checks (integration_id, seq);
CREATE TABLE redelivery_requests (
    integration_id  TEXT NOT NULL REFERENCES integrations (id) ON DELETE CASCADE,
    guid            TEXT NOT NULL,                       -- the delivery id (X-GitHub-Delivery)
    remote_id       INTEGER NOT NULL,                    -- GitHub's id of the attempt redelivered
    event_type      TEXT,
    requested_at    INTEGER NOT NULL,
    outbox_id       TEXT NOT NULL,
    PRIMARY KEY (integration_id, guid)
);

-- Slack through a bot token: the message posted for each eval run or deployment (updated in
-- place as its status changes) and the thread of each pull request (its first message).
CREATE TABLE slack_posts (
    integration_id  TEXT NOT NULL REFERENCES integrations (id) ON DELETE CASCADE,
    subject_id      TEXT NOT NULL,                       -- the eval run or deployment
    channel         TEXT NOT NULL,                       -- as Slack answered (an id)
    ts              TEXT NOT NULL,
    PRIMARY KEY (integration_id, subject_id)
);
CREATE TABLE slack_threads (
    integration_id  TEXT NOT NULL REFERENCES integrations (id) ON DELETE CASCADE,
    thread_key      TEXT NOT NULL,                       -- `repo#number`
    channel         TEXT NOT NULL,
    ts              TEXT NOT NULL,                       -- the thread's first message
    PRIMARY KEY (integration_id, thread_key)
);
