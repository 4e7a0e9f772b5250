//! The background worker: one OS thread that takes stored deliveries in arrival order and
//! runs the processor for their integration's type. Processing decides; it never calls a
//! remote: what must be said to the outside world is queued in the outbox, in the same
//! transaction as the decision, and sent by the outbox's senders.
//!
//! Each event is claimed atomically (RECEIVED → PROCESSING, attempts + 1), processed, then
//! marked PROCESSED or FAILED, or put back as RECEIVED with a later `nextAttemptAt` when the
//! failure is retryable. Processing is at-least-once: after a crash, PROCESSING events are
//! queued again, so processors must be idempotent.

pub mod processors;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::Context;
use rusqlite::Connection;

pub use processors::{Ctx, ProcessError, Processor, Processors};

use crate::clock;
use crate::config::SyncMode;
use crate::db::events::Finish;
use crate::db::{self, events, integrations, outbox};
use crate::metrics::Metrics;
use crate::outbox::OutboxHandle;
use crate::retry;
use crate::secrets::SecretBox;

/// Longest sleep when idle: a safety net, since receivers wake the worker directly.
const IDLE_POLL: Duration = Duration::from_secs(5);
/// Pause after a database error, so a broken disk does not spin the CPU.
const ERROR_PAUSE: Duration = Duration::from_secs(1);
const PRUNE_EVERY: Duration = Duration::from_secs(10 * 60);
const PRUNE_BATCH: u32 = 500;
/// Events claimed per batch.
const CLAIM_BATCH: u32 = 64;
/// Results are written at least this often while a batch is being processed.
const FLUSH_EVERY: Duration = Duration::from_millis(100);

/// A wake-up call for the worker thread that is never lost, even if sent while it is busy.
#[derive(Clone, Default)]
pub struct Wakeup(Arc<(Mutex<bool>, Condvar)>);

impl Wakeup {
    pub fn wake(&self) {
        let (flag, cond) = &*self.0;
        if let Ok(mut woken) = flag.lock() {
            *woken = true;
            cond.notify_one();
        }
    }

    /// Sleeps until woken or until `timeout` passes.
    fn wait(&self, timeout: Duration) {
        let (flag, cond) = &*self.0;
        let Ok(guard) = flag.lock() else { return };
        let Ok((mut woken, _)) = cond.wait_timeout_while(guard, timeout, |woken| !*woken) else {
            return;
        };
        *woken = false;
    }
}

pub struct WorkerConfig {
    pub db_path: PathBuf,
    pub processors: Processors,
    pub retry_schedule: Vec<Duration>,
    pub retention: Duration,
    pub secrets: Arc<SecretBox>,
    /// Told when processing queued rows for the outside world.
    pub outbox: OutboxHandle,
    /// Base of links to this server's pages (commit statuses' `target_url`).
    pub public_url: String,
    pub metrics: Arc<Metrics>,
}

pub struct Worker {
    conn: Connection,
    config: WorkerConfig,
}

/// Deletes a batch of finished rows older than a cutoff; returns how many.
type Prune = fn(&Connection, i64, u32) -> crate::error::AppResult<usize>;

/// What one step of the worker did.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    Idle,
    Processed,
    Retrying,
    Failed,
}

pub struct WorkerHandle {
    stop: Arc<AtomicBool>,
    wakeup: Wakeup,
    thread: JoinHandle<()>,
}

impl WorkerHandle {
    /// Asks the worker to finish the event in hand and stop, and waits for it.
    pub fn stop(self) {
        self.stop.store(true, Ordering::SeqCst);
        self.wakeup.wake();
        if self.thread.join().is_err() {
            tracing::error!("the worker thread panicked");
        }
    }
}

impl Worker {
    pub fn new(config: WorkerConfig) -> anyhow::Result<Self> {
        // State changes need not be synced one by one: losing the last few after a power cut
        // only means an event is processed again, which at-least-once allows.
        let conn = db::connect(&config.db_path, SyncMode::Normal)?;
        Ok(Worker { conn, config })
    }

    /// Puts events left PROCESSING by a crash back in the queue. Call before serving.
    pub fn recover(&self) -> anyhow::Result<usize> {
        let n = events::requeue_interrupted(&self.conn)?;
        if n > 0 {
            tracing::warn!(
                events = n,
                "re-queued events interrupted by a crash or kill"
            );
        }
        Ok(n)
    }

