//! Alerts: the server watches for what an operator must hear about (processing failures,
//! signature rejections, a destination failing or paused, missed deliveries found by
//! reconciling, storage refusing deliveries, a backlog that does not drain), announces each
//! condition once as `provenant.alert.<condition>` when it starts, and once more as
//! `provenant.resolved.<condition>`, with how long it lasted, when it has cleared.
//!
//! Everything it looks at is small and kept up to date as outcomes are written: minute
//! counts (`db::stats::recent`: each node counts in memory as its transactions commit and
//! writes them with its check), the destinations in trouble, the latest reconcile checks, the
//! queue's oldest event. A check reads those, compares what it sees with
//! the open alerts, and opens or resolves alerts in the same transaction that queues their
//! announcements (so an alert is announced exactly when it is opened). On several nodes the
//! node that holds the cluster's duties watches the shared conditions; each node watches its
//! own storage.

use std::time::Duration;

use serde_json::{Map, Value, json};

use crate::base::error::AppResult;
use crate::db::alerts::{self as stored, Alert};
use crate::db::sql::Conn;
use crate::db::{self, integrations, outbox, stats};
use crate::domain::model;
use crate::pipeline::ctx::Ctx;
use crate::pipeline::notify::announce::{self, Announcement};

/// The thresholds, as settings (see `config.rs`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertSettings {
    /// How often conditions are looked at; None: never (no alerts).
    pub check_every: Option<Duration>,
    /// The window failures and rejections are counted over.
    pub window: Duration,
    /// Processing failures in the window that open an alert.
    pub failures: i64,
    /// Or this share of the window's processed deliveries failing (with at least
    /// [`MIN_DELIVERIES_FOR_RATE`] of them).
    pub failure_percent: i64,
    /// Signature or token rejections in the window that open an alert.
    pub rejections: i64,
    /// How long a destination must be failing or paused.
    pub destination_after: Duration,
    /// How old the oldest unprocessed event may be.
    pub backlog_after: Duration,
}

impl Default for AlertSettings {
    fn default() -> Self {
        AlertSettings {
            check_every: Some(Duration::from_secs(15)),
            window: Duration::from_secs(600),
            failures: 5,
            failure_percent: 20,
            rejections: 10,
            destination_after: Duration::from_secs(600),
            backlog_after: Duration::from_secs(300),
        }
    }
}

/// A failure rate says little about two deliveries: below this many in the window only the
/// count of failures opens an alert.
pub const MIN_DELIVERIES_FOR_RATE: i64 = 5;

/// Resolved alerts are kept this long (for the API and the pages), then forgotten.
pub const KEEP_RESOLVED_MS: i64 = 30 * stats::DAY_MS;

/// The conditions, by their names in event types.
pub const FAILURES: &str = "failures";
pub const REJECTIONS: &str = "rejections";
pub const DESTINATION: &str = "destination";
pub const MISSED_DELIVERIES: &str = "missed_deliveries";
pub const STORAGE: &str = "storage";
pub const BACKLOG: &str = "backlog";

pub const CONDITIONS: [&str; 6] = [
    FAILURES,
    REJECTIONS,
    DESTINATION,
    MISSED_DELIVERIES,
    STORAGE,
    BACKLOG,
];

/// In people's words, for messages and the pages.
pub fn label(condition: &str) -> &'static str {
    match condition {
        FAILURES => "Processing failures",
        REJECTIONS => "Signature rejections",
        DESTINATION => "Destination failing",
        MISSED_DELIVERIES => "Missed deliveries",
        STORAGE => "Storage refusing deliveries",
        BACKLOG => "Backlog not draining",
        _ => "Alert",
    }
}

/// When this node last finished a check (Unix ms; 0: never), for `GET /api/alerts`.
#[derive(Default)]
pub struct LastCheck(std::sync::atomic::AtomicI64);

impl LastCheck {
    pub fn get(&self) -> Option<i64> {
        Some(self.0.load(std::sync::atomic::Ordering::Relaxed)).filter(|at| *at != 0)
    }

    fn set(&self, at: i64) {
        self.0.store(at, std::sync::atomic::Ordering::Relaxed);
    }
}

