//! Turning a claimed outbox row into a request: the integration's current config, its
//! credentials resolved at this moment, and for a GitHub deployment status the id of the
//! deployment created before it.

use rusqlite::Connection;

use crate::db::integrations;
use crate::db::outbox::{Finish, OutboxRow};
use crate::db::runs;
use crate::error::AppResult;
use crate::integration_config::IntegrationConfig;
use crate::model::OutboxKind;
use crate::notify::pacer::SlackPacer;
use crate::notify::slack;
use crate::remote::{self, Request};
use crate::secrets::{self, SecretBox};

/// Which remote's rules read the answer.
#[derive(Debug, Clone, Copy)]
pub enum Remote {
    Github,
    Gitlab,
    Slack,
}

impl Remote {
    pub fn label(self) -> &'static str {
        match self {
            Remote::Github => "github",
            Remote::Gitlab => "gitlab",
            Remote::Slack => "slack",
        }
    }
}

pub enum Prepared {
    Send(Request, Remote),
    /// Settled without a request (a missing credential, a deployment already created, a
    /// Slack webhook still within its second).
    Settled(Finish),
}

fn failed(error: impl Into<String>) -> Prepared {
    Prepared::Settled(Finish::Failed {
        error: error.into(),
        status: None,
    })
}

pub fn prepare(
    conn: &Connection,
    secrets: &SecretBox,
    pacer: &SlackPacer,
    row: &OutboxRow,
    now: i64,
) -> AppResult<Prepared> {
    let Some(integration) = integrations::find(conn, &row.integration_id)?.filter(|i| i.is_active)
    else {
        return Ok(failed("the integration is inactive or deleted"));
    };
    if row.kind == OutboxKind::SlackMessage {
        let IntegrationConfig::Slack(config) = &integration.settings else {
            return Ok(failed("the integration is not a SLACK one"));
        };
        let url = match secrets::resolve_config_value(
            conn,
            secrets,
            "webhook_url",
            Some(config.webhook_url.as_str()),
        ) {
            Ok(Some(url)) => url,
            Ok(None) => return Ok(failed("config.webhook_url is not set")),
            Err(e) => return Ok(failed(e)),
        };
        // Another row (or the same URL under another integration) used this second.
        if let Err(wait) = pacer.try_take(&url) {
            return Ok(Prepared::Settled(Finish::Again {
                error: "waiting for Slack's one-message-a-second limit".into(),
                status: None,
                due: now + wait.as_millis() as i64 + 1,
                counted: false,
            }));
        }
        let facts = row.request.as_object().cloned().unwrap_or_default();
        let message = slack::build_message(row.event_type.as_deref().unwrap_or(""), &facts, config);
        let request = Request {
            method: "POST".into(),
            url,
            headers: vec![("content-type", "application/json".into())],
            // Exact bytes: compact JSON.
            body: Some(serde_json::to_vec(&message).unwrap_or_default()),
            url_is_secret: true,
        };
        return Ok(Prepared::Send(request, Remote::Slack));
    }

    let token =
        match secrets::resolve_config_value(conn, secrets, "token", integration.settings.token()) {
            Ok(Some(token)) => token,
            Ok(None) => return Ok(failed("the integration has no token any more")),
            Err(e) => return Ok(failed(e)),
        };
    let mut path = row.request["path"].as_str().unwrap_or_default().to_string();
    if let Some(subject) = row.subject_id.as_deref()
        && matches!(
            row.kind,
            OutboxKind::Deployment | OutboxKind::DeploymentStatus
        )
    {
        let remote_id = runs::get_deployment(conn, subject)
            .ok()
            .and_then(|d| d.remote_id);
        match (row.kind, remote_id) {
            // Sent before a crash and answered: creating it again would duplicate it.
            (OutboxKind::Deployment, Some(id)) => {
                return Ok(Prepared::Settled(Finish::Sent {
                    status: 200,
                    excerpt: format!("already created: GitHub deployment {id}"),
                }));
            }
            (OutboxKind::DeploymentStatus, Some(id)) => {
                path = path.replace("{deployment_id}", &id);
            }
            (OutboxKind::DeploymentStatus, None) => {
                return Ok(failed(
                    "no GitHub deployment was created for this deployment; see its DEPLOYMENT row",
                ));
            }
            _ => {}
        }
    }
    let (mut headers, which) = match integration.settings {
        IntegrationConfig::Gitlab(_) => (remote::gitlab::headers(&token), Remote::Gitlab),
        _ => (remote::github::headers(&token), Remote::Github),
    };
    let body = &row.request["body"];
    let body = if body.is_null() {
        None
    } else {
        headers.push(("content-type", "application/json".into()));
        Some(serde_json::to_vec(body).unwrap_or_default())
    };
    Ok(Prepared::Send(
        Request {
            method: row.request["method"].as_str().unwrap_or("POST").to_string(),
            url: format!("{}{path}", remote::api_base(&integration.settings)),
            headers,
            body,
            url_is_secret: false,
        },
        which,
    ))
}
