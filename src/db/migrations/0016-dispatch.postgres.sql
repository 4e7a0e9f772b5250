-- Version 15 → 16: eval runs dispatched to an HTTP runner. Outbox rows of kind DISPATCH, and the
-- runs' callback tokens: stored as hashes, each good for one run until it ends or the token
-- expires.
CREATE TABLE run_tokens (
    hash       TEXT COLLATE "C" PRIMARY KEY,           -- hex SHA-256 of the token
    run_id     TEXT COLLATE "C" NOT NULL REFERENCES eval_runs (id) ON DELETE CASCADE,
    expires_at BIGINT NOT NULL
);
CREATE INDEX run_tokens_by_run ON run_tokens (run_id);
ALTER TABLE outbox DROP CONSTRAINT outbox_kind_check;
ALTER TABLE outbox ADD CONSTRAINT outbox_kind_check CHECK (kind IN ('SLACK_MESSAGE', 'COMMIT_STATUS', 'DEPLOYMENT', 'DEPLOYMENT_STATUS', 'ACCESS_CHECK', 'REDELIVERY', 'CHECK_RUN', 'CHECK_RUN_UPDATE', 'DISPATCH'));
