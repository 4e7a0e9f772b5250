//! Talking back to GitHub and GitLab: the `pending` commit status of an eval run, and the
//! "can this token read the repository" check of the test endpoint.

use serde_json::json;

use crate::http;
use crate::integration_config::IntegrationConfig;
use crate::model::IntegrationType;
use crate::worker::ProcessError;

pub const GITHUB_API: &str = "https://api.github.com";
pub const GITLAB_API: &str = "https://gitlab.com/api/v4";
pub const STATUS_CONTEXT: &str = "provenant/eval";

/// The API base: the integration's `api_url` (GitHub Enterprise, self-managed GitLab, a test
/// double) or the public one.
pub fn api_base(config: &IntegrationConfig) -> String {
    let default = match config {
        IntegrationConfig::Gitlab(_) => GITLAB_API,
        _ => GITHUB_API,
    };
    config
        .api_url()
        .unwrap_or(default)
        .trim_end_matches('/')
        .to_string()
}

/// Where the repository or project lives under the API base, and how to name it to people.
fn resource(config: &IntegrationConfig) -> (String, String) {
    match config {
        IntegrationConfig::Gitlab(c) => (
            format!("/projects/{}", c.project_id.url_segment()),
            format!("project {}", c.project_id),
        ),
        IntegrationConfig::Github(c) => (
            format!("/repos/{}", c.repo),
            format!("repository {}", c.repo),
        ),
        _ => (String::new(), String::new()),
    }
}

fn auth_headers(kind: IntegrationType, token: &str) -> Vec<(&'static str, String)> {
    match kind {
        IntegrationType::Gitlab => vec![("private-token", token.to_string())],
        _ => vec![
            ("authorization", format!("Bearer {token}")),
            ("accept", "application/vnd.github+json".to_string()),
            ("x-github-api-version", "2022-11-28".to_string()),
        ],
    }
}

/// Posts a `pending` status with context `provenant/eval` on `sha`.
pub fn post_pending_status(
    agent: &ureq::Agent,
    kind: IntegrationType,
    config: &IntegrationConfig,
    token: &str,
    sha: &str,
    target_url: Option<&str>,
) -> Result<(), ProcessError> {
    let (path, _) = resource(config);
    let url = format!("{}{path}/statuses/{sha}", api_base(config));
    let body = match kind {
        IntegrationType::Gitlab => {
            json!({"state": "pending", "name": STATUS_CONTEXT, "description": "Eval run queued by Provenant"})
        }
        _ => {
            json!({"state": "pending", "context": STATUS_CONTEXT, "description": "Eval run queued by Provenant"})
        }
    };
    let mut body = body;
    if let Some(u) = target_url {
        body["target_url"] = json!(u);
    }
    let bytes = serde_json::to_vec(&body).map_err(|e| ProcessError::Permanent(e.to_string()))?;
    let mut headers = auth_headers(kind, token);
    headers.push(("content-type", "application/json".to_string()));
    let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let reply = http::send(agent, "POST", &url, &headers, Some(&bytes)).map_err(|e| {
        ProcessError::Retryable {
            error: format!("commit status: {e}"),
            after: None,
        }
    })?;
    classify(kind, reply, "posting the commit status")
}

fn classify(kind: IntegrationType, reply: http::Reply, doing: &str) -> Result<(), ProcessError> {
    let who = match kind {
        IntegrationType::Gitlab => "GitLab",
        _ => "GitHub",
    };
    match reply.status {
        200..=299 => Ok(()),
        401 => Err(ProcessError::Permanent(format!(
            "{doing}: {who} answered 401: the token is invalid or expired"
        ))),
        403 => Err(ProcessError::Permanent(format!(
            "{doing}: {who} answered 403: the token lacks the scope for commit statuses (GitHub: repo:status or Commit statuses write; GitLab: api)"
        ))),
        404 => Err(ProcessError::Permanent(format!(
            "{doing}: {who} answered 404: wrong repository/project, or the token cannot see it"
        ))),
        429 | 500..=599 => Err(ProcessError::Retryable {
            error: format!("{doing}: {who} answered {}", reply.status),
            after: reply.retry_after.map(std::time::Duration::from_secs),
        }),
        status => Err(ProcessError::Permanent(format!(
            "{doing}: {who} answered {status}: {}",
            reply.body.chars().take(200).collect::<String>()
        ))),
    }
}

/// Whether the token can read the configured repository or project; a sentence either way.
pub fn check_access(
    agent: &ureq::Agent,
    kind: IntegrationType,
    config: &IntegrationConfig,
    token: &str,
) -> Result<String, String> {
    let (path, what) = resource(config);
    let url = format!("{}{path}", api_base(config));
    let headers = auth_headers(kind, token);
    let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let reply = http::send(agent, "GET", &url, &headers, None)?;
    match classify(kind, reply, "reading the repository") {
        Ok(()) => Ok(format!("the token can read {what}")),
        Err(ProcessError::Permanent(e)) | Err(ProcessError::Retryable { error: e, .. }) => Err(e),
    }
}
