//! The delivery writer: one thread, one connection, group commit.
//!
//! Receivers hand their delivery to this thread and wait. The thread takes everything that is
//! waiting (up to `MAX_BATCH`), writes it in one transaction, syncs once, and only then answers
//! each receiver. A commit per request would cost one fsync per delivery; a batch shares it.

use std::collections::HashMap;
use std::sync::Arc;
use std::thread::JoinHandle;

use anyhow::Context;
use tokio::sync::{mpsc, oneshot};

use super::SyncMode;
use super::events::{self, Inserted, NewEvent};
use super::rejections::{self, Rejection};
use super::stats;
use super::storage::Storage;
use super::{Conn, Connection, DbError, Location, WriteGate, integrations};
use crate::base::crashpoint;
use crate::base::error::{AppError, AppResult};

const MAX_BATCH: usize = 512;
const QUEUE_DEPTH: usize = 8192;

enum Job {
    Insert(Box<NewEvent>, oneshot::Sender<Result<Inserted, String>>),
    /// Best effort: a refused delivery is kept (and, for a bad signature, counted); nobody
    /// waits for it.
    Rejection(Box<Rejection>),
    /// Best effort: a delivery was signed with the integration's previous secret.
    PreviousSecretUsed {
        integration_id: String,
        at: i64,
    },
}

#[derive(Clone)]
pub struct Writer {
    jobs: mpsc::Sender<Job>,
}

impl Writer {
    /// Starts the writer thread. `after_commit` runs after every batch that stored a delivery
    /// (the worker's wake-up call); every commit's outcome is recorded in `storage`. `node`
    /// names this node's own roll-up rows (see `stats::ingest_shard`).
    pub fn spawn(
        path: &Location,
        sync: SyncMode,
        gate: WriteGate,
        storage: Arc<Storage>,
        node: &str,
        recent: Arc<stats::Recent>,
        after_commit: impl Fn() + Send + 'static,
    ) -> anyhow::Result<(Writer, JoinHandle<()>)> {
        let conn = Connection::open(path, sync)?;
        let (tx, rx) = mpsc::channel(QUEUE_DEPTH);
        let shard = stats::ingest_shard(node);
        let handle = std::thread::Builder::new()
            .name("delivery-writer".into())
            .spawn(move || writer_loop(conn, rx, &gate, &storage, &recent, &shard, after_commit))
            .context("starting the delivery writer thread")?;
        Ok((Writer { jobs: tx }, handle))
    }

    /// Stores a delivery durably; returns once it is on disk.
    pub async fn insert(&self, event: NewEvent) -> AppResult<Inserted> {
        let (done, answer) = oneshot::channel();
        self.jobs
            .send(Job::Insert(Box::new(event), done))
            .await
            .map_err(|_| AppError::Unavailable("the delivery writer has stopped".into()))?;
        match answer.await {
            Ok(Ok(inserted)) => Ok(inserted),
            Ok(Err(cause)) => {
                tracing::error!(error = %cause, "storing a delivery failed");
                Err(AppError::Unavailable("storing the delivery failed".into()))
            }
            Err(_) => Err(AppError::Unavailable(
                "the delivery writer has stopped".into(),
            )),
        }
    }

    pub fn record_rejection(&self, rejection: Rejection) {
        if self
            .jobs
            .try_send(Job::Rejection(Box::new(rejection)))
            .is_err()
        {
            tracing::warn!("a refused delivery was not recorded: writer queue full");
        }
    }

    pub fn record_previous_secret_used(&self, integration_id: &str, at: i64) {
        let job = Job::PreviousSecretUsed {
            integration_id: integration_id.to_string(),
            at,
        };
        if self.jobs.try_send(job).is_err() {
            tracing::warn!("the previous secret's last use was not recorded: writer queue full");
        }
    }
}