/// A condition seen now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    pub condition: &'static str,
    pub subject: String,
    pub subject_name: Option<String>,
    pub summary: String,
    pub link: Option<String>,
    pub since: i64,
}

/// What one check looks at besides the database.
pub struct Context<'a> {
    pub now: i64,
    pub settings: &'a AlertSettings,
    pub public_url: &'a str,
    pub node_id: &'a str,
    /// Whether this node holds the cluster's duties (and so watches the shared conditions).
    pub lead: bool,
    /// This node's refused delivery, while storage refuses them: when, and why.
    pub refusing: Option<(i64, String)>,
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// `12 min`, `3 h 5 min`, `40 s`.
pub fn duration_text(ms: i64) -> String {
    let secs = ms.max(0) / 1000;
    match secs {
        0..=59 => format!("{secs} s"),
        60..=3599 => format!("{} min", secs / 60),
        _ => match (secs / 3600, secs % 3600 / 60) {
            (h, 0) => format!("{h} h"),
            (h, m) => format!("{h} h {m} min"),
        },
    }
}

fn plural(n: i64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// Who a destination key stands for: a Slack integration by name, a forge by its host.
fn destination_name(key: &str, all: &[integrations::Integration]) -> Option<String> {
    let mut parts = key.split(':');
    match (parts.next(), parts.next()) {
        (Some("slack"), Some(id)) => all
            .iter()
            .find(|i| i.id == id)
            .map(|i| format!("Slack: {}", i.name)),
        (Some("github"), Some(host)) => Some(format!("GitHub at {host}")),
        (Some("gitlab"), Some(host)) => Some(format!("GitLab at {host}")),
        _ => None,
    }
}

/// Every condition that holds now, of those this node watches.
pub fn look(conn: Conn<'_>, cx: &Context<'_>) -> AppResult<Vec<Seen>> {
    let mut seen = Vec::new();
    if let Some((at, why)) = &cx.refusing {
        seen.push(Seen {
            condition: STORAGE,
            subject: cx.node_id.to_string(),
            subject_name: Some(format!("node {}", cx.node_id)),
            summary: format!("deliveries are refused for storage: {why}"),
            link: Some(format!("{}/settings", cx.public_url)),
            since: *at,
        });
    }
    if !cx.lead {
        return Ok(seen);
    }
    let s = cx.settings;
    let all = integrations::list(conn)?;
    let name_of = |id: &str| all.iter().find(|i| i.id == id).map(|i| i.name.clone());
    let page = |id: &str| format!("{}/integrations/{id}", cx.public_url);
    let window = duration_text(ms(s.window));
    for (id, c) in stats::recent(conn, cx.now - ms(s.window) + stats::MINUTE_MS)? {
        let Some(name) = name_of(&id) else { continue };
        let ended = c.processed + c.failed;
        let by_rate =
            ended >= MIN_DELIVERIES_FOR_RATE && c.failed * 100 > s.failure_percent * ended;
        if c.failed > 0 && (c.failed >= s.failures || by_rate) {
            seen.push(Seen {
                condition: FAILURES,
                subject: id.clone(),
                subject_name: Some(name.clone()),
                summary: format!(
                    "{} of {} processed in the last {window} ({}%)",
                    plural(c.failed, "delivery failed", "deliveries failed"),
                    ended,
                    c.failed * 100 / ended.max(1)
                ),
                link: Some(format!("{}#recent-events", page(&id))),
                since: cx.now,
            });
        }
        if c.rejected >= s.rejections {
            seen.push(Seen {
                condition: REJECTIONS,
                subject: id.clone(),
                subject_name: Some(name.clone()),
                summary: format!(
                    "{} refused in the last {window}: a signature or token did not match, so a secret has probably gone wrong on one side",
                    plural(c.rejected, "delivery", "deliveries")
                ),
                link: Some(format!("{}?tab=rejections#rejections", page(&id))),
                since: cx.now,
            });
        }
    }
    let after = ms(s.destination_after);
    for t in outbox::troubled(conn, cx.now)? {
        let since = match (t.paused_since, t.failing_since) {
            (Some(p), Some(f)) => p.min(f),
            (p, f) => p.or(f).unwrap_or(cx.now),
        };
        if cx.now - since < after {
            continue;
        }
        let what = match (t.paused_since, t.failing_since) {
            (Some(_), None) => "paused by the remote",
            (None, _) => "failing: its last attempts did not go through",
            (Some(_), Some(_)) => "failing, and paused by the remote",
        };
        let reason = t.reason.map(|r| format!(" ({r})")).unwrap_or_default();
        seen.push(Seen {
            condition: DESTINATION,
            subject: t.destination.clone(),
            subject_name: destination_name(&t.destination, &all)
                .or_else(|| Some(t.destination.clone())),
            summary: format!("{what} for {}{reason}", duration_text(cx.now - since)),
            link: Some(format!("{}/outbox", cx.public_url)),
            since,
        });
    }
    for (id, check) in db::reconcile::latest_checks(conn)? {
        if check.missing == 0 {
            continue;
        }
        let Some(name) = name_of(&id) else { continue };
        seen.push(Seen {
            condition: MISSED_DELIVERIES,
            subject: id.clone(),
            subject_name: Some(name),
            summary: format!(
                "reconciling found {} in the remote's log that never arrived ({} asked for again)",
                plural(check.missing, "delivery", "deliveries"),
                check.requested
            ),
            link: Some(format!("{}#summary", page(&id))),
            since: check.at,
        });
    }
    if let Some(oldest) = db::events::oldest_unprocessed(conn)?
        && cx.now - oldest > ms(s.backlog_after)
    {
        seen.push(Seen {
            condition: BACKLOG,
            subject: String::new(),
            subject_name: None,
            summary: format!(
                "the oldest unprocessed event has waited {}",
                duration_text(cx.now - oldest)
            ),
            link: Some(format!("{}/", cx.public_url)),
            since: oldest,
        });
    }
    Ok(seen)
}

/// Whether this node answers for `alert` (opens, updates and resolves it).
fn watched_here(alert: &Alert, cx: &Context<'_>) -> bool {
    if alert.condition == STORAGE {
        alert.subject == cx.node_id
    } else {
        cx.lead
    }
}

/// What a check did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Checked {
    pub opened: usize,
    pub resolved: usize,
}

