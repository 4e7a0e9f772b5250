//! Announcing an event: one queued Slack message (an outbox row) per active SLACK integration
//! whose `events` filter matches. The outbox delivers it later.

use crate::db::Conn;
use crate::domain::checked::pattern_matches;
use serde_json::{Map, Value, json};

use crate::base::error::AppResult;
use crate::db::integrations::{self, Integration};
use crate::db::outbox::{self, NewRow};
use crate::db::runs::{Deployment, EvalRun};
use crate::domain::model::{self, IntegrationType, OutboxKind};
use crate::pipeline::report::slack_destination;

/// Something worth telling people about.
#[derive(Debug, Clone)]
pub struct Announcement {
    /// `eval_run.triggered`, `promotion.succeeded`, `drift.critical` …
    pub event_type: String,
    /// Names what is announced, so announcing it again sends nothing new.
    pub dedupe_key: String,
    pub source_event_id: Option<String>,
    /// The eval run or deployment it is about: with a Slack bot token, one message per
    /// subject, updated in place.
    pub subject_id: Option<String>,
    /// What the message says: repo, pr, sha, branch, title, url, author, environment, message.
    pub facts: Map<String, Value>,
    /// For an alert forwarded from a WEBHOOK integration: that integration. Its alerts queue
    /// on their own for each Slack integration, behind nobody else's, and past a cap are
    /// folded into one "N more alerts" message (see [`announce_to`]). None: a message about an
    /// eval run or a deployment, which goes first.
    pub from: Option<Source>,
}

/// Where an alert comes from.
#[derive(Debug, Clone)]
pub struct Source {
    pub integration_id: String,
    pub name: String,
}

/// Alerts a source may have waiting for one Slack integration before further ones are folded
/// into a single message, by default (`--max-queued-alerts`).
pub const DEFAULT_MAX_QUEUED_ALERTS: usize = 100;

/// Queues the announcement for every matching SLACK integration; returns how many.
pub fn announce(conn: Conn<'_>, a: &Announcement, now: i64, cap: usize) -> AppResult<usize> {
    let listeners = listeners(conn, &a.event_type)?;
    announce_to(conn, listeners, a, now, cap)
}

/// Why `integration` takes `event_type` or not, for a decision trace.
pub fn why(integration: &Integration, event_type: &str) -> String {
    let name = crate::domain::trace::quoted(&integration.name);
    let wanted = crate::domain::trace::quoted(event_type);
    match integration.settings.event_patterns() {
        None => format!("{name} takes every event, {wanted} included"),
        Some(patterns) => {
            let list = patterns.join(", ");
            match patterns.iter().find(|p| pattern_matches(p, event_type)) {
                Some(p) => format!("{wanted} matches `{p}` of {name} (events: {list})"),
                None => format!("{wanted} matches no pattern of {name} (events: {list})"),
            }
        }
    }
}

/// Notes in `trace` which active Slack integrations take `event_type` and which do not, and
/// why; returns those that take it.
pub fn listeners_traced(
    conn: Conn<'_>,
    event_type: &str,
    trace: &crate::domain::trace::Trace,
) -> AppResult<Vec<Integration>> {
    let mut all = integrations::list_active_of_type(conn, IntegrationType::Slack)?;
    if all.is_empty() {
        trace.note("no active Slack integration: nothing to announce");
    }
    for slack in &all {
        trace.note(format!("Slack: {}", why(slack, event_type)));
    }
    all.retain(|slack| slack.settings.wants(event_type));
    Ok(all)
}

/// The active Slack integrations that want `event_type`.
pub fn listeners(conn: Conn<'_>, event_type: &str) -> AppResult<Vec<Integration>> {
    let mut all = integrations::list_active_of_type(conn, IntegrationType::Slack)?;
    all.retain(|slack| slack.settings.wants(event_type));
    Ok(all)
}

/// Queues the announcement for `listeners` (from [`listeners`]); returns how many rows were
/// new. An alert from a source that already has `cap` alerts waiting for a listener is not
/// queued on its own: it is counted into that source's one "N more alerts" message, which
/// waits at the end of the source's queue.
pub fn announce_to(
    conn: Conn<'_>,
    listeners: Vec<Integration>,
    a: &Announcement,
    now: i64,
    cap: usize,
) -> AppResult<usize> {
    let mut queued = 0;
    for slack in listeners {
        let destination = match &a.from {
            Some(source) => alerts_destination(&slack.id, &source.integration_id),
            None => slack_destination(&slack.id),
        };
        let mut row = NewRow {
            kind: OutboxKind::SlackMessage,
            destination,
            integration_id: slack.id,
            event_type: Some(a.event_type.clone()),
            dedupe_key: Some(a.dedupe_key.clone()),
            coalesce_key: None,
            subject_id: a.subject_id.clone(),
            source_event_id: a.source_event_id.clone(),
            request: Value::Object(a.facts.clone()),
        };
        if let Some(source) = &a.from
            && outbox::waiting_alone(conn, &row.destination, cap)? >= cap
        {
            row = folded(conn, row, source, cap, now)?;
        }
        let added = outbox::insert(conn, &row, &model::new_row_id(), now)?.is_some();
        queued += usize::from(added);
    }
    Ok(queued)
}

