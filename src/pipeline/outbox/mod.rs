//! The outbox's delivery: one dispatcher thread and a pool of sender threads.
//!
//! The dispatcher owns the outbox's database connection. It takes the head of each
//! destination's queue when it is due (one request in flight per destination, in order),
//! prepares it, and hands it to a sender; senders only speak HTTP and hand the answer back;
//! the dispatcher records it, schedules retries, and pauses a destination that the remote
//! rate-limits. A stalled remote occupies one sender and delays only its own destination;
//! processing never waits on any of it.

mod comments;
pub mod prepare;
pub mod prepared;
mod runner;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::Context;

use self::prepare::prepare;
use self::prepared::{Env, Prepared, Remote};
use crate::base::clock::Clock;
use crate::base::crashpoint;
use crate::base::metrics::Metrics;
use crate::base::retry;
use crate::db::SyncMode;
use crate::db::outbox::{self, Finish, OutboxRow};
use crate::db::stats::{self, DestinationCounts};
use crate::db::{self, runs};
use crate::domain::hosts::AllowedHosts;
use crate::domain::model::OutboxKind;
use crate::domain::secrets::SecretBox;
use crate::pipeline::notify::pacer::{self, Turn};
use crate::remote::create_once::{self, CreateOnce};
use crate::remote::forge::Forge;
use crate::remote::github_app::{self, AppAuth, InstallationTokens};
use crate::remote::{self, Answer, Request};

/// Longest sleep when nothing is due: a safety net, since queuing wakes the dispatcher.
const IDLE_POLL: Duration = Duration::from_secs(2);
/// Pause after a database error, so a broken disk does not spin the CPU.
const ERROR_PAUSE: Duration = Duration::from_secs(1);
/// How long a stop waits for requests in flight before leaving them to the next start.
const STOP_GRACE: Duration = Duration::from_secs(5);

pub struct OutboxConfig {
    pub database: db::Location,
    pub http: ureq::Agent,
    pub secrets: Arc<SecretBox>,
    pub retry_schedule: Vec<Duration>,
    /// Requests in flight at once, across destinations.
    pub senders: usize,
    pub metrics: Arc<Metrics>,
    pub clock: Clock,
    /// The hosts whose answers may be kept and shown.
    pub allowed_hosts: Arc<AllowedHosts>,
    /// This node's claim token: the rows it sends carry it.
    pub claim_token: String,
    /// GitHub Apps' installation tokens, kept in memory.
    pub app_tokens: Arc<InstallationTokens>,
    /// This server's public base URL: an HTTP runner's callback points under it.
    pub public_url: String,
    /// Alerts one source may have waiting for one Slack integration (`--max-queued-alerts`):
    /// a failed dispatch announces its run's end.
    pub max_queued_alerts: usize,
}

enum Msg {
    Wake,
    Done(Box<Done>),
}

struct Job {
    row: OutboxRow,
    request: Request,
    remote: Remote,
    /// Sent as a GitHub App's installation.
    app: Option<AppAuth>,
    /// A check run to create only if GitHub does not have it yet.
    once: Option<CreateOnce>,
    /// Slack's turn for the URL, held until the answer is back.
    turn: Option<Turn>,
}

struct Done {
    row: OutboxRow,
    remote: Remote,
    answer: Answer,
    turn: Option<Turn>,
    /// The URL the request went to, as it may be shown (a Slack webhook URL masked).
    url: String,
}

/// Wakes the dispatcher when rows were queued.
#[derive(Clone)]
pub struct OutboxHandle {
    tx: Sender<Msg>,
}

impl OutboxHandle {
    pub fn wake(&self) {
        let _ = self.tx.send(Msg::Wake);
    }
}

pub struct OutboxThread {
    stop: Arc<AtomicBool>,
    handle: OutboxHandle,
    thread: JoinHandle<()>,
}

impl OutboxThread {
    /// Stops claiming, waits a little for requests in flight, and returns. Rows still in
    /// flight are sent again at the next start.
    pub fn stop(self) {
        self.stop.store(true, Ordering::SeqCst);
        self.handle.wake();
        if self.thread.join().is_err() {
            tracing::error!("the outbox dispatcher panicked");
        }
    }
}

