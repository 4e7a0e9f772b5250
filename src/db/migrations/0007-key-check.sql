-- Version 6 → 7: what the master key seals a known text to. A start with another key stops
-- at once, with one clear line, instead of failing to decrypt secrets later (several nodes
-- on PostgreSQL must all have the same key). Recorded by the first start of version 7.
CREATE TABLE key_check (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    sealed      BLOB NOT NULL,
    recorded_at INTEGER NOT NULL
);
