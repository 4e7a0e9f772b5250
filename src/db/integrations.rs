//! Every SQL statement that touches the `integrations` table.

use super::DbResult;
use super::sql::{Conn, Row, params};
use serde_json::Value;

use super::not_found;
use crate::base::error::{AppError, AppResult};
use crate::domain::integration_config::IntegrationConfig;
use crate::domain::model::IntegrationType;

/// Counts committed API writes (integrations, secrets): a long-lived reader keeps what it read
/// only while the count has not moved.
#[derive(Clone, Default)]
pub struct Generation(std::sync::Arc<std::sync::atomic::AtomicU64>);

impl Generation {
    pub fn current(&self) -> u64 {
        self.0.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Call after the write has committed.
    pub fn bump(&self) {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

#[derive(Debug, Clone)]
pub struct Integration {
    pub id: String,
    pub kind: IntegrationType,
    pub name: String,
    /// Unmasked, as stored (with the user's own keys): mask before it leaves the server.
    pub config: Value,
    /// The same config, typed: what the server reads.
    pub settings: IntegrationConfig,
    pub is_active: bool,
    pub created_at: i64,
    pub updated_at: i64,
    pub rejected_count: i64,
    pub last_rejected_at: Option<i64>,
    pub last_rejected_reason: Option<String>,
    /// Stored events, kept up to date by the delivery writer and pruning.
    pub event_count: i64,
    /// When the newest delivery arrived.
    pub last_event_at: Option<i64>,
    /// After a rotation: until when the previous webhook secret is accepted.
    pub previous_secret_until: Option<i64>,
    /// When a delivery signed with the previous secret last arrived.
    pub previous_secret_used_at: Option<i64>,
}

const COLUMNS: &str = "id, type, name, config, is_active, created_at, updated_at, \
                       rejected_count, last_rejected_at, last_rejected_reason, event_count, \
                       last_event_at, previous_secret_until, previous_secret_used_at";

/// The list of every integration: one table, never the events (a test checks the plan).
pub const LIST_SQL: &str = "SELECT id, type, name, config, is_active, created_at, updated_at, \
                            rejected_count, last_rejected_at, last_rejected_reason, event_count, \
                            last_event_at, previous_secret_until, previous_secret_used_at \
                            FROM integrations ORDER BY created_at, id";

fn from_row(row: &Row<'_>) -> DbResult<Integration> {
    let kind: IntegrationType = row.get(1)?;
    let config: String = row.get(3)?;
    let bad_config = |e: String| super::error::column(3, e);
    let config: Value = serde_json::from_str(&config).map_err(|e| bad_config(e.to_string()))?;
    let settings = IntegrationConfig::read_stored(kind, config.clone())
        .map_err(|e| bad_config(e.to_string()))?;
    Ok(Integration {
        id: row.get(0)?,
        kind,
        name: row.get(2)?,
        config,
        settings,
        is_active: row.get(4)?,
        created_at: row.get(5)?,
        updated_at: row.get(6)?,
        rejected_count: row.get(7)?,
        last_rejected_at: row.get(8)?,
        last_rejected_reason: row.get(9)?,
        event_count: row.get(10)?,
        last_event_at: row.get(11)?,
        previous_secret_until: row.get(12)?,
        previous_secret_used_at: row.get(13)?,
    })
}

pub fn insert(conn: Conn<'_>, i: &Integration) -> AppResult<()> {
    conn.execute(
        "INSERT INTO integrations (id, type, name, config, is_active, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            i.id,
            i.kind,
            i.name,
            i.config.to_string(),
            i.is_active,
            i.created_at,
            i.updated_at
        ],
    )?;
    Ok(())
}

pub fn get(conn: Conn<'_>, id: &str) -> AppResult<Integration> {
    conn.query_row(
        &format!("SELECT {COLUMNS} FROM integrations WHERE id = ?1"),
        params![id],
        from_row,
    )
    .map_err(not_found("integration"))
}

pub fn find(conn: Conn<'_>, id: &str) -> AppResult<Option<Integration>> {
    Ok(conn.query_opt(
        &format!("SELECT {COLUMNS} FROM integrations WHERE id = ?1"),
        params![id],
        from_row,
    )?)
}

/// All integrations, oldest first.
pub fn list(conn: Conn<'_>) -> AppResult<Vec<Integration>> {
    Ok(conn.query_map(LIST_SQL, params![], from_row)?)
}

/// Active integrations of one type (the worker fans notifications out to these).
pub fn list_active_of_type(conn: Conn<'_>, kind: IntegrationType) -> AppResult<Vec<Integration>> {
    Ok(conn.query_map(&format!(
        "SELECT {COLUMNS} FROM integrations WHERE type = ?1 AND is_active = 1 ORDER BY created_at, id"
    ), params![kind], from_row)?)
}

/// Every integration's id and stored config, untyped: for rewriting configs without depending
/// on each one still reading under today's rules.
pub fn raw_configs(conn: Conn<'_>) -> AppResult<Vec<(String, Value)>> {
    let rows = conn.query_map(
        "SELECT id, config FROM integrations ORDER BY created_at, id",
        params![],
        |r| Ok((r.get::<String>(0)?, r.get::<String>(1)?)),
    )?;
    let mut out = Vec::new();
    for (id, config) in rows {
        if let Ok(config) = serde_json::from_str(&config) {
            out.push((id, config));
        }
    }
    Ok(out)
}

/// Replaces a stored config as it is, nothing else (not even `updated_at`): for sealing the
/// inline credentials of configs stored before they were sealed.
pub fn replace_config(conn: Conn<'_>, id: &str, config: &Value) -> AppResult<()> {
    conn.execute(
        "UPDATE integrations SET config = ?2 WHERE id = ?1",
        params![id, config.to_string()],
    )?;
    Ok(())
}

pub fn update(conn: Conn<'_>, i: &Integration) -> AppResult<()> {
    let changed = conn.execute(
        "UPDATE integrations SET name = ?2, config = ?3, is_active = ?4, updated_at = ?5 WHERE id = ?1",
        params![
            i.id,
            i.name,
            i.config.to_string(),
            i.is_active,
            i.updated_at
        ],
    )?;
    if changed == 0 {
        return Err(AppError::NotFound("integration"));
    }
    Ok(())
}

pub fn delete(conn: Conn<'_>, id: &str) -> AppResult<()> {
    let changed = conn.execute("DELETE FROM integrations WHERE id = ?1", params![id])?;
    if changed == 0 {
        return Err(AppError::NotFound("integration"));
    }
    super::outbox::forget_slack_destinations(conn, id)?;
    super::stats::forget_integration(conn, id)
}

/// Counts a delivery refused for its signature, so "it was sent but nothing happened" has
/// an answer.
pub fn record_rejection(conn: Conn<'_>, id: &str, at: i64, reason: &str) -> AppResult<()> {
    conn.execute(
        "UPDATE integrations SET rejected_count = rejected_count + 1,
                last_rejected_at = ?2, last_rejected_reason = ?3 WHERE id = ?1",
        params![id, at, reason],
    )?;
    Ok(())
}

/// The webhook secret before the last rotation (encrypted) and until when it is accepted.
pub fn previous_secret(conn: Conn<'_>, id: &str) -> AppResult<Option<(Vec<u8>, i64)>> {
    Ok(conn
        .query_opt("SELECT previous_secret_enc, previous_secret_until
             FROM integrations
             WHERE id = ?1 AND previous_secret_enc IS NOT NULL AND previous_secret_until IS NOT NULL", params![id], |r| Ok((r.get(0)?, r.get(1)?)))?)
}

/// Keeps `previous_enc` accepted until `until` (a rotation; None when the previous value is
/// kept by a named secret instead); forgets when it was last used.
pub fn set_previous_secret(
    conn: Conn<'_>,
    id: &str,
    previous_enc: Option<&[u8]>,
    until: i64,
) -> AppResult<()> {
    conn.execute(
        "UPDATE integrations SET previous_secret_enc = ?2, previous_secret_until = ?3,
                previous_secret_used_at = NULL
         WHERE id = ?1",
        params![id, previous_enc, until],
    )?;
    Ok(())
}

/// A delivery signed with the previous secret (during a rotation's overlap) arrived at `at`.
pub fn previous_secret_used(conn: Conn<'_>, id: &str, at: i64) -> AppResult<()> {
    conn.execute(
        "UPDATE integrations SET previous_secret_used_at =
                CASE WHEN COALESCE(previous_secret_used_at, 0) > ?2
                     THEN previous_secret_used_at ELSE ?2 END
         WHERE id = ?1",
        params![id, at],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_reads_no_event_rows() {
        let db = crate::db::Connection::memory();
        let conn = db.conn();
        assert!(LIST_SQL.starts_with(&format!("SELECT {COLUMNS} ")));
        let plan = conn.query_plan(LIST_SQL);
        assert!(
            !plan.iter().any(|step| step.contains("webhook_events")),
            "{plan:?}"
        );
    }
}
