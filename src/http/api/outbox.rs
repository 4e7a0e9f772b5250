//! `/api/outbox` (everything said to the outside world, its destinations and their pauses) and
//! `/api/notifications` (the outbox's Slack messages, as the notifications page shows them).

use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use serde_json::Value;

use super::errors::{AUTHED, ApiError, CONFLICT, NOT_FOUND, UNPROCESSABLE};
use super::paging;
use super::{ApiTags, BearerAuth};
use crate::base::error::AppError;
use crate::db::outbox::{self, DestinationState, OutboxFilter, OutboxRow};
use crate::db::{self};
use crate::domain::audit::Action;
use crate::domain::checked::Timestamp;
use crate::domain::checked::{Cursor, Id};
use crate::domain::model::{self, OutboxKind, OutboxStatus};
use crate::http::state::SharedState;

pub struct OutboxApi;

/// One thing to say to the outside world, and what became of it.
///
/// `kind`: What it says: a Slack message, a commit status, a GitHub deployment or deployment status, a token check.
/// `status`: PENDING → SENDING → SENT or FAILED.
#[derive(Object)]
#[oai(rename_all = "camelCase", skip_serializing_if_is_none)]
pub struct OutboxRowOut {
    /// The row's id.
    pub id: String,
    // What it says: a Slack message, a commit status, a GitHub deployment or deployment
    // status, a token check.
    pub kind: OutboxKind,
    /// The integration whose URL or token it is sent with.
    pub integration_id: String,
    /// The queue it waits in: what the remote rate-limits on (`slack:<integration>`, or the
    /// API host and a fingerprint of the token). Rows of one destination go one at a time, in
    /// order.
    pub destination: String,
    /// For Slack messages: what is announced, e.g. `eval_run.triggered`.
    pub event_type: Option<String>,
    /// The eval run or deployment it reports on.
    pub subject_id: Option<String>,
    /// The webhook event behind it, when there is one.
    pub source_event_id: Option<String>,
    /// What is sent: a Slack message's facts, or the API call's `method`, `path` and `body`
    /// (credentials are added when it is sent, never stored here).
    pub request: Value,
    // PENDING → SENDING → SENT or FAILED.
    pub status: OutboxStatus,
    /// Attempts so far.
    pub attempts: i64,
    /// Why the last attempt did not succeed.
    pub last_error: Option<String>,
    /// When the next attempt is due (RFC 3339, UTC).
    pub next_attempt_at: Option<Timestamp>,
    /// When it was queued (RFC 3339, UTC).
    pub created_at: Timestamp,
    /// When the remote accepted it (RFC 3339, UTC).
    pub sent_at: Option<Timestamp>,
    /// The remote's last HTTP status.
    pub response_status: Option<i64>,
    /// The start of the remote's answer, when it was an error (what a remote says on success
    /// is not kept).
    pub response_excerpt: Option<String>,
    /// The full URL the last attempt called, e.g.
    /// `https://api.github.com/repos/octo/agent/statuses/…` (a Slack webhook URL masked).
    pub called_url: Option<String>,
}

