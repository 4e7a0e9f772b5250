//! Slack accepts about one message per second per incoming-webhook URL (and per channel for a
//! bot token). The outbox takes each URL's turn here before sending, so the limit holds even
//! when two SLACK integrations share a URL, or one integration has several queues.
//!
//! Messages about eval runs and deployments go first: when one of them finds the turn taken,
//! the next turn is kept for it, and alerts (which queue apart, per source) wait. A flood of
//! alerts therefore delays a run's message by about one second at most.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub const SLACK_SPACING: Duration = Duration::from_secs(1);
/// Past this many remembered URLs, ones not used within the spacing are forgotten.
const FORGET_AFTER: usize = 1024;
/// How long a turn is kept for an urgent message that was refused one: it comes back within
/// the spacing; if it does not (deleted meanwhile), the others are not held up for long.
const KEEP_FOR_URGENT: Duration = Duration::from_secs(3);

#[derive(Default)]
struct Turns {
    last: Option<Instant>,
    /// An urgent message found the turn taken at this moment and will come back for the next.
    urgent_waiting: Option<Instant>,
}

#[derive(Default)]
pub struct SlackPacer {
    turns: Mutex<HashMap<String, Turns>>,
}

impl SlackPacer {
    /// Takes `key`'s turn if it is free now; otherwise says how long until it is. An urgent
    /// message (about an eval run or a deployment) is given the next turn before any other.
    pub fn try_take(&self, key: &str, urgent: bool) -> Result<(), Duration> {
        let Ok(mut turns) = self.turns.lock() else {
            // A panic elsewhere poisoned the map: sending without pacing beats not sending.
            return Ok(());
        };
        let now = Instant::now();
        if turns.len() >= FORGET_AFTER {
            turns.retain(|_, t| {
                t.last
                    .is_some_and(|at| now.duration_since(at) < KEEP_FOR_URGENT)
            });
        }
        let t = turns.entry(key.to_string()).or_default();
        if let Some(at) = t.last {
            let since = now.duration_since(at);
            if since < SLACK_SPACING {
                if urgent {
                    t.urgent_waiting = Some(now);
                }
                return Err(SLACK_SPACING - since);
            }
        }
        let held = t
            .urgent_waiting
            .is_some_and(|at| now.duration_since(at) < KEEP_FOR_URGENT);
        if held && !urgent {
            return Err(SLACK_SPACING);
        }
        t.last = Some(now);
        if urgent {
            t.urgent_waiting = None;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_turn_per_url_per_second() {
        let pacer = SlackPacer::default();
        assert!(pacer.try_take("a", false).is_ok());
        let wait = pacer.try_take("a", false).expect_err("busy");
        assert!(wait <= SLACK_SPACING && wait > Duration::from_millis(900));
        assert!(
            pacer.try_take("b", false).is_ok(),
            "another URL is not delayed"
        );
    }

    #[test]
    fn an_urgent_message_refused_a_turn_gets_the_next_one() {
        let pacer = SlackPacer::default();
        assert!(pacer.try_take("a", false).is_ok());
        assert!(pacer.try_take("a", true).is_err(), "the turn is taken");
        std::thread::sleep(SLACK_SPACING + Duration::from_millis(20));
        // The alert that comes first now must wait; the urgent one takes the turn.
        assert!(pacer.try_take("a", false).is_err());
        assert!(pacer.try_take("a", true).is_ok());
        std::thread::sleep(SLACK_SPACING + Duration::from_millis(20));
        assert!(pacer.try_take("a", false).is_ok(), "then alerts go on");
    }
}
