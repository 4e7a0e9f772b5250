//! Talking to GitHub, GitLab and Slack: the requests they take and how to read their answers.
//! No storage and no scheduling here: the outbox decides when to send; this module says what
//! to send and what the answer means.

pub mod agent;
pub mod call;
pub mod ci_oidc;
pub mod create_once;
pub mod egress;
pub mod forge;
pub mod github;
pub mod github_app;
pub mod github_manifest;
pub mod gitlab;
pub mod oidc;
pub mod slack;

use std::time::Duration;

use crate::domain::integration_config::IntegrationConfig;
use crate::remote::agent::{self as http, Reply};

/// Longest excerpt of a remote's answer kept with an outbox row.
const EXCERPT_CHARS: usize = 300;

/// A request ready to go.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub url: String,
    pub headers: Vec<(&'static str, String)>,
    pub body: Option<Vec<u8>>,
    /// The URL itself is a credential (a Slack incoming webhook).
    pub url_is_secret: bool,
    /// A credential the body carries (an HTTP runner's callback token): like a credential
    /// header, it goes over plain http only to a listed origin, and is scrubbed from answers.
    pub body_secret: Option<String>,
    /// Whether what the remote answers may be kept and shown (its host is an allowed API
    /// host, see [`AllowedHosts`]). Otherwise only the status is: an `api_url` pointed at an
    /// internal service must not make this server a way to read it.
    pub show_answer: bool,
    /// Whether its credentials may travel over plain http to this URL: its origin is listed
    /// as `http://host[:port]` in `--egress-allow` (see
    /// [`AllowedHosts::credentials_may_go_to`]). Checked again at the send.
    pub plain_http_ok: bool,
}

impl Request {
    /// Why the request must not be sent: it carries a credential, and its URL is not https
    /// (nor an http origin an admin listed).
    fn refused_over_plain_http(&self) -> Option<Answer> {
        let https = crate::domain::hosts::scheme_of(&self.url).as_deref() == Some("https");
        // Any credential header, however short its value (`credentials()` leaves short ones
        // out of scrubbing, not out of this).
        let carries = self.url_is_secret
            || self.body_secret.is_some()
            || self.headers.iter().any(|(name, _)| {
                name.eq_ignore_ascii_case("authorization")
                    || name.eq_ignore_ascii_case("private-token")
            });
        (carries && !https && !self.plain_http_ok).then(|| plain_http_refusal(&self.url))
    }

    /// The values in this request that must never be repeated in an error or a log: its token,
    /// and its URL's path when the URL is the credential.
    fn credentials(&self) -> Vec<&str> {
        let mut found: Vec<&str> = self
            .headers
            .iter()
            .filter(|(name, _)| {
                name.eq_ignore_ascii_case("authorization")
                    || name.eq_ignore_ascii_case("private-token")
            })
            // `Bearer <token>`, `token <token>`, or the bare token.
            .filter_map(|(_, value)| value.split_whitespace().last())
            .collect();
        if let Some(secret) = &self.body_secret {
            found.push(secret);
        }
        if self.url_is_secret {
            found.push(&self.url);
            if let Some(path) = self
                .url
                .split_once("://")
                .and_then(|(_, rest)| rest.find('/').map(|i| &rest[i..]))
            {
                found.push(path);
            }
        }
        // Short values would blot out ordinary words.
        found.retain(|c| c.len() >= 8);
        found
    }
}

