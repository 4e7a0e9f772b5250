-- Version 17 → 18: eval runs keep their results (a score, and the metrics and cases as one JSON
-- text), a pull request's sticky comment is remembered by its remote id so that it is edited in
-- place, and the outbox gains rows of kind PR_COMMENT (SQLite changes a CHECK by rebuilding
-- its table).
ALTER TABLE eval_runs ADD COLUMN score REAL;
ALTER TABLE eval_runs ADD COLUMN results TEXT;
CREATE INDEX eval_runs_succeeded_by_repo ON eval_runs (repo, updated_at) WHERE status = 'SUCCEEDED';
CREATE INDEX deployments_by_pr ON deployments (repo, pr_number) WHERE pr_number IS NOT NULL;
CREATE TABLE pr_comments (
    integration_id TEXT NOT NULL REFERENCES integrations (id) ON DELETE CASCADE,
    repo           TEXT NOT NULL,
    number         INTEGER NOT NULL,
    comment_id     TEXT NOT NULL,              -- GitHub's issue comment id, GitLab's note id
    PRIMARY KEY (integration_id, repo, number)
);
CREATE TABLE outbox_v18 (
    seq              INTEGER PRIMARY KEY AUTOINCREMENT,
    id               TEXT NOT NULL UNIQUE,
    kind             TEXT NOT NULL CHECK (kind IN ('SLACK_MESSAGE', 'COMMIT_STATUS', 'DEPLOYMENT', 'DEPLOYMENT_STATUS', 'ACCESS_CHECK', 'REDELIVERY', 'CHECK_RUN', 'CHECK_RUN_UPDATE', 'DISPATCH', 'PR_COMMENT')),
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
INSERT INTO outbox_v18 SELECT seq, id, kind, integration_id, destination, event_type, dedupe_key,
    coalesce_key, subject_id, source_event_id, request, status, attempts, last_error,
    next_attempt_at, created_at, sent_at, response_status, response_excerpt, claimed_by, called_url
    FROM outbox;
DROP TABLE outbox;
ALTER TABLE outbox_v18 RENAME TO outbox;
CREATE INDEX outbox_open ON outbox (destination, seq) WHERE status IN ('PENDING', 'SENDING');
CREATE INDEX outbox_status ON outbox (status, seq);
CREATE INDEX outbox_subject ON outbox (subject_id, seq);
CREATE INDEX outbox_coalesce ON outbox (coalesce_key, status);
CREATE INDEX outbox_by_source_event ON outbox (source_event_id) WHERE source_event_id IS NOT NULL;
