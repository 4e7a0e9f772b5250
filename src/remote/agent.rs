//! The one outbound HTTP client: a ureq agent with timeouts and a User-Agent, behind the
//! egress fence (`remote::egress`), used by the outbox's senders for every call to GitHub,
//! GitLab, Slack and runners, and by sign-in and doctor.

use std::sync::Arc;
use std::time::Duration;

use crate::domain::hosts::AllowedHosts;

const TIMEOUT: Duration = Duration::from_secs(10);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The agent; addresses inside a network are reached only at the origins `allowed` lists.
pub fn agent(allowed: Arc<AllowedHosts>) -> ureq::Agent {
    let config = ureq::Agent::config_builder()
        .timeout_global(Some(TIMEOUT))
        .timeout_connect(Some(CONNECT_TIMEOUT))
        .user_agent(concat!("provenant/", env!("CARGO_PKG_VERSION")))
        // 4xx and 5xx come back as responses, so their bodies (Slack's error strings) can
        // be read and classified.
        .http_status_as_error(false)
        // A redirect is never followed: a credential must not travel elsewhere, and the
        // fence checked this address, not the next.
        .max_redirects(0)
        .build();
    ureq::Agent::with_parts(
        config,
        ureq::unversioned::transport::DefaultConnector::new(),
        super::egress::FencedResolver::new(allowed),
    )
}

/// What came back from a remote service.
#[derive(Debug, Clone, Default)]
pub struct Reply {
    pub status: u16,
    pub body: String,
    /// `Retry-After`, in seconds (from a number or an HTTP date), when the remote sent one;
    /// at most [`MAX_REMOTE_WAIT`].
    pub retry_after: Option<u64>,
    /// `x-ratelimit-remaining` (GitHub) or `ratelimit-remaining` (GitLab).
    pub rate_limit_remaining: Option<u64>,
    /// `x-ratelimit-reset` / `ratelimit-reset`: when the window resets (Unix seconds).
    pub rate_limit_reset: Option<i64>,
    /// Where a redirect pointed (never followed: the token must not travel elsewhere).
    pub location: Option<String>,
    /// The remote's host, when what it said must not be kept or shown (it is not one of the
    /// allowed API hosts): its answer is read, not repeated.
    pub hidden: Option<String>,
    /// `Date`: the remote's clock (read by `doctor`).
    pub date: Option<String>,
    /// `X-Provenant-Probe-Answer`: a provenant server's answer to `doctor`'s probe.
    pub probe_answer: Option<String>,
}

/// `doctor` asks `GET /api/health` with a nonce in this header…
pub const PROBE_HEADER: &str = "x-provenant-probe";
/// …and a server that holds the same API token answers with its HMAC in this one.
pub const PROBE_ANSWER_HEADER: &str = "x-provenant-probe-answer";

/// The answer to a probe: HMAC-SHA256 of the nonce under the API token, so only a server of
/// this installation can give it, and the token never travels.
pub fn probe_answer(api_token: &str, nonce: &str) -> String {
    use hmac::{KeyInit, Mac};
    let mut mac = <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(api_token.as_bytes())
        .expect("HMAC takes any key length");
    mac.update(b"provenant doctor probe\n");
    mac.update(nonce.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// The most of an answer's body that is read: a remote that sends gigabytes costs 64 KiB.
pub const MAX_ERROR_BODY: u64 = 64 * 1024;

/// The longest wait a remote can impose through `Retry-After` or a rate-limit reset time. A
/// remote that asks for more (by mistake, or a year away) is tried again after this.
pub const MAX_REMOTE_WAIT: Duration = Duration::from_secs(3600);

/// An HTTP date (`Wed, 21 Oct 2015 07:28:00 GMT`), as `Date` and `Retry-After` carry it.
pub fn parse_http_date(value: &str) -> Option<time::OffsetDateTime> {
    time::OffsetDateTime::parse(value.trim(), &time::format_description::well_known::Rfc2822).ok()
}

/// `Retry-After` is either a number of seconds or an HTTP date (`Wed, 21 Oct 2015 07:28:00
/// GMT`); a date in the past means now. None for anything else. Clamped to
/// [`MAX_REMOTE_WAIT`].
pub fn parse_retry_after(value: &str, now_ms: i64) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        // Any number of digits: too many for a u64 is simply very long.
        let secs = value.parse::<u64>().unwrap_or(u64::MAX);
        return Some(Duration::from_secs(secs).min(MAX_REMOTE_WAIT));
    }
    let at = parse_http_date(value)?;
    let at_ms = i64::try_from(at.unix_timestamp_nanos() / 1_000_000).ok()?;
    let wait_ms = at_ms.saturating_sub(now_ms).max(0) as u64;
    Some(Duration::from_millis(wait_ms).min(MAX_REMOTE_WAIT))
}

