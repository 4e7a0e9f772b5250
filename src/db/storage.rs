//! Whether deliveries can be stored right now, for `/api/health`: what the delivery writer
//! last saw, and a small write of the health check's own.
//!
//! A read (`SELECT 1`) succeeds on a full disk, a read-only file or a database another process
//! holds locked: only a write tells. The probe writes one row in its own transaction on its own
//! connection, with a short wait, so a health check answers within about a second even while
//! the database is locked.

use std::sync::Mutex;
use std::time::Duration;

use super::SyncMode;
use super::events::{self, NewEvent};
use super::sql::{Conn, params};
use super::{Connection, DbResult, Location};
use crate::base::clock::Clock;

/// How long the probe waits for the write lock: a healthy commit holds it for milliseconds.
pub const PROBE_WAIT: Duration = Duration::from_secs(1);

/// A failed write, with when it happened (Unix ms).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteError {
    pub at: i64,
    pub message: String,
}

/// A delivery that could not be stored for a storage reason (not a row-level refusal).
#[derive(Debug, Clone)]
pub struct Refusal {
    pub at: i64,
    pub message: String,
    /// The size of what was refused, as it would have been stored.
    pub bytes: usize,
    /// The refused delivery without its body: PostgreSQL's check stores one just like it.
    pub delivery: std::sync::Arc<NewEvent>,
}

/// What happened, in order. Outcomes are ordered by `turn`, not by time: tests pin the clock,
/// and two outcomes within one millisecond must still say which came last.
#[derive(Default)]
struct Record {
    turn: u64,
    last_ok: u64,
    last_error: Option<(u64, WriteError)>,
    /// When a delivery was last stored, or a write of a refused delivery's size last fitted.
    last_stored: u64,
    last_refusal: Option<(u64, Refusal)>,
}

impl Record {
    fn next_turn(&mut self) -> u64 {
        self.turn += 1;
        self.turn
    }

    /// The last refusal, if nothing was stored since.
    fn refusing(&self) -> Option<&Refusal> {
        self.last_refusal
            .as_ref()
            .filter(|(turn, _)| *turn > self.last_stored)
            .map(|(_, r)| r)
    }
}

/// The largest write the probe makes to check that a refused delivery would fit now: bigger
/// deliveries are rare, and the check should stay cheap.
const MAX_ROOM_CHECK: usize = 1 << 20;

pub struct Storage {
    location: Location,
    clock: Clock,
    record: Mutex<Record>,
    /// The probe's connection, opened on first use; one probe at a time.
    probe: Mutex<Option<Connection>>,
    /// The last probe's outcome and when it ran (real time, not the server's clock, which
    /// tests pin): health checks in between reuse it.
    last_probe: Mutex<Option<(std::time::Instant, Result<(), String>)>>,
}

/// How often the health check writes at most, however often it is called: its write takes its
/// turn with the delivery writer's, and a thousand a second slowed deliveries down.
pub const PROBE_EVERY: Duration = Duration::from_secs(1);

impl Storage {
    /// The database this storage writes to.
    pub fn location(&self) -> &Location {
        &self.location
    }

    pub fn new(location: &Location, clock: Clock) -> Storage {
        Storage {
            location: location.clone(),
            clock,
            record: Mutex::default(),
            probe: Mutex::new(None),
            last_probe: Mutex::new(None),
        }
    }

    fn record(&self) -> std::sync::MutexGuard<'_, Record> {
        self.record.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A write succeeded: storage works (again).
    pub fn write_ok(&self) {
        let mut r = self.record();
        r.last_ok = r.next_turn();
    }

    /// A write failed.
    pub fn write_failed(&self, message: &str) {
        let at = self.clock.now_ms();
        let mut r = self.record();
        let turn = r.next_turn();
        r.last_error = Some((
            turn,
            WriteError {
                at,
                message: message.to_string(),
            },
        ));
    }

    /// A delivery was stored.
    pub fn delivery_stored(&self) {
        let mut r = self.record();
        r.last_stored = r.next_turn();
    }

    /// A delivery of `bytes` could not be stored because storage failed (a full disk, a
    /// read-only file, a lost database): a write failure that health keeps reporting until a
    /// delivery is stored, or a write of that size fits, even when a smaller write works.
    pub fn delivery_refused(&self, message: &str, event: &NewEvent) {
        self.write_failed(message);
        let at = self.clock.now_ms();
        let mut r = self.record();
        let turn = r.next_turn();
        r.last_refusal = Some((
            turn,
            Refusal {
                at,
                message: message.to_string(),
                bytes: event.payload.bytes.len(),
                delivery: std::sync::Arc::new(event.clone_without_payload()),
            },
        ));
    }

    /// The last delivery refused for storage, if none has been stored since.
    pub fn refusing(&self) -> Option<Refusal> {
        self.record().refusing().cloned()
    }

    /// The last write error, and whether it is newer than the last successful write (so
    /// storage is failing now).
    pub fn last_error(&self) -> (Option<WriteError>, bool) {
        let r = self.record();
        let failing = r
            .last_error
            .as_ref()
            .is_some_and(|(turn, _)| *turn > r.last_ok)
            || r.refusing().is_some();
        (r.last_error.as_ref().map(|(_, e)| e.clone()), failing)
    }

    /// The last probe's outcome and how long ago it ran, if that is less than
    /// [`PROBE_EVERY`]: a health check then answers with it instead of writing again.
    pub fn recent_probe(&self) -> Option<(Result<(), String>, Duration)> {
        // A write that failed since the last good check makes that check stale.
        let (_, failing) = self.last_error();
        let last = self.last_probe.lock().unwrap_or_else(|e| e.into_inner());
        let (at, result) = last.as_ref()?;
        let age = at.elapsed();
        (age < PROBE_EVERY && !(failing && result.is_ok())).then(|| (result.clone(), age))
    }

