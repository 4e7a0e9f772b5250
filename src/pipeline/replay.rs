//! Replays by filter, paced: a background task re-queues each unfinished replay's matching
//! events a batch at a time, so replaying thousands of events never floods the worker or the
//! outbox. Progress is in the database (`replays`), so a restart resumes where it stopped.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, watch};

use crate::db::{self, replays};
use crate::pipeline::ctx::Ctx;

/// Events re-queued per batch.
pub const BATCH: u32 = 100;
/// Pause between batches: at most 500 events a second are re-queued.
pub const PACE: Duration = Duration::from_millis(200);
/// Longest sleep with nothing to do (a new replay wakes the task at once).
const IDLE: Duration = Duration::from_secs(5);

/// Wakes the replay task when a replay was started.
#[derive(Clone, Default)]
pub struct ReplayWaker(Arc<Notify>);

impl ReplayWaker {
    pub fn wake(&self) {
        self.0.notify_one();
    }
}

/// Runs until `stop` turns true; `waker` is the handle the API wakes it with.
pub async fn run(state: Arc<Ctx>, waker: ReplayWaker, mut stop: watch::Receiver<bool>) {
    loop {
        if *stop.borrow() {
            return;
        }
        let wait = match step(&state).await {
            Ok(true) => PACE,
            Ok(false) => IDLE,
            Err(e) => {
                tracing::warn!(error = %e, "a replay batch failed; trying again");
                Duration::from_secs(1)
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = waker.0.notified() => {}
            _ = stop.changed() => {}
        }
    }
}

/// Handles one batch of the oldest unfinished replay; false when there was none.
async fn step(state: &Ctx) -> crate::base::error::AppResult<bool> {
    // Replays are a duty of the cluster: only the node that holds the duties advances them.
    let Some(fence) = state.node.lead() else {
        return Ok(false);
    };
    let Some(replay) = db::run(&state.pool, replays::next_unfinished).await? else {
        return Ok(false);
    };
    let now = state.clock.now_ms();
    let node = state.node.clone();
    let requeued = db::write(&state.pool, &state.write_gate, move |tx| {
        // Checked where it acts: a node whose hold ran out (and was taken over) re-queues
        // nothing, so no batch is replayed twice.
        if !db::cluster::holds_lead(tx, &node.claim_token, fence)? {
            return Ok(0);
        }
        replays::advance(tx, &replay, BATCH, now)
    })
    .await?;
    crate::base::crashpoint::reached(crate::base::crashpoint::REPLAY_QUEUED);
    if requeued > 0 {
        state.wake_worker();
    }
    Ok(true)
}