struct Dispatcher {
    conn: db::Connection,
    config: OutboxConfig,
    rx: Receiver<Msg>,
    jobs: Sender<Job>,
    /// Rows handed to a sender and not yet answered.
    in_flight: HashSet<i64>,
    /// A write failed: some row may be left SENDING with nobody sending it.
    needs_heal: bool,
}

/// Starts the dispatcher and its senders (a start puts back what its previous run left
/// SENDING with [`crate::pipeline::cluster::join`] first).
pub fn start(config: OutboxConfig) -> anyhow::Result<(OutboxHandle, OutboxThread)> {
    let conn = db::Connection::open(&config.database, SyncMode::Normal)?;
    let (tx, rx) = mpsc::channel();
    let (jobs, job_rx) = mpsc::channel::<Job>();
    let job_rx = Arc::new(Mutex::new(job_rx));
    for n in 0..config.senders.max(1) {
        let (job_rx, done) = (job_rx.clone(), tx.clone());
        let (http, clock) = (config.http.clone(), config.clock.clone());
        let tokens = config.app_tokens.clone();
        std::thread::Builder::new()
            .name(format!("outbox-sender-{n}"))
            .spawn(move || send_loop(&job_rx, &done, &http, &clock, &tokens))
            .context("starting an outbox sender")?;
    }
    let handle = OutboxHandle { tx };
    {
        // After a jump of the clock, what was waiting may be due.
        let handle = handle.clone();
        config.clock.on_jump(move || handle.wake());
    }
    let stop = Arc::new(AtomicBool::new(false));
    let dispatcher = Dispatcher {
        conn,
        config,
        rx,
        jobs,
        in_flight: HashSet::new(),
        needs_heal: false,
    };
    let thread = {
        let stop = stop.clone();
        std::thread::Builder::new()
            .name("outbox-dispatcher".into())
            .spawn(move || dispatcher.run(&stop))
            .context("starting the outbox dispatcher")?
    };
    // Rows left from before this start may be due now.
    handle.wake();
    Ok((
        handle.clone(),
        OutboxThread {
            stop,
            handle,
            thread,
        },
    ))
}

/// A sender: takes a job, speaks HTTP, hands the answer back. Ends when the dispatcher does.
fn send_loop(
    jobs: &Mutex<Receiver<Job>>,
    done: &Sender<Msg>,
    http: &ureq::Agent,
    clock: &Clock,
    tokens: &InstallationTokens,
) {
    loop {
        let job = match jobs.lock() {
            Ok(jobs) => jobs.recv(),
            Err(_) => return,
        };
        let Ok(job) = job else { return };
        let now = clock.now_ms();
        let read = |reply| match job.remote {
            Remote::Forge(forge) => forge.read(reply, now),
            Remote::Slack => remote::slack::read(reply),
            Remote::SlackApi => remote::slack::read_api(reply),
            Remote::Runner => remote::read_plain("Runner", reply),
        };
        let answer = match (&job.app, &job.once) {
            (Some(app), Some(once)) => {
                github_app::send_creating_once(http, tokens, app, once, &job.request, now, read)
            }
            (Some(app), None) => github_app::send(http, tokens, app, &job.request, now, read),
            (None, Some(once)) => create_once::send_creating_once(once, &job.request, |r| {
                remote::send(http, r, now, read)
            }),
            (None, None) => remote::send(http, &job.request, now, read),
        };
        crashpoint::reached(crashpoint::OUTBOX_IN_FLIGHT);
        if job.row.kind == OutboxKind::Dispatch {
            crashpoint::reached(crashpoint::DISPATCH_IN_FLIGHT);
        }
        if job.row.kind == OutboxKind::PrComment {
            crashpoint::reached(crashpoint::COMMENT_IN_FLIGHT);
        }
        if done
            .send(Msg::Done(Box::new(Done {
                url: if job.request.url_is_secret {
                    crate::domain::masking::mask_url(&job.request.url)
                } else {
                    job.request.url.clone()
                },
                row: job.row,
                remote: job.remote,
                answer,
                turn: job.turn,
            })))
            .is_err()
        {
            return;
        }
    }
}

