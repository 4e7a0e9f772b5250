//! `POST /api/integrations/{id}/test`: does the integration work? The Slack message and the
//! token check go through the outbox like everything else said to a remote, so they take their
//! turn under the same rate limits; the answer waits for them, bounded.

use std::time::{Duration, Instant};

use poem::web::Data;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};
use serde_json::json;

use super::errors::{AUTHED, ApiError, NOT_FOUND};
use super::{ApiTags, BearerAuth};
use crate::base::error::AppError;
use crate::db::Conn;
use crate::db::integrations::{self, Integration};
use crate::db::outbox::{self, NewRow, OutboxRow};
use crate::db::{self};
use crate::domain::integration_config::IntegrationConfig;
use crate::domain::model::{self, OutboxKind, OutboxStatus};
use crate::http::state::SharedState;
use crate::pipeline::report;

pub struct ChecksApi;

/// How long the test waits for its message or token check to be answered: less than the
/// timeouts of common HTTP clients, so the answer always arrives.
const TEST_WAIT: Duration = Duration::from_secs(8);
const POLL: Duration = Duration::from_millis(50);

/// One check of the test endpoint.
#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub struct CheckOut {
    /// `receiver`, `slack`, `token` or `app` (a GITHUB integration running as a GitHub App).
    pub name: String,
    /// Whether the check passed.
    pub ok: bool,
    /// What was checked and what came back.
    pub detail: String,
}

/// What the test found.
#[derive(Object)]
#[oai(rename_all = "camelCase", skip_serializing_if_is_none)]
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

