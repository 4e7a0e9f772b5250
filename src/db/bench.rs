//! What the benchmark (`provenant-bench`) reads and writes straight in a stopped or running
//! server's database: rows it fills in bulk, and figures it reads back. Not for the server.

use super::SyncMode;
use super::packed::Packed;
use super::sql::params;
use super::{Connection, Location};

/// Stores an integration row as it is given.
pub fn insert_integration(
    path: &Location,
    id: &str,
    kind: &str,
    config: &str,
) -> anyhow::Result<()> {
    Connection::open(path, SyncMode::Full)?.conn().execute(
        "INSERT INTO integrations (id, type, name, config, created_at, updated_at)
         VALUES (?1, ?2, ?1, ?3, 0, 0)",
        params![id, kind, config],
    )?;
    Ok(())
}

/// The bytes the database holds: SQLite's pages in use, after the WAL is checkpointed into
/// the file; PostgreSQL's tables with their indexes and TOAST.
pub fn stored_bytes(path: &Location) -> anyhow::Result<u64> {
    let db = Connection::open(path, SyncMode::Full)?;
    let conn = db.conn();
    if let Some(bytes) = super::storage::database_bytes(conn)? {
        return Ok(bytes as u64);
    }
    conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")?;
    let pages: i64 = conn.query_value("PRAGMA page_count", params![])?;
    let free: i64 = conn.query_value("PRAGMA freelist_count", params![])?;
    let size: i64 = conn.query_value("PRAGMA page_size", params![])?;
    Ok(((pages - free) * size) as u64)
}

/// Receipt-to-PROCESSED times of every processed event in milliseconds (unsorted), and how
/// many events are stored.
pub fn e2e_latencies_ms(path: &Location) -> anyhow::Result<(Vec<i64>, u64)> {
    let db = Connection::open(path, SyncMode::Full)?;
    let conn = db.conn();
    let out = conn.query_map(
        "SELECT processed_at - received_at FROM webhook_events WHERE processed_at IS NOT NULL",
        params![],
        |r| r.get(0),
    )?;
    let total: i64 = conn.query_value("SELECT COUNT(*) FROM webhook_events", params![])?;
    Ok((out, total as u64))
}

/// Delivery-to-dispatched times in milliseconds (unsorted): from each pull request's receipt
/// to its eval run's DISPATCH row answered by the runner; and how many such rows still wait.
pub fn dispatch_latencies_ms(path: &Location) -> anyhow::Result<(Vec<i64>, i64)> {
    let db = Connection::open(path, SyncMode::Full)?;
    let conn = db.conn();
    let sent = conn.query_map(
        "SELECT o.sent_at - e.received_at FROM outbox o
         JOIN eval_runs r ON r.id = o.subject_id
         JOIN webhook_events e ON e.id = r.source_event_id
         WHERE o.kind = 'DISPATCH' AND o.status = 'SENT'",
        params![],
        |r| r.get(0),
    )?;
    let waiting: i64 = conn.query_value(
        "SELECT COUNT(*) FROM outbox WHERE kind = 'DISPATCH' AND status IN ('PENDING', 'SENDING')",
        params![],
    )?;
    Ok((sent, waiting))
}

/// The id of an integration's event at `offset` in arrival order.
pub fn nth_event_id(path: &Location, integration_id: &str, offset: i64) -> anyhow::Result<String> {
    Ok(Connection::open(path, SyncMode::Full)?.conn().query_value(
        "SELECT id FROM webhook_events WHERE integration_id = ?1 ORDER BY seq LIMIT 1 OFFSET ?2",
        params![integration_id, offset],
    )?)
}

/// Writes `count` events with the same body straight into the database of a stopped server,
/// in big transactions, spread over the `spread_ms` before `now`; `status` names each one's
/// status. How the backlog and the million-event history are made quickly.
pub fn fill_events(
    path: &Location,
    integrations: &[String],
    count: u64,
    status: impl Fn(u64) -> &'static str,
    spread_ms: i64,
    body: &Packed,
    now: i64,
) -> anyhow::Result<()> {
    let db = Connection::open(path, SyncMode::Normal)?;
    let headers = r#"[["content-type","application/json"],["x-request-id","bench"]]"#;
    // Delivery ids continue after any events already there (a second fill).
    let first: i64 = db.conn().query_value(
        "SELECT COALESCE(MAX(seq), 0) FROM webhook_events",
        params![],
    )?;
    let mut written = 0u64;
    while written < count {
        let end = (written + 20_000).min(count);
        db.transaction(|tx| -> anyhow::Result<()> {
            for n in written..end {
                let integration = &integrations[(n % integrations.len() as u64) as usize];
                let st = status(n);
                let received = now - spread_ms + (spread_ms * n as i64 / count as i64);
                let finished = st != "RECEIVED";
                let (id, delivery_id) =
                    (crate::domain::model::new_row_id(), format!("fill-{}", first + n as i64));
                let event = params![
                    id,
                    integration,
                    delivery_id,
                    st,
                    finished,
                    received,
                    finished.then_some(received + 3),
                    (st == "FAILED").then_some("the rule engine answered 500"),
                    (st == "PROCESSED").then_some("stored"),
                ];
                const EVENT: &str = "INSERT INTO webhook_events (id, integration_id, event_type,
                         delivery_id, status, attempts, received_at, processed_at, error, outcome,
                         content_type)
                     VALUES (?1, ?2, 'drift.critical', ?3, ?4, ?5, ?6, ?7, ?8, ?9, 'application/json')";
                if tx.is_postgres() {
                    let seq: i64 = tx.query_value(&format!("{EVENT} RETURNING seq"), event)?;
                    tx.execute(
                        "INSERT INTO event_bodies (event_seq, headers, encoding, body)
                         VALUES (?1, ?2, ?3, ?4)",
                        params![seq, headers, body.encoding, body.bytes],
                    )?;
                    continue;
                }
                tx.execute(EVENT, event)?;
                // `last_insert_rowid()`, not `RETURNING seq`: with RETURNING, SQLite filled
                // 21,000 rows/s here instead of 44,000.
                tx.execute(
                    "INSERT INTO event_bodies (event_seq, headers, encoding, body)
                     VALUES (last_insert_rowid(), ?1, ?2, ?3)",
                    params![headers, body.encoding, body.bytes],
                )?;
            }
            Ok(())
        })?;
        written = end;
    }
    db.conn().execute_batch(
        "UPDATE integrations SET
             event_count = (SELECT COUNT(*) FROM webhook_events e WHERE e.integration_id = integrations.id),
             last_event_at = (SELECT MAX(received_at) FROM webhook_events e WHERE e.integration_id = integrations.id)",
    )?;
    db.conn().execute_batch(if db.conn().is_postgres() {
        "ANALYZE"
    } else {
        "PRAGMA wal_checkpoint(TRUNCATE)"
    })?;
    Ok(())
}
