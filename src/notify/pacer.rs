//! Slack accepts about one message per second per incoming-webhook URL. The outbox takes each
//! URL's turn here before sending, so the limit holds even when two SLACK integrations share a
//! URL (each integration is its own destination).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub const SLACK_SPACING: Duration = Duration::from_secs(1);
/// Past this many remembered URLs, ones not used within the spacing are forgotten.
const FORGET_AFTER: usize = 1024;

#[derive(Default)]
pub struct SlackPacer {
    last: Mutex<HashMap<String, Instant>>,
}

impl SlackPacer {
    /// Takes `url`'s turn if it is free now; otherwise says how long until it is.
    pub fn try_take(&self, url: &str) -> Result<(), Duration> {
        let Ok(mut last) = self.last.lock() else {
            // A panic elsewhere poisoned the map: sending without pacing beats not sending.
            return Ok(());
        };
        let now = Instant::now();
        if let Some(at) = last.get(url) {
            let since = now.duration_since(*at);
            if since < SLACK_SPACING {
                return Err(SLACK_SPACING - since);
            }
        }
        if last.len() >= FORGET_AFTER {
            last.retain(|_, at| now.duration_since(*at) < SLACK_SPACING);
        }
        last.insert(url.to_string(), now);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_turn_per_url_per_second() {
        let pacer = SlackPacer::default();
        assert!(pacer.try_take("a").is_ok());
        let wait = pacer.try_take("a").expect_err("busy");
        assert!(wait <= SLACK_SPACING && wait > Duration::from_millis(900));
        assert!(pacer.try_take("b").is_ok(), "another URL is not delayed");
    }
}