fn writer_loop(
    mut conn: Connection,
    mut rx: mpsc::Receiver<Job>,
    gate: &WriteGate,
    storage: &Storage,
    recent: &stats::Recent,
    shard: &str,
    after_commit: impl Fn(),
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = rx.blocking_recv() {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let _ = conn.reconnect_if_lost();
        let stored_any = {
            // SQLite has one writer at a time, and this is the fair queue to it. PostgreSQL
            // takes concurrent writers (the writer's rows and counter increments conflict with
            // nothing the worker holds): waiting for the worker's turn there only delays the
            // answer to every delivery.
            let _turn = (!conn.conn().is_postgres()).then(|| gate.blocking_lock());
            // Whatever arrived while waiting for the turn joins this batch.
            while batch.len() < MAX_BATCH {
                match rx.try_recv() {
                    Ok(job) => batch.push(job),
                    Err(_) => break,
                }
            }
            write_batch(&conn, &mut batch, storage, recent, shard)
        };
        if stored_any {
            after_commit();
        }
    }
    tracing::debug!("delivery writer stopped");
}

/// Writes and answers every job in `batch` (which it empties). Returns whether any delivery
/// was newly stored.
fn write_batch(
    conn: &Connection,
    batch: &mut Vec<Job>,
    storage: &Storage,
    recent: &stats::Recent,
    shard: &str,
) -> bool {
    // On PostgreSQL a failed statement aborts the whole transaction, so each row would need a
    // savepoint of its own: two more round trips per delivery. Rows rarely fail, so the batch
    // goes without; only when a row failed is it written again with a savepoint per row.
    let mut contain = false;
    let (results, committed) = loop {
        let (results, committed, row_failed, minutes) =
            try_batch(conn, batch, storage, shard, contain);
        if row_failed && !contain && conn.conn().is_postgres() {
            contain = true;
            continue;
        }
        if committed.is_ok() {
            recent.add(minutes);
        }
        break (results, committed);
    };
    answer(batch, results, committed, storage)
}

/// Runs `work` in a savepoint when `contain` (see [`Conn::contained`]).
fn contained_if<T, E: From<DbError>>(
    tx: Conn<'_>,
    contain: bool,
    work: impl FnOnce() -> Result<T, E>,
) -> Result<T, E> {
    if contain { tx.contained(work) } else { work() }
}

type Results = Vec<Result<Inserted, String>>;

