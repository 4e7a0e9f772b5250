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
    last_rejected_reason TEXT,
    -- Kept up to date as events are stored and pruned, so lists never count event rows.
    event_count          INTEGER NOT NULL DEFAULT 0,
    last_event_at        INTEGER,                        -- when the newest delivery arrived
    -- The webhook secret before the last rotation (encrypted like stored secrets), accepted
    -- until previous_secret_until; and when a delivery last used it.
    previous_secret_enc     BLOB,
    previous_secret_until   INTEGER,
    previous_secret_used_at INTEGER
);

-- The worker looks up the Slack integrations for every announcement.
CREATE INDEX integrations_by_type ON integrations (type, is_active);

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
    received_at      INTEGER NOT NULL,
    processed_at     INTEGER,
    next_attempt_at  INTEGER,                            -- when a RECEIVED event may be claimed
    -- The decision trace: how the receiver verified it ('<scheme>|current' or '|previous';
    -- NULL: no secret), and the last processing attempt's steps (JSON, with the outcome).
    verified         TEXT,
    trace            TEXT,
    claimed_by       TEXT                                -- PROCESSING: the claiming node's claim token
);

-- What was received, apart from the event row: SQLite rewrites a whole row on every UPDATE,
-- and event rows change status several times; lists never read these.
CREATE TABLE event_bodies (
    event_seq  INTEGER PRIMARY KEY REFERENCES webhook_events (seq) ON DELETE CASCADE,
    headers    TEXT NOT NULL,                            -- JSON array of [name, value] pairs
    encoding   TEXT,                                     -- NULL: raw bytes; 'zstd': compressed
    body       BLOB NOT NULL                             -- the body, exactly as received (decoded)
);

-- Providers re-send a delivery with the same id; one row per (integration, delivery id).
CREATE UNIQUE INDEX webhook_events_delivery
    ON webhook_events (integration_id, delivery_id) WHERE delivery_id IS NOT NULL;
CREATE INDEX webhook_events_by_integration ON webhook_events (integration_id, seq);
-- Events not (yet) PROCESSED: the worker's queue, retries, failures. Partial, so they stay
-- small and hot however much history is kept, and a status change of a processed event does
-- not move entries around a large index. The term must appear verbatim in queries
-- (events.rs `NOT_DONE`) for SQLite to use them. Counts of PROCESSED events come from the
-- integrations' maintained totals.
CREATE INDEX webhook_events_status ON webhook_events (status, seq)
    WHERE status IN ('RECEIVED', 'PROCESSING', 'FAILED');
CREATE INDEX webhook_events_by_integration_status ON webhook_events (integration_id, status, seq)
    WHERE status IN ('RECEIVED', 'PROCESSING', 'FAILED');
CREATE INDEX webhook_events_received_at ON webhook_events (received_at);

-- Named values, encrypted with the master key (nonce || ChaCha20-Poly1305 ciphertext).
CREATE TABLE secrets (
    name        TEXT PRIMARY KEY,
    value_enc   BLOB NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    -- The value before the last rotation, still accepted until previous_until.
    previous_value_enc  BLOB,
    previous_until      INTEGER,
    -- Where the value may be sent besides the public API hosts: JSON array of host[:port].
    hosts               TEXT NOT NULL DEFAULT '[]'
);

