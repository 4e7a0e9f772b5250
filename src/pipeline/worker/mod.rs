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

use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::Context;

pub use processors::{Ctx, ProcessError, Processor, Processors};

use crate::base::clock::{self, Clock};
use crate::base::crashpoint;
use crate::base::metrics::Metrics;
use crate::base::retry;
use crate::db::SyncMode;
use crate::db::events::EventDetail;
use crate::db::events::Finish;
use crate::db::integrations::{Generation, Integration};
use crate::db::{self, events, integrations, outbox, stats};
use crate::domain::model::IntegrationType;
use crate::domain::secrets::SecretBox;
use crate::domain::trace::{self, Trace};
use crate::pipeline::outbox::OutboxHandle;

/// Longest sleep when idle: a safety net, since receivers wake the worker directly.
const IDLE_POLL: Duration = Duration::from_secs(5);
/// Pause after a database error, so a broken disk does not spin the CPU.
const ERROR_PAUSE: Duration = Duration::from_secs(1);
const PRUNE_EVERY: Duration = Duration::from_secs(10 * 60);
/// How often an idle leader looks for runs past their timeout (`eval.timeout`).
const TIMEOUT_SWEEP_EVERY: Duration = Duration::from_secs(15);
const PRUNE_BATCH: u32 = 500;
/// Events claimed per batch.
const CLAIM_BATCH: u32 = 256;
/// How long one processing transaction may hold the write lock: the delivery writer waits
/// at most about this long for the worker.
const HOLD_LOCK_FOR: Duration = Duration::from_millis(2);
/// On PostgreSQL a processing transaction locks only its own rows (the delivery writer never
/// waits for it), so it runs longer and commits less often: each COMMIT is a round trip.
const HOLD_ROWS_FOR_ON_POSTGRES: Duration = Duration::from_millis(20);
/// On PostgreSQL with other nodes alive, the pause after a batch: long enough for a node told
/// of it (NOTIFY) to claim first.
const TURN_GAP: Duration = Duration::from_millis(10);
/// Payload bytes read ahead of processing: large deliveries are not all in memory at once.
const CHUNK_BYTES: usize = 1 << 20;
/// Events read in one statement, at most; only those whose body is stored in at most
/// `SMALL_BODY` bytes, so that a group holds at most about 1 MiB as stored.
const READ_TOGETHER: usize = 64;
const SMALL_BODY: i64 = 16 * 1024;

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
    pub database: db::Location,
    /// Where processing ends are counted by the minute, for alerts (written by their check).
    pub recent: Arc<stats::Recent>,
    pub processors: Processors,
    pub retry_schedule: Vec<Duration>,
    pub retention: Duration,
    /// How long audit entries are kept (`--audit-retention-days`).
    pub audit_retention: Duration,
    pub secrets: Arc<SecretBox>,
    /// Told when processing queued rows for the outside world.
    pub outbox: OutboxHandle,
    /// Base of links to this server's pages (commit statuses' `target_url`).
    pub public_url: String,
    pub metrics: Arc<Metrics>,
    /// Shared with the delivery writer and the API: writers take turns.
    pub write_gate: db::WriteGate,
    /// Moves when the API changes an integration or a secret.
    pub config_generation: Generation,
    pub clock: Clock,
    /// Alerts one source may have waiting for one Slack integration.
    pub max_queued_alerts: usize,
    /// This node: its claims carry its claim token; it prunes while it holds the duties.
    pub node: Arc<crate::pipeline::cluster::Node>,
}

pub struct Worker {
    conn: db::Connection,
    config: WorkerConfig,
    /// Integrations read so far (None: deleted), valid while `config_generation` stays at
    /// `known_at`: with a thousand integrations, reading each per batch was most of the work.
    known: HashMap<String, Option<Integration>>,
    known_at: u64,
}

