-- Version 10 → 11: team access. API tokens with scopes (only a SHA-256 of each value is kept,
-- never the value) and the audit log of every change, which no API updates or deletes.
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