    /// Writes the probe row; records and returns the outcome. Blocking: call it off the async
    /// threads. A probe already running elsewhere counts as this one.
    pub fn probe(&self) -> Result<(), String> {
        let Ok(mut slot) = self.probe.try_lock() else {
            // Another health check is probing; report what is known.
            return match self.last_error() {
                (Some(e), true) => Err(e.message),
                _ => Ok(()),
            };
        };
        let result = (|| -> Result<bool, String> {
            let conn = match slot.as_mut() {
                Some(conn) => conn,
                None => {
                    let conn = Connection::open(&self.location, SyncMode::Full)
                        .map_err(|e| format!("{e:#}"))?;
                    conn.limit_waits(PROBE_WAIT).map_err(describe)?;
                    slot.insert(conn)
                }
            };
            let now = self.clock.now_ms();
            // While deliveries are refused, a one-row write proves little (it fits where a
            // delivery did not): write as much as the refused delivery instead, then free it.
            let refused = self.refusing();
            // Twice the body on SQLite: the delivery also stores its headers and index
            // entries, and its pages pass through the write-ahead log, so a write of just its
            // body's size can fit where the delivery would not (seen on a nearly full disk).
            let room = refused.as_ref().map(|r| {
                let margin = if conn.conn().is_postgres() { 1 } else { 2 };
                r.bytes.saturating_mul(margin).clamp(1, MAX_ROOM_CHECK)
            });
            let write = |conn: &Connection, room: Option<usize>| -> DbResult<()> {
                conn.transaction(|tx| write_probe(tx, now, room.unwrap_or(0)))
            };
            match room {
                // PostgreSQL keeps free space per table: room in the probe's table says
                // nothing about the events'. The probe stores a delivery of the refused size
                // as a delivery would, and rolls it back; the space a table grew by stays.
                Some(bytes) if conn.conn().is_postgres() => {
                    let refused = refused.as_ref().expect("room comes from a refusal");
                    conn.dry_run(|tx| store_again(tx, refused, bytes))
                        .map_err(describe)?;
                    write(conn, None).map_err(describe)?;
                }
                Some(_) => {
                    write(conn, room).map_err(describe)?;
                    write(conn, None).map_err(describe)?;
                }
                None => write(conn, None).map_err(describe)?,
            }
            Ok(room.is_some())
        })();
        *self.last_probe.lock().unwrap_or_else(|e| e.into_inner()) =
            Some((std::time::Instant::now(), result.clone().map(|_| ())));
        match result {
            Ok(room_checked) => {
                self.write_ok();
                if room_checked {
                    // A delivery of the refused size fits again.
                    self.delivery_stored();
                }
                Ok(())
            }
            Err(message) => {
                // A connection that failed may be in a bad state: open a fresh one next time.
                *slot = None;
                self.write_failed(&message);
                Err(message)
            }
        }
    }
}

/// What an operator should read: the condition, not the backend's code.
fn describe(e: super::DbError) -> String {
    e.describe().to_string()
}

/// The bytes PostgreSQL holds for our tables, with their indexes and TOAST; None on SQLite,
/// whose files the metrics measure themselves.
pub fn database_bytes(conn: Conn<'_>) -> DbResult<Option<i64>> {
    if !conn.is_postgres() {
        return Ok(None);
    }
    conn.query_value(
        "SELECT CAST(COALESCE(SUM(pg_total_relation_size(c.oid)), 0) AS BIGINT)
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = current_schema() AND c.relkind = 'r'",
        params![],
    )
    .map(Some)
}

/// Stores the refused delivery again, as the delivery writer would (the same integration,
/// delivery id, headers and type, as many body bytes, which do not compress), for the
/// caller to roll back: its rows, index entries and row versions need the room the refused
/// one needed. Stored since, or its integration deleted: there is nothing left to check.
fn store_again(tx: Conn<'_>, refused: &Refusal, bytes: usize) -> DbResult<()> {
    let mut body = vec![0u8; bytes];
    getrandom::fill(&mut body).map_err(|e| {
        super::DbError::new(
            super::error::DbErrorKind::Other,
            format!("random bytes: {e}"),
        )
    })?;
    let again = NewEvent {
        id: crate::domain::model::new_row_id(),
        payload: super::packed::Packed {
            encoding: None,
            bytes: body,
        },
        ..refused.delivery.clone_without_payload()
    };
    let exists: bool = tx.query_value(
        "SELECT EXISTS (SELECT 1 FROM integrations WHERE id = ?1)",
        params![again.integration_id],
    )?;
    if !exists {
        return Ok(());
    }
    if let events::Inserted::New(_) = events::insert(tx, &again)? {
        events::count_stored(tx, &again.integration_id, 1, again.received_at)?;
    }
    Ok(())
}

/// Rewrites the probe row with `room` bytes of zeros (SQLite stores a zeroblob as it is;
/// PostgreSQL's column is never compressed, see schema.postgres.sql).
fn write_probe(tx: Conn<'_>, now: i64, room: usize) -> DbResult<()> {
    let sql = if tx.is_postgres() {
        "INSERT INTO health_probe (id, at, room) VALUES (1, ?1, decode(repeat('00', ?2), 'hex'))
         ON CONFLICT (id) DO UPDATE SET at = excluded.at, room = excluded.room"
    } else {
        "INSERT OR REPLACE INTO health_probe (id, at, room) VALUES (1, ?1, zeroblob(?2))"
    };
    tx.execute(sql, params![now, room])?;
    Ok(())
}
