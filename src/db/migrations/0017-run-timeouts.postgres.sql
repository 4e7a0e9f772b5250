-- Version 16 → 17: runs time out, and deployments are dispatched to a runner too. Each run keeps
-- when it times out (runs made before this version have no such time and never time out), and
-- a callback token names the kind of run it reports on.
ALTER TABLE eval_runs ADD COLUMN timeout_at BIGINT;
ALTER TABLE deployments ADD COLUMN timeout_at BIGINT;
CREATE INDEX eval_runs_open_by_timeout ON eval_runs (timeout_at) WHERE status IN ('PENDING', 'RUNNING');
CREATE INDEX deployments_open_by_timeout ON deployments (timeout_at) WHERE status IN ('PENDING', 'RUNNING');
ALTER TABLE run_tokens DROP CONSTRAINT run_tokens_run_id_fkey;
ALTER TABLE run_tokens ADD COLUMN run_kind TEXT COLLATE "C" NOT NULL DEFAULT 'EVAL_RUN'
    CHECK (run_kind IN ('EVAL_RUN', 'DEPLOYMENT'));
ALTER TABLE run_tokens ALTER COLUMN run_kind DROP DEFAULT;
