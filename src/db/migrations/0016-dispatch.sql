-- Version 15 → 16: eval runs dispatched to an HTTP runner. Outbox rows of kind DISPATCH (SQLite
-- changes a CHECK by rebuilding its table), and the runs' callback tokens: stored as hashes,
-- each good for one run until it ends or the token expires.
CREATE TABLE run_tokens (
    hash       TEXT PRIMARY KEY,                       -- hex SHA-256 of the token
    run_id     TEXT NOT NULL REFERENCES eval_runs (id) ON DELETE CASCADE,
    expires_at INTEGER NOT NULL
);
CREATE INDEX run_tokens_by_run ON run_tokens (run_id);
CREATE TABLE outbox_v16 (
    seq              INTEGER PRIMARY KEY AUTOINCREMENT,
    id               TEXT NOT NULL UNIQUE,
    kind             TEXT NOT NULL CHECK (kind IN ('SLACK_MESSAGE', 'COMMIT_STATUS', 'DEPLOYMENT', 'DEPLOYMENT_STATUS', 'ACCESS_CHECK', 'REDELIVERY', 'CHECK_RUN', 'CHECK_RUN_UPDATE', 'DISPATCH')),
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
    claimed_by       TEXT,
    called_url       TEXT,
    UNIQUE (integration_id, dedupe_key)
);
INSERT INTO outbox_v16 SELECT seq, id, kind, integration_id, destination, event_type, dedupe_key,
    coalesce_key, subject_id, source_event_id, request, status, attempts, last_error,
    next_attempt_at, created_at, sent_at, response_status, response_excerpt, claimed_by, called_url
    FROM outbox;
DROP TABLE outbox;
ALTER TABLE outbox_v16 RENAME TO outbox;
CREATE INDEX outbox_open ON outbox (destination, seq) WHERE status IN ('PENDING', 'SENDING');
CREATE INDEX outbox_status ON outbox (status, seq);
CREATE INDEX outbox_subject ON outbox (subject_id, seq);
CREATE INDEX outbox_coalesce ON outbox (coalesce_key, status);
CREATE INDEX outbox_by_source_event ON outbox (source_event_id) WHERE source_event_id IS NOT NULL;