    pub fn spawn(self, wakeup: Wakeup) -> anyhow::Result<WorkerHandle> {
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let stop = stop.clone();
            let wakeup = wakeup.clone();
            std::thread::Builder::new()
                .name("event-worker".into())
                .spawn(move || self.run(&stop, &wakeup))
                .context("starting the worker thread")?
        };
        Ok(WorkerHandle {
            stop,
            wakeup,
            thread,
        })
    }

    fn run(mut self, stop: &AtomicBool, wakeup: &Wakeup) {
        let mut last_prune: Option<std::time::Instant> = None;
        while !stop.load(Ordering::SeqCst) {
            let step = self.run_once();
            match step {
                Ok(Step::Idle) => {
                    if last_prune.is_none_or(|t| t.elapsed() >= PRUNE_EVERY) {
                        self.prune();
                        last_prune = Some(std::time::Instant::now());
                    }
                    wakeup.wait(self.idle_wait());
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::error!(error = %e, "worker step failed; pausing");
                    wakeup.wait(ERROR_PAUSE);
                    // Whatever the failed step had claimed goes back to the queue. This worker
                    // is the only one, so nothing else is PROCESSING now.
                    if let Err(e) = self.recover() {
                        tracing::error!(error = %e, "re-queueing after a failed step failed");
                    }
                }
            }
        }
        tracing::debug!("worker stopped");
    }

    /// How long to sleep: until the next retry falls due, at most `IDLE_POLL`.
    fn idle_wait(&self) -> Duration {
        match events::next_due_at(&self.conn).ok().flatten() {
            Some(due) => {
                let ms = (due - clock::now_ms()).clamp(0, IDLE_POLL.as_millis() as i64);
                Duration::from_millis(ms as u64)
            }
            None => IDLE_POLL,
        }
    }

    fn ctx(&self) -> Ctx<'_> {
        Ctx {
            conn: &self.conn,
            secrets: &self.config.secrets,
            public_url: &self.config.public_url,
        }
    }

    /// Claims a batch of due events and processes them in arrival order. Claims and results
    /// are written a batch at a time: two write transactions per batch rather than per event,
    /// which matters while the delivery writer is busy. Results are flushed early when
    /// processing is slow, so statuses do not lag behind.
    pub fn run_once(&mut self) -> anyhow::Result<Step> {
        let seqs = events::claim_batch(&self.conn, clock::now_ms(), CLAIM_BATCH)?;
        if seqs.is_empty() {
            return Ok(Step::Idle);
        }
        let mut finished = Vec::with_capacity(seqs.len());
        let mut last_flush = std::time::Instant::now();
        for seq in seqs {
            match self.process(seq) {
                Ok(Some(finish)) => finished.push((seq, finish)),
                Ok(None) => {}
                // Storage trouble for this one event: try it again shortly.
                Err(e) => finished.push((
                    seq,
                    Finish::Retry {
                        error: format!("storage: {e}"),
                        due: clock::now_ms() + ERROR_PAUSE.as_millis() as i64,
                    },
                )),
            }
            if last_flush.elapsed() >= FLUSH_EVERY {
                events::finish_batch(&self.conn, &finished)?;
                self.config.outbox.wake();
                finished.clear();
                last_flush = std::time::Instant::now();
            }
        }
        events::finish_batch(&self.conn, &finished)?;
        // Processing may have queued messages and statuses: the outbox sends them.
        self.config.outbox.wake();
        Ok(Step::Processed)
    }

    /// Runs the processor for one claimed event; None when the event is gone (deleted with
    /// its integration).
    fn process(&mut self, seq: i64) -> anyhow::Result<Option<Finish>> {
        let Some(event) = events::get_by_seq(&self.conn, seq)? else {
            return Ok(None);
        };
        let attempts = event.summary.attempts;
        let Some(integration) = integrations::find(&self.conn, &event.summary.integration_id)?
        else {
            return Ok(Some(Finish::Failed {
                error: "the integration was deleted".into(),
                at: clock::now_ms(),
            }));
        };
        let processor = self.config.processors.for_type(integration.kind);
        let ctx = self.ctx();
        let result = catch_unwind(AssertUnwindSafe(|| {
            processor.process(&ctx, &integration, &event)
        }))
        .unwrap_or_else(|_| {
            tracing::error!(event = %event.summary.id, "processor panicked");
            Err(ProcessError::Permanent("internal error".into()))
        });
        let at = clock::now_ms();
        let latency = Duration::from_millis((at - event.summary.received_at).max(0) as u64);
        let finish = match result {
            Ok(outcome) => Finish::Processed { outcome, at },
            Err(ProcessError::Permanent(error)) => Finish::Failed { error, at },
            Err(ProcessError::Retryable { error, after }) => {
                match retry::delay(&self.config.retry_schedule, attempts, after) {
                    Some(delay) => Finish::Retry {
                        error,
                        due: at + delay.as_millis() as i64,
                    },
                    None => Finish::Failed {
                        error: format!("gave up after {attempts} attempts: {error}"),
                        at,
                    },
                }
            }
        };
        match &finish {
            Finish::Processed { .. } => self.config.metrics.processed("processed", Some(latency)),
            Finish::Failed { .. } => self.config.metrics.processed("failed", Some(latency)),
            Finish::Retry { .. } => self.config.metrics.processed("retry", None),
        }
        Ok(Some(finish))
    }

    fn prune(&self) {
        let cutoff = clock::now_ms() - self.config.retention.as_millis() as i64;
        // Small batches, each its own transaction, so receivers never wait long for the lock.
        let tables: [(&str, Prune); 2] =
            [("events", events::prune), ("outbox rows", outbox::prune)];
        for (what, prune) in tables {
            let mut total = 0;
            loop {
                match prune(&self.conn, cutoff, PRUNE_BATCH) {
                    Ok(0) => break,
                    Ok(n) => total += n,
                    Err(e) => {
                        tracing::warn!(error = %e, "pruning old {what} failed");
                        break;
                    }
                }
            }
            if total > 0 {
                tracing::info!(count = total, "pruned {what} past the retention period");
            }
        }
    }
}