-- Remote answers (error texts, excerpts) are kept and shown only for the public API hosts,
-- those given with --allowed-api-hosts, and these: the api_urls configured before schema
-- version 5, so an upgrade hides nothing that was shown before.
CREATE TABLE trusted_api_hosts (
    host         TEXT PRIMARY KEY,
    recorded_at  INTEGER NOT NULL
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
    superseded_by    TEXT,                   -- the newer run of the same PR/MR (new head commit)
    verified         INTEGER NOT NULL DEFAULT 1,  -- 0: from a delivery that passed no signature check
    check_run_id     TEXT,                   -- the GitHub check run showing it (a GitHub App's)
    summary          TEXT,                   -- Markdown from the platform (scores), for the check run
    attempt          INTEGER NOT NULL DEFAULT 1,  -- 1, then 2 … for each re-run of the same commit
    timeout_at       INTEGER,                -- fails as timed out if still open then (eval.timeout)
    score            REAL,                   -- the overall score (0–1) the runner reported
    results          TEXT,                   -- its metrics and cases, as JSON
    UNIQUE (repo, number, head_sha, attempt)
);
CREATE INDEX eval_runs_by_pr ON eval_runs (repo, number);
CREATE INDEX eval_runs_by_created ON eval_runs (created_at);
CREATE INDEX eval_runs_open_by_timeout ON eval_runs (timeout_at) WHERE status IN ('PENDING', 'RUNNING');
CREATE INDEX eval_runs_succeeded_by_repo ON eval_runs (repo, updated_at) WHERE status = 'SUCCEEDED';

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
    remote_id        TEXT,                   -- the GitHub deployment created for it
    verified         INTEGER NOT NULL DEFAULT 1,  -- 0: from a delivery that passed no signature check
    timeout_at       INTEGER,                -- fails as timed out if still open then (deploy.timeout)
    UNIQUE (repo, commit_sha)
);
CREATE INDEX deployments_by_created ON deployments (created_at);
CREATE INDEX deployments_open_by_timeout ON deployments (timeout_at) WHERE status IN ('PENDING', 'RUNNING');
CREATE INDEX deployments_by_pr ON deployments (repo, pr_number) WHERE pr_number IS NOT NULL;

-- Everything said to the outside world: Slack messages, commit statuses, GitHub deployments
-- and their statuses, token checks. Processing queues rows in the same transaction as its
-- outcome; senders deliver them, one at a time per destination, in `seq` order.
CREATE TABLE outbox (
    seq              INTEGER PRIMARY KEY AUTOINCREMENT,
    id               TEXT NOT NULL UNIQUE,
    kind             TEXT NOT NULL CHECK (kind IN ('SLACK_MESSAGE', 'COMMIT_STATUS', 'DEPLOYMENT', 'DEPLOYMENT_STATUS', 'ACCESS_CHECK', 'REDELIVERY', 'CHECK_RUN', 'CHECK_RUN_UPDATE', 'DISPATCH', 'PR_COMMENT')),
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
    claimed_by       TEXT,                  -- SENDING: the claiming node's claim token
    called_url       TEXT,                  -- the full URL last called (a Slack webhook URL masked)
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
    updated_at       INTEGER NOT NULL,
    paused_since     INTEGER,                -- when this pause (and those straight after it) began
    failing_since    INTEGER                 -- the first failed attempt since the last success
);

-- One row the health check rewrites: a read succeeds on a full disk, a read-only file or a
-- locked database; only a write tells whether deliveries can be stored. While deliveries are
-- refused, the check writes `room`: as many bytes as the refused delivery, freed again.
CREATE TABLE health_probe (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    at    INTEGER NOT NULL,
    room  BLOB
);

-- The last refused deliveries of each integration (at most 100 are kept): when, why, from
-- where, the headers (signature values cut to a prefix, tokens hidden), the body's size and
-- SHA-256 (never the body).
CREATE TABLE rejections (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    integration_id  TEXT NOT NULL REFERENCES integrations (id) ON DELETE CASCADE,
    at              INTEGER NOT NULL,
    status          INTEGER NOT NULL,                    -- the HTTP status answered
    reason          TEXT NOT NULL,
    source          TEXT,                                -- the sender's address
    headers         TEXT NOT NULL,                       -- JSON [[name, value]]
    body_bytes      INTEGER NOT NULL,
    body_sha256     TEXT NOT NULL
);
CREATE INDEX rejections_by_integration ON rejections (integration_id, seq);

-- An event's detail shows what became of the outbox rows it queued.
CREATE INDEX outbox_by_source_event ON outbox (source_event_id) WHERE source_event_id IS NOT NULL;

-- Replays by filter: re-queueing an integration's matching events a batch at a time, so a
-- large replay does not flood the worker; resumed after a restart.
CREATE TABLE replays (
    id              TEXT PRIMARY KEY,                    -- UUIDv7
    integration_id  TEXT NOT NULL REFERENCES integrations (id) ON DELETE CASCADE,
    filter          TEXT NOT NULL,                       -- JSON: status, eventType, from, to
    up_to_seq       INTEGER NOT NULL,                    -- the newest event when it began
    cursor_seq      INTEGER NOT NULL DEFAULT 0,          -- events up to here are handled
    total           INTEGER NOT NULL,                    -- matching events when it began
    requeued        INTEGER NOT NULL DEFAULT 0,
    skipped         INTEGER NOT NULL DEFAULT 0,          -- matched, but waiting or processing
    created_at      INTEGER NOT NULL,
    finished_at     INTEGER
);