/// One try at writing `batch` in one transaction: each delivery's result, the commit's,
/// whether a row failed, and the minute counts it would add (see `stats::Recent`).
fn try_batch(
    conn: &Connection,
    batch: &[Job],
    storage: &Storage,
    shard: &str,
    contain: bool,
) -> (Results, Result<(), DbError>, bool, stats::Minutes) {
    let mut results: Results = Vec::with_capacity(batch.len());
    let mut row_failed = false;
    let mut minutes = stats::Minutes::new();
    let committed = conn.transaction(|tx| -> Result<(), DbError> {
        // Per integration: events stored and the newest arrival, counted once per batch.
        let mut stored: HashMap<&str, (i64, i64)> = HashMap::new();
        // By integration and hour: what the roll-ups add (db::stats).
        let mut tally = stats::Tally::new(shard);
        // The first try stores the batch's deliveries together (pipelined on PostgreSQL);
        // the second, one by one, each in its savepoint.
        let mut together = if contain {
            None
        } else {
            let deliveries: Vec<&NewEvent> = batch
                .iter()
                .filter_map(|job| match job {
                    Job::Insert(event, _) => Some(event.as_ref()),
                    _ => None,
                })
                .collect();
            Some(events::insert_batch(tx, &deliveries)?.into_iter())
        };
        for job in batch.iter() {
            match job {
                // A row-level failure (the integration was deleted a moment ago, say) fails
                // that delivery alone; the rest of the batch still commits.
                Job::Insert(event, _) => {
                    let result = match together.as_mut().and_then(Iterator::next) {
                        Some(result) => result,
                        None => tx.contained(|| events::insert(tx, event)),
                    };
                    row_failed |= result.is_err();
                    match &result {
                        Ok(Inserted::New(_)) => {
                            let count = stored.entry(&event.integration_id).or_default();
                            count.0 += 1;
                            count.1 = count.1.max(event.received_at);
                            tally.received(&event.integration_id, event.received_at);
                        }
                        Ok(Inserted::Duplicate(_)) => {
                            tally.duplicate(&event.integration_id, event.received_at)
                        }
                        // A full disk can refuse this row and still let a smaller one (or
                        // the empty commit) through: health must hear of it.
                        Err(e) => {
                            if e.is_unavailable() {
                                storage.delivery_refused(e.describe(), event);
                            }
                        }
                    }
                    results.push(result.map_err(|e| e.to_string()))
                }
                Job::Rejection(r) => {
                    let recorded = contained_if(tx, contain, || {
                        if r.status == 401 {
                            integrations::record_rejection(tx, &r.integration_id, r.at, &r.reason)?;
                        }
                        rejections::insert(tx, r)
                    });
                    row_failed |= recorded.is_err();
                    if recorded.is_err() {
                        tracing::warn!("could not record a refused delivery");
                    } else {
                        tally.rejected(&r.integration_id, r.at);
                    }
                }
                Job::PreviousSecretUsed { integration_id, at } => {
                    let recorded = contained_if(tx, contain, || {
                        integrations::previous_secret_used(tx, integration_id, *at)
                    });
                    row_failed |= recorded.is_err();
                    if let Err(e) = recorded {
                        tracing::warn!(error = %e, "could not record the previous secret's use");
                    }
                }
            }
        }
        if !stored.is_empty() {
            // Other nodes' workers hear of it when this commits.
            super::cluster::notify(tx, super::cluster::Notice::Events);
        }
        for (integration_id, (count, newest)) in stored {
            events::count_stored(tx, integration_id, count, newest)?;
        }
        stats::write_tally(tx, &tally)?;
        minutes = tally.take_minutes();
        crashpoint::reached(crashpoint::WRITER_BEFORE_COMMIT);
        Ok(())
    });
    (results, committed, row_failed, minutes)
}

/// Records the outcome in `storage` and answers every delivery in `batch` (which it
/// empties). Returns whether any delivery was newly stored.
fn answer(
    batch: &mut Vec<Job>,
    results: Results,
    committed: Result<(), DbError>,
    storage: &Storage,
) -> bool {
    match &committed {
        Ok(()) => storage.write_ok(),
        Err(e) => {
            let cause = e.describe().to_string();
            match largest_delivery(batch) {
                Some(event) => storage.delivery_refused(&cause, event),
                None => storage.write_failed(&cause),
            }
        }
    }
    let commit_error = committed.err().map(|e| e.to_string());
    if commit_error.is_none() {
        crashpoint::reached(crashpoint::WRITER_BEFORE_ACK);
    }
    let mut stored_any = false;
    let mut results = results.into_iter();
    for job in batch.drain(..) {
        if let Job::Insert(_, done) = job {
            let result = match (&commit_error, results.next()) {
                (Some(e), _) => Err(e.clone()),
                (None, Some(r)) => r,
                (None, None) => Err("no result for this delivery".into()),
            };
            stored_any |= matches!(result, Ok(Inserted::New(_)));
            // The receiver may have gone (client disconnected); the row is stored anyway.
            let _ = done.send(result);
        }
    }
    if stored_any {
        storage.delivery_stored();
    }
    stored_any
}

/// The size of the largest delivery in the batch, as it would be stored.
fn largest_delivery(batch: &[Job]) -> Option<&NewEvent> {
    batch
        .iter()
        .filter_map(|job| match job {
            Job::Insert(event, _) => Some(event.as_ref()),
            _ => None,
        })
        .max_by_key(|event| event.payload.bytes.len())
}
