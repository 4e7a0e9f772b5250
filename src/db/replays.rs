//! Every SQL statement that touches the `replays` table, and the event queries a replay runs:
//! re-queueing the events of an integration that match a filter, a batch at a time.

use super::DbResult;
use super::sql::{Conn, Row, params};
use serde::{Deserialize, Serialize};

use super::events::{self, EventSummary};
use super::not_found;
use crate::base::error::AppResult;
use crate::domain::model::EventStatus;

/// Which events a replay takes; every field narrows it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Filter {
    pub status: Option<EventStatus>,
    pub event_type: Option<String>,
    /// Received at or after (Unix ms).
    pub from: Option<i64>,
    /// Received before (Unix ms).
    pub to: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct Replay {
    pub id: String,
    pub integration_id: String,
    pub filter: Filter,
    /// The newest event when the replay began: later deliveries are not part of it.
    pub up_to_seq: i64,
    /// Events up to here have been handled.
    pub cursor_seq: i64,
    pub total: i64,
    pub requeued: i64,
    /// Matched, but already waiting or being processed.
    pub skipped: i64,
    pub created_at: i64,
    pub finished_at: Option<i64>,
}

/// The condition every replay query shares: `?1` the integration, `?2..?5` the filter.
const MATCHING: &str = "integration_id = ?1
    AND (CAST(?2 AS TEXT) IS NULL OR status = ?2)
    AND (CAST(?3 AS TEXT) IS NULL OR event_type = ?3)
    AND (CAST(?4 AS BIGINT) IS NULL OR received_at >= ?4)
    AND (CAST(?5 AS BIGINT) IS NULL OR received_at < ?5)";

fn status_text(f: &Filter) -> Option<&'static str> {
    f.status.map(EventStatus::as_str)
}

/// How many events of the integration match, up to `up_to_seq`.
pub fn count_matching(
    conn: Conn<'_>,
    integration_id: &str,
    f: &Filter,
    up_to_seq: i64,
) -> AppResult<i64> {
    Ok(conn.query_row(
        &format!("SELECT COUNT(*) FROM webhook_events WHERE {MATCHING} AND seq <= ?6"),
        params![
            integration_id,
            status_text(f),
            f.event_type,
            f.from,
            f.to,
            up_to_seq
        ],
        |r| r.get(0),
    )?)
}

/// The newest matching events, newest first (a dry run's sample).
pub fn sample(
    conn: Conn<'_>,
    integration_id: &str,
    f: &Filter,
    limit: u32,
) -> AppResult<Vec<EventSummary>> {
    let ids: Vec<String> = conn.query_map(
        &format!("SELECT id FROM webhook_events WHERE {MATCHING} ORDER BY seq DESC LIMIT ?6"),
        params![
            integration_id,
            status_text(f),
            f.event_type,
            f.from,
            f.to,
            limit
        ],
        |r| r.get(0),
    )?;
    ids.iter()
        .map(|id| events::get(conn, integration_id, id).map(|e| e.summary))
        .collect()
}

/// The integration's newest event (0 when it has none).
pub fn newest_seq(conn: Conn<'_>, integration_id: &str) -> AppResult<i64> {
    Ok(conn.query_row(
        "SELECT COALESCE(MAX(seq), 0) FROM webhook_events WHERE integration_id = ?1",
        params![integration_id],
        |r| r.get(0),
    )?)
}

pub fn insert(conn: Conn<'_>, r: &Replay) -> AppResult<()> {
    conn.execute(
        "INSERT INTO replays (id, integration_id, filter, up_to_seq, cursor_seq, total, created_at)
         VALUES (?1, ?2, ?3, ?4, 0, ?5, ?6)",
        params![
            r.id,
            r.integration_id,
            serde_json::to_string(&r.filter).unwrap_or_else(|_| "{}".into()),
            r.up_to_seq,
            r.total,
            r.created_at
        ],
    )?;
    Ok(())
}

const COLUMNS: &str = "id, integration_id, filter, up_to_seq, cursor_seq, total, requeued, skipped, \
                       created_at, finished_at";

fn from_row(row: &Row<'_>) -> DbResult<Replay> {
    let filter: String = row.get(2)?;
    Ok(Replay {
        id: row.get(0)?,
        integration_id: row.get(1)?,
        filter: serde_json::from_str(&filter).unwrap_or_default(),
        up_to_seq: row.get(3)?,
        cursor_seq: row.get(4)?,
        total: row.get(5)?,
        requeued: row.get(6)?,
        skipped: row.get(7)?,
        created_at: row.get(8)?,
        finished_at: row.get(9)?,
    })
}

pub fn get(conn: Conn<'_>, integration_id: &str, id: &str) -> AppResult<Replay> {
    conn.query_row(
        &format!("SELECT {COLUMNS} FROM replays WHERE integration_id = ?1 AND id = ?2"),
        params![integration_id, id],
        from_row,
    )
    .map_err(not_found("replay"))
}

/// The replay that has waited longest for its next batch, if any is unfinished.
pub fn next_unfinished(conn: Conn<'_>) -> AppResult<Option<Replay>> {
    Ok(conn.query_opt(
        &format!(
            "SELECT {COLUMNS} FROM replays WHERE finished_at IS NULL ORDER BY created_at LIMIT 1"
        ),
        params![],
        from_row,
    )?)
}

/// Re-queues the next `batch` matching events of `r` (those PROCESSED or FAILED; ones waiting
/// or being processed are counted as skipped) and moves its cursor; finishes it when nothing
/// is left. Returns how many were re-queued.
pub fn advance(conn: Conn<'_>, r: &Replay, batch: u32, now: i64) -> AppResult<usize> {
    let seqs: Vec<i64> = conn.query_map(
        &format!(
            "SELECT seq FROM webhook_events WHERE {MATCHING} AND seq > ?6 AND seq <= ?7
             ORDER BY seq LIMIT ?8"
        ),
        params![
            r.integration_id,
            status_text(&r.filter),
            r.filter.event_type,
            r.filter.from,
            r.filter.to,
            r.cursor_seq,
            r.up_to_seq,
            batch
        ],
        |row| row.get(0),
    )?;
    let mut requeued = 0;
    for seq in &seqs {
        requeued += events::requeue_finished(conn, *seq)?;
    }
    let cursor = seqs.last().copied().unwrap_or(r.up_to_seq);
    let finished = (seqs.len() < batch as usize).then_some(now);
    conn.execute(
        "UPDATE replays SET cursor_seq = ?2, requeued = requeued + ?3, skipped = skipped + ?4,
                finished_at = ?5
         WHERE id = ?1",
        params![
            r.id,
            cursor,
            requeued as i64,
            (seqs.len() - requeued) as i64,
            finished
        ],
    )?;
    Ok(requeued)
}
