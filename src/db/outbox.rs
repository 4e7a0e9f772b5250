//! Every SQL statement that touches the `outbox` and `destinations` tables: what is to be said
//! to the outside world, and which destinations asked for a pause.

use super::DbResult;
use super::sql::{Conn, Row, params};
use serde_json::Value;

use super::not_found;
use crate::base::error::{AppError, AppResult};
use crate::domain::model::{OutboxKind, OutboxStatus};

#[derive(Debug, Clone)]
pub struct OutboxRow {
    pub seq: i64,
    pub id: String,
    pub kind: OutboxKind,
    pub integration_id: String,
    pub destination: String,
    pub event_type: Option<String>,
    pub dedupe_key: Option<String>,
    pub subject_id: Option<String>,
    pub source_event_id: Option<String>,
    /// A Slack message's facts, or `{method, path, body}` for an API call.
    pub request: Value,
    pub status: OutboxStatus,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub next_attempt_at: Option<i64>,
    pub created_at: i64,
    pub sent_at: Option<i64>,
    pub response_status: Option<i64>,
    pub response_excerpt: Option<String>,
    /// The full URL last called (a Slack webhook URL masked).
    pub called_url: Option<String>,
}

/// A row to queue.
#[derive(Debug, Clone)]
pub struct NewRow {
    pub kind: OutboxKind,
    pub integration_id: String,
    pub destination: String,
    pub event_type: Option<String>,
    pub dedupe_key: Option<String>,
    /// A queued (PENDING) row with the same key is replaced by this one.
    pub coalesce_key: Option<String>,
    pub subject_id: Option<String>,
    pub source_event_id: Option<String>,
    pub request: Value,
}

#[derive(Debug, Clone, Default)]
pub struct OutboxFilter {
    pub integration_id: Option<String>,
    pub kind: Option<OutboxKind>,
    pub status: Option<OutboxStatus>,
    pub destination: Option<String>,
    pub before_seq: Option<i64>,
    pub limit: u32,
}

/// How a send ended, as the dispatcher records it.
#[derive(Debug, Clone, PartialEq)]
pub enum Finish {
    Sent {
        status: u16,
        excerpt: String,
    },
    /// Back to the queue, due at `due`; `counted` says whether it used an attempt.
    Again {
        error: String,
        status: Option<u16>,
        due: i64,
        counted: bool,
    },
    Failed {
        error: String,
        status: Option<u16>,
    },
}

const COLUMNS: &str = "seq, id, kind, integration_id, destination, event_type, dedupe_key, \
                       subject_id, source_event_id, request, status, attempts, last_error, \
                       next_attempt_at, created_at, sent_at, response_status, response_excerpt, \
                       called_url";

fn from_row(r: &Row<'_>) -> DbResult<OutboxRow> {
    let request: String = r.get(9)?;
    Ok(OutboxRow {
        seq: r.get(0)?,
        id: r.get(1)?,
        kind: r.get(2)?,
        integration_id: r.get(3)?,
        destination: r.get(4)?,
        event_type: r.get(5)?,
        dedupe_key: r.get(6)?,
        subject_id: r.get(7)?,
        source_event_id: r.get(8)?,
        request: serde_json::from_str(&request).unwrap_or_default(),
        status: r.get(10)?,
        attempts: r.get(11)?,
        last_error: r.get(12)?,
        next_attempt_at: r.get(13)?,
        created_at: r.get(14)?,
        sent_at: r.get(15)?,
        response_status: r.get(16)?,
        response_excerpt: r.get(17)?,
        called_url: r.get(18)?,
    })
}

