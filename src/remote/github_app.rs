//! Talking to GitHub as a GitHub App's installation: an RS256 JWT for the App, exchanged for
//! an installation token that is kept in memory only, until 5 minutes before it expires.
//!
//! A request to GitHub that carries [`AppAuth`] gets its `Authorization` here, just before it
//! is sent (outside any database transaction: fetching a token is an HTTP call). A 401 from
//! GitHub drops the token and fetches a fresh one, once. Neither the JWT nor a token is ever
//! written to a log line, an outbox row or an answer: errors name what failed, not the value.

use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Serialize;

use super::create_once::CreateOnce;
use super::{Answer, Request, github, refused};
use crate::remote::agent::{self as http, Reply};

/// GitHub refuses a JWT whose `exp` is more than 10 minutes out; 9 leaves room for clock drift.
const JWT_LIFETIME_SECS: i64 = 9 * 60;
/// `iat` in the past, as GitHub advises, for clocks that run a little ahead.
const JWT_BACKDATE_SECS: i64 = 60;
/// A token is not used in its last 5 minutes: a request must not outlive it.
const REFRESH_BEFORE_MS: i64 = 5 * 60 * 1000;

/// How a request to GitHub authenticates when its integration runs as an App.
#[derive(Clone)]
pub struct AppAuth {
    pub app_id: u64,
    pub private_key: PrivateKey,
    pub acting: Acting,
    /// The API base, e.g. `https://api.github.com`.
    pub api_base: String,
    /// A keyed fingerprint of the private key: tokens are only ever reused by requests signed
    /// with the same key (an integration that names someone else's App id gets nothing).
    pub key_fingerprint: String,
    /// Whether the App's JWT and tokens may go to `api_base` over plain http (an admin listed
    /// its origin as `http://…`).
    pub plain_http_ok: bool,
}

/// The App's private key (PEM). Its `Debug` shows nothing of it.
#[derive(Clone)]
pub struct PrivateKey(pub String);

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PrivateKey(***)")
    }
}

/// Who a request speaks as: the App itself (its JWT: the App's own endpoints, such as its
/// delivery log), or one of its installations (an installation token: everything about a
/// repository).
#[derive(Debug, Clone)]
pub enum Acting {
    App,
    Installation {
        /// From the config; otherwise asked of GitHub for `repo` (and remembered).
        installation_id: Option<u64>,
        /// `owner/name`: where the installation is looked up when its id is not configured.
        repo: String,
    },
}

impl fmt::Debug for AppAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppAuth")
            .field("app_id", &self.app_id)
            .field("acting", &self.acting)
            .field("api_base", &self.api_base)
            .finish_non_exhaustive()
    }
}

#[derive(Serialize)]
struct Claims {
    iat: i64,
    exp: i64,
    iss: String,
}

/// The App's own webhook's delivery log, read with its JWT: every repository's deliveries.
pub const DELIVERY_LOG: &str = "/app/hook/deliveries";

/// Where a delivery of the App's log (its attempt `attempt`) is asked for again.
pub fn redelivery_path(attempt: i64) -> String {
    super::path(&[
        "app",
        "hook",
        "deliveries",
        &attempt.to_string(),
        "attempts",
    ])
}

/// The App's JWT at `now_secs`: RS256, `iat` 60 s back, `exp` 9 minutes out, `iss` the App id.
pub fn app_jwt(app_id: u64, private_key: &PrivateKey, now_secs: i64) -> Result<String, String> {
    let key = EncodingKey::from_rsa_pem(private_key.0.trim().as_bytes())
        .map_err(|_| "config.private_key is not an RSA private key in PEM".to_string())?;
    let claims = Claims {
        iat: now_secs - JWT_BACKDATE_SECS,
        exp: now_secs + JWT_LIFETIME_SECS,
        iss: app_id.to_string(),
    };
    jsonwebtoken::encode(&Header::new(Algorithm::RS256), &claims, &key)
        .map_err(|e| format!("the App's JWT could not be signed: {e}"))
}

#[derive(Clone, PartialEq, Eq, Hash)]
struct TokenKey {
    api_base: String,
    app_id: u64,
    installation_id: u64,
    key_fingerprint: String,
}

#[derive(Clone, PartialEq, Eq, Hash)]
struct InstallationKey {
    api_base: String,
    app_id: u64,
    owner: String,
    key_fingerprint: String,
}

struct Cached {
    token: String,
    /// When it stops being used (5 minutes before GitHub's `expires_at`).
    use_until_ms: i64,
}

/// Installation tokens and installation ids, in memory only, shared by every sender.
#[derive(Default)]
pub struct InstallationTokens {
    tokens: Mutex<HashMap<TokenKey, Cached>>,
    installations: Mutex<HashMap<InstallationKey, u64>>,
}

/// Why no token could be had: what the row records.
type Failure = Answer;

impl InstallationTokens {
    pub fn new() -> InstallationTokens {
        InstallationTokens::default()
    }

