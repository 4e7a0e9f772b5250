-- Version 7 → 8: several nodes on one database. Each node's claims carry the claim token of
-- the node's current start, and a node's lease (renewed by its heartbeat) keeps them its own:
-- another node takes them back only once that lease has run out. The cluster's duties
-- (pruning, reconcile, replays) go to one node at a time, under a lease of their own; API
-- writes move a counter that every node's receiver follows; Slack's one message a second per
-- URL is paced in the database, so that it holds across nodes.
CREATE TABLE nodes (
    id           TEXT COLLATE "C" PRIMARY KEY,                        -- stable across restarts (--node-id)
    claim_token  TEXT COLLATE "C" NOT NULL,                           -- this start's; fences its claims
    address      TEXT COLLATE "C" NOT NULL,                           -- where it serves, as it says
    version      TEXT COLLATE "C" NOT NULL,
    started_at   BIGINT NOT NULL,
    heartbeat_at BIGINT NOT NULL,
    lease_until  BIGINT NOT NULL,                        -- by the database's clock
    stopped_at   BIGINT                                  -- a clean stop; NULL while it runs
);
CREATE TABLE duties (
    name         TEXT COLLATE "C" PRIMARY KEY,                        -- 'lead': pruning, reconcile, replays
    node_id      TEXT COLLATE "C" NOT NULL,
    claim_token  TEXT COLLATE "C" NOT NULL,
    fence        BIGINT NOT NULL,                        -- grows whenever another node takes it
    lease_until  BIGINT NOT NULL
);
CREATE TABLE cluster_state (
    id                BIGINT PRIMARY KEY CHECK (id = 1),
    config_generation BIGINT NOT NULL                    -- moves with every API write
);
INSERT INTO cluster_state (id, config_generation) VALUES (1, 0);
-- Keyed by a SHA-256 of the webhook URL or the bot token and channel: never the credential.
CREATE TABLE slack_turns (
    key          TEXT COLLATE "C" PRIMARY KEY,
    last_at      BIGINT NOT NULL,                        -- the last message's turn
    urgent_at    BIGINT                                  -- an urgent message waits for the next
);
ALTER TABLE webhook_events ADD COLUMN claimed_by TEXT COLLATE "C";    -- PROCESSING: the claim token
ALTER TABLE outbox ADD COLUMN claimed_by TEXT COLLATE "C";            -- SENDING: the claim token
