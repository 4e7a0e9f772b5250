//! Every SQL statement that touches `github_app_manifests`: the one-time states of GitHub App
//! manifest flows. Only a SHA-256 of a state and who started its flow (a token's or a
//! session's id) is stored, so the table cannot be used to forge a callback, and a state is
//! taken only by the token or session that started it.

use sha2::{Digest, Sha256};

use super::sql::{Conn, params};

use crate::base::error::AppResult;

/// How long a flow's state is good: GitHub gives the whole flow an hour.
pub const GOOD_FOR_MS: i64 = 60 * 60 * 1000;

fn hash(state: &str, starter: &str) -> String {
    let mut digest = Sha256::new();
    digest.update(state.as_bytes());
    digest.update(b"\n");
    digest.update(starter.as_bytes());
    hex::encode(digest.finalize())
}

/// Keeps a new flow's state for `integration_id`; forgets flows that ended a day ago.
pub fn start(
    conn: Conn<'_>,
    state: &str,
    starter: &str,
    integration_id: &str,
    now: i64,
) -> AppResult<()> {
    conn.execute(
        "DELETE FROM github_app_manifests WHERE expires_at < ?1",
        params![now - 24 * 60 * 60 * 1000],
    )?;
    conn.execute(
        "INSERT INTO github_app_manifests (state_hash, integration_id, created_at, expires_at)
         VALUES (?1, ?2, ?3, ?4)",
        params![hash(state, starter), integration_id, now, now + GOOD_FOR_MS],
    )?;
    Ok(())
}

/// Why a state was not taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// Never issued here, or for another integration.
    Unknown,
    Used,
    Expired,
}

/// Takes `state` for `integration_id`, once: a second use, an expired state, one issued for
/// another integration or started by another token or session is refused.
pub fn use_once(
    conn: Conn<'_>,
    state: &str,
    starter: &str,
    integration_id: &str,
    now: i64,
) -> AppResult<Result<(), Refused>> {
    let hashed = hash(state, starter);
    let taken = conn.execute(
        "UPDATE github_app_manifests SET used_at = ?3
         WHERE state_hash = ?1 AND integration_id = ?2 AND used_at IS NULL AND expires_at > ?3",
        params![hashed, integration_id, now],
    )?;
    if taken == 1 {
        return Ok(Ok(()));
    }
    let found: Option<(Option<i64>, i64)> = conn.query_opt(
        "SELECT used_at, expires_at FROM github_app_manifests
         WHERE state_hash = ?1 AND integration_id = ?2",
        params![hashed, integration_id],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    Ok(Err(match found {
        None => Refused::Unknown,
        Some((Some(_), _)) => Refused::Used,
        Some((None, _)) => Refused::Expired,
    }))
}
