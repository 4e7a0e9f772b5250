-- Version 11 → 12: single sign-on for the pages. Sign-ins under way (until the identity
-- provider sends the browser back, at most 10 minutes) and the sessions that follow; of a
-- session's cookie only a SHA-256 is kept, never the value.
CREATE TABLE sso_sign_ins (
    state_hash TEXT COLLATE "C" PRIMARY KEY,                           -- hex SHA-256 of the `state` sent
    nonce      TEXT NOT NULL,
    verifier   TEXT NOT NULL,                              -- the PKCE code verifier
    next_path  TEXT NOT NULL,                              -- the page to go back to
    created_at BIGINT NOT NULL
);
CREATE TABLE sessions (
    id           TEXT COLLATE "C" PRIMARY KEY,                         -- shown and revoked by; not the cookie
    value_hash   TEXT COLLATE "C" NOT NULL UNIQUE,                     -- hex SHA-256 of the cookie's value
    email        TEXT NOT NULL,                            -- the actor the audit log names
    role         TEXT NOT NULL,                            -- read, write or admin
    source       TEXT NOT NULL,                            -- the address it signed in from
    created_at   BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,                         -- kept to the minute
    expires_at   BIGINT NOT NULL                          -- the absolute end
);