/// The "N more alerts from X" message that stands for `row` and the alerts folded before it
/// (their count is read from the one still waiting, which the new one replaces).
fn folded(conn: Conn<'_>, row: NewRow, source: &Source, cap: usize, now: i64) -> AppResult<NewRow> {
    let key = format!("flood:{}", source.integration_id);
    let (before, since) = match outbox::waiting_with_key(conn, &row.integration_id, &key)? {
        Some(facts) => (
            facts["folded"].as_u64().unwrap_or(0),
            facts["since"].as_i64().unwrap_or(now),
        ),
        None => (0, now),
    };
    let count = before + 1;
    let event_type = row.event_type.clone().unwrap_or_default();
    let message = format!(
        "{count} more alert{} from {} since {} UTC, not sent one by one: {cap} were already waiting to be sent. The latest: {event_type}.",
        if count == 1 { "" } else { "s" },
        crate::domain::trace::quoted(&source.name),
        crate::base::clock::rfc3339(since)
            .get(11..19)
            .unwrap_or_default(),
    );
    Ok(NewRow {
        dedupe_key: Some(format!("{key}:{since}")),
        coalesce_key: Some(key),
        subject_id: None,
        source_event_id: row.source_event_id.clone(),
        request: json!({"message": message, "folded": count, "since": since, "source": source.name}),
        ..row
    })
}

/// Where alerts from the WEBHOOK integration `source_id` queue for a SLACK integration: apart
/// from everything else, so one sender's flood delays only its own alerts.
pub fn alerts_destination(slack_id: &str, source_id: &str) -> String {
    format!("{}:alerts:{source_id}", slack_destination(slack_id))
}

/// Whether a Slack destination is an alerts queue (its messages give way to the others).
pub fn is_alerts_destination(destination: &str) -> bool {
    destination.contains(":alerts:")
}

/// Longest text kept in a notification's facts; messages are cut far shorter when sent.
pub const MAX_FACT_CHARS: usize = 4_000;

pub fn put(facts: &mut Map<String, Value>, key: &str, value: Option<Value>) {
    let value = match value {
        Some(Value::String(text)) if text.chars().count() > MAX_FACT_CHARS => {
            Some(Value::String(text.chars().take(MAX_FACT_CHARS).collect()))
        }
        other => other,
    };
    if let Some(v) = value {
        facts.insert(key.to_string(), v);
    }
}

pub fn eval_run_announcement(event_type: &str, run: &EvalRun) -> Announcement {
    let mut facts = Map::new();
    facts.insert("repo".into(), json!(run.repo));
    // A push's run (`eval.on_push`) has no pull request, nor its thread.
    put(
        &mut facts,
        "pr",
        (run.number > 0).then(|| json!(run.number)),
    );
    facts.insert("sha".into(), json!(run.head_sha));
    put(
        &mut facts,
        "branch",
        run.head_branch.clone().map(Value::from),
    );
    put(&mut facts, "title", run.title.clone().map(Value::from));
    put(&mut facts, "author", run.author.clone().map(Value::from));
    put(&mut facts, "url", run.url.clone().map(Value::from));
    Announcement {
        event_type: event_type.to_string(),
        dedupe_key: format!("{event_type}:{}", run.id),
        source_event_id: run.source_event_id.clone(),
        subject_id: Some(run.id.clone()),
        facts,
        from: None,
    }
}

pub fn deployment_announcement(event_type: &str, d: &Deployment) -> Announcement {
    let mut facts = Map::new();
    facts.insert("repo".into(), json!(d.repo));
    facts.insert("sha".into(), json!(d.commit_sha));
    facts.insert("branch".into(), json!(d.branch));
    put(&mut facts, "pr", d.pr_number.map(Value::from));
    put(&mut facts, "url", d.url.clone().map(Value::from));
    Announcement {
        event_type: event_type.to_string(),
        dedupe_key: format!("{event_type}:{}", d.id),
        source_event_id: d.source_event_id.clone(),
        subject_id: Some(d.id.clone()),
        facts,
        from: None,
    }
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