/// Queues a row; returns its id, or None when its dedupe key was queued before. A row with a
/// coalesce key first removes a queued (not yet sending) row with the same key: only the
/// latest truth is worth sending.
pub fn insert(conn: Conn<'_>, row: &NewRow, id: &str, now: i64) -> AppResult<Option<String>> {
    if let Some(key) = &row.coalesce_key {
        conn.execute("DELETE FROM outbox WHERE coalesce_key = ?1 AND integration_id = ?2 AND status = 'PENDING'", params![key, row.integration_id])?;
    }
    let added = conn.execute(
        "INSERT INTO outbox
                 (id, kind, integration_id, destination, event_type, dedupe_key, coalesce_key,
                  subject_id, source_event_id, request, status, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, 'PENDING', ?11)
             ON CONFLICT DO NOTHING",
        params![
            id,
            row.kind,
            row.integration_id,
            row.destination,
            row.event_type,
            row.dedupe_key,
            row.coalesce_key,
            row.subject_id,
            row.source_event_id,
            row.request.to_string(),
            now
        ],
    )?;
    Ok((added == 1).then(|| id.to_string()))
}

/// How many unfinished rows without a coalesce key wait in `destination`, counted up to
/// `limit` (no more are read).
pub fn waiting_alone(conn: Conn<'_>, destination: &str, limit: usize) -> AppResult<usize> {
    let n: i64 = conn.query_row(
        "SELECT COUNT(*) FROM (SELECT 1 FROM outbox
               WHERE destination = ?1 AND status IN ('PENDING', 'SENDING') AND coalesce_key IS NULL
               LIMIT ?2) waiting",
        params![destination, limit as i64],
        |r| r.get(0),
    )?;
    Ok(n as usize)
}

/// The request of the queued (not yet sending) row of `integration_id` with `coalesce_key`.
pub fn waiting_with_key(
    conn: Conn<'_>,
    integration_id: &str,
    coalesce_key: &str,
) -> AppResult<Option<Value>> {
    let request: Option<String> = conn.query_opt(
        "SELECT request FROM outbox
             WHERE coalesce_key = ?1 AND integration_id = ?2 AND status = 'PENDING'
             ORDER BY seq DESC LIMIT 1",
        params![coalesce_key, integration_id],
        |r| r.get(0),
    )?;
    Ok(request.and_then(|r| serde_json::from_str(&r).ok()))
}

/// The head of each destination's queue (its oldest unfinished row): seq, whether it is
/// being sent, when it is due, and until when its destination is paused.
struct Head {
    seq: i64,
    sending: bool,
    due: i64,
}

fn heads(conn: Conn<'_>) -> AppResult<Vec<Head>> {
    // `outbox_open` holds only unfinished rows, by destination and seq: a group's MIN is its
    // first entry. CROSS JOIN keeps SQLite from planning a scan of the whole outbox; INDEXED BY
    // is SQLite's alone (PostgreSQL plans from the partial index's predicate).
    const SQLITE: &str = "SELECT o.seq, o.status = 'SENDING',
                CASE WHEN COALESCE(o.next_attempt_at, 0) > COALESCE(d.paused_until, 0)
                     THEN COALESCE(o.next_attempt_at, 0) ELSE COALESCE(d.paused_until, 0) END
         FROM (SELECT MIN(seq) AS head FROM outbox INDEXED BY outbox_open
               WHERE status IN ('PENDING', 'SENDING') GROUP BY destination) h
         CROSS JOIN outbox o ON o.seq = h.head
         LEFT JOIN destinations d ON d.destination = o.destination";
    const POSTGRES: &str = "SELECT o.seq, o.status = 'SENDING',
                CASE WHEN COALESCE(o.next_attempt_at, 0) > COALESCE(d.paused_until, 0)
                     THEN COALESCE(o.next_attempt_at, 0) ELSE COALESCE(d.paused_until, 0) END
         FROM (SELECT MIN(seq) AS head FROM outbox
               WHERE status IN ('PENDING', 'SENDING') GROUP BY destination) h
         JOIN outbox o ON o.seq = h.head
         LEFT JOIN destinations d ON d.destination = o.destination";
    Ok(conn.query_map(
        if conn.is_postgres() { POSTGRES } else { SQLITE },
        params![],
        |r| {
            Ok(Head {
                seq: r.get(0)?,
                sending: r.get(1)?,
                due: r.get(2)?,
            })
        },
    )?)
}