impl Dispatcher {
    fn run(mut self, stop: &AtomicBool) {
        let mut stopping_since: Option<Instant> = None;
        loop {
            if stop.load(Ordering::SeqCst) {
                let since = *stopping_since.get_or_insert_with(Instant::now);
                if self.in_flight.is_empty() || since.elapsed() >= STOP_GRACE {
                    break;
                }
            } else {
                if self.conn.reconnect_if_lost() {
                    // A row recorded SENT just before PostgreSQL went away may be SENDING again
                    // under this node's claim, and would hold its destination's queue.
                    self.needs_heal = true;
                }
                if self.needs_heal {
                    self.heal();
                }
                if let Err(e) = self.dispatch() {
                    tracing::error!(error = %e, "outbox dispatch failed; pausing");
                    self.needs_heal = true;
                    std::thread::sleep(ERROR_PAUSE);
                }
            }
            let wait = if stopping_since.is_some() {
                Duration::from_millis(50)
            } else {
                self.idle_wait()
            };
            match self.rx.recv_timeout(wait) {
                Ok(msg) => self.handle(msg),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
            while let Ok(msg) = self.rx.try_recv() {
                self.handle(msg);
            }
        }
        if !self.in_flight.is_empty() {
            // Nothing is left SENDING in the database: the rows go back to their queues now
            // (their answers, should they still come, are not waited for).
            let requeued = outbox::requeue_claims(self.conn.conn(), &self.config.claim_token);
            tracing::warn!(
                rows = self.in_flight.len(),
                requeued = ?requeued.as_ref().ok(),
                "stopping with outbox rows in flight; they are sent again at the next start"
            );
        }
        tracing::debug!("outbox dispatcher stopped");
    }

    fn handle(&mut self, msg: Msg) {
        if let Msg::Done(done) = msg {
            self.in_flight.remove(&done.row.seq);
            let result = match done.answer {
                Answer::Accepted { .. } => "accepted",
                Answer::Retry { .. } => "retry",
                Answer::Pause { .. } => "paused",
                Answer::Refused { .. } => "refused",
            };
            self.config.metrics.outbound(done.remote.label(), result);
            if let Some(turn) = &done.turn
                && let Err(e) = pacer::end(self.conn.conn(), turn)
            {
                // The turn's hold runs out by itself; the URL waits a little longer.
                tracing::warn!(error = %e, "ending a Slack turn failed");
            }
            let finish = self.finish_for(&done.row, &done.answer);
            if let Err(e) = self.record(&done.row, &finish, Some((&done.answer, &done.url))) {
                // The row stays SENDING until healed: it is sent again (at-least-once).
                tracing::error!(error = %e, row = %done.row.id, "recording an outbox answer failed");
                self.needs_heal = true;
            }
        }
    }

    /// Puts back in their queues the rows left SENDING by a failed write, so their
    /// destinations do not wait for a restart.
    fn heal(&mut self) {
        match outbox::requeue_claims_except(
            self.conn.conn(),
            &self.config.claim_token,
            &self.in_flight,
        ) {
            Ok(n) => {
                if n > 0 {
                    tracing::warn!(rows = n, "re-queued outbox rows after a storage error");
                }
                self.needs_heal = false;
            }
            Err(e) => tracing::error!(error = %e, "re-queueing outbox rows failed"),
        }
    }

    /// Claims what is due and hands it to the senders.
    fn dispatch(&mut self) -> anyhow::Result<()> {
        let free = self
            .config
            .senders
            .max(1)
            .saturating_sub(self.in_flight.len());
        let now = self.config.clock.now_ms();
        let claimed = self
            .conn
            .transaction(|tx| outbox::claim_heads(tx, now, free, &self.config.claim_token))?;
        for row in claimed {
            let env = Env {
                secrets: &self.config.secrets,
                allowed: &self.config.allowed_hosts,
                public_url: &self.config.public_url,
            };
            let prepared = prepare(self.conn.conn(), &env, &row, now);
            match prepared {
                Ok(Prepared::Send(request, remote, turn)) => {
                    self.hand_over(row, request, remote, None, None, turn)?
                }
                Ok(Prepared::SendCreatingOnce(request, remote, once)) => {
                    self.hand_over(row, request, remote, None, Some(once), None)?
                }
                Ok(Prepared::SendAsApp(request, app, once)) => self.hand_over(
                    row,
                    request,
                    Remote::Forge(Forge::Github),
                    Some(app),
                    once,
                    None,
                )?,
                Ok(Prepared::Settled(finish)) => self.record(&row, &finish, None)?,
                Err(e) => {
                    let finish = Finish::Again {
                        error: format!("storage: {e}"),
                        status: None,
                        due: now + ERROR_PAUSE.as_millis() as i64,
                        counted: false,
                    };
                    self.record(&row, &finish, None)?;
                }
            }
        }
        Ok(())
    }

    fn hand_over(
        &mut self,
        row: OutboxRow,
        request: Request,
        remote: Remote,
        app: Option<AppAuth>,
        once: Option<CreateOnce>,
        turn: Option<Turn>,
    ) -> anyhow::Result<()> {
        self.in_flight.insert(row.seq);
        let job = Job {
            row,
            request,
            remote,
            app,
            once,
            turn,
        };
        if self.jobs.send(job).is_err() {
            anyhow::bail!("the outbox senders have stopped");
        }
        Ok(())
    }

    /// What an answer means for the row: done, again later (by the retry schedule, or after
    /// the destination's pause), or failed for good.
    fn finish_for(&self, row: &OutboxRow, answer: &Answer) -> Finish {
        let now = self.config.clock.now_ms();
        match answer {
            // What a remote says on success is not kept (see `remote::accepted`): the excerpt
            // is only ever a note of ours, such as a check run found instead of created.
            Answer::Accepted {
                status, excerpt, ..
            } => Finish::Sent {
                status: *status,
                excerpt: excerpt.clone(),
            },
            // A rate limit is not the row's failure: it waits, however long, and never gives up.
            Answer::Pause {
                status,
                error,
                wait,
            } => Finish::Again {
                error: error.clone(),
                status: Some(*status),
                due: now + wait.as_millis() as i64,
                counted: true,
            },
            Answer::Retry {
                status,
                error,
                after,
            } => {
                let attempts = row.attempts + 1;
                match retry::delay(&self.config.retry_schedule, attempts, *after) {
                    Some(delay) => Finish::Again {
                        error: error.clone(),
                        status: *status,
                        due: now + delay.as_millis() as i64,
                        counted: true,
                    },
                    None => Finish::Failed {
                        error: format!("gave up after {attempts} attempts: {error}"),
                        status: *status,
                    },
                }
            }
            Answer::Refused { status, error } => Finish::Failed {
                error: error.clone(),
                status: *status,
            },
        }
    }

    /// Writes a row's end, its destination's pause or recovery, and what an answer (to a
    /// request sent to the URL beside it) created.
    fn record(
        &self,
        row: &OutboxRow,
        finish: &Finish,
        sent: Option<(&Answer, &str)>,
    ) -> anyhow::Result<()> {
        let now = self.config.clock.now_ms();
        let (answer, called_url) = (sent.map(|(a, _)| a), sent.map(|(_, url)| url));
        self.conn.transaction(|tx| -> anyhow::Result<()> {
            // A results comment someone deleted: created again at once, instead of failing.
            let again;
            let finish = match (row.kind, answer) {
                (
                    OutboxKind::PrComment,
                    Some(Answer::Refused {
                        status: Some(404), ..
                    }),
                ) if comments::forget_deleted(tx, row)? => {
                    again = Finish::Again {
                        error: "the comment was deleted: it is created again".into(),
                        status: Some(404),
                        due: now,
                        counted: true,
                    };
                    &again
                }
                _ => finish,
            };
            outbox::finish(
                tx,
                row.seq,
                finish,
                called_url,
                now,
                &self.config.claim_token,
            )?;
            // A runner that was never given its run: the run fails with why, and says so.
            let asked = row.event_type.as_deref().unwrap_or_default();
            if let (OutboxKind::Dispatch, Finish::Failed { error, .. }, Some(run_id)) =
                (row.kind, finish, row.subject_id.as_deref())
                && asked != crate::pipeline::report::DISPATCH_CANCELLED
                && let Some(kind) = crate::pipeline::report::dispatched_kind(asked)
            {
                let teller = crate::pipeline::runs::Teller {
                    secrets: &self.config.secrets,
                    public_url: &self.config.public_url,
                    alert_cap: self.config.max_queued_alerts,
                };
                crate::pipeline::runs::dispatch_failed(tx, &teller, kind, run_id, error, now)?;
            }
            let counts = match finish {
                Finish::Sent { .. } => Some(DestinationCounts {
                    sent: 1,
                    ..Default::default()
                }),
                Finish::Failed { .. } => Some(DestinationCounts {
                    failed: 1,
                    ..Default::default()
                }),
                Finish::Again { counted: true, .. } => Some(DestinationCounts {
                    retried: 1,
                    ..Default::default()
                }),
                // Waiting its turn (Slack's second) is no attempt.
                Finish::Again { counted: false, .. } => None,
            };
            if let Some(counts) = counts {
                stats::add_destination(tx, &row.destination, now, &counts)?;
            }
            if matches!(answer, Some(Answer::Retry { .. } | Answer::Refused { .. })) {
                outbox::mark_failing(tx, &row.destination, now)?;
            }
            match answer {
                Some(Answer::Pause { error, wait, .. }) => {
                    let until = now + wait.as_millis() as i64;
                    if let Some((from, until)) =
                        outbox::pause(tx, &row.destination, until, error, now)?
                    {
                        stats::add_pause(tx, &row.destination, from, until)?;
                    }
                }
                Some(Answer::Accepted { body, .. }) => {
                    outbox::resume(tx, &row.destination)?;
                    // A message posted with a bot token: later statuses update it, and it opens its
                    // pull request's thread (a webhook's `ok` carries no `ts`).
                    if row.kind == OutboxKind::SlackMessage
                        && let Ok(answer) = serde_json::from_str::<serde_json::Value>(body)
                        && let (Some(channel), Some(ts)) =
                            (answer["channel"].as_str(), answer["ts"].as_str())
                    {
                        crate::db::slack::record(
                            tx,
                            &row.integration_id,
                            row.subject_id.as_deref(),
                            prepare::thread_key(row).as_deref(),
                            channel,
                            ts,
                        )?;
                    }
                    if row.kind == OutboxKind::PrComment {
                        comments::remember(tx, row, body)?;
                    }
                    // What GitHub created (a deployment, a check run): later rows update it.
                    if matches!(row.kind, OutboxKind::Deployment | OutboxKind::CheckRun)
                        && let Some(subject) = &row.subject_id
                        && let Some(id) = serde_json::from_str::<serde_json::Value>(body)
                            .ok()
                            .and_then(|v| {
                                v.get("id")
                                    .map(|id| id.to_string().trim_matches('"').to_string())
                            })
                    {
                        if row.kind == OutboxKind::Deployment {
                            runs::set_remote_id(tx, subject, &id)?;
                        } else {
                            runs::set_check_run_id(tx, subject, &id)?;
                        }
                    }
                }
                _ => {}
            }
            Ok(())
        })
    }

    /// Until the next row falls due (a retry, a pause ending), at most `IDLE_POLL`. With every
    /// sender busy, until one hands an answer back.
    fn idle_wait(&self) -> Duration {
        if self.in_flight.len() >= self.config.senders.max(1) {
            return IDLE_POLL;
        }
        match outbox::next_due_at(self.conn.conn()).ok().flatten() {
            Some(due) => {
                let ms = (due - self.config.clock.now_ms()).clamp(1, IDLE_POLL.as_millis() as i64);
                Duration::from_millis(ms as u64)
            }
            None => IDLE_POLL,
        }
    }
}
