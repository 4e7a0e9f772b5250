-- Version 13 → 14: alerts (db::alerts), the minute counts they read (db::stats), and since
-- when a destination has been paused or failing.
CREATE TABLE integration_minutes (
    integration_id TEXT COLLATE "C" NOT NULL,
    minute         BIGINT NOT NULL,                       -- the minute's start, Unix ms, UTC
    shard          TEXT COLLATE "C" NOT NULL DEFAULT '',               -- the node that counted them (written by its alerts' check)
    processed      BIGINT NOT NULL DEFAULT 0,
    failed         BIGINT NOT NULL DEFAULT 0,
    rejected       BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (integration_id, minute, shard)
);
CREATE INDEX integration_minutes_by_minute ON integration_minutes (minute);
CREATE TABLE alerts (
    id           TEXT COLLATE "C" PRIMARY KEY,
    condition    TEXT COLLATE "C" NOT NULL,                            -- failures, rejections, destination …
    subject      TEXT COLLATE "C" NOT NULL,                            -- an integration id, a destination, a node, or ''
    subject_name TEXT COLLATE "C",                                     -- the integration's name, the remote's host
    summary      TEXT COLLATE "C" NOT NULL,                            -- what was seen
    link         TEXT COLLATE "C",                                     -- the page to look at
    since        BIGINT NOT NULL,                         -- when the trouble began
    opened_at    BIGINT NOT NULL,                         -- when it was announced
    resolved_at  BIGINT
);
-- One open alert per condition and subject: announcing it twice is impossible.
CREATE UNIQUE INDEX alerts_open ON alerts (condition, subject) WHERE resolved_at IS NULL;
CREATE INDEX alerts_by_opened ON alerts (opened_at);
ALTER TABLE destinations ADD COLUMN paused_since BIGINT;
ALTER TABLE destinations ADD COLUMN failing_since BIGINT;