    /// A token for `auth`'s installation: the one kept, while it is good, or a new one.
    fn token(
        &self,
        agent: &ureq::Agent,
        auth: &AppAuth,
        installation: (Option<u64>, &str),
        now_ms: i64,
    ) -> Result<String, Failure> {
        let installation_id = self.installation_id(agent, auth, installation, now_ms)?;
        let key = token_key(auth, installation_id);
        if let Some(cached) = lock(&self.tokens).get(&key)
            && now_ms < cached.use_until_ms
        {
            return Ok(cached.token.clone());
        }
        let jwt = jwt_or_refusal(auth, now_ms)?;
        let url = format!(
            "{}/app/installations/{installation_id}/access_tokens",
            auth.api_base
        );
        let reply = send_with_jwt(agent, auth.plain_http_ok, "POST", &url, &jwt, now_ms)?;
        if reply.status != 201 && reply.status != 200 {
            return Err(app_refusal(
                &reply,
                now_ms,
                &format!("an installation token for installation {installation_id}"),
            ));
        }
        let answer: serde_json::Value = serde_json::from_str(&reply.body).unwrap_or_default();
        let Some(token) = answer["token"].as_str().filter(|t| !t.is_empty()) else {
            return Err(refused_plain(
                "GitHub's answer for an installation token held no token",
            ));
        };
        // Without a readable expiry, GitHub's documented lifetime (one hour).
        let expires_ms = answer["expires_at"]
            .as_str()
            .and_then(crate::domain::checked::Timestamp::parse)
            .map(|t| t.0)
            .unwrap_or(now_ms + 60 * 60 * 1000);
        lock(&self.tokens).insert(
            key,
            Cached {
                token: token.to_string(),
                use_until_ms: expires_ms - REFRESH_BEFORE_MS,
            },
        );
        Ok(token.to_string())
    }

    /// Drops the token kept for `auth`'s installation (GitHub said 401 to it).
    fn forget(&self, auth: &AppAuth, (configured, repo): (Option<u64>, &str)) {
        let installation = configured.or_else(|| {
            lock(&self.installations)
                .get(&installation_key(auth, repo))
                .copied()
        });
        if let Some(id) = installation {
            lock(&self.tokens).remove(&token_key(auth, id));
        }
    }

