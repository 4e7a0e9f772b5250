//! Every SQL statement that touches `audit_log`. Entries are only ever inserted, read, and
//! removed by retention: nothing here updates one.

use super::DbResult;
use super::sql::{Conn, Row, params};
use crate::base::error::AppResult;
use crate::domain::audit::{Action, Entry};

#[derive(Debug, Clone)]
pub struct StoredEntry {
    pub seq: i64,
    pub at: i64,
    pub actor: String,
    pub action: String,
    pub integration_id: Option<String>,
    pub target: String,
    pub changes: serde_json::Value,
    pub source: String,
    pub request_id: String,
}

#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub actor: Option<String>,
    pub integration_id: Option<String>,
    pub action: Option<Action>,
    /// From this time on (inclusive), and before `until` (exclusive).
    pub since: Option<i64>,
    pub until: Option<i64>,
    pub before_seq: Option<i64>,
    pub limit: u32,
}

/// Writes `entry`, at `at`, in the caller's transaction.
pub fn record(conn: Conn<'_>, entry: &Entry, at: i64) -> AppResult<()> {
    conn.execute(
        "INSERT INTO audit_log (at, actor, action, integration_id, target, changes, source, request_id)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            at,
            entry.actor,
            entry.action.as_str(),
            entry.integration_id,
            entry.target,
            entry.changes.to_string(),
            entry.source,
            entry.request_id
        ],
    )?;
    Ok(())
}

fn from_row(r: &Row<'_>) -> DbResult<StoredEntry> {
    let changes: String = r.get(6)?;
    Ok(StoredEntry {
        seq: r.get(0)?,
        at: r.get(1)?,
        actor: r.get(2)?,
        action: r.get(3)?,
        integration_id: r.get(4)?,
        target: r.get(5)?,
        changes: serde_json::from_str(&changes).unwrap_or_default(),
        source: r.get(7)?,
        request_id: r.get(8)?,
    })
}

/// A page of entries, newest first. The actor filter takes an actor as the log names it
/// (`token:alice-bot#…`, `person:ann@example.com`) or a bare name: a token's (any of its
/// ids) or a person's.
pub fn list(conn: Conn<'_>, f: &AuditFilter) -> AppResult<Vec<StoredEntry>> {
    let token_prefix = f.actor.as_ref().map(|name| format!("token:{name}#"));
    let person = f.actor.as_ref().map(|name| format!("person:{name}"));
    Ok(conn.query_map(
        "SELECT seq, at, actor, action, integration_id, target, changes, source, request_id
         FROM audit_log
         WHERE (CAST(?1 AS TEXT) IS NULL OR actor = ?1 OR actor = CAST(?9 AS TEXT)
                OR substr(actor, 1, length(CAST(?8 AS TEXT))) = CAST(?8 AS TEXT))
           AND (CAST(?2 AS TEXT) IS NULL OR integration_id = ?2)
           AND (CAST(?3 AS TEXT) IS NULL OR action = ?3)
           AND (CAST(?4 AS BIGINT) IS NULL OR at >= ?4)
           AND (CAST(?5 AS BIGINT) IS NULL OR at < ?5)
           AND (CAST(?6 AS BIGINT) IS NULL OR seq < ?6)
         ORDER BY seq DESC LIMIT ?7",
        params![
            f.actor,
            f.integration_id,
            f.action.map(Action::as_str),
            f.since,
            f.until,
            f.before_seq,
            f.limit,
            token_prefix,
            person
        ],
        from_row,
    )?)
}

/// Removes entries older than `before`, at most `batch` of them; returns how many went.
pub fn prune(conn: Conn<'_>, before: i64, batch: u32) -> AppResult<usize> {
    Ok(conn.execute(
        "DELETE FROM audit_log WHERE seq IN
           (SELECT seq FROM audit_log WHERE at < ?1 ORDER BY seq LIMIT ?2)",
        params![before, batch],
    )?)
}