/// A page of outbox rows, newest first.
#[derive(Object)]
#[oai(rename_all = "camelCase", skip_serializing_if_is_none)]
pub struct OutboxPage {
    /// Rows, newest first.
    pub items: Vec<OutboxRowOut>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// A destination's queue and pause.
#[derive(Object)]
#[oai(rename_all = "camelCase", skip_serializing_if_is_none)]
pub struct DestinationOut {
    /// The destination's name.
    pub destination: String,
    /// Rows waiting or being sent.
    pub pending: i64,
    /// Rows that failed for good.
    pub failed: i64,
    /// Until when the remote asked to be left alone (RFC 3339, UTC).
    pub paused_until: Option<Timestamp>,
    /// Why it is paused, e.g. `GitHub rate limit (403): …`.
    pub reason: Option<String>,
    /// The newest error among its waiting or failed rows.
    pub last_error: Option<String>,
    /// The integrations whose rows wait or failed there (or whose Slack webhook it is), by
    /// name.
    pub integrations: Vec<String>,
    /// The remote's host, for a forge's API (`api.github.com`); none for a Slack webhook.
    pub host: Option<String>,
}

/// One message to a SLACK integration (an outbox row of kind SLACK_MESSAGE).
///
/// `status`: Delivery state.
#[derive(Object)]
#[oai(rename_all = "camelCase", skip_serializing_if_is_none)]
pub struct NotificationOut {
    /// The notification's id (its outbox row's).
    pub id: String,
    /// The SLACK integration it goes to.
    pub integration_id: String,
    /// What triggered it, e.g. `eval_run.triggered` or `drift.critical`.
    pub event_type: String,
    /// The webhook event behind it, when there is one.
    pub source_event_id: Option<String>,
    /// What the message says (repo, pr, sha, branch, url, message …).
    pub facts: Value,
    // Delivery state.
    pub status: OutboxStatus,
    /// Attempts to send it so far.
    pub attempts: i64,
    /// Slack's answer to the last failed attempt, e.g. `Slack answered 404: channel_not_found`.
    pub last_error: Option<String>,
    /// When the next attempt is due (RFC 3339, UTC).
    pub next_attempt_at: Option<Timestamp>,
    /// When it was queued (RFC 3339, UTC).
    pub created_at: Timestamp,
    /// When Slack accepted it (RFC 3339, UTC).
    pub sent_at: Option<Timestamp>,
}

/// A page of notifications, newest first.
#[derive(Object)]
#[oai(rename_all = "camelCase", skip_serializing_if_is_none)]
pub struct NotificationPage {
    /// Notifications, newest first.
    pub items: Vec<NotificationOut>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

#[derive(ApiResponse)]
pub enum RetryRowResponse {
    /// Queued again.
    #[oai(status = 202)]
    Queued(Json<OutboxRowOut>),
}

pub fn row_out(r: OutboxRow) -> OutboxRowOut {
    OutboxRowOut {
        id: r.id,
        kind: r.kind,
        integration_id: r.integration_id,
        destination: r.destination,
        event_type: r.event_type,
        subject_id: r.subject_id,
        source_event_id: r.source_event_id,
        request: r.request,
        status: r.status,
        attempts: r.attempts,
        last_error: r.last_error,
        next_attempt_at: r.next_attempt_at.map(Timestamp),
        created_at: Timestamp(r.created_at),
        sent_at: r.sent_at.map(Timestamp),
        response_status: r.response_status,
        response_excerpt: r.response_excerpt.filter(|e| !e.is_empty()),
        called_url: r.called_url,
    }
}

fn notification_out(r: OutboxRow) -> NotificationOut {
    NotificationOut {
        id: r.id,
        integration_id: r.integration_id,
        event_type: r.event_type.unwrap_or_default(),
        source_event_id: r.source_event_id,
        facts: r.request,
        status: r.status,
        attempts: r.attempts,
        last_error: r.last_error,
        next_attempt_at: r.next_attempt_at.map(Timestamp),
        created_at: Timestamp(r.created_at),
        sent_at: r.sent_at.map(Timestamp),
    }
}

/// `github:<host>:<fingerprint>` and `gitlab:<host>:…` name the API's host; `slack:<id>` none.
/// The host may carry a port, so it is what lies between the first and the last colon.
fn host_of_destination(key: &str) -> Option<String> {
    let rest = key
        .strip_prefix("github:")
        .or_else(|| key.strip_prefix("gitlab:"))?;
    let (host, _) = rest.rsplit_once(':')?;
    (!host.is_empty()).then(|| host.to_string())
}

pub fn destination_out(d: DestinationState) -> DestinationOut {
    DestinationOut {
        host: host_of_destination(&d.destination),
        integrations: d.integrations,
        destination: d.destination,
        pending: d.pending,
        failed: d.failed,
        paused_until: d.paused_until.map(Timestamp),
        reason: d.paused_until.and(d.reason),
        last_error: d.last_error,
    }
}

fn filter(
    integration_id: Option<Id>,
    kind: Option<OutboxKind>,
    status: Option<OutboxStatus>,
    destination: Option<String>,
    limit: Option<u32>,
    cursor: Option<Cursor>,
) -> OutboxFilter {
    OutboxFilter {
        integration_id: integration_id.map(|id| id.as_str().to_ascii_lowercase()),
        kind,
        status,
        destination,
        before_seq: paging::before_seq(cursor),
        limit: paging::fetch_count(limit),
    }
}

#[OpenApi(tag = "ApiTags::Notifications")]
impl OutboxApi {
    /// List the outbox.
    ///
    /// Everything queued for the outside world, newest first: Slack messages, commit statuses,
    /// GitHub deployments and their statuses, token checks, with the remote's answers.
    #[oai(path = "/outbox", method = "get", operation_id = "listOutbox")]
    #[allow(clippy::too_many_arguments)]
    async fn list_outbox(
        &self,
        _auth: BearerAuth,
        state: Data<&SharedState>,
        /// Only rows sent with this integration.
        #[oai(name = "integrationId")]
        integration_id: Query<Option<Id>>,
        /// Only rows of this kind.
        kind: Query<Option<OutboxKind>>,
        /// Only rows with this status.
        status: Query<Option<OutboxStatus>>,
        /// Only rows of this destination.
        #[oai(example = "crate::http::api::examples::destination")]
        destination: Query<Option<String>>,
        /// Page size, 1–200 (default 50).
        #[oai(
            validator(minimum(value = "1"), maximum(value = "200")),
            example = "crate::http::api::examples::page_size"
        )]
        limit: Query<Option<u32>>,
        /// `nextCursor` of the previous page.
        cursor: Query<Option<Cursor>>,
    ) -> Result<Json<OutboxPage>, ApiError<{ AUTHED | UNPROCESSABLE }>> {
        let f = filter(
            integration_id.0,
            kind.0,
            status.0,
            destination.0,
            limit.0,
            cursor.0,
        );
        let fetched = f.limit;
        let rows = db::run(&state.pool, move |conn| outbox::list(conn, &f)).await?;
        let (rows, next_cursor) = paging::split(rows, fetched, |r| r.seq.to_string());
        Ok(Json(OutboxPage {
            items: rows.into_iter().map(row_out).collect(),
            next_cursor,
        }))
    }