    /// The configured installation, or the one GitHub names for the repository
    /// (`GET /repos/{owner}/{repo}/installation`, with the JWT), remembered by owner: an App
    /// is installed once per account.
    fn installation_id(
        &self,
        agent: &ureq::Agent,
        auth: &AppAuth,
        (configured, repo): (Option<u64>, &str),
        now_ms: i64,
    ) -> Result<u64, Failure> {
        if let Some(id) = configured {
            return Ok(id);
        }
        let key = installation_key(auth, repo);
        if let Some(id) = lock(&self.installations).get(&key) {
            return Ok(*id);
        }
        let jwt = jwt_or_refusal(auth, now_ms)?;
        let (owner, name) = repo.split_once('/').unwrap_or((repo, ""));
        let url = format!(
            "{}{}",
            auth.api_base,
            super::path(&["repos", owner, name, "installation"])
        );
        let reply = send_with_jwt(agent, auth.plain_http_ok, "GET", &url, &jwt, now_ms)?;
        if reply.status == 404 {
            return Err(refused_plain(format!(
                "GitHub answered 404: the App {} is not installed on {repo} (install it, or set config.installation_id)",
                auth.app_id
            )));
        }
        if reply.status != 200 {
            return Err(app_refusal(
                &reply,
                now_ms,
                &format!("the App's installation on {repo}"),
            ));
        }
        let answer: serde_json::Value = serde_json::from_str(&reply.body).unwrap_or_default();
        let Some(id) = answer["id"].as_u64() else {
            return Err(refused_plain(
                "GitHub's answer for the App's installation held no id",
            ));
        };
        lock(&self.installations).insert(key, id);
        Ok(id)
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn token_key(auth: &AppAuth, installation_id: u64) -> TokenKey {
    TokenKey {
        api_base: auth.api_base.clone(),
        app_id: auth.app_id,
        installation_id,
        key_fingerprint: auth.key_fingerprint.clone(),
    }
}

fn installation_key(auth: &AppAuth, repo: &str) -> InstallationKey {
    InstallationKey {
        api_base: auth.api_base.clone(),
        app_id: auth.app_id,
        owner: owner_of(repo).to_ascii_lowercase(),
        key_fingerprint: auth.key_fingerprint.clone(),
    }
}

/// The account a repository belongs to: where an App is installed.
pub fn owner_of(repo: &str) -> &str {
    repo.split('/').next().unwrap_or(repo)
}

fn jwt_or_refusal(auth: &AppAuth, now_ms: i64) -> Result<String, Failure> {
    app_jwt(auth.app_id, &auth.private_key, now_ms.div_euclid(1000)).map_err(refused_plain)
}

fn refused_plain(error: impl Into<String>) -> Answer {
    Answer::Refused {
        status: None,
        error: error.into(),
    }
}

/// A request signed with the App's JWT. The JWT is scrubbed from anything GitHub echoes.
fn send_with_jwt(
    agent: &ureq::Agent,
    plain_http_ok: bool,
    method: &str,
    url: &str,
    jwt: &str,
    now_ms: i64,
) -> Result<Reply, Failure> {
    if !plain_http_ok && crate::domain::hosts::scheme_of(url).as_deref() != Some("https") {
        return Err(super::plain_http_refusal(url));
    }
    let headers = github::headers(jwt);
    let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let body: Option<&[u8]> = (method == "POST").then_some(b"{}");
    match http::send(agent, method, url, &headers, body, now_ms) {
        Ok(mut reply) => {
            super::scrub(&mut reply.body, &[jwt]);
            Ok(reply)
        }
        Err(error) => Err(Answer::Retry {
            status: None,
            error: format!("GitHub could not be reached for the App's token: {error}"),
            after: None,
        }),
    }
}

/// What an answer other than success to the App's own requests means: a rate limit or 5xx is
/// worth waiting for; anything else is the App's configuration.
fn app_refusal(reply: &Reply, now_ms: i64, what: &str) -> Answer {
    let status = reply.status;
    match github::read(reply.clone(), now_ms) {
        answer @ (Answer::Pause { .. } | Answer::Retry { .. }) => answer,
        _ if status == 401 => refused(
            "GitHub",
            status,
            &format!(
                "the App's JWT was refused while asking for {what}: check config.app_id and config.private_key"
            ),
        ),
        _ => refused(
            "GitHub",
            status,
            &format!("while asking for {what}: {}", super::said(reply)),
        ),
    }
}

/// Creates what `request` creates unless an earlier attempt did (see
/// [`CreateOnce`](super::create_once::CreateOnce)), as the App's installation.
pub fn send_creating_once(
    agent: &ureq::Agent,
    tokens: &InstallationTokens,
    auth: &AppAuth,
    once: &CreateOnce,
    request: &Request,
    now_ms: i64,
    read: impl Fn(Reply) -> Answer,
) -> Answer {
    super::create_once::send_creating_once(once, request, |r| {
        send(agent, tokens, auth, r, now_ms, &read)
    })
}

/// Sends `request` as the App (a JWT signed now) or as its installation: with the kept
/// token, and after a 401 once more with a fresh one.
pub fn send(
    agent: &ureq::Agent,
    tokens: &InstallationTokens,
    auth: &AppAuth,
    request: &Request,
    now_ms: i64,
    read: impl Fn(Reply) -> Answer,
) -> Answer {
    let installation = match &auth.acting {
        Acting::App => return send_as_app(agent, auth, request, now_ms, read),
        Acting::Installation {
            installation_id,
            repo,
        } => (*installation_id, repo.as_str()),
    };
    let mut refreshed = false;
    loop {
        let token = match tokens.token(agent, auth, installation, now_ms) {
            Ok(token) => token,
            Err(failure) => return failure,
        };
        let signed = with_bearer(request, &token);
        let status = std::cell::Cell::new(None);
        let answer = super::send(agent, &signed, now_ms, |reply| {
            status.set(Some(reply.status));
            read(reply)
        });
        if status.get() == Some(401) && !refreshed {
            tokens.forget(auth, installation);
            refreshed = true;
            continue;
        }
        return answer;
    }
}

/// Sends `request` as the App itself, with a JWT signed now (the App's own endpoints: its
/// delivery log, its hook's config).
pub fn send_as_app(
    agent: &ureq::Agent,
    auth: &AppAuth,
    request: &Request,
    now_ms: i64,
    read: impl Fn(Reply) -> Answer,
) -> Answer {
    match jwt_or_refusal(auth, now_ms) {
        // Scrubbed from the answer like every credential in an Authorization header.
        Ok(jwt) => super::send(agent, &with_bearer(request, &jwt), now_ms, read),
        Err(failure) => failure,
    }
}

fn with_bearer(request: &Request, credential: &str) -> Request {
    let mut signed = request.clone();
    signed
        .headers
        .retain(|(name, _)| !name.eq_ignore_ascii_case("authorization"));
    signed
        .headers
        .push(("authorization", format!("Bearer {credential}")));
    signed
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::integration_config::check_private_key;

    #[test]
    fn a_key_that_is_not_pem_is_refused_with_what_is_expected() {
        let error = check_private_key("ghp_not_a_key").expect_err("refused");
        assert!(error.contains("RSA PRIVATE KEY"), "{error}");
        assert!(app_jwt(1, &PrivateKey("nope".into()), 0).is_err());
    }

    #[test]
    fn the_private_key_never_shows_in_debug() {
        let key = PrivateKey("-----BEGIN RSA PRIVATE KEY-----\nsecret".into());
        assert_eq!(format!("{key:?}"), "PrivateKey(***)");
    }
}