/// Whether `url` is an absolute http(s) URL with a host: nothing else is handed to the HTTP
/// client, whose errors and debug lines would repeat it (and a URL that fails to parse may be
/// a credential pasted into the wrong field).
fn is_sendable(url: &str) -> bool {
    url.parse::<ureq::http::Uri>().is_ok_and(|uri| {
        matches!(uri.scheme_str(), Some("http" | "https"))
            && uri.host().is_some_and(|h| !h.is_empty())
    })
}

/// Sends `body` (exact bytes) with `headers`; a transport failure is an `Err` text, which
/// never repeats the URL.
pub fn send(
    agent: &ureq::Agent,
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
    now_ms: i64,
) -> Result<Reply, String> {
    if !is_sendable(url) {
        return Err("the address is not an absolute http(s) URL (it is not repeated here)".into());
    }
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
    let retry_after = number(&["retry-after"])
        .and_then(|v| parse_retry_after(&v, now_ms))
        .map(|wait| wait.as_secs_f64().ceil() as u64);
    let rate_limit_remaining =
        number(&["x-ratelimit-remaining", "ratelimit-remaining"]).and_then(|v| v.parse().ok());
    let rate_limit_reset =
        number(&["x-ratelimit-reset", "ratelimit-reset"]).and_then(|v| v.parse().ok());
    let location = number(&["location"]);
    let date = number(&["date"]);
    let probe_answer = number(&[PROBE_ANSWER_HEADER]);
    let status = resp.status().as_u16();
    // At most MAX_ERROR_BODY bytes, then stop reading (a body without end costs no more). A
    // body that breaks off before its promised end is a failed exchange, not an answer.
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(
        &mut std::io::Read::take(resp.body_mut().as_reader(), MAX_ERROR_BODY),
        &mut bytes,
    )
    .map_err(|e| format!("the answer was cut short ({status}): {e}"))?;
    let body = String::from_utf8_lossy(&bytes).into_owned();
    Ok(Reply {
        status,
        body,
        retry_after,
        rate_limit_remaining,
        rate_limit_reset,
        location,
        hidden: None,
        date,
        probe_answer,
    })
}

fn describe(e: ureq::Error) -> String {
    match e {
        ureq::Error::Timeout(_) => "timed out".to_string(),
        ureq::Error::HostNotFound => "host not found".to_string(),
        ureq::Error::ConnectionFailed => "connection failed".to_string(),
        // Its text names the URL.
        ureq::Error::BadUri(_) => "the address could not be used".to_string(),
        // The fence's refusal names the host and why, not the URL.
        ureq::Error::Io(e) if e.kind() == std::io::ErrorKind::PermissionDenied => e.to_string(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_that_does_not_parse_is_never_handed_on_or_repeated() {
        let agent = agent(Arc::new(AllowedHosts::default()));
        for url in [
            "xoxb-123-secret-token",
            "hooks.slack.com/services/T/B/secret",
            "ftp://h/secret",
            "https:///secret",
        ] {
            let err = send(&agent, "POST", url, &[], None, 0).expect_err("refused");
            assert!(!err.contains("secret"), "{url}: {err}");
        }
    }
}
