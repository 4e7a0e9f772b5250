-- Version 17 → 18: eval runs keep their results (a score, and the metrics and cases as one JSON
-- text), a pull request's sticky comment is remembered by its remote id so that it is edited in
-- place, and the outbox gains rows of kind PR_COMMENT.
ALTER TABLE eval_runs ADD COLUMN score DOUBLE PRECISION;
ALTER TABLE eval_runs ADD COLUMN results TEXT;
CREATE INDEX eval_runs_succeeded_by_repo ON eval_runs (repo, updated_at) WHERE status = 'SUCCEEDED';
CREATE INDEX deployments_by_pr ON deployments (repo, pr_number) WHERE pr_number IS NOT NULL;
CREATE TABLE pr_comments (
    integration_id TEXT COLLATE "C" NOT NULL REFERENCES integrations (id) ON DELETE CASCADE,
    repo           TEXT COLLATE "C" NOT NULL,
    number         BIGINT NOT NULL,
    comment_id     TEXT COLLATE "C" NOT NULL,  -- GitHub's issue comment id, GitLab's note id
    PRIMARY KEY (integration_id, repo, number)
);
ALTER TABLE outbox DROP CONSTRAINT outbox_kind_check;
ALTER TABLE outbox ADD CONSTRAINT outbox_kind_check CHECK (kind IN ('SLACK_MESSAGE', 'COMMIT_STATUS', 'DEPLOYMENT', 'DEPLOYMENT_STATUS', 'ACCESS_CHECK', 'REDELIVERY', 'CHECK_RUN', 'CHECK_RUN_UPDATE', 'DISPATCH', 'PR_COMMENT'));