-- Reconciling with GitHub's delivery log: each check (what was listed, found missing and
-- asked for again), and every delivery asked for, so none is asked for twice.
CREATE TABLE reconcile_checks (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    integration_id  TEXT NOT NULL REFERENCES integrations (id) ON DELETE CASCADE,
    at              INTEGER NOT NULL,
    listed          INTEGER NOT NULL,                    -- deliveries in the remote's log
    missing         INTEGER NOT NULL,                    -- of them, never stored here
    requested       INTEGER NOT NULL,                    -- redeliveries asked for by this check
    error           TEXT
);
CREATE INDEX reconcile_checks_by_integration ON reconcile_checks (integration_id, seq);
CREATE TABLE redelivery_requests (
    integration_id  TEXT NOT NULL REFERENCES integrations (id) ON DELETE CASCADE,
    guid            TEXT NOT NULL,                       -- the delivery id (X-GitHub-Delivery)
    remote_id       INTEGER NOT NULL,                    -- GitHub's id of the attempt redelivered
    event_type      TEXT,
    requested_at    INTEGER NOT NULL,
    outbox_id       TEXT NOT NULL,
    PRIMARY KEY (integration_id, guid)
);

-- What the master key seals a known text to: a start with another key stops at once instead
-- of failing to decrypt secrets later (several nodes on PostgreSQL must share the key).
CREATE TABLE key_check (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    sealed      BLOB NOT NULL,
    recorded_at INTEGER NOT NULL
);

-- Slack through a bot token: the message posted for each eval run or deployment (updated in
-- place as its status changes) and the thread of each pull request (its first message).
CREATE TABLE slack_posts (
    integration_id  TEXT NOT NULL REFERENCES integrations (id) ON DELETE CASCADE,
    subject_id      TEXT NOT NULL,                       -- the eval run or deployment
    channel         TEXT NOT NULL,                       -- as Slack answered (an id)
    ts              TEXT NOT NULL,
    PRIMARY KEY (integration_id, subject_id)
);
CREATE TABLE slack_threads (
    integration_id  TEXT NOT NULL REFERENCES integrations (id) ON DELETE CASCADE,
    thread_key      TEXT NOT NULL,                       -- `repo#number`
    channel         TEXT NOT NULL,
    ts              TEXT NOT NULL,                       -- the thread's first message
    PRIMARY KEY (integration_id, thread_key)
);
-- The one comment per pull request (GitHub) or note per merge request (GitLab) that shows its
-- newest eval results, edited in place: its remote id once the remote answered.
CREATE TABLE pr_comments (
    integration_id  TEXT NOT NULL REFERENCES integrations (id) ON DELETE CASCADE,
    repo            TEXT NOT NULL,
    number          INTEGER NOT NULL,
    comment_id      TEXT NOT NULL,
    PRIMARY KEY (integration_id, repo, number)
);

-- Several nodes on one database (on SQLite, always one). Each node's claims carry the claim
-- token of the node's current start, and the node's lease (renewed by its heartbeat) keeps
-- them its own: another node takes them back only once that lease has run out. The cluster's duties
-- (pruning, reconcile, replays) go to one node at a time, under a lease of their own; API
-- writes move a counter that every node's receiver follows; Slack's one message a second per
-- URL is paced in the database, so that it holds across nodes.
CREATE TABLE nodes (
    id           TEXT PRIMARY KEY,                        -- stable across restarts (--node-id)
    claim_token  TEXT NOT NULL,                           -- this start's; fences its claims
    address      TEXT NOT NULL,                           -- where it serves, as it says
    version      TEXT NOT NULL,
    started_at   INTEGER NOT NULL,
    heartbeat_at INTEGER NOT NULL,
    lease_until  INTEGER NOT NULL,                        -- by the database's clock
    stopped_at   INTEGER                                  -- a clean stop; NULL while it runs
);
CREATE TABLE duties (
    name         TEXT PRIMARY KEY,                        -- 'lead': pruning, reconcile, replays
    node_id      TEXT NOT NULL,
    claim_token  TEXT NOT NULL,
    fence        INTEGER NOT NULL,                        -- grows whenever another node takes it
    lease_until  INTEGER NOT NULL
);
CREATE TABLE cluster_state (
    id                INTEGER PRIMARY KEY CHECK (id = 1),
    config_generation INTEGER NOT NULL                    -- moves with every API write
);
INSERT INTO cluster_state (id, config_generation) VALUES (1, 0);
-- Keyed by a SHA-256 of the webhook URL or the bot token and channel: never the credential.
CREATE TABLE slack_turns (
    key          TEXT PRIMARY KEY,
    last_at      INTEGER NOT NULL,                        -- the last message's turn
    urgent_at    INTEGER                                  -- an urgent message waits for the next
);

