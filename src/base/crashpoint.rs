//! Named moments at which the reliability tests kill the server: mid group-commit, with events
//! PROCESSING, with an outbox row delivered but not yet recorded (a runner given its run, not
//! yet recorded as dispatched; a pull request comment posted, its id not recorded), between
//! pruning batches, in a replay.
//!
//! `PROVENANT_TEST_CRASH_AT=<point>:<n>` holds the thread that reaches `<point>` for the n-th
//! time right there, and says so on stderr (`crash point reached: <point>`); the test then
//! kills the process with SIGKILL. The rest of the server keeps running until the kill, as it
//! would during a real crash. Unset (always, outside that test), a crash point costs a load.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

pub const ENV_VAR: &str = "PROVENANT_TEST_CRASH_AT";

/// Every crash point, for the test and for checking the setting.
pub const POINTS: &[&str] = &[
    WRITER_BEFORE_COMMIT,
    WRITER_BEFORE_ACK,
    WORKER_BEFORE_COMMIT,
    OUTBOX_IN_FLIGHT,
    DISPATCH_IN_FLIGHT,
    COMMENT_IN_FLIGHT,
    PRUNE_BETWEEN_BATCHES,
    REPLAY_QUEUED,
];
/// The delivery writer has inserted a batch and not committed it.
pub const WRITER_BEFORE_COMMIT: &str = "writer.before-commit";
/// A batch is durable and its senders have not been answered.
pub const WRITER_BEFORE_ACK: &str = "writer.before-ack";
/// Claimed events are PROCESSING; their effects are written and not committed.
pub const WORKER_BEFORE_COMMIT: &str = "worker.before-commit";
/// A remote has answered an outbox row that is still SENDING in the database.
pub const OUTBOX_IN_FLIGHT: &str = "outbox.in-flight";
/// An HTTP runner has taken a run (it answered its DISPATCH row), which is still SENDING in
/// the database: dispatched, not recorded.
pub const DISPATCH_IN_FLIGHT: &str = "dispatch.in-flight";
/// GitHub or GitLab has created a pull request's results comment (it answered its PR_COMMENT
/// row), which is still SENDING in the database: posted, its id not recorded.
pub const COMMENT_IN_FLIGHT: &str = "comment.in-flight";
/// Retention pruning has deleted one batch of old events and has more to go.
pub const PRUNE_BETWEEN_BATCHES: &str = "prune.between-batches";
/// A replay (one event's `…/retry`, or a batch of a replay by filter) is committed, and
/// neither answered nor handed to the worker.
pub const REPLAY_QUEUED: &str = "replay.queued";

struct Armed {
    point: String,
    /// Hits left before holding; 0 once held.
    remaining: AtomicU64,
}

static ARMED: OnceLock<Option<Armed>> = OnceLock::new();

fn armed() -> Option<&'static Armed> {
    ARMED
        .get_or_init(|| {
            let value = std::env::var(ENV_VAR).ok()?;
            let parsed = parse(&value);
            match &parsed {
                Some(a) => tracing::warn!(
                    "{ENV_VAR} is set: this server stops at crash point {} (hit {}); it is a test setting",
                    a.point,
                    a.remaining.load(Ordering::Relaxed)
                ),
                None => tracing::warn!("{ENV_VAR}=`{value}` is not <point>:<n>; ignored"),
            }
            parsed
        })
        .as_ref()
}

fn parse(value: &str) -> Option<Armed> {
    let (point, n) = value.rsplit_once(':')?;
    let n: u64 = n.parse().ok().filter(|n| *n > 0)?;
    POINTS.contains(&point).then(|| Armed {
        point: point.to_string(),
        remaining: AtomicU64::new(n),
    })
}

/// Marks a dangerous moment. When the test armed this point and this is its hit, the calling
/// thread stops here for good.
pub fn reached(point: &'static str) {
    let Some(armed) = armed() else { return };
    if armed.point != point {
        return;
    }
    let before = armed
        .remaining
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
    if before == Ok(1) {
        eprintln!("crash point reached: {point}");
        loop {
            std::thread::park();
        }
    }
}

/// Reads the setting at start, so a typo is reported before anything happens.
pub fn check_setting() {
    let _ = armed();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_setting_names_a_known_point_and_a_positive_hit() {
        let armed = parse("worker.before-commit:3").expect("valid");
        assert_eq!(armed.point, WORKER_BEFORE_COMMIT);
        assert_eq!(armed.remaining.load(Ordering::Relaxed), 3);
        assert!(parse("worker.before-commit:0").is_none());
        assert!(parse("worker.before-commit").is_none());
        assert!(parse("nowhere:1").is_none());
    }
}
