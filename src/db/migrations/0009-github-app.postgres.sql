-- Version 8 → 9: GitHub Apps. What an App can see: `installation` and `installation_repositories`
-- deliveries keep, for each integration, the App's installations and the repositories each
-- one shows; any delivery that names its installation records which account it is on, so
-- the installation need not be asked of GitHub.
CREATE TABLE github_installations (
    integration_id  TEXT COLLATE "C" NOT NULL REFERENCES integrations (id) ON DELETE CASCADE,
    installation_id BIGINT NOT NULL,
    account         TEXT COLLATE "C" NOT NULL,                          -- lower-case login it is installed on
    suspended_at    BIGINT,                                 -- NULL while not suspended
    updated_at      BIGINT NOT NULL,
    PRIMARY KEY (integration_id, installation_id)
);
CREATE TABLE github_installation_repos (
    integration_id  TEXT COLLATE "C" NOT NULL,
    installation_id BIGINT NOT NULL,
    repo            TEXT COLLATE "C" NOT NULL,                          -- lower-case owner/name
    added_at        BIGINT NOT NULL,
    PRIMARY KEY (integration_id, installation_id, repo),
    FOREIGN KEY (integration_id, installation_id)
        REFERENCES github_installations (integration_id, installation_id) ON DELETE CASCADE
);

-- Check runs: an eval run of an integration that runs as a GitHub App is shown as a check run
-- (`provenant/eval`) in the pull request's Checks tab. Its id is kept to update it, and the
-- run's Markdown summary (the scores the platform sends) fills the check run's output.
ALTER TABLE eval_runs ADD COLUMN check_run_id TEXT COLLATE "C";
ALTER TABLE eval_runs ADD COLUMN summary TEXT COLLATE "C";
-- A re-run (GitHub's Re-run button) starts a new eval run for the same head commit: the runs
-- of one pull request and commit are told apart by `attempt`.
ALTER TABLE eval_runs ADD COLUMN attempt BIGINT NOT NULL DEFAULT 1;
ALTER TABLE eval_runs DROP CONSTRAINT eval_runs_repo_number_head_sha_key;
ALTER TABLE eval_runs ADD CONSTRAINT eval_runs_repo_number_head_sha_attempt_key
    UNIQUE (repo, number, head_sha, attempt);
ALTER TABLE outbox DROP CONSTRAINT outbox_kind_check;
ALTER TABLE outbox ADD CONSTRAINT outbox_kind_check CHECK (kind IN ('SLACK_MESSAGE', 'COMMIT_STATUS', 'DEPLOYMENT', 'DEPLOYMENT_STATUS', 'ACCESS_CHECK', 'REDELIVERY', 'CHECK_RUN', 'CHECK_RUN_UPDATE'));
