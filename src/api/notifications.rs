//! `/api/notifications` (what was sent to Slack) and `POST /api/integrations/{id}/test`.

use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};
use serde_json::{Map, Value, json};

use super::errors::{AUTHED, ApiError, NOT_FOUND, UNPROCESSABLE};
use super::paging;
use super::{ApiTags, BearerAuth};
use crate::checked::{Cursor, Id};
use crate::clock;
use crate::db::integrations::Integration;
use crate::db::notifications::{self, Notification, NotificationFilter};
use crate::db::{self, integrations};
use crate::error::AppError;
use crate::integration_config::IntegrationConfig;
use crate::model::{self, NotificationStatus};
use crate::notify::slack;
use crate::scm;
use crate::secrets;
use crate::state::{AppState, SharedState};
use crate::worker::ProcessError;

pub struct NotificationsApi;

/// One message to a SLACK integration.
#[derive(Object)]
#[oai(rename_all = "camelCase", skip_serializing_if_is_none)]
pub struct NotificationOut {
    /// The notification's id.
    pub id: String,
    /// The SLACK integration it goes to.
    pub integration_id: String,
    /// What triggered it, e.g. `eval_run.triggered` or `drift.critical`.
    pub event_type: String,
    /// The webhook event behind it, when there is one.
    pub source_event_id: Option<String>,
    /// What the message says (repo, pr, sha, branch, url, message …).
    pub facts: Value,
    /// Delivery state.
    pub status: NotificationStatus,
    /// Attempts to send it so far.
    pub attempts: i64,
    /// Slack's answer to the last failed attempt, e.g. `Slack answered 404: channel_not_found`.
    pub last_error: Option<String>,
    /// When the next attempt is due (RFC 3339, UTC).
    pub next_attempt_at: Option<String>,
    /// When it was queued (RFC 3339, UTC).
    pub created_at: String,
    /// When Slack accepted it (RFC 3339, UTC).
    pub sent_at: Option<String>,
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

/// One check of the test endpoint.
#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub struct CheckOut {
    /// `receiver`, `slack` or `token`.
    pub name: String,
    /// Whether the check passed.
    pub ok: bool,
    /// What was checked and what came back.
    pub detail: String,
}

/// What the test found.
#[derive(Object)]
#[oai(skip_serializing_if_is_none, rename_all = "camelCase")]
pub struct TestResultOut {
    /// Whether every check passed.
    pub ok: bool,
    /// Where senders post deliveries for this integration.
    pub webhook_url: String,
    /// Whether incoming deliveries must be signed.
    pub secret_set: bool,
    /// Each check that was run.
    pub checks: Vec<CheckOut>,
}

fn to_out(n: Notification) -> NotificationOut {
    NotificationOut {
        id: n.id,
        integration_id: n.integration_id,
        event_type: n.event_type,
        source_event_id: n.source_event_id,
        facts: n.facts,
        status: n.status,
        attempts: n.attempts,
        last_error: n.last_error,
        next_attempt_at: n.next_attempt_at.map(clock::rfc3339),
        created_at: clock::rfc3339(n.created_at),
        sent_at: n.sent_at.map(clock::rfc3339),
    }
}

fn check(name: &str, result: Result<String, String>) -> CheckOut {
    let (ok, detail) = match result {
        Ok(d) => (true, d),
        Err(d) => (false, d),
    };
    CheckOut {
        name: name.to_string(),
        ok,
        detail,
    }
}

#[OpenApi(tag = "ApiTags::Notifications")]
impl NotificationsApi {
    /// Slack notifications, newest first, filtered by SLACK integration and status.
    #[oai(path = "/notifications", method = "get")]
    async fn list_notifications(
        &self,
        _auth: BearerAuth,
        state: Data<&SharedState>,
        /// Only notifications to this SLACK integration.
        #[oai(name = "integrationId")]
        integration_id: Query<Option<Id>>,
        /// Only notifications with this status.
        status: Query<Option<NotificationStatus>>,
        /// Page size, 1–200 (default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<Option<u32>>,
        /// `nextCursor` of the previous page.
        cursor: Query<Option<Cursor>>,
    ) -> Result<Json<NotificationPage>, ApiError<{ AUTHED | UNPROCESSABLE }>> {
        let fetched = paging::fetch_count(limit.0);
        let f = NotificationFilter {
            integration_id: integration_id.0.map(|id| id.as_str().to_ascii_lowercase()),
            status: status.0,
            before_seq: paging::before_seq(cursor.0),
            limit: fetched,
        };
        let rows = db::run(&state.pool, move |conn| notifications::list(conn, &f)).await?;
        let (rows, next_cursor) = paging::split(rows, fetched, |n| n.seq.to_string());
        Ok(Json(NotificationPage {
            items: rows.into_iter().map(to_out).collect(),
            next_cursor,
        }))
    }

