//! Every SQL statement that touches `run_tokens`: the callback tokens an HTTP runner is sent
//! with an eval run or a deployment. Only a SHA-256 of each is kept; a token admits its one
//! run while the run is PENDING or RUNNING and the token has not expired.

use super::sql::{Conn, params};
use super::tokens::hash;
use crate::base::error::AppResult;
use crate::domain::model::RunKind;

/// Keeps `value`'s hash for the run until `expires_at`, and forgets the tokens that expired.
pub fn insert(
    conn: Conn<'_>,
    value: &str,
    kind: RunKind,
    run_id: &str,
    now: i64,
    expires_at: i64,
) -> AppResult<()> {
    conn.execute(
        "DELETE FROM run_tokens WHERE expires_at <= ?1",
        params![now],
    )?;
    conn.execute(
        "INSERT INTO run_tokens (hash, run_kind, run_id, expires_at) VALUES (?1, ?2, ?3, ?4)",
        params![hash(value), kind, run_id, expires_at],
    )?;
    Ok(())
}

/// The run `value` may report on now: its run has not ended and the token has not expired.
pub fn run_of(conn: Conn<'_>, value: &str, now: i64) -> AppResult<Option<(RunKind, String)>> {
    Ok(conn.query_opt(
        "SELECT t.run_kind, t.run_id FROM run_tokens t
         WHERE t.hash = ?1 AND t.expires_at > ?2
           AND (EXISTS (SELECT 1 FROM eval_runs r WHERE t.run_kind = 'EVAL_RUN' AND r.id = t.run_id
                          AND r.status IN ('PENDING', 'RUNNING'))
             OR EXISTS (SELECT 1 FROM deployments d WHERE t.run_kind = 'DEPLOYMENT' AND d.id = t.run_id
                          AND d.status IN ('PENDING', 'RUNNING')))",
        params![hash(value), now],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?)
}
