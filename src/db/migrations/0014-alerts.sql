-- Version 13 → 14: alerts (db::alerts), the minute counts they read (db::stats), and since
-- when a destination has been paused or failing.
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
ALTER TABLE destinations ADD COLUMN paused_since INTEGER;
ALTER TABLE destinations ADD COLUMN failing_since INTEGER;
