-- Version 1 → 2: the outbox replaces the notifications table (its rows become SLACK_MESSAGE
-- rows); eval runs can be superseded; deployments remember their GitHub deployment;
-- integrations keep their event count and newest delivery time.
ALTER TABLE eval_runs ADD COLUMN superseded_by TEXT;
CREATE INDEX eval_runs_by_pr ON eval_runs (repo, number);
ALTER TABLE deployments ADD COLUMN remote_id TEXT;
ALTER TABLE integrations ADD COLUMN event_count INTEGER NOT NULL DEFAULT 0;
ALTER TABLE integrations ADD COLUMN last_event_at INTEGER;
UPDATE integrations SET
    event_count = (SELECT COUNT(*) FROM webhook_events e WHERE e.integration_id = integrations.id),
    last_event_at = (SELECT MAX(received_at) FROM webhook_events e WHERE e.integration_id = integrations.id);
-- Everything said to the outside world: Slack messages, commit statuses, GitHub deployments
-- and their statuses, token checks. Processing queues rows in the same transaction as its
-- outcome; senders deliver them, one at a time per destination, in `seq` order.
CREATE TABLE outbox (
    seq              INTEGER PRIMARY KEY AUTOINCREMENT,
    id               TEXT NOT NULL UNIQUE,
    kind             TEXT NOT NULL CHECK (kind IN ('SLACK_MESSAGE', 'COMMIT_STATUS', 'DEPLOYMENT', 'DEPLOYMENT_STATUS', 'ACCESS_CHECK')),
    integration_id   TEXT NOT NULL REFERENCES integrations (id) ON DELETE CASCADE,
    destination      TEXT NOT NULL,          -- what the remote rate-limits on (never a credential)
    event_type       TEXT,                   -- SLACK_MESSAGE: what is announced
    dedupe_key       TEXT,                   -- SLACK_MESSAGE: announcing it again sends nothing new
    coalesce_key     TEXT,                   -- a newer row with this key replaces a queued one
    subject_id       TEXT,                   -- the eval run or deployment it reports on
    source_event_id  TEXT,
    request          TEXT NOT NULL,          -- JSON: the message's facts, or method, path and body
    status           TEXT NOT NULL CHECK (status IN ('PENDING', 'SENDING', 'SENT', 'FAILED')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    last_error       TEXT,
    next_attempt_at  INTEGER,
    created_at       INTEGER NOT NULL,
    sent_at          INTEGER,
    response_status  INTEGER,                -- the remote's last answer
    response_excerpt TEXT,
    UNIQUE (integration_id, dedupe_key)
);
-- The queues: unfinished rows by destination, in order (the dispatcher reads their heads).
CREATE INDEX outbox_open ON outbox (destination, seq) WHERE status IN ('PENDING', 'SENDING');
CREATE INDEX outbox_status ON outbox (status, seq);
CREATE INDEX outbox_subject ON outbox (subject_id, seq);
CREATE INDEX outbox_coalesce ON outbox (coalesce_key, status);

-- A destination the remote asked us to leave alone for a while (429, Retry-After, rate limit
-- exhausted), or that is spaced out (Slack: one message a second per webhook).
CREATE TABLE destinations (
    destination      TEXT PRIMARY KEY,
    paused_until     INTEGER,
    reason           TEXT,
    updated_at       INTEGER NOT NULL
);

INSERT INTO outbox (id, kind, integration_id, destination, event_type, dedupe_key, source_event_id,
                    request, status, attempts, last_error, next_attempt_at, created_at, sent_at)
SELECT id, 'SLACK_MESSAGE', integration_id, 'slack:' || integration_id, event_type, dedupe_key,
       source_event_id, facts, CASE status WHEN 'SENDING' THEN 'PENDING' ELSE status END,
       attempts, last_error, next_attempt_at, created_at, sent_at
FROM notifications ORDER BY seq;
DROP TABLE notifications;
