//! `/api/notifications` (what was sent to Slack) and `POST /api/integrations/{id}/test`.

use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};
use serde_json::{Map, Value, json};

use super::{ApiTags, BearerAuth};
use crate::clock;
use crate::db::notifications::{self, Notification, NotificationFilter};
use crate::db::{self, integrations};
use crate::error::{AppError, AppResult};
use crate::model::{self, IntegrationType, NotificationStatus};
use crate::notify::slack;
use crate::scm;
use crate::secrets;
use crate::state::SharedState;
use crate::worker::ProcessError;

pub struct NotificationsApi;

/// One message to a SLACK integration.
#[derive(Object)]
#[oai(rename_all = "camelCase")]
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
#[oai(rename_all = "camelCase")]
pub struct NotificationPage {
    /// Notifications, newest first.
    pub items: Vec<NotificationOut>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// One check of the test endpoint.
#[derive(Object)]
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
#[oai(rename_all = "camelCase")]
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
        /// Only messages to this SLACK integration.
        #[oai(name = "integrationId")]
        integration_id: Query<Option<String>>,
        /// Only notifications with this status.
        status: Query<Option<NotificationStatus>>,
        /// Page size, 1–200 (default 50).
        limit: Query<Option<u32>>,
        /// `nextCursor` of the previous page.
        cursor: Query<Option<String>>,
    ) -> poem::Result<Json<NotificationPage>> {
        let limit = limit.0.unwrap_or(50);
        if !(1..=200).contains(&limit) {
            return Err(AppError::invalid("limit", "must be between 1 and 200").into());
        }
        let integration_id =
            match integration_id.0 {
                Some(raw) => Some(model::parse_id(&raw).ok_or_else(|| {
                    AppError::invalid("integrationId", "is not an integration id")
                })?),
                None => None,
            };
        let before_seq = match cursor.0 {
            Some(c) => Some(
                c.parse()
                    .map_err(|_| AppError::invalid("cursor", "is not a cursor from this API"))?,
            ),
            None => None,
        };
        let f = NotificationFilter {
            integration_id,
            status: status.0,
            before_seq,
            limit: limit + 1,
        };
        let mut rows = db::run(&state.pool, move |conn| notifications::list(conn, &f)).await?;
        let more = rows.len() > limit as usize;
        rows.truncate(limit as usize);
        let next_cursor = if more {
            rows.last().map(|n| n.seq.to_string())
        } else {
            None
        };
        Ok(Json(NotificationPage {
            items: rows.into_iter().map(to_out).collect(),
            next_cursor,
        }))
    }

    /// Test an integration: for SLACK, send a test message now and report Slack's answer; for
    /// GITHUB/GITLAB with a token, check that the token can read the repository or project;
    /// for every type, report the webhook URL and whether a secret is set.
    #[oai(path = "/integrations/:id/test", method = "post")]
    async fn test_integration(
        &self,
        _auth: BearerAuth,
        state: Data<&SharedState>,
        /// The integration's id.
        id: Path<String>,
    ) -> poem::Result<Json<TestResultOut>> {
        let id = model::parse_id(&id.0).ok_or(AppError::NotFound("integration"))?;
        let state = state.0.clone();
        // Outbound calls block: they run on the blocking pool, never on the async threads.
        let result = tokio::task::spawn_blocking(move || -> AppResult<TestResultOut> {
            let conn = state.pool.get()?;
            let integration = integrations::get(&conn, &id)?;
            let resolve = |key: &str| -> Result<Option<String>, String> {
                match integration.config.get(key).and_then(Value::as_str) {
                    None | Some("") => Ok(None),
                    Some(raw) => secrets::resolve(&conn, &state.secrets, raw)
                        .map(Some)
                        .map_err(|e| format!("config.{key}: {e}")),
                }
            };
            let secret_set = integration.webhook_secret().is_some();
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
            match integration.kind {
                IntegrationType::Slack => {
                    let outcome = resolve("webhook_url").and_then(|url| {
                        let url = url.ok_or("config.webhook_url is not set")?;
                        let mut facts = Map::new();
                        facts.insert(
                            "message".into(),
                            json!(format!(
                                "Integration \u{201c}{}\u{201d} is connected.",
                                integration.name
                            )),
                        );
                        let message = slack::build_message("test", &facts, &integration.config);
                        match slack::send(&state.http, &url, &message) {
                            Ok(()) => Ok("Slack accepted the test message".to_string()),
                            Err(
                                ProcessError::Permanent(e)
                                | ProcessError::Retryable { error: e, .. },
                            ) => Err(e),
                        }
                    });
                    checks.push(check("slack", outcome));
                }
                IntegrationType::Github | IntegrationType::Gitlab => {
                    let outcome = match resolve("token") {
                        Err(e) => Err(e),
                        Ok(None) => {
                            Ok("no token configured: commit statuses will not be posted"
                                .to_string())
                        }
                        Ok(Some(token)) => scm::check_access(
                            &state.http,
                            integration.kind,
                            &integration.config,
                            &token,
                        ),
                    };
                    checks.push(check("token", outcome));
                }
                IntegrationType::Webhook => {}
            }
            Ok(TestResultOut {
                ok: checks.iter().all(|c| c.ok),
                webhook_url,
                secret_set,
                checks,
            })
        })
        .await
        .map_err(|e| AppError::Internal(anyhow::anyhow!("test task failed: {e}")))??;
        Ok(Json(result))
    }
}
