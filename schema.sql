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

-- Named values, encrypted with the master key (nonce || ChaCha20-Poly1305 ciphertext).
CREATE TABLE secrets (
    name        TEXT PRIMARY KEY,
    value_enc   BLOB NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);

-- One eval run per repository + PR/MR number + head commit, however often it is announced.
CREATE TABLE eval_runs (
    id               TEXT PRIMARY KEY,
    integration_id   TEXT NOT NULL REFERENCES integrations (id) ON DELETE CASCADE,
    repo             TEXT NOT NULL,          -- lower-case owner/name or group/project
    number           INTEGER NOT NULL,
    title            TEXT,
    head_sha         TEXT NOT NULL,
    head_branch      TEXT,
    author           TEXT,
    url              TEXT,
    status           TEXT NOT NULL CHECK (status IN ('PENDING', 'RUNNING', 'SUCCEEDED', 'FAILED')),
    source_event_id  TEXT,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    UNIQUE (repo, number, head_sha)
);
CREATE INDEX eval_runs_by_created ON eval_runs (created_at);

-- One deployment per repository + commit, whether the PR-merged or the push event came first.
CREATE TABLE deployments (
    id               TEXT PRIMARY KEY,
    integration_id   TEXT NOT NULL REFERENCES integrations (id) ON DELETE CASCADE,
    repo             TEXT NOT NULL,
    commit_sha       TEXT NOT NULL,
    branch           TEXT NOT NULL,
    pr_number        INTEGER,
    url              TEXT,
    status           TEXT NOT NULL CHECK (status IN ('PENDING', 'RUNNING', 'SUCCEEDED', 'FAILED')),
    source_event_id  TEXT,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    UNIQUE (repo, commit_sha)
);
CREATE INDEX deployments_by_created ON deployments (created_at);

-- Messages to SLACK integrations; the worker's second queue. `dedupe_key` names what is
-- announced, so processing an event again never sends its message twice.
CREATE TABLE notifications (
    seq              INTEGER PRIMARY KEY AUTOINCREMENT,
    id               TEXT NOT NULL UNIQUE,
    integration_id   TEXT NOT NULL REFERENCES integrations (id) ON DELETE CASCADE,
    event_type       TEXT NOT NULL,
    dedupe_key       TEXT NOT NULL,
    source_event_id  TEXT,
    facts            TEXT NOT NULL,          -- JSON: what the message says
    status           TEXT NOT NULL CHECK (status IN ('PENDING', 'SENDING', 'SENT', 'FAILED')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    last_error       TEXT,
    next_attempt_at  INTEGER,
    created_at       INTEGER NOT NULL,
    sent_at          INTEGER,
    UNIQUE (integration_id, dedupe_key)
);
CREATE INDEX notifications_status ON notifications (status, seq);