/// Takes the head of each destination's queue when it is due and the destination is not
/// paused, oldest first, at most `limit`, and marks them SENDING. A destination whose head
/// is already SENDING gives nothing: one request at a time per destination, in order. Run it
/// in a transaction of its own (the claims are taken together).
pub fn claim_heads(
    conn: Conn<'_>,
    now: i64,
    limit: usize,
    claim_token: &str,
) -> AppResult<Vec<OutboxRow>> {
    if limit == 0 {
        return Ok(vec![]);
    }
    let mut due: Vec<i64> = heads(conn)?
        .into_iter()
        .filter(|h| !h.sending && h.due <= now)
        .map(|h| h.seq)
        .collect();
    due.sort_unstable();
    due.truncate(limit);
    if due.is_empty() {
        return Ok(vec![]);
    }
    let claim = format!(
        "UPDATE outbox SET status = 'SENDING', claimed_by = ?2
         WHERE seq = ?1 AND status = 'PENDING'
         RETURNING {COLUMNS}"
    );
    let mut claimed = Vec::with_capacity(due.len());
    for seq in due {
        // Another node may have taken this head since it was read: then nothing comes back
        // (on PostgreSQL the UPDATE waits for that node's transaction and finds it SENDING).
        if let Some(row) = conn.query_opt(&claim, params![seq, claim_token], from_row)? {
            claimed.push(row);
        }
    }
    Ok(claimed)
}

/// Records how a send ended, if the row is still claimed under `claim_token`; when another
/// node took it back (this node's lease ran out) the error makes the caller write nothing.
/// Records what became of a row sent (or settled without a request); `called_url` is the URL
/// the request went to, when one did (kept until another attempt calls another).
pub fn finish(
    conn: Conn<'_>,
    seq: i64,
    finish: &Finish,
    called_url: Option<&str>,
    now: i64,
    claim_token: &str,
) -> AppResult<()> {
    let changed = match finish {
        Finish::Sent { status, excerpt } => conn.execute(
            "UPDATE outbox SET status = 'SENT', attempts = attempts + 1, sent_at = ?2,
                        last_error = NULL, next_attempt_at = NULL,
                        response_status = ?3, response_excerpt = ?4, claimed_by = NULL,
                        called_url = COALESCE(?6, called_url)
                 WHERE seq = ?1 AND status = 'SENDING' AND claimed_by = ?5",
            params![seq, now, status, excerpt, claim_token, called_url],
        )?,
        Finish::Again {
            error,
            status,
            due,
            counted,
        } => conn.execute(
            "UPDATE outbox SET status = 'PENDING', attempts = attempts + ?5, last_error = ?2,
                        next_attempt_at = ?3, response_status = COALESCE(?4, response_status),
                        claimed_by = NULL, called_url = COALESCE(?7, called_url)
                 WHERE seq = ?1 AND status = 'SENDING' AND claimed_by = ?6",
            params![
                seq,
                error,
                due,
                status,
                i64::from(*counted),
                claim_token,
                called_url
            ],
        )?,
        Finish::Failed { error, status } => conn.execute(
            "UPDATE outbox SET status = 'FAILED', attempts = attempts + 1, last_error = ?2,
                        next_attempt_at = NULL, response_status = COALESCE(?3, response_status),
                        claimed_by = NULL, called_url = COALESCE(?5, called_url)
                 WHERE seq = ?1 AND status = 'SENDING' AND claimed_by = ?4",
            params![seq, error, status, claim_token, called_url],
        )?,
    };
    if changed == 0 {
        return Err(super::events::lost_claim("outbox row", seq));
    }
    Ok(())
}

/// When the next queue head may be sent (now, or when a retry or a pause ends); None when no
/// destination has a head waiting (nothing queued, or every head is being sent).
pub fn next_due_at(conn: Conn<'_>) -> AppResult<Option<i64>> {
    Ok(heads(conn)?
        .into_iter()
        .filter(|h| !h.sending)
        .map(|h| h.due)
        .min())
}

const REQUEUE: &str = "UPDATE outbox SET status = 'PENDING', claimed_by = NULL";

