//! Every SQL statement that touches the `webhook_events` table: the delivery log and the
//! worker's queue.

use std::sync::OnceLock;

use super::DbResult;
use std::collections::HashMap;

use super::sql::{Conn, Row, ToValue, params};
use serde_json::Value;

use super::not_found;
use super::packed::{self, Packed};
use crate::base::error::{AppError, AppResult};
use crate::domain::actions::fields;
use crate::domain::model::EventStatus;
use crate::domain::webhook::classify;

/// A delivery as the receiver hands it to storage.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub id: String,
    pub integration_id: String,
    pub event_type: String,
    pub delivery_id: Option<String>,
    pub content_type: Option<String>,
    pub headers: Vec<(String, String)>,
    /// The body as it will be stored (compressed when that pays).
    pub payload: Packed,
    pub received_at: i64,
    /// How the receiver verified it: `<scheme>|current` or `<scheme>|previous` (None: the
    /// integration has no secret). The first step of its decision trace.
    pub verified: Option<String>,
}

impl NewEvent {
    /// Everything but the body (which may be large), for a copy that gets another.
    pub fn clone_without_payload(&self) -> NewEvent {
        NewEvent {
            id: self.id.clone(),
            integration_id: self.integration_id.clone(),
            event_type: self.event_type.clone(),
            delivery_id: self.delivery_id.clone(),
            content_type: self.content_type.clone(),
            headers: self.headers.clone(),
            payload: Packed {
                encoding: None,
                bytes: Vec::new(),
            },
            received_at: self.received_at,
            verified: self.verified.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inserted {
    New(String),
    /// The integration already has an event with this delivery id; nothing was stored.
    Duplicate(String),
}

#[derive(Debug, Clone)]
pub struct EventSummary {
    pub seq: i64,
    pub id: String,
    pub integration_id: String,
    pub event_type: String,
    pub delivery_id: Option<String>,
    pub status: EventStatus,
    pub attempts: i64,
    pub error: Option<String>,
    pub outcome: Option<String>,
    pub received_at: i64,
    pub processed_at: Option<i64>,
    pub next_attempt_at: Option<i64>,
    /// How the receiver verified it (`<scheme>|current`); None: it passed no signature check
    /// (the integration had no secret).
    pub verified: Option<String>,
}

#[derive(Debug, Clone)]
pub struct EventDetail {
    pub summary: EventSummary,
    pub content_type: Option<String>,
    pub headers: Vec<(String, String)>,
    pub payload: Vec<u8>,
    /// The JSON document in the payload, read once when first asked for.
    json: OnceLock<Option<Value>>,
    /// The fields of it that GitHub and GitLab plans read (`actions::fields`).
    action_fields: OnceLock<Option<Value>>,
}

impl EventDetail {
    /// The JSON document inside the payload (see `classify::decode_json`); None when the
    /// body holds no JSON.
    pub fn json(&self) -> Option<&Value> {
        self.json
            .get_or_init(|| classify::decode_json(self.content_type.as_deref(), &self.payload))
            .as_ref()
    }

    /// What [`fields::READ`] lists of the payload's JSON; None when it is not JSON.
    pub fn fields_for_actions(&self) -> Option<&Value> {
        self.action_fields
            .get_or_init(|| fields::read(self.content_type.as_deref(), &self.payload))
            .as_ref()
    }
}

#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    pub status: Option<EventStatus>,
    pub event_type: Option<String>,
    /// Only events older than this `seq` (the cursor of the previous page).
    pub before_seq: Option<i64>,
    /// Only events whose processing last ended in `[from, before)` (ms): a chart's hour.
    pub processed_from: Option<i64>,
    pub processed_before: Option<i64>,
    pub limit: u32,
}

#[derive(Debug, Clone, Default)]
pub struct QueueStats {
    pub received: i64,
    pub processing: i64,
    pub processed: i64,
    pub failed: i64,
    pub oldest_received_at: Option<i64>,
}

/// The condition of the partial status indexes (schema.sql), written exactly as there: SQLite
/// uses a partial index only for a query that contains its condition word for word.
const NOT_DONE: &str = "status IN ('RECEIVED', 'PROCESSING', 'FAILED')";

const SUMMARY: &str = "seq, id, integration_id, event_type, delivery_id, status, attempts, \
                       error, outcome, received_at, processed_at, next_attempt_at, verified";

fn summary_from_row(row: &Row<'_>) -> DbResult<EventSummary> {
    Ok(EventSummary {
        seq: row.get(0)?,
        id: row.get(1)?,
        integration_id: row.get(2)?,
        event_type: row.get(3)?,
        delivery_id: row.get(4)?,
        status: row.get(5)?,
        attempts: row.get(6)?,
        error: row.get(7)?,
        outcome: row.get(8)?,
        received_at: row.get(9)?,
        processed_at: row.get(10)?,
        next_attempt_at: row.get(11)?,
        verified: row.get(12)?,
    })
}

/// What [`detail_from_row`] reads: an event with its body (`e` and `b` in the query).
const DETAIL: &str = "SELECT e.seq, e.id, e.integration_id, e.event_type, e.delivery_id, \
                      e.status, e.attempts, e.error, e.outcome, e.received_at, e.processed_at, \
                      e.next_attempt_at, e.verified, e.content_type, b.headers, b.encoding, b.body \
                      FROM webhook_events e JOIN event_bodies b ON b.event_seq = e.seq";

fn detail_from_row(row: &Row<'_>) -> DbResult<EventDetail> {
    let headers: String = row.get(14)?;
    let encoding: Option<String> = row.get(15)?;
    let payload = packed::unpack(encoding.as_deref(), row.get(16)?)
        .map_err(|e| super::error::column(16, e))?;
    Ok(EventDetail {
        summary: summary_from_row(row)?,
        content_type: row.get(13)?,
        headers: serde_json::from_str(&headers).unwrap_or_default(),
        payload,
        json: OnceLock::new(),
        action_fields: OnceLock::new(),
    })
}

/// Stores a delivery unless the integration already has one with the same delivery id.
/// Runs inside the writer's transaction, which then counts what it stored with
/// [`count_stored`].
pub fn insert(conn: Conn<'_>, e: &NewEvent) -> DbResult<Inserted> {
    let headers = serde_json::to_string(&e.headers).unwrap_or_else(|_| "[]".into());
    // A duplicate delivery id inserts nothing (the partial unique index). SQLite hands the
    // new row's seq to the body through last_insert_rowid(), which is cheaper than RETURNING
    // there; PostgreSQL has no such function.
    let stored = if conn.is_postgres() {
        // One round trip: the body goes in with the row, and nowhere when the row did not.
        conn.execute(POSTGRES_INSERT, &postgres_params(e, &headers))? == 1
    } else {
        let changed = conn.execute(
            "INSERT INTO webhook_events
                 (id, integration_id, event_type, delivery_id, status, content_type, received_at,
                  verified)
             VALUES (?1, ?2, ?3, ?4, 'RECEIVED', ?5, ?6, ?7)
             ON CONFLICT DO NOTHING",
            params![
                e.id,
                e.integration_id,
                e.event_type,
                e.delivery_id,
                e.content_type,
                e.received_at,
                e.verified
            ],
        )?;
        if changed == 1 {
            conn.execute(
                "INSERT INTO event_bodies (event_seq, headers, encoding, body)
                 VALUES (last_insert_rowid(), ?1, ?2, ?3)",
                params![headers, e.payload.encoding, e.payload.bytes],
            )?;
        }
        changed == 1
    };
    if stored {
        return Ok(Inserted::New(e.id.clone()));
    }
    existing(conn, e).map(Inserted::Duplicate)
}

/// Stores a row and its body in one statement, or nothing when the delivery id is known.
const POSTGRES_INSERT: &str = "WITH e AS (
         INSERT INTO webhook_events
             (id, integration_id, event_type, delivery_id, status, content_type, received_at,
              verified)
         VALUES (?1, ?2, ?3, ?4, 'RECEIVED', ?5, ?6, ?7)
         ON CONFLICT DO NOTHING RETURNING seq)
     INSERT INTO event_bodies (event_seq, headers, encoding, body)
     SELECT seq, ?8, ?9, ?10 FROM e";

// `&String`, not `&str`: a `str` is unsized and cannot become a `&dyn ToValue` itself.
#[allow(clippy::ptr_arg)]
fn postgres_params<'a>(e: &'a NewEvent, headers: &'a String) -> [&'a dyn ToValue; 10] {
    [
        &e.id,
        &e.integration_id,
        &e.event_type,
        &e.delivery_id,
        &e.content_type,
        &e.received_at,
        &e.verified,
        headers,
        &e.payload.encoding,
        &e.payload.bytes,
    ]
}