-- What a GitHub App can see: its installations, per integration, and the repositories each
-- shows (`installation`, `installation_repositories` and any delivery naming its installation).
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

-- The GitHub App manifest flow's one-time states: a SHA-256 of each (never the state), the
-- integration it fills; good for an hour and used once.
CREATE TABLE github_app_manifests (
    state_hash     TEXT PRIMARY KEY,
    integration_id TEXT NOT NULL REFERENCES integrations (id) ON DELETE CASCADE,
    created_at     INTEGER NOT NULL,
    expires_at     INTEGER NOT NULL,
    used_at        INTEGER                                   -- NULL until the callback used it
);

-- API tokens with scopes (a SHA-256 of each value, never the value) and the audit log of
-- every change, which no API updates or deletes.
CREATE TABLE api_tokens (
    id           TEXT PRIMARY KEY,
    name         TEXT NOT NULL UNIQUE,                     -- the actor the audit log names
    prefix       TEXT NOT NULL,                            -- `prov_` and 8 characters, to recognise it
    token_hash   TEXT NOT NULL UNIQUE,                     -- hex SHA-256 of the whole value
    scopes       TEXT NOT NULL,                            -- space-separated: read runs:write write admin
    created_by   TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER,                                  -- NULL: never
    last_used_at INTEGER                                   -- NULL: never used; kept to the minute
);
CREATE TABLE audit_log (
    seq            INTEGER PRIMARY KEY AUTOINCREMENT,      -- the order of entries; the cursor
    at             INTEGER NOT NULL,
    actor          TEXT NOT NULL,                          -- a token's name or a person's e-mail
    action         TEXT NOT NULL,                          -- e.g. `integration.updated`
    integration_id TEXT,                                   -- no foreign key: entries outlive it
    target         TEXT NOT NULL,                          -- what was changed: an id or a name
    changes        TEXT NOT NULL,                          -- JSON {field: {before, after}}, masked
    source         TEXT NOT NULL,                          -- the client's address
    request_id     TEXT NOT NULL                           -- as in X-Request-Id and the log line
);
CREATE INDEX audit_log_at ON audit_log (at);
CREATE INDEX audit_log_by_integration ON audit_log (integration_id, seq);
CREATE TABLE sso_sign_ins (
    state_hash TEXT PRIMARY KEY,                           -- hex SHA-256 of the `state` sent
    nonce      TEXT NOT NULL,
    verifier   TEXT NOT NULL,                              -- the PKCE code verifier
    next_path  TEXT NOT NULL,                              -- the page to go back to
    created_at INTEGER NOT NULL
);
CREATE TABLE sessions (
    id           TEXT PRIMARY KEY,                         -- shown and revoked by; not the cookie
    value_hash   TEXT NOT NULL UNIQUE,                     -- hex SHA-256 of the cookie's value
    email        TEXT NOT NULL,                            -- the actor the audit log names
    role         TEXT NOT NULL,                            -- read, write or admin
    source       TEXT NOT NULL,                            -- the address it signed in from
    created_at   INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL,                         -- kept to the minute
    expires_at   INTEGER NOT NULL,                         -- the absolute end
    subject      TEXT NOT NULL DEFAULT '',                 -- the provider's `sub`
    groups       TEXT NOT NULL DEFAULT '[]'                -- JSON: the groups named at sign-in
);