/// Rows one start of a node was sending go back to their queues (at-least-once): at a stop,
/// or (by the next start) after a crash.
pub fn requeue_claims(conn: Conn<'_>, claim_token: &str) -> AppResult<usize> {
    Ok(conn.execute(
        &format!("{REQUEUE} WHERE status = 'SENDING' AND claimed_by = ?1"),
        params![claim_token],
    )?)
}

/// Every row being sent goes back to its queue: only for a start on SQLite, where no other
/// node can hold claims.
pub(in crate::db) fn requeue_every_claim(conn: Conn<'_>) -> AppResult<usize> {
    Ok(conn.execute(&format!("{REQUEUE} WHERE status = 'SENDING'"), params![])?)
}

/// Rows claimed under a token that `live_tokens` (a query) does not return go back to their
/// queues: their node's lease ran out.
pub(in crate::db) fn requeue_claims_not_of(conn: Conn<'_>, live_tokens: &str) -> AppResult<usize> {
    Ok(conn.execute(
        &format!(
            "{REQUEUE} WHERE status = 'SENDING'
               AND (claimed_by IS NULL OR claimed_by NOT IN ({live_tokens}))"
        ),
        params![],
    )?)
}

/// Rows this node claimed (`claim_token`) that no sender holds (`in_flight`) go back to
/// their queues; other nodes' rows are theirs.
pub fn requeue_claims_except(
    conn: Conn<'_>,
    claim_token: &str,
    in_flight: &std::collections::HashSet<i64>,
) -> AppResult<usize> {
    let mine = format!("{REQUEUE} WHERE status = 'SENDING' AND claimed_by = ?1");
    if in_flight.is_empty() {
        // `NOT IN ()` is SQLite's alone.
        return Ok(conn.execute(&mine, params![claim_token])?);
    }
    let keep: Vec<String> = in_flight.iter().map(i64::to_string).collect();
    Ok(conn.execute(
        &format!("{mine} AND seq NOT IN ({})", keep.join(",")),
        params![claim_token],
    )?)
}

pub fn get(conn: Conn<'_>, id: &str) -> AppResult<OutboxRow> {
    conn.query_row(
        &format!("SELECT {COLUMNS} FROM outbox WHERE id = ?1"),
        params![id],
        from_row,
    )
    .map_err(not_found("outbox row"))
}

/// The rows queued while processing an event (Slack messages name it as their source).
pub fn for_source_event(conn: Conn<'_>, event_id: &str) -> AppResult<Vec<OutboxRow>> {
    Ok(conn.query_map(
        &format!("SELECT {COLUMNS} FROM outbox WHERE source_event_id = ?1 ORDER BY seq"),
        params![event_id],
        from_row,
    )?)
}

pub fn list(conn: Conn<'_>, f: &OutboxFilter) -> AppResult<Vec<OutboxRow>> {
    Ok(conn.query_map(
        &format!(
            "SELECT {COLUMNS} FROM outbox
         WHERE (CAST(?1 AS TEXT) IS NULL OR integration_id = ?1) AND (CAST(?2 AS TEXT) IS NULL OR kind = ?2)
           AND (CAST(?3 AS TEXT) IS NULL OR status = ?3) AND (CAST(?4 AS TEXT) IS NULL OR destination = ?4)
           AND (CAST(?5 AS BIGINT) IS NULL OR seq < ?5)
         ORDER BY seq DESC LIMIT ?6"
        ),
        params![
            f.integration_id,
            f.kind,
            f.status,
            f.destination,
            f.before_seq,
            f.limit
        ],
        from_row,
    )?)
}

/// The newest row about an eval run or a deployment.
pub fn latest_for_subject(conn: Conn<'_>, subject_id: &str) -> AppResult<Option<OutboxRow>> {
    Ok(conn.query_opt(
        &format!("SELECT {COLUMNS} FROM outbox WHERE subject_id = ?1 ORDER BY seq DESC LIMIT 1"),
        params![subject_id],
        from_row,
    )?)
}