/// [`insert`] for each delivery of a batch, each with its own outcome. On PostgreSQL the rows
/// are pipelined (one round trip for the batch, not one each); a failed one aborts the
/// transaction, and the caller writes the batch again row by row.
pub fn insert_batch(conn: Conn<'_>, batch: &[&NewEvent]) -> DbResult<Vec<DbResult<Inserted>>> {
    if !conn.is_postgres() {
        return Ok(batch.iter().map(|e| insert(conn, e)).collect());
    }
    let headers: Vec<String> = batch
        .iter()
        .map(|e| serde_json::to_string(&e.headers).unwrap_or_else(|_| "[]".into()))
        .collect();
    let sets: Vec<[&dyn ToValue; 10]> = batch
        .iter()
        .zip(&headers)
        .map(|(e, h)| postgres_params(e, h))
        .collect();
    let sets: Vec<&[&dyn ToValue]> = sets.iter().map(|set| set.as_slice()).collect();
    let changed = conn.execute_each(POSTGRES_INSERT, &sets)?;
    Ok(batch
        .iter()
        .zip(changed)
        .map(|(e, changed)| match changed? {
            1 => Ok(Inserted::New(e.id.clone())),
            _ => existing(conn, e).map(Inserted::Duplicate),
        })
        .collect())
}

