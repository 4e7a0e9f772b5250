-- Version 16 → 17: runs time out, and deployments are dispatched to a runner too. Each run keeps
-- when it times out (runs made before this version have no such time and never time out), and
-- a callback token names the kind of run it reports on. SQLite drops the token table's foreign
-- key by rebuilding it; the tokens in flight are kept.
ALTER TABLE eval_runs ADD COLUMN timeout_at INTEGER;
ALTER TABLE deployments ADD COLUMN timeout_at INTEGER;
CREATE INDEX eval_runs_open_by_timeout ON eval_runs (timeout_at) WHERE status IN ('PENDING', 'RUNNING');
CREATE INDEX deployments_open_by_timeout ON deployments (timeout_at) WHERE status IN ('PENDING', 'RUNNING');
CREATE TABLE run_tokens_v17 (
    hash       TEXT PRIMARY KEY,
    run_kind   TEXT NOT NULL CHECK (run_kind IN ('EVAL_RUN', 'DEPLOYMENT')),
    run_id     TEXT NOT NULL,
    expires_at INTEGER NOT NULL
);
INSERT INTO run_tokens_v17 (hash, run_kind, run_id, expires_at)
    SELECT hash, 'EVAL_RUN', run_id, expires_at FROM run_tokens;
DROP TABLE run_tokens;
ALTER TABLE run_tokens_v17 RENAME TO run_tokens;
CREATE INDEX run_tokens_by_run ON run_tokens (run_id);