/// Looks at every condition and opens, updates or resolves alerts, announcing each opening
/// and resolution in the same transaction.
pub fn check(conn: Conn<'_>, cx: &Context<'_>, cap: usize) -> AppResult<Checked> {
    let seen = look(conn, cx)?;
    let open = stored::open_alerts(conn)?;
    let mut done = Checked::default();
    for s in &seen {
        match open
            .iter()
            .find(|a| a.condition == s.condition && a.subject == s.subject)
        {
            Some(a) if a.summary != s.summary => stored::update_summary(conn, &a.id, &s.summary)?,
            Some(_) => {}
            None => {
                let alert = Alert {
                    id: model::new_id(),
                    condition: s.condition.to_string(),
                    subject: s.subject.clone(),
                    subject_name: s.subject_name.clone(),
                    summary: s.summary.clone(),
                    link: s.link.clone(),
                    since: s.since,
                    opened_at: cx.now,
                    resolved_at: None,
                };
                if stored::open(conn, &alert)? {
                    announce::announce(conn, &announcement(&alert, None), cx.now, cap)?;
                    done.opened += 1;
                }
            }
        }
    }
    for a in open.iter().filter(|a| watched_here(a, cx)) {
        let still = seen
            .iter()
            .any(|s| s.condition == a.condition && s.subject == a.subject);
        if !still && stored::resolve(conn, &a.id, cx.now)? {
            announce::announce(conn, &announcement(a, Some(cx.now)), cx.now, cap)?;
            done.resolved += 1;
        }
    }
    if cx.lead {
        stats::prune_minutes(conn, cx.now - stats::KEEP_MINUTES_MS)?;
        stored::prune(conn, cx.now - KEEP_RESOLVED_MS, 500)?;
    }
    Ok(done)
}