/// The id of the stored event with `e`'s delivery id.
fn existing(conn: Conn<'_>, e: &NewEvent) -> DbResult<String> {
    conn.query_row(
        "SELECT id FROM webhook_events WHERE integration_id = ?1 AND delivery_id = ?2",
        params![e.integration_id, e.delivery_id],
        |r| r.get(0),
    )
}

/// Adds `stored` new events, the newest received at `newest`, to an integration's counts
/// (kept so that lists never count event rows). Once per integration per batch.
pub fn count_stored(
    conn: Conn<'_>,
    integration_id: &str,
    stored: i64,
    newest: i64,
) -> DbResult<()> {
    conn.execute(
        "UPDATE integrations SET event_count = event_count + ?2,
                last_event_at = CASE WHEN COALESCE(last_event_at, 0) > ?3
                                     THEN last_event_at ELSE ?3 END
         WHERE id = ?1",
        params![integration_id, stored, newest],
    )?;
    Ok(())
}

fn claim_sql(postgres: bool) -> String {
    // On PostgreSQL, an integration's events are claimed only while no other node holds any
    // of them: processing follows arrival order (a newer head commit supersedes an older
    // one, never the other way round), as it does with one worker. Different integrations
    // are processed on different nodes at once. SKIP LOCKED: a row another node's claim is
    // taking is passed over rather than waited for.
    let (others_busy, skip_locked) = if postgres {
        (
            "AND integration_id NOT IN (
                 SELECT integration_id FROM webhook_events
                 WHERE status = 'PROCESSING' AND claimed_by IS DISTINCT FROM ?3)",
            "FOR UPDATE SKIP LOCKED",
        )
    } else {
        ("", "")
    };
    format!(
        "UPDATE webhook_events SET status = 'PROCESSING', attempts = attempts + 1,
                next_attempt_at = NULL, claimed_by = ?3
         WHERE seq IN (SELECT seq FROM webhook_events
                       WHERE {NOT_DONE} AND status = 'RECEIVED'
                         AND (next_attempt_at IS NULL OR next_attempt_at <= ?1)
                         {others_busy}
                       ORDER BY seq LIMIT ?2 {skip_locked})
         RETURNING seq"
    )
}

/// Nodes claim one at a time (a lock for the claim's transaction, per schema): the claim's
/// statement starts once the previous claim is committed, so it sees which integrations that
/// one took. A deferred statement: it travels with the claim, in one round trip.
const CLAIM_TURN: &str =
    "SELECT pg_advisory_xact_lock(hashtextextended(current_schema() || ' claims', 0))";

