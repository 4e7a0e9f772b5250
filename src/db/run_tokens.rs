//! Every SQL statement that touches `run_tokens`: the callback tokens an HTTP runner is sent
//! with an eval run. Only a SHA-256 of each is kept; a token admits its one run while the run
//! is PENDING or RUNNING and the token has not expired.

use super::sql::{Conn, params};
use super::tokens::hash;
use crate::base::error::AppResult;

/// Keeps `value`'s hash for `run_id` until `expires_at`, and forgets the tokens that expired.
pub fn insert(
    conn: Conn<'_>,
    value: &str,
    run_id: &str,
    now: i64,
    expires_at: i64,
) -> AppResult<()> {
    conn.execute(
        "DELETE FROM run_tokens WHERE expires_at <= ?1",
        params![now],
    )?;
    conn.execute(
        "INSERT INTO run_tokens (hash, run_id, expires_at) VALUES (?1, ?2, ?3)",
        params![hash(value), run_id, expires_at],
    )?;
    Ok(())
}

/// The run `value` may report on now: its run has not ended and the token has not expired.
pub fn run_of(conn: Conn<'_>, value: &str, now: i64) -> AppResult<Option<String>> {
    Ok(conn.query_opt(
        "SELECT t.run_id FROM run_tokens t JOIN eval_runs r ON r.id = t.run_id
         WHERE t.hash = ?1 AND t.expires_at > ?2 AND r.status IN ('PENDING', 'RUNNING')",
        params![hash(value), now],
        |r| r.get(0),
    )?)
}