/// The event type an alert is announced under: opened, or resolved.
pub fn event_type(condition: &str, resolved: bool) -> String {
    let kind = if resolved { "resolved" } else { "alert" };
    format!("provenant.{kind}.{condition}")
}

/// The announcement of `alert`'s opening, or (with `resolved_at`) of its end.
fn announcement(alert: &Alert, resolved_at: Option<i64>) -> Announcement {
    let event_type = event_type(&alert.condition, resolved_at.is_some());
    let mut facts = Map::new();
    let about = match alert.condition.as_str() {
        DESTINATION => "destination",
        STORAGE => "node",
        BACKLOG => "",
        _ => "integration",
    };
    if let Some(name) = &alert.subject_name
        && !about.is_empty()
    {
        facts.insert(about.into(), json!(name));
    }
    let message = match resolved_at {
        None => alert.summary.clone(),
        Some(at) => {
            let lasted = duration_text(at - alert.since);
            facts.insert("lasted".into(), json!(lasted));
            format!("Cleared after {lasted}. It was: {}", alert.summary)
        }
    };
    announce::put(&mut facts, "message", Some(Value::from(message)));
    announce::put(&mut facts, "url", alert.link.clone().map(Value::from));
    facts.insert("alert".into(), json!(alert.id));
    let headline = match resolved_at {
        None => format!("Alert: {}", label(&alert.condition)),
        Some(_) => format!("Resolved: {}", label(&alert.condition)),
    };
    facts.insert("headline".into(), json!(headline));
    Announcement {
        dedupe_key: format!("{event_type}:{}", alert.id),
        event_type,
        source_event_id: None,
        subject_id: None,
        facts,
        from: None,
    }
}

/// Checks every `check_every`, and at once after the clock is moved (tests), until `stop`;
/// notes each check's time in `last_check` (what `GET /api/alerts` says).
pub async fn run(
    state: std::sync::Arc<Ctx>,
    settings: AlertSettings,
    last_check: std::sync::Arc<LastCheck>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let Some(every) = settings.check_every else {
        return;
    };
    let jumped = std::sync::Arc::new(tokio::sync::Notify::new());
    {
        let jumped = jumped.clone();
        state.clock.on_jump(move || jumped.notify_one());
    }
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = jumped.notified() => {}
            _ = stop.changed() => return,
        }
        if *stop.borrow() {
            return;
        }
        let (state2, settings) = (state.clone(), settings.clone());
        // This node's minute counts go in with the check, in its transaction.
        let minutes = state.recent.take();
        let kept = minutes.clone();
        let shard = state.node.id.clone();
        let now = state.clock.now_ms();
        let checked = db::write(&state.pool, &state.write_gate, move |tx| {
            stats::add_minutes(tx, &shard, &minutes)?;
            let refusing = state2.storage.refusing().map(|r| (r.at, r.message));
            let cx = Context {
                now,
                settings: &settings,
                public_url: &state2.public_url,
                node_id: &state2.node.id,
                lead: state2.node.lead().is_some(),
                refusing,
            };
            check(tx, &cx, state2.max_queued_alerts)
        })
        .await;
        if checked.is_ok() {
            last_check.set(now);
        }
        match checked {
            Ok(c) if c.opened + c.resolved > 0 => {
                tracing::info!(opened = c.opened, resolved = c.resolved, "alerts changed");
                state.outbox.wake();
            }
            Ok(_) => {}
            Err(e) => {
                // Counted again at the next check.
                state.recent.add(kept);
                tracing::warn!(error = %e, "checking for alerts failed");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_people_say_them() {
        assert_eq!(duration_text(40_000), "40 s");
        assert_eq!(duration_text(12 * 60_000 + 5_000), "12 min");
        assert_eq!(duration_text(3 * 3_600_000), "3 h");
        assert_eq!(duration_text(3 * 3_600_000 + 5 * 60_000), "3 h 5 min");
    }

    #[test]
    fn event_types_name_the_condition() {
        assert_eq!(event_type(FAILURES, false), "provenant.alert.failures");
        assert_eq!(
            event_type(DESTINATION, true),
            "provenant.resolved.destination"
        );
    }
}