-- Hourly roll-ups per integration and per outbox destination (db::stats), kept a year.
CREATE TABLE integration_stats (
    integration_id TEXT NOT NULL,                          -- no foreign key: deleted with it, by hand
    hour           INTEGER NOT NULL,                       -- the hour's start, Unix ms, UTC
    -- Who adds to the row: '<node>:in' (the delivery writer), '<node>:out' (the worker),
    -- '' (the backfill). Each its own row, so one transaction left open (a node frozen before
    -- its commit) holds no other's deliveries; readers add the rows of an hour together.
    shard          TEXT NOT NULL DEFAULT '',
    received       INTEGER NOT NULL DEFAULT 0,             -- new deliveries stored
    duplicates     INTEGER NOT NULL DEFAULT 0,             -- deliveries whose id was known
    processed      INTEGER NOT NULL DEFAULT 0,
    failed         INTEGER NOT NULL DEFAULT 0,
    rejected       INTEGER NOT NULL DEFAULT 0,             -- refused before storing (401, 400, 415)
    -- Processing ends by time from receipt to end: <= 10, 50, 100, 250, 500 ms, 1, 2.5, 5,
    -- 10, 60, 300 s, and slower (db::stats::LATENCY_BOUNDS_MS).
    lat_0        INTEGER NOT NULL DEFAULT 0,
    lat_1        INTEGER NOT NULL DEFAULT 0,
    lat_2        INTEGER NOT NULL DEFAULT 0,
    lat_3        INTEGER NOT NULL DEFAULT 0,
    lat_4        INTEGER NOT NULL DEFAULT 0,
    lat_5        INTEGER NOT NULL DEFAULT 0,
    lat_6        INTEGER NOT NULL DEFAULT 0,
    lat_7        INTEGER NOT NULL DEFAULT 0,
    lat_8        INTEGER NOT NULL DEFAULT 0,
    lat_9        INTEGER NOT NULL DEFAULT 0,
    lat_10       INTEGER NOT NULL DEFAULT 0,
    lat_11       INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (integration_id, hour, shard)
);
CREATE TABLE destination_stats (
    destination TEXT NOT NULL,
    hour        INTEGER NOT NULL,
    sent        INTEGER NOT NULL DEFAULT 0,
    failed      INTEGER NOT NULL DEFAULT 0,                -- given up on
    retried     INTEGER NOT NULL DEFAULT 0,                -- attempts to be tried again
    paused_ms   INTEGER NOT NULL DEFAULT 0,                -- paused by the remote
    PRIMARY KEY (destination, hour)
);
-- Prunes and "which destinations were active lately" read by the hour.
CREATE INDEX integration_stats_by_hour ON integration_stats (hour);
CREATE INDEX destination_stats_by_hour ON destination_stats (hour, destination);

-- Alerts (db::alerts) and the minute counts they read (db::stats), kept an hour.
CREATE TABLE integration_minutes (
    integration_id TEXT NOT NULL,
    minute         INTEGER NOT NULL,                       -- the minute's start, Unix ms, UTC
    shard          TEXT NOT NULL DEFAULT '',               -- the node that counted them (written by its alerts' check)
    processed      INTEGER NOT NULL DEFAULT 0,
    failed         INTEGER NOT NULL DEFAULT 0,
    rejected       INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (integration_id, minute, shard)
);
CREATE INDEX integration_minutes_by_minute ON integration_minutes (minute);
CREATE TABLE alerts (
    id           TEXT PRIMARY KEY,
    condition    TEXT NOT NULL,                            -- failures, rejections, destination …
    subject      TEXT NOT NULL,                            -- an integration id, a destination, a node, or ''
    subject_name TEXT,                                     -- the integration's name, the remote's host
    summary      TEXT NOT NULL,                            -- what was seen
    link         TEXT,                                     -- the page to look at
    since        INTEGER NOT NULL,                         -- when the trouble began
    opened_at    INTEGER NOT NULL,                         -- when it was announced
    resolved_at  INTEGER
);
-- One open alert per condition and subject: announcing it twice is impossible.
CREATE UNIQUE INDEX alerts_open ON alerts (condition, subject) WHERE resolved_at IS NULL;
CREATE INDEX alerts_by_opened ON alerts (opened_at);

-- Callback tokens of eval runs and deployments sent to an HTTP runner: a SHA-256 of each, good
-- for its one run until the run ends or the token expires.
CREATE TABLE run_tokens (
    hash       TEXT PRIMARY KEY,                       -- hex SHA-256 of the token
    run_kind   TEXT NOT NULL CHECK (run_kind IN ('EVAL_RUN', 'DEPLOYMENT')),
    run_id     TEXT NOT NULL,                          -- an eval run's or a deployment's id
    expires_at INTEGER NOT NULL
);
CREATE INDEX run_tokens_by_run ON run_tokens (run_id);