/// One path segment of a remote API's URL, percent-encoded: whatever the value holds, it stays
/// one segment. Only unreserved characters (RFC 3986: letters, digits, `-._~`) pass as they
/// are, so `/`, `?`, `#` and `%` cannot change where a request goes; a segment of nothing but
/// dots (`.`, `..`), which a server would read as a step, has its dots encoded too. Every
/// value in a path to GitHub or GitLab goes through here (see [`path`]).
pub fn segment(value: &str) -> String {
    let dots_only = !value.is_empty() && value.bytes().all(|b| b == b'.');
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        let keep = b.is_ascii_alphanumeric()
            || matches!(b, b'-' | b'_' | b'~')
            || (b == b'.' && !dots_only);
        if keep {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `/a/b/c` from segments, each encoded by [`segment`].
pub fn path<S: AsRef<str>>(segments: &[S]) -> String {
    let mut out = String::new();
    for s in segments {
        out.push('/');
        out.push_str(&segment(s.as_ref()));
    }
    out
}

/// Replaces every credential in `text` with `***`: a remote that echoes the token back (in an
/// error page, say) must not get it stored or logged.
fn scrub(text: &mut String, credentials: &[&str]) {
    for credential in credentials {
        if text.contains(credential) {
            *text = text.replace(credential, "***");
        }
    }
}

/// The JSON body of an accepted answer, or why there is none (for reads whose answer is
/// used now, not recorded on a row).
pub fn json_of(answer: Answer) -> Result<serde_json::Value, String> {
    match answer {
        Answer::Accepted { body, .. } => serde_json::from_str(&body)
            .map_err(|e| format!("the API answered with something that is not JSON: {e}")),
        Answer::Retry { error, .. }
        | Answer::Pause { error, .. }
        | Answer::Refused { error, .. } => Err(error),
    }
}

/// What a remote's answer means for the row that was sent.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// Done. `body` is kept for the few answers that carry an id (a GitHub deployment);
    /// `excerpt` is what may be shown of it.
    Accepted {
        status: u16,
        body: String,
        excerpt: String,
    },
    /// Worth trying again later (5xx, a timeout); `after` is the least wait the remote asked for.
    Retry {
        status: Option<u16>,
        error: String,
        after: Option<Duration>,
    },
    /// The remote limits this destination: leave it alone for `wait`, then try again.
    Pause {
        status: u16,
        error: String,
        wait: Duration,
    },
    /// Will fail the same way every time (bad credentials, no such repository, invalid body).
    Refused { status: Option<u16>, error: String },
}

impl Answer {
    pub fn status(&self) -> Option<u16> {
        match self {
            Answer::Accepted { status, .. } | Answer::Pause { status, .. } => Some(*status),
            Answer::Retry { status, .. } | Answer::Refused { status, .. } => *status,
        }
    }
}

/// The refusal of a credential that would travel in clear text to `url`.
pub fn plain_http_refusal(url: &str) -> Answer {
    let origin = crate::domain::hosts::origin(url).unwrap_or_default();
    let shown = if origin.is_empty() {
        "an address that is not https".to_string()
    } else {
        origin
    };
    Answer::Refused {
        status: None,
        error: format!(
            "not sent: a credential goes only over https, and {shown} is not (an admin may list this exact origin as http://host[:port] in --egress-allow, for a test stand-in or a lab)"
        ),
    }
}

/// Sends a request; a transport failure (refused, reset, timed out) is worth a retry. A
/// request that carries a credential is sent only over https (or to an http origin an admin
/// listed), whatever was checked when its config was saved.
pub fn send(
    agent: &ureq::Agent,
    request: &Request,
    now_ms: i64,
    read: impl Fn(Reply) -> Answer,
) -> Answer {
    let headers: Vec<(&str, &str)> = request
        .headers
        .iter()
        .map(|(k, v)| (*k, v.as_str()))
        .collect();
    if let Some(refusal) = request.refused_over_plain_http() {
        return refusal;
    }
    let credentials = request.credentials();
    let mut answer = match http::send(
        agent,
        &request.method,
        &request.url,
        &headers,
        request.body.as_deref(),
        now_ms,
    ) {
        Ok(mut reply) => {
            // Before anything is cut to an excerpt, which could keep half a token.
            scrub(&mut reply.body, &credentials);
            if !request.show_answer {
                reply.hidden =
                    Some(crate::domain::hosts::host_of(&request.url).unwrap_or_default());
            }
            read(reply)
        }
        // The fence answers the same every time, until an admin allows the origin.
        Err(error) if error.starts_with(egress::REFUSED) => Answer::Refused {
            status: None,
            error,
        },
        Err(error) => Answer::Retry {
            status: None,
            // A Slack webhook URL is a credential: never let a transport error repeat it.
            error: format!(
                "could not be reached: {}",
                error.replace(
                    &request.url,
                    &crate::domain::masking::mask_url(&request.url)
                )
            ),
            after: None,
        },
    };
    match &mut answer {
        Answer::Accepted { body, excerpt, .. } => {
            scrub(body, &credentials);
            scrub(excerpt, &credentials);
        }
        Answer::Retry { error: text, .. }
        | Answer::Pause { error: text, .. }
        | Answer::Refused { error: text, .. } => scrub(text, &credentials),
    }
    answer
}

/// An answer that will not change by sending again, with what it means for people.
pub fn refused(who: &str, status: u16, why: &str) -> Answer {
    Answer::Refused {
        status: Some(status),
        error: format!("{who} answered {status}: {why}"),
    }
}

/// What may be repeated of a remote's answer: its first characters, or, for a host whose
/// answers are not shown, that it is not shown and why.
pub fn said(reply: &Reply) -> String {
    match &reply.hidden {
        Some(host) => format!(
            "(its answer is not shown: {host} is not one of the trusted origins, --egress-allow)"
        ),
        None => excerpt(&reply.body),
    }
}

/// A 2xx answer: done, keeping the body for what it carries (an id) but nothing of it to show:
/// what a remote answers on success may be anything it holds (an `api_url` pointed at another
/// endpoint would make the outbox a way to read it), and an excerpt is for error answers.
pub fn accepted(reply: Reply) -> Answer {
    Answer::Accepted {
        status: reply.status,
        body: reply.body,
        excerpt: String::new(),
    }
}

/// A remote that says nothing more than its status, such as a Slack incoming webhook or an
/// HTTP runner: 2xx is done; 429 pauses its queue for its `Retry-After`; the rest reads as
/// [`read_other`] says.
pub fn read_plain(who: &str, reply: Reply) -> Answer {
    match reply.status {
        200..=299 => accepted(reply),
        429 => Answer::Pause {
            status: 429,
            error: format!("{who} rate limit (429): {}", said(&reply)),
            wait: Duration::from_secs(reply.retry_after.unwrap_or(1).max(1)),
        },
        _ => read_other(who, &reply),
    }
}

/// The answers every remote reads alike: 5xx is worth a retry (after `Retry-After`, if sent);
/// any other unexpected status will not change by sending again.
pub fn read_other(who: &str, reply: &Reply) -> Answer {
    let said = said(reply);
    let status = reply.status;
    if (300..=399).contains(&status) {
        let to = match (&reply.hidden, reply.location.as_deref()) {
            (Some(_), Some(_)) => "another address (not shown)".into(),
            (None, Some(location)) => origin_of(location),
            (_, None) => "nowhere".into(),
        };
        Answer::Refused {
            status: Some(status),
            error: format!(
                "{who} answered {status}, a redirect to {to}; redirects are not followed (the token goes only where it was configured to): check the integration's api_url"
            ),
        }
    } else if (500..=599).contains(&status) {
        Answer::Retry {
            status: Some(status),
            error: format!("{who} answered {status}: {said}"),
            after: reply.retry_after.map(Duration::from_secs),
        }
    } else {
        Answer::Refused {
            status: Some(status),
            error: format!("{who} answered {status}: {said}"),
        }
    }
}

/// `https://host:port` of a URL: where a redirect pointed, without its path or query.
fn origin_of(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
            // No user:password@ either.
            let host = host.rsplit('@').next().unwrap_or_default();
            format!("{scheme}://{host}")
        }
        None => "a relative address".into(),
    }
}