/// Queues a FAILED row again, as if new.
pub fn retry(conn: Conn<'_>, id: &str) -> AppResult<()> {
    let row = get(conn, id)?;
    if row.status != OutboxStatus::Failed {
        return Err(AppError::Conflict(format!(
            "only a FAILED row can be retried; this one is {}",
            row.status.as_str()
        )));
    }
    conn.execute(
        "UPDATE outbox SET status = 'PENDING', attempts = 0, next_attempt_at = NULL WHERE seq = ?1",
        params![row.seq],
    )?;
    Ok(())
}

/// Rows by status: (pending, sending, failed).
pub fn counts(conn: Conn<'_>) -> AppResult<(i64, i64, i64)> {
    Ok(conn.query_row(
        "SELECT COUNT(*) FILTER (WHERE status = 'PENDING'), COUNT(*) FILTER (WHERE status = 'SENDING'),
                    COUNT(*) FILTER (WHERE status = 'FAILED')
             FROM outbox WHERE status IN ('PENDING', 'SENDING', 'FAILED')",
        params![],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )?)
}

/// Deletes up to `limit` finished rows (SENT or FAILED) queued before `cutoff`; returns how
/// many.
pub fn prune(conn: Conn<'_>, cutoff: i64, limit: u32) -> AppResult<usize> {
    Ok(conn.execute(
        "DELETE FROM outbox WHERE seq IN (
                 SELECT seq FROM outbox WHERE status IN ('SENT', 'FAILED') AND created_at < ?1
                 ORDER BY seq LIMIT ?2)",
        params![cutoff, limit],
    )?)
}

/// A destination's state.
#[derive(Debug, Clone)]
pub struct DestinationState {
    pub destination: String,
    pub pending: i64,
    pub failed: i64,
    pub paused_until: Option<i64>,
    pub reason: Option<String>,
    /// The newest error among its unfinished or failed rows.
    pub last_error: Option<String>,
    /// The names of the integrations whose rows wait or failed there, or whose own
    /// destination it is (a SLACK integration's `slack:<id>`), sorted.
    pub integrations: Vec<String>,
}

/// Destinations with unfinished or failed rows, a pause still running, or (with
/// `active_since`) an outcome counted since then: a healthy destination, nothing waiting.
pub fn destinations(
    conn: Conn<'_>,
    now: i64,
    active_since: Option<i64>,
) -> AppResult<Vec<DestinationState>> {
    let mut states = conn.query_map("WITH q AS (SELECT destination,
                           COUNT(*) FILTER (WHERE status IN ('PENDING', 'SENDING')) AS pending,
                           COUNT(*) FILTER (WHERE status = 'FAILED') AS failed
                    FROM outbox WHERE status IN ('PENDING', 'SENDING', 'FAILED')
                    GROUP BY destination)
         SELECT destination, COALESCE(q.pending, 0), COALESCE(q.failed, 0), d.paused_until, d.reason,
                (SELECT last_error FROM outbox o WHERE o.destination = q.destination
                   AND o.status != 'SENT' AND o.last_error IS NOT NULL ORDER BY seq DESC LIMIT 1)
         FROM q LEFT JOIN destinations d USING (destination)
         UNION
         SELECT destination, 0, 0, paused_until, reason, NULL FROM destinations
         WHERE paused_until > ?1 AND destination NOT IN (SELECT destination FROM q)
         ORDER BY 1", params![now], |r| {
        Ok(DestinationState {
            destination: r.get(0)?,
            pending: r.get(1)?,
            failed: r.get(2)?,
            paused_until: r.get::<Option<i64>>(3)?.filter(|t| *t > now),
            reason: r.get(4)?,
            last_error: r.get(5)?,
            integrations: vec![],
        })
    })?;
    // Who they are for, in people's words (the keys name ids and token fingerprints).
    let names: Vec<(String, String)> = conn.query_map(
        "SELECT DISTINCT o.destination, i.name FROM outbox o
           JOIN integrations i ON i.id = o.integration_id
          WHERE o.status IN ('PENDING', 'SENDING', 'FAILED')
         UNION
         SELECT 'slack:' || id, name FROM integrations WHERE type = 'SLACK'
         ORDER BY 1, 2",
        params![],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    for state in &mut states {
        state.integrations = names
            .iter()
            .filter(|(d, _)| *d == state.destination)
            .map(|(_, n)| n.clone())
            .collect();
    }
    let active = match active_since {
        Some(since) => super::stats::destinations_since(conn, since)?,
        None => vec![],
    };
    for destination in active {
        if !states.iter().any(|s| s.destination == destination) {
            let integrations = names
                .iter()
                .filter(|(d, _)| *d == destination)
                .map(|(_, n)| n.clone())
                .collect();
            states.push(DestinationState {
                destination,
                pending: 0,
                failed: 0,
                paused_until: None,
                reason: None,
                last_error: None,
                integrations,
            });
        }
    }
    states.sort_by(|a, b| a.destination.cmp(&b.destination));
    Ok(states)
}