    /// List outbox destinations.
    ///
    /// Destinations with rows waiting or failed, paused by their remote (and until when), or
    /// with anything sent or failed in the last 24 hours.
    #[oai(
        path = "/outbox/destinations",
        method = "get",
        operation_id = "listOutboxDestinations"
    )]
    async fn list_destinations(
        &self,
        _auth: BearerAuth,
        state: Data<&SharedState>,
    ) -> Result<Json<Vec<DestinationOut>>, ApiError<AUTHED>> {
        let now = state.clock.now_ms();
        let active_since = Some(now - db::stats::DAY_MS);
        let rows = db::run(&state.pool, move |conn| {
            outbox::destinations(conn, now, active_since)
        })
        .await?;
        Ok(Json(rows.into_iter().map(destination_out).collect()))
    }

    /// Retry a failed outbox row.
    ///
    /// Queue a FAILED row again (409 for any other status).
    #[oai(
        path = "/outbox/:id/retry",
        method = "post",
        operation_id = "retryOutboxRow"
    )]
    async fn retry_outbox_row(
        &self,
        auth: BearerAuth,
        state: Data<&SharedState>,
        /// The row's id.
        #[oai(example = "crate::http::api::examples::outbox_row_id")]
        id: Path<String>,
    ) -> Result<RetryRowResponse, ApiError<{ AUTHED | NOT_FOUND | CONFLICT }>> {
        let id = model::parse_id(&id.0).ok_or(AppError::NotFound("outbox row"))?;
        let now = state.clock.now_ms();
        let row = state
            .write(move |tx| {
                outbox::retry(tx, &id)?;
                let row = outbox::get(tx, &id)?;
                let mut entry = auth.0.did(Action::OutboxRetried, &id);
                entry.integration_id = Some(row.integration_id.clone());
                let entry = entry.changing(
                    &serde_json::json!({"status": "FAILED"}),
                    &serde_json::json!({"status": row.status.as_str()}),
                );
                db::audit::record(tx, &entry, now)?;
                Ok(row)
            })
            .await?;
        state.outbox.wake();
        Ok(RetryRowResponse::Queued(Json(row_out(row))))
    }

    /// List Slack notifications.
    ///
    /// Slack notifications, newest first, filtered by SLACK integration and status.
    #[oai(
        path = "/notifications",
        method = "get",
        operation_id = "listNotifications"
    )]
    async fn list_notifications(
        &self,
        _auth: BearerAuth,
        state: Data<&SharedState>,
        /// Only notifications to this SLACK integration.
        #[oai(name = "integrationId")]
        integration_id: Query<Option<Id>>,
        /// Only notifications with this status.
        status: Query<Option<OutboxStatus>>,
        /// Page size, 1–200 (default 50).
        #[oai(
            validator(minimum(value = "1"), maximum(value = "200")),
            example = "crate::http::api::examples::page_size"
        )]
        limit: Query<Option<u32>>,
        /// `nextCursor` of the previous page.
        cursor: Query<Option<Cursor>>,
    ) -> Result<Json<NotificationPage>, ApiError<{ AUTHED | UNPROCESSABLE }>> {
        let f = filter(
            integration_id.0,
            Some(OutboxKind::SlackMessage),
            status.0,
            None,
            limit.0,
            cursor.0,
        );
        let fetched = f.limit;
        let rows = db::run(&state.pool, move |conn| outbox::list(conn, &f)).await?;
        let (rows, next_cursor) = paging::split(rows, fetched, |r| r.seq.to_string());
        Ok(Json(NotificationPage {
            items: rows.into_iter().map(notification_out).collect(),
            next_cursor,
        }))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_forge_destination_names_its_host_with_its_port() {
        use super::host_of_destination as host;
        assert_eq!(
            host("github:api.github.com:0a1b2c").as_deref(),
            Some("api.github.com")
        );
        assert_eq!(
            host("gitlab:127.0.0.1:8080:0a1b2c").as_deref(),
            Some("127.0.0.1:8080")
        );
        assert_eq!(
            host("github:ghe.example.com:app42").as_deref(),
            Some("ghe.example.com")
        );
        assert_eq!(host("slack:3f2a"), None);
    }
}
