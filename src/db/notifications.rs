//! Every SQL statement that touches the `notifications` table: the Slack delivery queue.

use rusqlite::{Connection, OptionalExtension, Row, params};

use crate::error::AppResult;
use crate::model::NotificationStatus;

#[derive(Debug, Clone)]
pub struct Notification {
    pub seq: i64,
    pub id: String,
    pub integration_id: String,
    pub event_type: String,
    pub dedupe_key: String,
    pub source_event_id: Option<String>,
    pub facts: serde_json::Value,
    pub status: NotificationStatus,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub next_attempt_at: Option<i64>,
    pub created_at: i64,
    pub sent_at: Option<i64>,
}

#[derive(Debug, Clone, Default)]
pub struct NotificationFilter {
    pub integration_id: Option<String>,
    pub status: Option<NotificationStatus>,
    pub before_seq: Option<i64>,
    pub limit: u32,
}

const COLUMNS: &str = "seq, id, integration_id, event_type, dedupe_key, source_event_id, facts, \
                       status, attempts, last_error, next_attempt_at, created_at, sent_at";

fn from_row(r: &Row<'_>) -> rusqlite::Result<Notification> {
    let facts: String = r.get(6)?;
    Ok(Notification {
        seq: r.get(0)?,
        id: r.get(1)?,
        integration_id: r.get(2)?,
        event_type: r.get(3)?,
        dedupe_key: r.get(4)?,
        source_event_id: r.get(5)?,
        facts: serde_json::from_str(&facts).unwrap_or_default(),
        status: r.get(7)?,
        attempts: r.get(8)?,
        last_error: r.get(9)?,
        next_attempt_at: r.get(10)?,
        created_at: r.get(11)?,
        sent_at: r.get(12)?,
    })
}

/// Queues a notification unless the same thing was already announced to this integration.
/// Returns whether a row was added.
pub fn insert(conn: &Connection, n: &Notification) -> AppResult<bool> {
    Ok(conn
        .prepare_cached(
            "INSERT OR IGNORE INTO notifications
                 (id, integration_id, event_type, dedupe_key, source_event_id, facts, status, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'PENDING', ?7)",
        )?
        .execute(params![
            n.id,
            n.integration_id,
            n.event_type,
            n.dedupe_key,
            n.source_event_id,
            n.facts.to_string(),
            n.created_at
        ])?
        == 1)
}

/// Takes the oldest due PENDING notification and marks it SENDING.
pub fn claim_next(conn: &Connection, now: i64) -> AppResult<Option<Notification>> {
    Ok(conn
        .prepare_cached(&format!(
            "UPDATE notifications SET status = 'SENDING'
             WHERE seq = (SELECT seq FROM notifications WHERE status = 'PENDING'
                            AND (next_attempt_at IS NULL OR next_attempt_at <= ?1)
                          ORDER BY seq LIMIT 1)
             RETURNING {COLUMNS}"
        ))?
        .query_row([now], from_row)
        .optional()?)
}

pub fn mark_sent(conn: &Connection, seq: i64, now: i64) -> AppResult<()> {
    conn.prepare_cached(
        "UPDATE notifications SET status = 'SENT', attempts = attempts + 1, sent_at = ?2,
                last_error = NULL, next_attempt_at = NULL WHERE seq = ?1",
    )?
    .execute(params![seq, now])?;
    Ok(())
}

pub fn mark_failed(conn: &Connection, seq: i64, error: &str) -> AppResult<()> {
    conn.prepare_cached(
        "UPDATE notifications SET status = 'FAILED', attempts = attempts + 1, last_error = ?2,
                next_attempt_at = NULL WHERE seq = ?1",
    )?
    .execute(params![seq, error])?;
    Ok(())
}

/// Back to the queue after a failed attempt, due at `at`.
pub fn schedule_retry(conn: &Connection, seq: i64, error: &str, at: i64) -> AppResult<()> {
    conn.prepare_cached(
        "UPDATE notifications SET status = 'PENDING', attempts = attempts + 1, last_error = ?2,
                next_attempt_at = ?3 WHERE seq = ?1",
    )?
    .execute(params![seq, error, at])?;
    Ok(())
}

/// Back to the queue without counting an attempt (held back by the per-URL rate limit).
pub fn postpone(conn: &Connection, seq: i64, at: i64) -> AppResult<()> {
    conn.prepare_cached(
        "UPDATE notifications SET status = 'PENDING', next_attempt_at = ?2 WHERE seq = ?1",
    )?
    .execute(params![seq, at])?;
    Ok(())
}

pub fn next_due_at(conn: &Connection) -> AppResult<Option<i64>> {
    Ok(conn
        .prepare_cached(
            "SELECT MIN(COALESCE(next_attempt_at, 0)) FROM notifications WHERE status = 'PENDING'",
        )?
        .query_row([], |r| r.get(0))?)
}

/// After a crash, messages that were being sent go back to the queue (at-least-once).
pub fn requeue_interrupted(conn: &Connection) -> AppResult<usize> {
    Ok(conn.execute(
        "UPDATE notifications SET status = 'PENDING' WHERE status = 'SENDING'",
        [],
    )?)
}

pub fn list(conn: &Connection, f: &NotificationFilter) -> AppResult<Vec<Notification>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM notifications
         WHERE (?1 IS NULL OR integration_id = ?1) AND (?2 IS NULL OR status = ?2)
           AND (?3 IS NULL OR seq < ?3)
         ORDER BY seq DESC LIMIT ?4"
    ))?;
    let rows = stmt.query_map(
        params![
            f.integration_id,
            f.status.map(NotificationStatus::as_str),
            f.before_seq,
            f.limit
        ],
        from_row,
    )?;
    Ok(rows.collect::<Result<_, _>>()?)
}