/// Leaves a destination alone until `until` (a remote's rate limit). Returns the stretch of
/// time this adds to its pause (none when an earlier pause already runs past `until`).
pub fn pause(
    conn: Conn<'_>,
    destination: &str,
    until: i64,
    reason: &str,
    now: i64,
) -> AppResult<Option<(i64, i64)>> {
    let paused_until: Option<i64> = conn
        .query_opt(
            "SELECT paused_until FROM destinations WHERE destination = ?1",
            params![destination],
            |r| r.get::<Option<i64>>(0),
        )?
        .flatten();
    conn.execute(
        "INSERT INTO destinations (destination, paused_until, reason, updated_at, paused_since)
         VALUES (?1, ?2, ?3, ?4, ?4)
         ON CONFLICT (destination) DO UPDATE SET
             paused_until = CASE WHEN COALESCE(destinations.paused_until, 0) > ?2
                                 THEN destinations.paused_until ELSE ?2 END,
             -- A pause that follows one still running continues it (alerts count from its start).
             paused_since = CASE WHEN COALESCE(destinations.paused_until, 0) >= ?4
                                 THEN COALESCE(destinations.paused_since, ?4) ELSE ?4 END,
             reason = ?3, updated_at = ?4",
        params![destination, until, reason, now],
    )?;
    let from = paused_until.map_or(now, |t| t.max(now));
    Ok((until > from).then_some((from, until)))
}

/// An attempt at `destination` failed: it is failing from now, unless it already was (a
/// success ends it: [`resume`]).
pub fn mark_failing(conn: Conn<'_>, destination: &str, now: i64) -> AppResult<()> {
    conn.execute(
        "INSERT INTO destinations (destination, updated_at, failing_since) VALUES (?1, ?2, ?2)
         ON CONFLICT (destination) DO UPDATE SET
             failing_since = COALESCE(destinations.failing_since, ?2), updated_at = ?2",
        params![destination, now],
    )?;
    Ok(())
}

/// A destination in trouble: paused by its remote, or failing since its last success.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trouble {
    pub destination: String,
    /// When the running pause began; None when it is not paused now.
    pub paused_since: Option<i64>,
    pub failing_since: Option<i64>,
    pub reason: Option<String>,
}

/// Destinations paused now or failing (the table holds only those, and is small).
pub fn troubled(conn: Conn<'_>, now: i64) -> AppResult<Vec<Trouble>> {
    Ok(conn.query_map(
        "SELECT destination, CASE WHEN paused_until > ?1 THEN COALESCE(paused_since, updated_at) END,
                failing_since, reason
         FROM destinations WHERE paused_until > ?1 OR failing_since IS NOT NULL
         ORDER BY destination",
        params![now],
        |r| {
            Ok(Trouble {
                destination: r.get(0)?,
                paused_since: r.get(1)?,
                failing_since: r.get(2)?,
                reason: r.get(3)?,
            })
        },
    )?)
}

