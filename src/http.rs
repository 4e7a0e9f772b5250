//! The one outbound HTTP client: a ureq agent with timeouts and a User-Agent, used by the
//! outbox's senders for every call to GitHub, GitLab and Slack.

use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(10);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(TIMEOUT))
        .timeout_connect(Some(CONNECT_TIMEOUT))
        .user_agent(concat!("provenant/", env!("CARGO_PKG_VERSION")))
        // 4xx and 5xx come back as responses, so their bodies (Slack's error strings) can
        // be read and classified.
        .http_status_as_error(false)
        .max_redirects(0)
        .build()
        .into()
}

/// What came back from a remote service.
#[derive(Debug, Clone, Default)]
pub struct Reply {
    pub status: u16,
    pub body: String,
    /// `Retry-After`, in seconds, when the remote sent one.
    pub retry_after: Option<u64>,
    /// `x-ratelimit-remaining` (GitHub) or `ratelimit-remaining` (GitLab).
    pub rate_limit_remaining: Option<u64>,
    /// `x-ratelimit-reset` / `ratelimit-reset`: when the window resets (Unix seconds).
    pub rate_limit_reset: Option<i64>,
}

const MAX_ERROR_BODY: u64 = 64 * 1024;

/// Sends `body` (exact bytes) with `headers`; a transport failure is an `Err` text.
pub fn send(
    agent: &ureq::Agent,
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> Result<Reply, String> {
    let mut builder = ureq::http::Request::builder().method(method).uri(url);
    for (k, v) in headers {
        builder = builder.header(*k, *v);
    }
    let result = match body {
        Some(bytes) => builder
            .body(bytes.to_vec())
            .map_err(|e| format!("bad request: {e}"))
            .and_then(|r| agent.run(r).map_err(describe)),
        None => builder
            .body(())
            .map_err(|e| format!("bad request: {e}"))
            .and_then(|r| agent.run(r).map_err(describe)),
    };
    let mut resp = result?;
    let number = |names: &[&str]| -> Option<String> {
        names.iter().find_map(|n| {
            resp.headers()
                .get(*n)
                .and_then(|v| v.to_str().ok())
                .map(|v| v.trim().to_string())
        })
    };
    let retry_after = number(&["retry-after"]).and_then(|v| v.parse().ok());
    let rate_limit_remaining =
        number(&["x-ratelimit-remaining", "ratelimit-remaining"]).and_then(|v| v.parse().ok());
    let rate_limit_reset =
        number(&["x-ratelimit-reset", "ratelimit-reset"]).and_then(|v| v.parse().ok());
    let status = resp.status().as_u16();
    let body = resp
        .body_mut()
        .with_config()
        .limit(MAX_ERROR_BODY)
        .read_to_string()
        .unwrap_or_default();
    Ok(Reply {
        status,
        body,
        retry_after,
        rate_limit_remaining,
        rate_limit_reset,
    })
}

fn describe(e: ureq::Error) -> String {
    match e {
        ureq::Error::Timeout(_) => "timed out".to_string(),
        ureq::Error::HostNotFound => "host not found".to_string(),
        ureq::Error::ConnectionFailed => "connection failed".to_string(),
        other => other.to_string(),
    }
}
