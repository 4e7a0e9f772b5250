//! Every SQL statement that touches the `alerts` table: conditions the server announced as
//! broken, open until they clear (at most one open per condition and subject). Alerts are
//! rare, so the table stays small and is read whole.

use super::sql::{Conn, params};

use crate::base::error::AppResult;

/// An alert, open or resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alert {
    pub id: String,
    /// `failures`, `rejections`, `destination`, `missed_deliveries`, `storage`, `backlog`.
    pub condition: String,
    /// The integration id, destination key or node it is about; '' for the whole server.
    pub subject: String,
    pub subject_name: Option<String>,
    pub summary: String,
    pub link: Option<String>,
    pub since: i64,
    pub opened_at: i64,
    pub resolved_at: Option<i64>,
}

const COLUMNS: &str =
    "id, condition, subject, subject_name, summary, link, since, opened_at, resolved_at";

fn from_row(r: &super::sql::Row<'_>) -> super::DbResult<Alert> {
    Ok(Alert {
        id: r.get(0)?,
        condition: r.get(1)?,
        subject: r.get(2)?,
        subject_name: r.get(3)?,
        summary: r.get(4)?,
        link: r.get(5)?,
        since: r.get(6)?,
        opened_at: r.get(7)?,
        resolved_at: r.get(8)?,
    })
}

/// Opens `alert` unless one is already open for its condition and subject; returns whether
/// this one was opened (and so is to be announced).
pub fn open(conn: Conn<'_>, alert: &Alert) -> AppResult<bool> {
    let added = conn.execute(
        &format!(
            "INSERT INTO alerts ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, NULL)
             ON CONFLICT DO NOTHING"
        ),
        params![
            alert.id,
            alert.condition,
            alert.subject,
            alert.subject_name,
            alert.summary,
            alert.link,
            alert.since,
            alert.opened_at
        ],
    )?;
    Ok(added == 1)
}

/// What an open alert has seen lately (the numbers grow while it lasts).
pub fn update_summary(conn: Conn<'_>, id: &str, summary: &str) -> AppResult<()> {
    conn.execute(
        "UPDATE alerts SET summary = ?2 WHERE id = ?1 AND resolved_at IS NULL",
        params![id, summary],
    )?;
    Ok(())
}

/// Resolves the open alert `id`; returns whether it was still open (so this call resolved it
/// and is to announce it).
pub fn resolve(conn: Conn<'_>, id: &str, at: i64) -> AppResult<bool> {
    let changed = conn.execute(
        "UPDATE alerts SET resolved_at = ?2 WHERE id = ?1 AND resolved_at IS NULL",
        params![id, at],
    )?;
    Ok(changed == 1)
}

/// The open alerts, oldest first.
pub fn open_alerts(conn: Conn<'_>) -> AppResult<Vec<Alert>> {
    Ok(conn.query_map(
        &format!("SELECT {COLUMNS} FROM alerts WHERE resolved_at IS NULL ORDER BY opened_at, id"),
        params![],
        from_row,
    )?)
}

/// Alerts resolved at `since` or later, newest first, at most `limit`.
pub fn resolved_since(conn: Conn<'_>, since: i64, limit: u32) -> AppResult<Vec<Alert>> {
    Ok(conn.query_map(
        &format!(
            "SELECT {COLUMNS} FROM alerts WHERE resolved_at >= ?1
             ORDER BY resolved_at DESC, id LIMIT ?2"
        ),
        params![since, limit],
        from_row,
    )?)
}

/// Forgets alerts resolved before `cutoff`.
pub fn prune(conn: Conn<'_>, cutoff: i64, limit: u32) -> AppResult<usize> {
    Ok(conn.execute(
        "DELETE FROM alerts WHERE id IN (
             SELECT id FROM alerts WHERE opened_at < ?1 AND resolved_at < ?1 LIMIT ?2)",
        params![cutoff, limit],
    )?)
}