/// A deleted SLACK integration's destinations (its own, and its alerts' queues) are in
/// trouble no more: their rows went with it.
pub fn forget_slack_destinations(conn: Conn<'_>, integration_id: &str) -> AppResult<()> {
    // As `report::slack_destination` names it (db does not import what imports it).
    let own = format!("slack:{integration_id}");
    conn.execute(
        "DELETE FROM destinations WHERE destination = ?1 OR destination LIKE ?2",
        params![own, format!("{own}:%")],
    )?;
    Ok(())
}

/// Whether any row was ever queued for `destination` (and not yet pruned).
pub fn destination_exists(conn: Conn<'_>, destination: &str) -> AppResult<bool> {
    Ok(conn
        .query_opt(
            "SELECT 1 FROM outbox WHERE destination = ?1 LIMIT 1",
            params![destination],
            |r| r.get::<i64>(0),
        )?
        .is_some())
}

/// A destination that answered again is no longer paused.
pub fn resume(conn: Conn<'_>, destination: &str) -> AppResult<()> {
    conn.execute(
        "DELETE FROM destinations WHERE destination = ?1",
        params![destination],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn row(destination: &str) -> NewRow {
        NewRow {
            kind: OutboxKind::CommitStatus,
            integration_id: "i".into(),
            destination: destination.into(),
            event_type: None,
            dedupe_key: None,
            coalesce_key: None,
            subject_id: None,
            source_event_id: None,
            request: json!({"method": "POST", "path": "/x"}),
        }
    }

    fn db() -> crate::db::Connection {
        let db = crate::db::Connection::memory();
        db.conn()
            .execute(
                "INSERT INTO integrations (id, type, name, config, created_at, updated_at)
             VALUES ('i', 'WEBHOOK', 'w', '{}', 0, 0)",
                params![],
            )
            .expect("integration");
        db
    }

    #[test]
    fn one_head_per_destination_in_order_and_none_while_one_is_sending() {
        let db = db();
        let conn = db.conn();
        for (n, d) in ["a", "a", "b"].iter().enumerate() {
            insert(conn, &row(d), &format!("r{n}"), 0).expect("insert");
        }
        let first = claim_heads(conn, 1, 10, "t").expect("claim");
        let ids: Vec<&str> = first.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, ["r0", "r2"]);
        assert!(claim_heads(conn, 1, 10, "t").expect("claim").is_empty());
        finish(
            conn,
            first[0].seq,
            &Finish::Sent {
                status: 201,
                excerpt: String::new(),
            },
            Some("https://api.github.com/repos/o/r/statuses/abc"),
            2,
            "t",
        )
        .expect("finish");
        let next = claim_heads(conn, 3, 10, "t").expect("claim");
        assert_eq!(next.len(), 1);
        assert_eq!(next[0].id, "r1");
    }

    #[test]
    fn rows_nobody_sends_go_back_to_their_queue_and_other_nodes_rows_stay() {
        let db = db();
        let conn = db.conn();
        for (n, d) in ["a", "b", "c"].iter().enumerate() {
            insert(conn, &row(d), &format!("r{n}"), 0).expect("insert");
        }
        let claimed = claim_heads(conn, 1, 2, "mine").expect("claim");
        let theirs = claim_heads(conn, 1, 1, "theirs").expect("claim");
        assert_eq!((claimed.len(), theirs.len()), (2, 1));
        let held: std::collections::HashSet<i64> = [claimed[0].seq].into();
        assert_eq!(requeue_claims_except(conn, "mine", &held).expect("heal"), 1);
        assert_eq!(
            requeue_claims_except(conn, "mine", &Default::default()).expect("heal"),
            1
        );
        assert_eq!(counts(conn).expect("counts"), (2, 1, 0));
        // A row taken back is not finished by the node that lost it.
        let sent = Finish::Sent {
            status: 201,
            excerpt: String::new(),
        };
        let err = finish(conn, claimed[0].seq, &sent, None, 2, "mine").expect_err("taken back");
        assert!(err.to_string().contains("taken back"), "{err}");
        finish(conn, theirs[0].seq, &sent, None, 2, "theirs").expect("theirs");
    }
}