/// The first characters of an answer, for people.
pub fn excerpt(body: &str) -> String {
    let body = body.trim();
    if body.chars().count() <= EXCERPT_CHARS {
        body.to_string()
    } else {
        let mut out: String = body.chars().take(EXCERPT_CHARS - 1).collect();
        out.push('…');
        out
    }
}

/// The API base of a GITHUB or GITLAB integration (see [`IntegrationConfig::api_base`]).
pub fn api_base(config: &IntegrationConfig) -> String {
    config.api_base()
}

/// How long a rate-limited remote asked us to wait: `Retry-After`, else until the window's
/// reset, else `fallback`. Never less than a second, nor more than `http::MAX_REMOTE_WAIT`
/// (unless the fallback itself is longer).
pub fn rate_limit_wait(reply: &Reply, now_ms: i64, fallback: Duration) -> Duration {
    let wait = match (reply.retry_after, reply.rate_limit_reset) {
        (Some(secs), _) => Duration::from_secs(secs),
        (None, Some(reset)) => {
            let ms = reset.saturating_mul(1000).saturating_sub(now_ms).max(0) as u64;
            Duration::from_millis(ms.saturating_add(1000))
        }
        (None, None) => fallback,
    };
    wait.clamp(
        Duration::from_secs(1),
        crate::remote::agent::MAX_REMOTE_WAIT.max(fallback),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(headers: Vec<(&'static str, String)>, url: &str, url_is_secret: bool) -> Request {
        Request {
            method: "POST".into(),
            url: url.into(),
            headers,
            body: None,
            url_is_secret,
            body_secret: None,
            show_answer: true,
            plain_http_ok: false,
        }
    }

    #[test]
    fn tokens_and_secret_urls_are_scrubbed_from_what_a_remote_says() {
        let github = request(
            vec![("authorization", "Bearer ghp_abcdefgh12345".into())],
            "https://api.github.com/repos/o/r/statuses/abc",
            false,
        );
        let mut text = "bad credentials: Bearer ghp_abcdefgh12345 for /repos/o/r".to_string();
        scrub(&mut text, &github.credentials());
        assert_eq!(text, "bad credentials: Bearer *** for /repos/o/r");

        let gitlab = request(
            vec![("private-token", "glpat-0123456789".into())],
            "https://gitlab.com/api/v4/x",
            false,
        );
        assert_eq!(gitlab.credentials(), vec!["glpat-0123456789"]);

        let slack = request(
            vec![],
            "https://hooks.slack.com/services/T0/B0/secretpart",
            true,
        );
        let mut text = "no_service for /services/T0/B0/secretpart".to_string();
        scrub(&mut text, &slack.credentials());
        assert_eq!(text, "no_service for ***");
    }

    #[test]
    fn a_value_stays_one_path_segment_whatever_it_holds() {
        assert_eq!(segment("octo-org"), "octo-org");
        assert_eq!(segment("hello.js"), "hello.js");
        assert_eq!(segment("grp/sub"), "grp%2Fsub");
        assert_eq!(segment(".."), "%2E%2E");
        assert_eq!(segment("a?b#c%d e"), "a%3Fb%23c%25d%20e");
        assert_eq!(segment("é"), "%C3%A9");
        assert_eq!(
            path(&["repos", "o", "r", "statuses", "../../x?y=#"]),
            "/repos/o/r/statuses/..%2F..%2Fx%3Fy%3D%23"
        );
    }

    #[test]
    fn a_redirect_is_named_by_its_origin_only() {
        assert_eq!(
            origin_of("https://evil.example:8443/steal?t=1"),
            "https://evil.example:8443"
        );
        assert_eq!(origin_of("http://user:pw@host/x"), "http://host");
        assert_eq!(origin_of("/elsewhere"), "a relative address");
    }

    #[test]
    fn a_credential_is_never_sent_over_plain_http_unless_its_origin_is_listed() {
        let token = vec![("authorization", "Bearer ghp_abcdefgh12345".to_string())];
        let plain = request(token.clone(), "http://api.github.com/repos/o/r", false);
        let answer = send(&ureq::Agent::new_with_defaults(), &plain, 0, accepted);
        match answer {
            Answer::Refused {
                status: None,
                error,
            } => {
                assert!(error.contains("only over https"), "{error}");
                assert!(!error.contains("ghp_"), "{error}");
            }
            other => panic!("sent: {other:?}"),
        }
        let slack = request(vec![], "http://hooks.slack.com/services/T/B/x", true);
        assert!(slack.refused_over_plain_http().is_some());
        let mut listed = request(token, "http://127.0.0.1:9/x", false);
        listed.plain_http_ok = true;
        assert!(listed.refused_over_plain_http().is_none());
        let short = request(
            vec![("private-token", "abc".into())],
            "http://127.0.0.1:9/x",
            false,
        );
        assert!(
            short.refused_over_plain_http().is_some(),
            "a short token is a token"
        );
        let anonymous = request(vec![], "http://127.0.0.1:9/x", false);
        assert!(
            anonymous.refused_over_plain_http().is_none(),
            "no credential, no rule"
        );
    }
}
