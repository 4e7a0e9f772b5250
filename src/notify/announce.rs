//! Announcing an event: one queued notification per active SLACK integration whose `events`
//! filter matches. Delivery happens later, on the worker.

use rusqlite::Connection;
use serde_json::{Map, Value};

use crate::db::{integrations, notifications};
use crate::error::AppResult;
use crate::model::{self, IntegrationType, NotificationStatus};

/// Something worth telling people about.
#[derive(Debug, Clone)]
pub struct Announcement {
    /// `eval_run.triggered`, `promotion.succeeded`, `drift.critical` …
    pub event_type: String,
    /// Names what is announced, so announcing it again sends nothing new.
    pub dedupe_key: String,
    pub source_event_id: Option<String>,
    /// What the message says: repo, pr, sha, branch, title, url, author, environment, message.
    pub facts: Map<String, Value>,
}

/// `drift.*` matches `drift.critical`; anything else must match exactly.
pub fn pattern_matches(pattern: &str, event_type: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => event_type.starts_with(prefix),
        None => pattern == event_type,
    }
}

/// Queues the announcement for every matching SLACK integration; returns how many.
pub fn announce(conn: &Connection, a: &Announcement, now: i64) -> AppResult<usize> {
    let mut queued = 0;
    for slack in integrations::list_active_of_type(conn, IntegrationType::Slack)? {
        if !slack.settings.wants(&a.event_type) {
            continue;
        }
        let added = notifications::insert(
            conn,
            &notifications::Notification {
                seq: 0,
                id: model::new_id(),
                integration_id: slack.id,
                event_type: a.event_type.clone(),
                dedupe_key: a.dedupe_key.clone(),
                source_event_id: a.source_event_id.clone(),
                facts: Value::Object(a.facts.clone()),
                status: NotificationStatus::Pending,
                attempts: 0,
                last_error: None,
                next_attempt_at: None,
                created_at: now,
                sent_at: None,
            },
        )?;
        queued += usize::from(added);
    }
    Ok(queued)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_are_exact_or_trailing_star() {
        assert!(pattern_matches("drift.*", "drift.critical"));
        assert!(pattern_matches("drift.critical", "drift.critical"));
        assert!(!pattern_matches("drift.critical", "drift.high"));
        assert!(!pattern_matches("drift.*", "violation.high"));
        assert!(pattern_matches("*", "anything"));
    }
}