/// Deletes a batch of finished rows older than a cutoff; returns how many.
type Prune = fn(db::Conn<'_>, i64, u32) -> crate::base::error::AppResult<usize>;

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
        let conn = db::Connection::open(&config.database, SyncMode::Normal)?;
        Ok(Worker {
            conn,
            config,
            known: HashMap::new(),
            known_at: 0,
        })
    }

    /// Puts the events this node claimed back in the queue (after a failed step, at a stop;
    /// a start puts back its previous run's with [`crate::pipeline::cluster::join`]).
    fn recover(&self) -> anyhow::Result<usize> {
        let n = events::requeue_claims(self.conn.conn(), &self.config.node.claim_token)?;
        if n > 0 {
            tracing::warn!(events = n, "re-queued events this node had claimed");
        }
        Ok(n)
    }

    pub fn spawn(self, wakeup: Wakeup) -> anyhow::Result<WorkerHandle> {
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let stop = stop.clone();
            let wakeup = wakeup.clone();
            // After a jump of the clock, a retry or a pruning may be due.
            let on_jump = wakeup.clone();
            self.config.clock.on_jump(move || on_jump.wake());
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
        // By the server's clock, so that a test's jump past the retention period prunes.
        let mut last_prune: Option<i64> = None;
        let mut last_sweep: Option<i64> = None;
        // A failed step's claims go back to the queue before the next step; when that fails
        // too (the database is away), it is tried again until it works.
        let mut requeue_pending = false;
        while !stop.load(Ordering::SeqCst) {
            if self.conn.reconnect_if_lost() {
                // An outcome committed just before PostgreSQL went away may be lost with it,
                // leaving its event PROCESSING under this node's live claim: put them back.
                requeue_pending = true;
            }
            if requeue_pending {
                if let Err(e) = self.recover() {
                    tracing::error!(error = %e, "re-queueing after a failed step failed");
                    wakeup.wait(ERROR_PAUSE);
                    continue;
                }
                requeue_pending = false;
            }
            let step = self.run_once();
            // Failing the runs that timed out is a duty of the cluster (one node does it), due
            // every 15 s however busy the worker is (after a jump of the clock, at once).
            if step.is_ok() {
                let now = self.config.clock.now_ms();
                if self.config.node.lead().is_some()
                    && last_sweep.is_none_or(|t| {
                        now - t >= TIMEOUT_SWEEP_EVERY.as_millis() as i64 || now < t
                    })
                {
                    self.time_out_runs(now);
                    last_sweep = Some(now);
                }
            }
            match step {
                Ok(Step::Idle) => {
                    let now = self.config.clock.now_ms();
                    // Pruning is a duty of the cluster too, done when there is time for it.
                    if self.config.node.lead().is_some()
                        && last_prune.is_none_or(|t| now - t >= PRUNE_EVERY.as_millis() as i64)
                    {
                        self.prune();
                        last_prune = Some(now);
                    }
                    wakeup.wait(self.idle_wait());
                }
                Ok(_) => {
                    if self.hands_over() {
                        // The batch's integrations are free now, and the other nodes were told
                        // (see `run_once`): one of them claims first, so that a node that just
                        // finished does not keep every integration to itself.
                        std::thread::sleep(TURN_GAP);
                    }
                }
                Err(e) => {
                    tracing::error!(error = %e, "worker step failed; pausing");
                    wakeup.wait(ERROR_PAUSE);
                    // Whatever the failed step had claimed goes back to the queue. This worker
                    // is the only one claiming under this node's token.
                    requeue_pending = true;
                }
            }
        }
        // Nothing is left PROCESSING (a step that failed just before the stop may have left
        // its claim).
        if let Err(e) = self.recover() {
            tracing::error!(error = %e, "re-queueing at stop failed");
        }
        tracing::debug!("worker stopped");
    }

    /// Whether a finished batch's integrations are handed to the other nodes: on PostgreSQL
    /// with other nodes alive (they are told at the batch's last commit, and this node
    /// pauses before its next claim).
    fn hands_over(&self) -> bool {
        self.config.database.is_postgres() && self.config.node.has_peers()
    }

    /// How long to sleep: until the next retry falls due, at most `IDLE_POLL`.
    fn idle_wait(&self) -> Duration {
        match events::next_due_at(self.conn.conn()).ok().flatten() {
            Some(due) => {
                let ms = (due - self.config.clock.now_ms()).clamp(0, IDLE_POLL.as_millis() as i64);
                Duration::from_millis(ms as u64)
            }
            None => IDLE_POLL,
        }
    }

    fn ctx<'a>(
        &'a self,
        trace: &'a Trace,
        event: &EventDetail,
        integration: &Integration,
    ) -> Ctx<'a> {
        Ctx::for_event(
            self.conn.conn(),
            &self.config.secrets,
            &self.config.public_url,
            self.config.clock.now_ms(),
            self.config.max_queued_alerts,
            trace,
            event,
            integration,
        )
    }

    /// Claims a batch of due events and processes them in arrival order, a chunk at a time:
    /// the chunk's payloads are read and parsed first, outside the write lock; then each
    /// event's effects and outcome are written in one transaction for the chunk (a few
    /// milliseconds of work), so commits are few and the delivery writer never waits long.
    pub fn run_once(&mut self) -> anyhow::Result<Step> {
        let postgres = self.config.database.is_postgres();
        let seqs = {
            // SQLite's writers take turns; PostgreSQL's lock rows, and a claim waiting there
            // (for a lock another process holds) must not hold up this node's other writers.
            let gate = self.config.write_gate.clone();
            let _turn = (!postgres).then(|| gate.blocking_lock());
            events::claim_batch(
                self.conn.conn(),
                self.config.clock.now_ms(),
                CLAIM_BATCH,
                &self.config.node.claim_token,
            )?
        };
        if seqs.is_empty() {
            return Ok(Step::Idle);
        }
        let generation = self.config.config_generation.current();
        if generation != self.known_at {
            self.known.clear();
            self.known_at = generation;
        }
        let mut integrations = std::mem::take(&mut self.known);
        let stored_sizes = events::body_sizes(self.conn.conn(), &seqs)?;
        let mut seqs = seqs.into_iter().peekable();
        let hand_over = self.hands_over();
        while seqs.peek().is_some() {
            let chunk = self.load_chunk(&mut seqs, &stored_sizes, &mut integrations)?;
            let last_chunk = seqs.peek().is_none();
            let mut chunk = chunk.into_iter().peekable();
            let hold_for = if postgres {
                HOLD_ROWS_FOR_ON_POSTGRES
            } else {
                HOLD_LOCK_FOR
            };
            while chunk.peek().is_some() {
                // SQLite's writers take turns; PostgreSQL's lock rows, not the database.
                let gate = self.config.write_gate.clone();
                let _turn = (!postgres).then(|| gate.blocking_lock());
                let shard = stats::worker_shard(&self.config.node.id);
                // The write lock is taken up front (see `db::Connection::transaction`); a
                // failed commit (a full disk) leaves no transaction open, and the claimed
                // events are re-queued by the caller's recovery.
                let mut minutes = stats::Minutes::new();
                self.conn.transaction(|tx| -> anyhow::Result<()> {
                    let started = std::time::Instant::now();
                    let mut finished = Vec::new();
                    let mut tally = stats::Tally::new(&shard);
                    while started.elapsed() < hold_for
                        && let Some((seq, event)) = chunk.next()
                    {
                        if let Some(event) = event {
                            let (finish, trace) =
                                self.process_in_savepoint(tx, &event, &integrations)?;
                            let summary = &event.summary;
                            match &finish {
                                Finish::Processed { at, .. } | Finish::Failed { at, .. } => tally
                                    .ended(
                                        &summary.integration_id,
                                        summary.received_at,
                                        *at,
                                        matches!(finish, Finish::Failed { .. }),
                                    ),
                                Finish::Retry { .. } => {}
                            }
                            finished.push((seq, finish, trace));
                        }
                    }
                    events::finish_in(tx, &finished, &self.config.node.claim_token)?;
                    stats::write_tally(tx, &tally)?;
                    minutes = tally.take_minutes();
                    if hand_over && last_chunk && chunk.peek().is_none() {
                        // The batch's integrations are free once this commits: other nodes
                        // may claim them (see the pause in `run`).
                        db::cluster::notify(tx, db::cluster::Notice::Events);
                    }
                    crashpoint::reached(crashpoint::WORKER_BEFORE_COMMIT);
                    Ok(())
                })?;
                self.config.recent.add(minutes);
                // Processing may have queued messages and statuses: the outbox sends them.
                self.config.outbox.wake();
            }
        }
        Ok(Step::Processed)
    }

    /// Reads the next events of the batch (up to `CHUNK_BYTES` of payload, at least one) and
    /// parses the JSON of those whose processor reads it. An event deleted meanwhile is None.
    /// Small bodies are read several at a time (one round trip on PostgreSQL), large ones
    /// alone, so that a group never holds much more than the chunk allows.
    #[allow(clippy::type_complexity)]
    fn load_chunk(
        &self,
        seqs: &mut std::iter::Peekable<std::vec::IntoIter<i64>>,
        stored_sizes: &HashMap<i64, i64>,
        integrations: &mut HashMap<String, Option<Integration>>,
    ) -> anyhow::Result<Vec<(i64, Option<EventDetail>)>> {
        let mut chunk = Vec::new();
        let mut bytes = 0;
        while bytes < CHUNK_BYTES && seqs.peek().is_some() {
            let mut group = Vec::new();
            while group.len() < READ_TOGETHER
                && let Some(&seq) = seqs.peek()
            {
                let small = stored_sizes.get(&seq).is_none_or(|&n| n <= SMALL_BODY);
                if !small && !group.is_empty() {
                    break;
                }
                group.push(seq);
                seqs.next();
                if !small {
                    break;
                }
            }
            for (seq, event) in events::get_by_seqs(self.conn.conn(), &group)? {
                if let Some(event) = &event {
                    bytes += event.payload.len();
                    let owner = &event.summary.integration_id;
                    if !integrations.contains_key(owner) {
                        let found = integrations::find(self.conn.conn(), owner)?;
                        integrations.insert(owner.clone(), found);
                    }
                    let kind = integrations
                        .get(owner)
                        .and_then(|i| i.as_ref().map(|i| i.kind));
                    if matches!(
                        kind,
                        Some(IntegrationType::Github | IntegrationType::Gitlab)
                    ) {
                        event.fields_for_actions();
                    }
                }
                chunk.push((seq, event));
            }
        }
        Ok(chunk)
    }

    /// Processes one event inside a savepoint: kept when it was processed, undone when it
    /// failed or will be retried (so a retry starts from a clean slate).
    fn process_in_savepoint(
        &self,
        tx: db::Conn<'_>,
        event: &EventDetail,
        integrations: &HashMap<String, Option<Integration>>,
    ) -> anyhow::Result<(Finish, String)> {
        let (finish, steps) = tx.savepoint(|| {
            let (finish, mut steps) = self.process(event, integrations);
            let keep = matches!(finish, Finish::Processed { .. });
            if !keep {
                // What the attempt queued was undone with it.
                for step in &mut steps {
                    if step.row.take().is_some() {
                        step.text.push_str(" (undone: the attempt did not succeed)");
                    }
                }
            }
            ((finish, steps), keep)
        })?;
        let trace = serde_json::to_string(&steps).unwrap_or_else(|_| "[]".into());
        Ok((finish, trace))
    }

    /// Runs the processor for one claimed event; returns its end and its decision trace.
    fn process(
        &self,
        event: &EventDetail,
        integrations: &HashMap<String, Option<Integration>>,
    ) -> (Finish, Vec<trace::Step>) {
        let trace = Trace::default();
        let finish = self.process_traced(event, integrations, &trace);
        let attempts = event.summary.attempts;
        trace.note(match &finish {
            Finish::Processed { outcome, .. } => {
                format!("attempt {attempts}: processed: {outcome}")
            }
            Finish::Failed { error, .. } => format!("attempt {attempts}: failed: {error}"),
            Finish::Retry { error, due } => format!(
                "attempt {attempts}: {error}; tried again at {}",
                clock::rfc3339(*due)
            ),
        });
        (finish, trace.take())
    }

    fn process_traced(
        &self,
        event: &EventDetail,
        integrations: &HashMap<String, Option<Integration>>,
        trace: &Trace,
    ) -> Finish {
        let Some(Some(integration)) = integrations.get(&event.summary.integration_id) else {
            return Finish::Failed {
                error: "the integration was deleted".into(),
                at: self.config.clock.now_ms(),
            };
        };
        let attempts = event.summary.attempts;
        let processor = self.config.processors.for_type(integration.kind);
        let ctx = self.ctx(trace, event, integration);
        let result = catch_unwind(AssertUnwindSafe(|| {
            processor.process(&ctx, integration, event)
        }))
        .unwrap_or_else(|_| {
            tracing::error!(event = %event.summary.id, "processor panicked");
            Err(ProcessError::Permanent("internal error".into()))
        });
        let at = self.config.clock.now_ms();
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
        finish
    }

    /// Fails the runs past their timeout, in one transaction, and wakes the outbox for what
    /// that tells.
    fn time_out_runs(&self, now: i64) {
        let swept = self.conn.transaction(|tx| {
            let teller = crate::pipeline::runs::Teller {
                secrets: &self.config.secrets,
                public_url: &self.config.public_url,
                alert_cap: self.config.max_queued_alerts,
            };
            crate::pipeline::runs::time_out_overdue(tx, &teller, now)
        });
        match swept {
            Ok(0) => {}
            Ok(n) => {
                tracing::info!(count = n, "runs failed as timed out");
                self.config.outbox.wake();
            }
            Err(e) => tracing::warn!(error = %e, "failing timed-out runs failed"),
        }
    }

    fn prune(&self) {
        let now = self.config.clock.now_ms();
        let cutoff = now - self.config.retention.as_millis() as i64;
        let audit_cutoff = now - self.config.audit_retention.as_millis() as i64;
        // Small batches, each its own transaction, so receivers never wait long for the lock.
        let tables: [(&str, Prune, i64); 4] = [
            ("events", events::prune, cutoff),
            ("outbox rows", outbox::prune, cutoff),
            ("audit entries", db::audit::prune, audit_cutoff),
            // Kept a year, whatever the events' retention: the charts and alerts read them.
            (
                "hourly roll-ups",
                db::stats::prune,
                now - db::stats::KEEP_MS,
            ),
        ];
        for (what, prune, cutoff) in tables {
            let mut total = 0;
            loop {
                match self.conn.transaction(|tx| prune(tx, cutoff, PRUNE_BATCH)) {
                    Ok(0) => break,
                    Ok(n) => {
                        total += n;
                        crashpoint::reached(crashpoint::PRUNE_BETWEEN_BATCHES);
                    }
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
        let forget = crate::pipeline::notify::pacer::FORGET_AFTER.as_millis() as i64;
        if let Err(e) = db::slack::forget_turns(self.conn.conn(), forget) {
            tracing::warn!(error = %e, "forgetting old Slack turns failed");
        }
    }
}