/// What the test asks a remote, if anything: a Slack message or a token check, queued.
enum Probe {
    None,
    /// The check could not even be queued (a secret that does not resolve).
    Broken(&'static str, String),
    NoToken,
    Queued(&'static str, String),
}

fn probe_row(
    tx: Conn<'_>,
    state: &SharedState,
    integration: &Integration,
) -> Result<Option<(&'static str, NewRow)>, (&'static str, String)> {
    match &integration.settings {
        IntegrationConfig::Slack(_) => {
            let message = format!(
                "Integration \u{201c}{}\u{201d} is connected.",
                integration.name
            );
            Ok(Some((
                "slack",
                NewRow {
                    kind: OutboxKind::SlackMessage,
                    integration_id: integration.id.clone(),
                    destination: report::slack_destination(&integration.id),
                    event_type: Some("test".into()),
                    dedupe_key: Some(format!("test:{}", model::new_id())),
                    coalesce_key: None,
                    subject_id: None,
                    source_event_id: None,
                    request: json!({ "message": message }),
                },
            )))
        }
        // Patterns name no one repository to read.
        IntegrationConfig::Github(c) if c.single_repo().is_none() => Ok(None),
        IntegrationConfig::Github(_) | IntegrationConfig::Gitlab(_) => {
            match report::api_destination(tx, &state.secrets, integration, None) {
                Ok(Some(destination)) => Ok(Some((
                    credential_name(integration),
                    report::access_check(integration, &destination),
                ))),
                Ok(None) => Ok(None),
                Err(e) => Err((credential_name(integration), e)),
            }
        }
        IntegrationConfig::Webhook(_) => Ok(None),
    }
}

/// What the access check tries: the personal token, or the GitHub App.
fn credential_name(integration: &Integration) -> &'static str {
    if integration.settings.github_app().is_some() {
        "app"
    } else {
        "token"
    }
}

/// Waits, bounded, for a queued row's first answer (sent, refused, or to be retried).
async fn settled(state: &SharedState, id: String) -> Result<OutboxRow, AppError> {
    let started = Instant::now();
    loop {
        let row = db::run(&state.pool, {
            let id = id.clone();
            move |conn| outbox::get(conn, &id)
        })
        .await?;
        let answered = row.status == OutboxStatus::Pending && row.attempts > 0;
        let done = answered || matches!(row.status, OutboxStatus::Sent | OutboxStatus::Failed);
        if done || started.elapsed() >= TEST_WAIT {
            return Ok(row);
        }
        tokio::time::sleep(POLL).await;
    }
}

fn describe(name: &str, integration: &Integration, row: &OutboxRow) -> Result<String, String> {
    match row.status {
        OutboxStatus::Sent if name == "slack" => Ok("Slack accepted the test message".into()),
        OutboxStatus::Sent => Ok(format!(
            "{} can read {}",
            if name == "app" {
                "the GitHub App's installation"
            } else {
                "the token"
            },
            match &integration.settings {
                IntegrationConfig::Github(c) => c.single_repo().unwrap_or_default().to_string(),
                IntegrationConfig::Gitlab(c) => match (&c.project_id, &c.group) {
                    (Some(project), _) => project.to_string(),
                    (None, Some(group)) => format!("the group {group}"),
                    (None, None) => String::new(),
                },
                _ => String::new(),
            }
        )),
        OutboxStatus::Failed => Err(row
            .last_error
            .clone()
            .unwrap_or_else(|| "the remote refused it".into())),
        OutboxStatus::Pending if row.attempts > 0 => Err(format!(
            "not accepted yet: {}; it will be retried (outbox row {})",
            row.last_error.as_deref().unwrap_or("no answer"),
            row.id
        )),
        OutboxStatus::Pending | OutboxStatus::Sending => Err(format!(
            "no answer within {} s{}; it stays queued (outbox row {})",
            TEST_WAIT.as_secs(),
            row.last_error
                .as_deref()
                .map(|e| format!(" (last: {e})"))
                .unwrap_or_default(),
            row.id
        )),
    }
}

#[OpenApi(tag = "ApiTags::Notifications")]
impl ChecksApi {
    /// Test an integration.
    ///
    /// Test an integration: for SLACK, send a test message (in its turn under Slack's
    /// one-message-per-second limit) and report Slack's answer; for GITHUB/GITLAB with a
    /// token (or as a GitHub App), check that it can read the repository or project; for every type, report
    /// the webhook URL and whether a secret is set. Waits at most 8 s for the remote's first
    /// answer; a message still queued then stays queued.
    #[oai(
        path = "/integrations/:id/test",
        method = "post",
        operation_id = "testIntegration"
    )]
    async fn test_integration(
        &self,
        _auth: BearerAuth,
        state: Data<&SharedState>,
        /// The integration's id.
        #[oai(example = "crate::http::api::examples::integration_id")]
        id: Path<String>,
    ) -> Result<Json<TestResultOut>, ApiError<{ AUTHED | NOT_FOUND }>> {
        let id = model::parse_id(&id.0).ok_or(AppError::NotFound("integration"))?;
        let (integration, probe) = state
            .write({
                let state = state.0.clone();
                move |tx| {
                    let integration = integrations::get(tx, &id)?;
                    let probe = match probe_row(tx, &state, &integration) {
                        Ok(Some((name, row))) => {
                            let row_id = model::new_id();
                            outbox::insert(tx, &row, &row_id, state.clock.now_ms())?;
                            Probe::Queued(name, row_id)
                        }
                        Ok(None)
                            if !integration.settings.has_api_credentials()
                                && !matches!(
                                    integration.settings,
                                    IntegrationConfig::Webhook(_)
                                ) =>
                        {
                            Probe::NoToken
                        }
                        Ok(None) => Probe::None,
                        Err((name, e)) => Probe::Broken(name, e),
                    };
                    Ok((integration, probe))
                }
            })
            .await?;
        state.outbox.wake();

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
        match probe {
            Probe::None => {}
            Probe::NoToken => checks.push(check(
                "token",
                Ok("no token configured: commit statuses will not be posted".into()),
            )),
            Probe::Broken(name, e) => checks.push(check(name, Err(e))),
            Probe::Queued(name, row_id) => {
                let row = settled(&state, row_id).await?;
                checks.push(check(name, describe(name, &integration, &row)));
            }
        }
        Ok(Json(TestResultOut {
            ok: checks.iter().all(|c| c.ok),
            webhook_url,
            secret_set,
            checks,
        }))
    }
}