/// Atomically takes up to `limit` of the oldest due `RECEIVED` events for the node whose
/// claim token is `claim_token` and marks them `PROCESSING` (attempts + 1). Returns their
/// `seq`s in arrival order; payloads are loaded one at a time with [`get_by_seq`], so a batch
/// of large deliveries never sits in memory at once.
pub fn claim_batch(conn: Conn<'_>, now: i64, limit: u32, claim_token: &str) -> AppResult<Vec<i64>> {
    let claim = |conn: Conn<'_>| {
        conn.query_map(
            &claim_sql(conn.is_postgres()),
            params![now, limit, claim_token],
            |r| r.get::<i64>(0),
        )
    };
    let mut seqs = if conn.is_postgres() {
        super::in_transaction(conn, |tx| {
            tx.defer_on_postgres(CLAIM_TURN);
            claim(tx)
        })?
    } else {
        claim(conn)?
    };
    seqs.sort_unstable();
    Ok(seqs)
}

/// The size of each event's body as stored (compressed or not), by queue position: enough to
/// read a batch in chunks of bounded size.
pub fn body_sizes(conn: Conn<'_>, seqs: &[i64]) -> AppResult<HashMap<i64, i64>> {
    if seqs.is_empty() {
        return Ok(HashMap::new());
    }
    Ok(conn
        .query_map(
            &format!(
                "SELECT event_seq, CAST(LENGTH(body) AS BIGINT) FROM event_bodies
                 WHERE event_seq IN ({})",
                in_list(seqs)
            ),
            params![],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?
        .into_iter()
        .collect())
}

/// Several events with their payloads, by queue position, in the order given (None for one
/// deleted meanwhile): one statement for all of them.
pub fn get_by_seqs(conn: Conn<'_>, seqs: &[i64]) -> AppResult<Vec<(i64, Option<EventDetail>)>> {
    if let [seq] = seqs {
        return Ok(vec![(*seq, get_by_seq(conn, *seq)?)]);
    }
    let mut found: HashMap<i64, EventDetail> = conn
        .query_map(
            &format!("{DETAIL} WHERE e.seq IN ({})", in_list(seqs)),
            params![],
            |r| {
                let detail = detail_from_row(r)?;
                Ok((detail.summary.seq, detail))
            },
        )?
        .into_iter()
        .collect();
    Ok(seqs.iter().map(|seq| (*seq, found.remove(seq))).collect())
}

/// Integers written into the statement: they are ours (queue positions), never input, and a
/// list of parameters would make a new statement for every length anyway.
fn in_list(seqs: &[i64]) -> String {
    seqs.iter()
        .map(i64::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// One event with its payload, by queue position (None once it has been deleted).
pub fn get_by_seq(conn: Conn<'_>, seq: i64) -> AppResult<Option<EventDetail>> {
    Ok(conn.query_opt(
        &format!("{DETAIL} WHERE e.seq = ?1"),
        params![seq],
        detail_from_row,
    )?)
}

/// How an attempt ended.
#[derive(Debug, Clone)]
pub enum Finish {
    Processed {
        outcome: String,
        at: i64,
    },
    Failed {
        error: String,
        at: i64,
    },
    /// Back to the queue, due again at `due`.
    Retry {
        error: String,
        due: i64,
    },
}

/// Records the end of several attempts, inside the caller's transaction (the worker's, with
/// the effects of processing them). Each event must still be claimed under `claim_token`:
/// when another node took one back (this node's lease ran out), the error makes the caller
/// roll back everything, effects included, since that node processes it again.
pub fn finish_in(
    tx: Conn<'_>,
    finished: &[(i64, Finish, String)],
    claim_token: &str,
) -> AppResult<()> {
    const PROCESSED: &str = "UPDATE webhook_events SET status = 'PROCESSED', outcome = ?2,
                error = NULL, processed_at = ?3, next_attempt_at = NULL, trace = ?4,
                claimed_by = NULL
         WHERE seq = ?1 AND status = 'PROCESSING' AND claimed_by = ?5";
    const FAILED: &str = "UPDATE webhook_events SET status = 'FAILED', error = ?2,
                processed_at = ?3, next_attempt_at = NULL, trace = ?4, claimed_by = NULL
         WHERE seq = ?1 AND status = 'PROCESSING' AND claimed_by = ?5";
    const RETRY: &str = "UPDATE webhook_events SET status = 'RECEIVED', error = ?2,
                next_attempt_at = ?3, trace = ?4, claimed_by = NULL
         WHERE seq = ?1 AND status = 'PROCESSING' AND claimed_by = ?5";
    // One statement per kind of end, each sent for all its events at once (pipelined on
    // PostgreSQL: one round trip for the chunk, not one per event).
    let token = claim_token.to_string();
    for (sql, wanted) in [(PROCESSED, 0), (FAILED, 1), (RETRY, 2)] {
        let these: Vec<&(i64, Finish, String)> = finished
            .iter()
            .filter(|(_, finish, _)| finish_kind(finish) == wanted)
            .collect();
        if these.is_empty() {
            continue;
        }
        let sets: Vec<[&dyn ToValue; 5]> = these
            .iter()
            .map(|(seq, finish, trace)| {
                let (text, at): (&dyn ToValue, &dyn ToValue) = match finish {
                    Finish::Processed { outcome, at } => (outcome, at),
                    Finish::Failed { error, at } => (error, at),
                    Finish::Retry { error, due } => (error, due),
                };
                [seq as &dyn ToValue, text, at, trace, &token]
            })
            .collect();
        let sets: Vec<&[&dyn ToValue]> = sets.iter().map(|set| set.as_slice()).collect();
        for (changed, (seq, ..)) in tx.execute_each(sql, &sets)?.into_iter().zip(these) {
            if changed? == 0 {
                return Err(lost_claim("event", *seq));
            }
        }
    }
    Ok(())
}

fn finish_kind(finish: &Finish) -> u8 {
    match finish {
        Finish::Processed { .. } => 0,
        Finish::Failed { .. } => 1,
        Finish::Retry { .. } => 2,
    }
}

/// A claim another node took back: what this node did with the row must not be written.
pub(in crate::db) fn lost_claim(what: &str, seq: i64) -> AppError {
    AppError::Conflict(format!(
        "the claim on {what} {seq} was taken back by another node (this node's lease ran out); \
         nothing this node did with it is kept"
    ))
}

/// The newest events' positions: of one integration, or (None) of every integration that
/// is not SLACK.
pub fn newest_seqs(
    conn: Conn<'_>,
    integration_id: Option<&str>,
    limit: u32,
) -> AppResult<Vec<i64>> {
    let rows = match integration_id {
        Some(id) => conn.query_map(
            "SELECT seq FROM webhook_events WHERE integration_id = ?1 ORDER BY seq DESC LIMIT ?2",
            params![id, limit],
            |r| r.get(0),
        )?,
        None => conn.query_map(
            "SELECT e.seq FROM webhook_events e JOIN integrations i ON i.id = e.integration_id
                 WHERE i.type != 'SLACK' ORDER BY e.seq DESC LIMIT ?1",
            params![limit],
            |r| r.get(0),
        )?,
    };
    Ok(rows)
}

/// An event's decision trace as stored: how the receiver verified it, and the last
/// processing attempt's steps.
pub fn trace(
    conn: Conn<'_>,
    seq: i64,
) -> AppResult<(Option<String>, Vec<crate::domain::trace::Step>)> {
    let (verified, steps): (Option<String>, Option<String>) = conn
        .query_opt(
            "SELECT verified, trace FROM webhook_events WHERE seq = ?1",
            params![seq],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?
        .unwrap_or_default();
    Ok((
        verified,
        steps
            .and_then(|s| serde_json::from_str(&s).ok())
            .unwrap_or_default(),
    ))
}

/// When the earliest waiting retry falls due (None when nothing waits).
pub fn next_due_at(conn: Conn<'_>) -> AppResult<Option<i64>> {
    Ok(conn.query_row(
        &format!(
            "SELECT MIN(COALESCE(next_attempt_at, 0)) FROM webhook_events
                 WHERE {NOT_DONE} AND status = 'RECEIVED'"
        ),
        params![],
        |r| r.get(0),
    )?)
}

const REQUEUE: &str = "UPDATE webhook_events SET status = 'RECEIVED', next_attempt_at = NULL, \
                       claimed_by = NULL";

/// Events one start of a node claimed go back to the queue (at-least-once): after a failed
/// step, at a stop, or (by the next start) after a crash.
pub fn requeue_claims(conn: Conn<'_>, claim_token: &str) -> AppResult<usize> {
    Ok(conn.execute(
        &format!("{REQUEUE} WHERE {NOT_DONE} AND status = 'PROCESSING' AND claimed_by = ?1"),
        params![claim_token],
    )?)
}

/// Every claimed event goes back to the queue: only for a start on SQLite, where no other
/// node can hold claims.
pub(in crate::db) fn requeue_every_claim(conn: Conn<'_>) -> AppResult<usize> {
    Ok(conn.execute(
        &format!("{REQUEUE} WHERE {NOT_DONE} AND status = 'PROCESSING'"),
        params![],
    )?)
}

/// Events claimed under a token that `live_tokens` (a query) does not return go back to the
/// queue: their node's lease ran out.
pub(in crate::db) fn requeue_claims_not_of(conn: Conn<'_>, live_tokens: &str) -> AppResult<usize> {
    Ok(conn.execute(
        &format!(
            "{REQUEUE} WHERE {NOT_DONE} AND status = 'PROCESSING'
               AND (claimed_by IS NULL OR claimed_by NOT IN ({live_tokens}))"
        ),
        params![],
    )?)
}

fn list_sql(status: Option<EventStatus>) -> String {
    let status_clause = match status {
        // Most events end PROCESSED: reading one integration's newest and skipping the rest
        // finds a page of them at once.
        Some(EventStatus::Processed) => "AND status = ?2".to_string(),
        Some(_) => format!("AND {NOT_DONE} AND status = ?2"),
        None => "AND CAST(?2 AS TEXT) IS NULL".to_string(),
    };
    format!(
        "SELECT {SUMMARY} FROM webhook_events
         WHERE integration_id = ?1 {status_clause}
           AND seq < ?4
           AND (CAST(?3 AS TEXT) IS NULL OR event_type = ?3)
           AND (CAST(?6 AS BIGINT) IS NULL OR processed_at >= ?6)
           AND (CAST(?7 AS BIGINT) IS NULL OR processed_at < ?7)
         ORDER BY seq DESC LIMIT ?5"
    )
}

/// One integration's events, newest first. Each shape of filter is a range of one index
/// (`(integration_id, seq)` or `(integration_id, status, seq)`), read from the cursor down,
/// so a page costs the same at the millionth event as at the first.
pub fn list(
    conn: Conn<'_>,
    integration_id: &str,
    filter: &ListFilter,
) -> AppResult<Vec<EventSummary>> {
    Ok(conn.query_map(
        &list_sql(filter.status),
        params![
            integration_id,
            filter.status.map(EventStatus::as_str),
            filter.event_type,
            filter.before_seq.unwrap_or(i64::MAX),
            filter.limit,
            filter.processed_from,
            filter.processed_before
        ],
        summary_from_row,
    )?)
}

pub fn get(conn: Conn<'_>, integration_id: &str, event_id: &str) -> AppResult<EventDetail> {
    conn.query_row(
        &format!("{DETAIL} WHERE e.integration_id = ?1 AND e.id = ?2"),
        params![integration_id, event_id],
        detail_from_row,
    )
    .map_err(not_found("event"))
}

/// Queues a finished event for another run. An event being processed cannot be requeued.
pub fn requeue(conn: Conn<'_>, integration_id: &str, event_id: &str) -> AppResult<()> {
    let event = get(conn, integration_id, event_id)?;
    match event.summary.status {
        EventStatus::Processing => Err(AppError::Conflict(
            "the event is being processed now; retry it once it has finished".into(),
        )),
        EventStatus::Received => Ok(()),
        EventStatus::Processed | EventStatus::Failed => {
            requeue_finished(conn, event.summary.seq)?;
            Ok(())
        }
    }
}

/// Queues a PROCESSED or FAILED event again; returns 0 when it is waiting or processing.
pub fn requeue_finished(conn: Conn<'_>, seq: i64) -> AppResult<usize> {
    Ok(conn.execute(
        "UPDATE webhook_events SET status = 'RECEIVED', next_attempt_at = NULL
             WHERE seq = ?1 AND status IN ('PROCESSED', 'FAILED')",
        params![seq],
    )?)
}

/// Whether the integration has stored a delivery with this id.
pub fn has_delivery(conn: Conn<'_>, integration_id: &str, delivery_id: &str) -> AppResult<bool> {
    Ok(conn
        .query_opt(
            "SELECT 1 FROM webhook_events WHERE integration_id = ?1 AND delivery_id = ?2",
            params![integration_id, delivery_id],
            |_| Ok(()),
        )?
        .is_some())
}

fn count_sql() -> String {
    format!("SELECT COUNT(*) FROM webhook_events WHERE {NOT_DONE} AND status = ?1")
}

fn oldest_sql() -> String {
    format!(
        "SELECT received_at FROM webhook_events WHERE {NOT_DONE} AND status = 'RECEIVED'
         ORDER BY seq LIMIT 1"
    )
}

/// Counts by status without reading every event: the unfinished statuses are small ranges of
/// the status index, and PROCESSED is what remains of the integrations' maintained counts.
pub fn queue_stats(conn: Conn<'_>) -> AppResult<QueueStats> {
    let count = |status: EventStatus| -> AppResult<i64> {
        Ok(conn.query_row(&count_sql(), params![status.as_str()], |r| r.get(0))?)
    };
    let total: i64 = conn.query_row(
        "SELECT CAST(COALESCE(SUM(event_count), 0) AS BIGINT) FROM integrations",
        params![],
        |r| r.get(0),
    )?;
    let mut stats = QueueStats {
        received: count(EventStatus::Received)?,
        processing: count(EventStatus::Processing)?,
        failed: count(EventStatus::Failed)?,
        ..QueueStats::default()
    };
    stats.processed = (total - stats.received - stats.processing - stats.failed).max(0);
    stats.oldest_received_at = oldest_unprocessed(conn)?;
    Ok(stats)
}

/// When the oldest event still waiting to be processed was received.
pub fn oldest_unprocessed(conn: Conn<'_>) -> AppResult<Option<i64>> {
    Ok(conn.query_opt(&oldest_sql(), params![], |r| r.get(0))?)
}

/// Deletes up to `limit` finished events received before `cutoff`; returns how many. Run it
/// in a transaction of its own: small batches keep each one short, so receiving never waits
/// long.
pub fn prune(tx: Conn<'_>, cutoff: i64, limit: u32) -> AppResult<usize> {
    let owners: Vec<String> = tx.query_map(
        "DELETE FROM webhook_events WHERE seq IN (
                 SELECT seq FROM webhook_events
                 WHERE received_at < ?1 AND status IN ('PROCESSED', 'FAILED')
                 LIMIT ?2)
             RETURNING integration_id",
        params![cutoff, limit],
        |r| r.get(0),
    )?;
    let mut per_integration: std::collections::HashMap<&str, i64> = Default::default();
    for id in &owners {
        *per_integration.entry(id.as_str()).or_default() += 1;
    }
    for (id, n) in per_integration {
        tx.execute(
            "UPDATE integrations SET event_count = CASE WHEN event_count > ?2
                                                         THEN event_count - ?2 ELSE 0 END
             WHERE id = ?1",
            params![id, n],
        )?;
    }
    Ok(owners.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(conn: Conn<'_>, sql: &str) -> Vec<String> {
        conn.query_plan(sql)
    }

    /// Every query a page or the worker's queue runs is a range of an index: none reads
    /// events one by one, so they cost the same with a million stored.
    #[test]
    fn lists_counts_and_the_queue_read_index_ranges_only() {
        let db = crate::db::Connection::memory();
        let conn = db.conn();
        let expectations = [
            (list_sql(None), "webhook_events_by_integration"),
            (
                list_sql(Some(EventStatus::Processed)),
                "webhook_events_by_integration",
            ),
            (
                list_sql(Some(EventStatus::Failed)),
                "webhook_events_by_integration_status",
            ),
            (
                list_sql(Some(EventStatus::Received)),
                "webhook_events_by_integration_status",
            ),
            (count_sql(), "webhook_events_status"),
            (oldest_sql(), "webhook_events_status"),
            (claim_sql(false), "webhook_events_status"),
            (
                format!("{DETAIL} WHERE e.integration_id = ?1 AND e.id = ?2"),
                "sqlite_autoindex_webhook_events_1",
            ),
        ];
        for (sql, index) in expectations {
            let steps = plan(conn, &sql);
            assert!(
                steps.iter().any(|s| s.contains(&format!("INDEX {index} "))
                    || s.ends_with(&format!("INDEX {index}"))),
                "{index} not used by {sql}: {steps:?}"
            );
            assert!(
                !steps
                    .iter()
                    .any(|s| s.starts_with("SCAN webhook_events") || s.starts_with("SCAN e")),
                "{sql} scans events: {steps:?}"
            );
        }
    }
}
