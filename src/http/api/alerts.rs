//! `GET /api/alerts`: the conditions the server has announced as broken and not yet seen
//! clear, and those that cleared in the last day.

use poem::web::Data;
use poem_openapi::payload::Json;
use poem_openapi::{Enum, Object, OpenApi};

use super::errors::{AUTHED, ApiError};
use super::{ApiTags, BearerAuth};
use crate::db::{self, alerts as stored, stats};
use crate::domain::checked::Timestamp;
use crate::http::state::SharedState;
use crate::pipeline::alerts;

pub struct AlertsApi;

/// What an alert is about.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[oai(rename_all = "snake_case")]
pub enum AlertCondition {
    /// An integration's processing failures in the window (`--alert-failures`, or more than
    /// `--alert-failure-percent` of its deliveries).
    Failures,
    /// An integration's deliveries refused for a bad signature or token in the window.
    Rejections,
    /// An outbox destination failing or paused for longer than `--alert-destination-after`.
    Destination,
    /// Reconciling found deliveries in the remote's log that never arrived.
    MissedDeliveries,
    /// A node's storage refusing deliveries.
    Storage,
    /// The oldest unprocessed event older than `--alert-backlog-after`.
    Backlog,
}

impl AlertCondition {
    fn of(name: &str) -> Option<AlertCondition> {
        Some(match name {
            alerts::FAILURES => AlertCondition::Failures,
            alerts::REJECTIONS => AlertCondition::Rejections,
            alerts::DESTINATION => AlertCondition::Destination,
            alerts::MISSED_DELIVERIES => AlertCondition::MissedDeliveries,
            alerts::STORAGE => AlertCondition::Storage,
            alerts::BACKLOG => AlertCondition::Backlog,
            _ => return None,
        })
    }
}

/// One alert.
#[derive(Object, Debug, Clone)]
#[oai(rename_all = "camelCase", skip_serializing_if_is_none)]
pub struct AlertOut {
    /// The alert's id (also in its Slack messages' dedupe keys).
    pub id: String,
    pub condition: AlertCondition,
    /// The event type it was announced under: `provenant.alert.<condition>`.
    pub event_type: String,
    /// The condition in people's words ("Processing failures", "Destination failing" …).
    pub title: String,
    /// The integration id, destination key or node id it is about; empty for the server as
    /// a whole.
    pub subject: String,
    /// The integration's name, the destination's remote or the node; left out for the server
    /// as a whole.
    pub subject_name: Option<String>,
    /// What was seen, with numbers (updated while the alert is open).
    pub summary: String,
    /// The page to look at.
    pub link: Option<String>,
    /// When the trouble began (RFC 3339, UTC).
    pub since: Timestamp,
    /// When the alert was raised and announced.
    pub opened_at: Timestamp,
    /// When it cleared; left out while it is open.
    pub resolved_at: Option<Timestamp>,
    /// How long it lasted (from `since` to its end, or to now while open), in seconds.
    pub duration_seconds: i64,
}

/// Open alerts, and those resolved in the last 24 hours.
#[derive(Object, Debug, Clone)]
#[oai(rename_all = "camelCase", skip_serializing_if_is_none)]
pub struct AlertList {
    /// Open alerts, oldest first.
    pub open: Vec<AlertOut>,
    /// Alerts resolved in the last 24 hours, newest first (at most 50).
    pub resolved: Vec<AlertOut>,
    /// When the node that answered last looked (every `--alert-check-every`): at its own
    /// storage, and at the shared conditions when it holds the cluster's duties. Left out
    /// before its first look, or with alerts off.
    pub checked_at: Option<Timestamp>,
}

fn out(a: stored::Alert, now: i64) -> Option<AlertOut> {
    let condition = AlertCondition::of(&a.condition)?;
    let end = a.resolved_at.unwrap_or(now);
    Some(AlertOut {
        event_type: alerts::event_type(&a.condition, false),
        title: alerts::label(&a.condition).to_string(),
        id: a.id,
        condition,
        subject: a.subject,
        subject_name: a.subject_name,
        summary: a.summary,
        link: a.link,
        since: Timestamp(a.since),
        opened_at: Timestamp(a.opened_at),
        resolved_at: a.resolved_at.map(Timestamp),
        duration_seconds: (end - a.since).max(0) / 1000,
    })
}

#[OpenApi(tag = "ApiTags::Health")]
impl AlertsApi {
    /// List open alerts.
    ///
    /// What the server has announced as broken (as `provenant.alert.<condition>` to SLACK
    /// integrations whose `events` take it) and not yet seen clear, and what cleared in the
    /// last 24 hours (announced as `provenant.resolved.<condition>`). The thresholds are
    /// settings (`--alert-*`); the pages show open alerts as a banner and `/metrics` as
    /// `provenant_alerts_open`.
    #[oai(path = "/alerts", method = "get", operation_id = "listAlerts")]
    async fn list_alerts(
        &self,
        _auth: BearerAuth,
        state: Data<&SharedState>,
    ) -> Result<Json<AlertList>, ApiError<{ AUTHED }>> {
        let now = state.clock.now_ms();
        let (open, resolved) = db::run(&state.pool, move |conn| {
            Ok((
                stored::open_alerts(conn)?,
                stored::resolved_since(conn, now - stats::DAY_MS, 50)?,
            ))
        })
        .await?;
        Ok(Json(AlertList {
            open: open.into_iter().filter_map(|a| out(a, now)).collect(),
            resolved: resolved.into_iter().filter_map(|a| out(a, now)).collect(),
            checked_at: state.last_alert_check.get().map(Timestamp),
        }))
    }
}
