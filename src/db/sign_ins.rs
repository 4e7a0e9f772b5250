//! Every SQL statement that touches `sso_sign_ins`: single sign-ons under way, from the
//! redirect to the identity provider until the browser comes back. Each is taken once, and
//! only within [`crate::domain::sso::SIGN_IN_TTL_MS`]; the `state` itself is kept only as a hash.

use super::sql::{Conn, params};
use super::tokens::hash;
use crate::base::error::AppResult;
use crate::domain::sso::SIGN_IN_TTL_MS;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignIn {
    pub nonce: String,
    pub verifier: String,
    pub next_path: String,
}

/// Keeps a new sign-in, and forgets those that were never finished.
pub fn insert(conn: Conn<'_>, state: &str, sign_in: &SignIn, now: i64) -> AppResult<()> {
    conn.execute(
        "DELETE FROM sso_sign_ins WHERE created_at <= ?1",
        params![now - SIGN_IN_TTL_MS],
    )?;
    conn.execute(
        "INSERT INTO sso_sign_ins (state_hash, nonce, verifier, next_path, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5)",
        params![
            hash(state),
            sign_in.nonce,
            sign_in.verifier,
            sign_in.next_path,
            now
        ],
    )?;
    Ok(())
}

/// The sign-in that sent `state`, removed so it cannot be finished twice; None when there
/// is none or it is too old.
pub fn take(conn: Conn<'_>, state: &str, now: i64) -> AppResult<Option<SignIn>> {
    let found = conn.query_opt(
        "SELECT nonce, verifier, next_path, created_at FROM sso_sign_ins WHERE state_hash = ?1",
        params![hash(state)],
        |r| {
            Ok((
                SignIn {
                    nonce: r.get(0)?,
                    verifier: r.get(1)?,
                    next_path: r.get(2)?,
                },
                r.get::<i64>(3)?,
            ))
        },
    )?;
    if found.is_some() {
        conn.execute(
            "DELETE FROM sso_sign_ins WHERE state_hash = ?1",
            params![hash(state)],
        )?;
    }
    Ok(found
        .filter(|(_, created)| *created > now - SIGN_IN_TTL_MS)
        .map(|(s, _)| s))
}
