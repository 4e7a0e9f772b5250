-- Version 8 → 9: GitHub Apps. What an App can see: `installation` and `installation_repositories`
-- deliveries keep, for each integration, the App's installations and the repositories each
-- one shows; any delivery that names its installation records which account it is on, so
-- the installation need not be asked of GitHub.
CREATE TABLE github_installations (
    integration_id  TEXT NOT NULL REFERENCES integrations (id) ON DELETE CASCADE,
    installation_id INTEGER NOT NULL,
    account         TEXT NOT NULL,                          -- lower-case login it is installed on
    suspended_at    INTEGER,                                -- NULL while not suspended
    updated_at      INTEGER NOT NULL,
    PRIMARY KEY (integration_id, installation_id)
);
CREATE TABLE github_installation_repos (
    integration_id  TEXT NOT NULL,
    installation_id INTEGER NOT NULL,
    repo            TEXT NOT NULL,                          -- lower-case owner/name
    added_at        INTEGER NOT NULL,
    PRIMARY KEY (integration_id, installation_id, repo),
    FOREIGN KEY (integration_id, installation_id)
        REFERENCES github_installations (integration_id, installation_id) ON DELETE CASCADE
);

-- Check runs: an eval run of an integration that runs as a GitHub App is shown as a check run
-- (`provenant/eval`) in the pull request's Checks tab. Its id is kept to update it, and the
-- run's Markdown summary (the scores the platform sends) fills the check run's output.
-- A re-run (GitHub's Re-run button) starts a new eval run for the same head commit: the runs
-- of one pull request and commit are told apart by `attempt`.
CREATE TABLE eval_runs_v9 (
    id               TEXT PRIMARY KEY,
    integration_id   TEXT NOT NULL REFERENCES integrations (id) ON DELETE CASCADE,
    repo             TEXT NOT NULL,
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
    superseded_by    TEXT,
    verified         INTEGER NOT NULL DEFAULT 1,
    check_run_id     TEXT,
    summary          TEXT,
    attempt          INTEGER NOT NULL DEFAULT 1,
    UNIQUE (repo, number, head_sha, attempt)
);
INSERT INTO eval_runs_v9 (id, integration_id, repo, number, title, head_sha, head_branch, author,
    url, status, source_event_id, created_at, updated_at, superseded_by, verified)
SELECT id, integration_id, repo, number, title, head_sha, head_branch, author, url, status,
    source_event_id, created_at, updated_at, superseded_by, verified FROM eval_runs;
DROP TABLE eval_runs;
ALTER TABLE eval_runs_v9 RENAME TO eval_runs;
CREATE INDEX eval_runs_by_pr ON eval_runs (repo, number);
CREATE INDEX eval_runs_by_created ON eval_runs (created_at);
CREATE TABLE outbox_v9 (
    seq              INTEGER PRIMARY KEY AUTOINCREMENT,
    id               TEXT NOT NULL UNIQUE,
    kind             TEXT NOT NULL CHECK (kind IN ('SLACK_MESSAGE', 'COMMIT_STATUS', 'DEPLOYMENT', 'DEPLOYMENT_STATUS', 'ACCESS_CHECK', 'REDELIVERY', 'CHECK_RUN', 'CHECK_RUN_UPDATE')),
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
    UNIQUE (integration_id, dedupe_key)
);
INSERT INTO outbox_v9 SELECT seq, id, kind, integration_id, destination, event_type, dedupe_key,
    coalesce_key, subject_id, source_event_id, request, status, attempts, last_error,
    next_attempt_at, created_at, sent_at, response_status, response_excerpt, claimed_by FROM outbox;
DROP TABLE outbox;
ALTER TABLE outbox_v9 RENAME TO outbox;
CREATE INDEX outbox_open ON outbox (destination, seq) WHERE status IN ('PENDING', 'SENDING');
CREATE INDEX outbox_status ON outbox (status, seq);
CREATE INDEX outbox_subject ON outbox (subject_id, seq);
CREATE INDEX outbox_coalesce ON outbox (coalesce_key, status);
CREATE INDEX outbox_by_source_event ON outbox (source_event_id) WHERE source_event_id IS NOT NULL;