    /// Test an integration: for SLACK, send a test message now (in its turn under Slack's
    /// one-message-per-second limit) and report Slack's answer; for GITHUB/GITLAB with a
    /// token, check that the token can read the repository or project; for every type,
    /// report the webhook URL and whether a secret is set.
    #[oai(path = "/integrations/:id/test", method = "post")]
    async fn test_integration(
        &self,
        _auth: BearerAuth,
        state: Data<&SharedState>,
        /// The integration's id.
        id: Path<String>,
    ) -> Result<Json<TestResultOut>, ApiError<{ AUTHED | NOT_FOUND }>> {
        let id = model::parse_id(&id.0).ok_or(AppError::NotFound("integration"))?;
        let state = state.0.clone();
        // Read and resolve what the checks need, and give the connection back before any
        // remote is called: a slow remote must not hold the pool.
        let (integration, credential) = db::run(&state.pool.clone(), {
            let state = state.clone();
            move |conn| {
                let integration = integrations::get(conn, &id)?;
                let (key, raw) = match &integration.settings {
                    IntegrationConfig::Slack(c) => ("webhook_url", Some(c.webhook_url.as_str())),
                    other => ("token", other.token()),
                };
                let credential = secrets::resolve_config_value(conn, &state.secrets, key, raw);
                Ok((integration, credential))
            }
        })
        .await?;
        // Outbound calls block: on the blocking pool, never on the async threads.
        let result =
            tokio::task::spawn_blocking(move || run_checks(&state, &integration, credential))
                .await
                .map_err(|e| AppError::Internal(anyhow::anyhow!("test task failed: {e}")))?;
        Ok(Json(result))
    }
}

/// The checks of the test endpoint. `credential` is the resolved Slack URL or API token.
fn run_checks(
    state: &AppState,
    integration: &Integration,
    credential: Result<Option<String>, String>,
) -> TestResultOut {
    let secret_set = integration.settings.signing_secret().is_some();
    let webhook_url = state.webhook_url(&integration.id);
    let mut checks = vec![check(
        "receiver",
        if integration.is_active {
            Ok(format!(
                "deliveries to {webhook_url} are accepted{}",
                if secret_set {
                    " when signed with the secret"
                } else {
                    " unsigned (no secret set)"
                }
            ))
        } else {
            Err("the integration is inactive: its webhook URL answers 404".into())
        },
    )];
    match &integration.settings {
        IntegrationConfig::Slack(config) => {
            let outcome = credential.and_then(|url| {
                let url = url.ok_or("config.webhook_url is not set")?;
                let mut facts = Map::new();
                facts.insert(
                    "message".into(),
                    json!(format!(
                        "Integration \u{201c}{}\u{201d} is connected.",
                        integration.name
                    )),
                );
                let message = slack::build_message("test", &facts, config);
                state.slack_pacer.take_blocking(&url);
                match slack::send(&state.http, &url, &message) {
                    Ok(()) => Ok("Slack accepted the test message".to_string()),
                    Err(ProcessError::Permanent(e) | ProcessError::Retryable { error: e, .. }) => {
                        Err(e)
                    }
                }
            });
            checks.push(check("slack", outcome));
        }
        IntegrationConfig::Github(_) | IntegrationConfig::Gitlab(_) => {
            let outcome = match credential {
                Err(e) => Err(e),
                Ok(None) => {
                    Ok("no token configured: commit statuses will not be posted".to_string())
                }
                Ok(Some(token)) => {
                    scm::check_access(&state.http, integration.kind, &integration.settings, &token)
                }
            };
            checks.push(check("token", outcome));
        }
        IntegrationConfig::Webhook(_) => {}
    }
    TestResultOut {
        ok: checks.iter().all(|c| c.ok),
        webhook_url,
        secret_set,
        checks,
    }
}
