-- Version 9 → 10: creating a GitHub App from a manifest. Each flow's one-time `state` is kept
-- as a SHA-256 (never the state itself) with the integration it fills; it is good for an hour
-- (GitHub's limit for the whole flow) and used once.
CREATE TABLE github_app_manifests (
    state_hash     TEXT COLLATE "C" PRIMARY KEY,
    integration_id TEXT COLLATE "C" NOT NULL REFERENCES integrations (id) ON DELETE CASCADE,
    created_at     BIGINT NOT NULL,
    expires_at     BIGINT NOT NULL,
    used_at        BIGINT                                   -- NULL until the callback used it
);
