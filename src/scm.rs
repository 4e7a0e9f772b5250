//! Talking back to GitHub and GitLab: the `pending` commit status of an eval run, and the
//! "can this token read the repository" check of the test endpoint.

use serde_json::{Value, json};

use crate::http;
use crate::model::IntegrationType;
use crate::worker::ProcessError;

pub const GITHUB_API: &str = "https://api.github.com";
pub const GITLAB_API: &str = "https://gitlab.com/api/v4";
pub const STATUS_CONTEXT: &str = "provenant/eval";

/// The API base: the integration's `api_url` (GitHub Enterprise, self-managed GitLab, a test
/// double) or the public one.
pub fn api_base(kind: IntegrationType, config: &Value) -> String {
    let default = match kind {
        IntegrationType::Gitlab => GITLAB_API,
        _ => GITHUB_API,
    };
    config
        .get("api_url")
        .and_then(Value::as_str)
        .unwrap_or(default)
        .trim_end_matches('/')
        .to_string()
}

/// GitLab's project id as a URL path segment: numeric, or `group/project` encoded.
fn gitlab_project(config: &Value) -> String {
    let raw = match config.get("project_id") {
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::String(s)) => s.clone(),
        _ => String::new(),
    };
    form_urlencoded::byte_serialize(raw.as_bytes()).collect()
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
    config: &Value,
    token: &str,
    sha: &str,
    target_url: Option<&str>,
) -> Result<(), ProcessError> {
    let base = api_base(kind, config);
    let (url, body) = match kind {
        IntegrationType::Gitlab => (
            format!("{base}/projects/{}/statuses/{sha}", gitlab_project(config)),
            json!({"state": "pending", "name": STATUS_CONTEXT, "description": "Eval run queued by Provenant"}),
        ),
        _ => {
            let repo = config
                .get("repo")
                .and_then(Value::as_str)
                .unwrap_or_default();
            (
                format!("{base}/repos/{repo}/statuses/{sha}"),
                json!({"state": "pending", "context": STATUS_CONTEXT, "description": "Eval run queued by Provenant"}),
            )
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
    config: &Value,
    token: &str,
) -> Result<String, String> {
    let base = api_base(kind, config);
    let (url, what) = match kind {
        IntegrationType::Gitlab => (
            format!("{base}/projects/{}", gitlab_project(config)),
            format!(
                "project {}",
                config
                    .get("project_id")
                    .map(|v| v.to_string())
                    .unwrap_or_default()
            ),
        ),
        _ => {
            let repo = config
                .get("repo")
                .and_then(Value::as_str)
                .unwrap_or_default();
            (format!("{base}/repos/{repo}"), format!("repository {repo}"))
        }
    };
    let headers = auth_headers(kind, token);
    let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let reply = http::send(agent, "GET", &url, &headers, None)?;
    match classify(kind, reply, "reading the repository") {
        Ok(()) => Ok(format!("the token can read {what}")),
        Err(ProcessError::Permanent(e)) | Err(ProcessError::Retryable { error: e, .. }) => Err(e),
    }
}
