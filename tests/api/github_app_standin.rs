//! A stand-in for GitHub's API as a GitHub App sees it: it checks every App JWT with the
//! App's public key (RS256, `iss`, `iat` in the past, `exp` at most 10 minutes out), issues
//! installation tokens that expire, refuses revoked or expired ones with 401, finds
//! installations by account, and creates and lists check runs. Shared by the API and the
//! binary tests.
//!
//! The keys in tests/fixtures/github-app-*.pem were made for these tests alone (`openssl
//! genrsa -traditional 2048`) and belong to no App.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Value, json};

use crate::fake::{Canned, FakeRemote, Recorded};

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

fn now_secs() -> i64 {
    now_ms() / 1000
}

pub const KEY: &str = include_str!("../fixtures/github-app-test-key.pem");
pub const PUBLIC_KEY: &str = include_str!("../fixtures/github-app-test-key.pub.pem");
pub const OTHER_KEY: &str = include_str!("../fixtures/github-app-other-key.pem");
pub const APP_ID: u64 = 4242;

/// What the stand-in holds: installations by owner, the tokens it issued, and what it found
/// wrong with the JWTs it was sent.
#[derive(Default)]
pub struct Books {
    pub installations: HashMap<String, u64>,
    /// Token → (installation, expires at, Unix ms).
    pub issued: HashMap<String, (u64, i64)>,
    pub revoked: HashSet<String>,
    /// Refuse every token, even new ones.
    pub refuse_all: bool,
    pub token_lifetime_ms: i64,
    pub jwt_errors: Vec<String>,
    /// Check runs created: (id, head_sha, external_id); ids are 9001, 9002 …
    pub check_runs: Vec<(u64, String, String)>,
    /// Create the next check run but answer 502, as if the answer were lost.
    pub lose_next_answer: bool,
    /// The App's delivery log (`GET /app/hook/deliveries`), newest first.
    pub app_log: Vec<Value>,
    /// Attempts whose redelivery was asked for (`POST /app/hook/deliveries/{id}/attempts`).
    pub redelivered: Vec<i64>,
    /// The App's webhook URL (`GET /app/hook/config`).
    pub hook_url: String,
    /// The one code `POST /app-manifests/{code}/conversions` takes (once), and the web
    /// address the created App's page is under.
    pub manifest_code: Option<String>,
    pub web_url: String,
    /// The created App's `html_url`, when not the usual one under `web_url`.
    pub html_url: Option<String>,
}

/// What GitHub's conversion hands over: the App's key and secrets.
pub const CREATED_WEBHOOK_SECRET: &str = "created-app-webhook-secret-0123";
pub const CREATED_CLIENT_SECRET: &str = "created-app-client-secret-4567";

pub struct GithubApp {
    pub api: FakeRemote,
    pub books: Arc<Mutex<Books>>,
}

pub fn github_app() -> GithubApp {
    let api = FakeRemote::start();
    api.set_default(Canned::status(201, r#"{"id": 1}"#));
    let books = Arc::new(Mutex::new(Books {
        installations: HashMap::from([("octo-org".into(), 77), ("other-org".into(), 78)]),
        token_lifetime_ms: 60 * 60 * 1000,
        ..Books::default()
    }));
    let shared = books.clone();
    api.respond_with(move |r| answer(&mut shared.lock().expect("lock"), r));
    GithubApp { api, books }
}

fn unauthorized(message: &str) -> Option<Canned> {
    Some(Canned::status(
        401,
        &json!({"message": message, "documentation_url": "https://docs.github.com/rest"})
            .to_string(),
    ))
}

pub fn bearer(r: &Recorded) -> String {
    r.header("authorization")
        .and_then(|h| h.strip_prefix("Bearer "))
        .unwrap_or_default()
        .to_string()
}

/// Checks an App JWT as GitHub documents it: RS256, signed by the App's key, `iss` the App
/// id, issued in the past, expiring at most 10 minutes out.
fn check_jwt(jwt: &str) -> Result<(), String> {
    let key = DecodingKey::from_rsa_pem(PUBLIC_KEY.as_bytes()).expect("public key");
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_issuer(&[APP_ID.to_string()]);
    validation.set_required_spec_claims(&["exp", "iat", "iss"]);
    validation.leeway = 0;
    let claims = jsonwebtoken::decode::<Value>(jwt, &key, &validation)
        .map_err(|e| format!("not the App's JWT: {e}"))?
        .claims;
    let now = now_secs();
    let iat = claims["iat"].as_i64().ok_or("no iat")?;
    let exp = claims["exp"].as_i64().ok_or("no exp")?;
    if iat > now {
        return Err(format!("iat {iat} is in the future (now {now})"));
    }
    if now - iat > 120 {
        return Err(format!("iat {iat} is over 2 minutes old (now {now})"));
    }
    if exp - now > 600 {
        return Err(format!("exp {exp} is more than 10 minutes out (now {now})"));
    }
    Ok(())
}

fn rfc3339(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(ms / 1000)
        .expect("time")
        .format(&time::format_description::well_known::Rfc3339)
        .expect("format")
}

fn answer(books: &mut Books, r: &Recorded) -> Option<Canned> {
    let segments: Vec<&str> = r.path.trim_start_matches('/').split('/').collect();
    if segments.first() == Some(&"app") && segments.get(1) != Some(&"installations") {
        // The App's own endpoints take its JWT, never an installation token.
        if let Err(e) = check_jwt(&bearer(r)) {
            books.jwt_errors.push(e);
            return unauthorized("A JSON web token could not be decoded");
        }
        let path = r.path.split('?').next().unwrap_or_default();
        let path: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        return match (r.method.as_str(), path.as_slice()) {
            ("GET", ["app"]) => Some(Canned::status(
                200,
                &json!({"id": APP_ID, "slug": "provenant-test", "name": "Provenant test"})
                    .to_string(),
            )),
            ("GET", ["app", "hook", "config"]) => Some(Canned::status(
                200,
                &json!({"url": books.hook_url, "content_type": "json", "secret": "********", "insecure_ssl": "0"})
                    .to_string(),
            )),
            ("GET", ["app", "hook", "deliveries"]) => {
                Some(Canned::status(200, &Value::from(books.app_log.clone()).to_string()))
            }
            ("POST", ["app", "hook", "deliveries", id, "attempts"]) => {
                books.redelivered.push(id.parse().ok()?);
                Some(Canned::status(202, "{}"))
            }
            _ => Some(Canned::status(404, r#"{"message":"Not Found"}"#)),
        };
    }
    match (r.method.as_str(), segments.as_slice()) {
        ("POST", ["app-manifests", code, "conversions"]) => {
            // No credential: the code is one, good once.
            if r.header("authorization").is_some() {
                return Some(Canned::status(
                    400,
                    r#"{"message":"no credential expected"}"#,
                ));
            }
            if books.manifest_code.as_deref() != Some(*code) {
                return Some(Canned::status(404, r#"{"message":"Not Found"}"#));
            }
            books.manifest_code = None;
            Some(Canned::status(
                201,
                &json!({
                    "id": APP_ID, "slug": "provenant-test", "name": "Provenant test",
                    "node_id": "A_kwDO", "owner": {"login": "octo-org", "type": "Organization"},
                    "html_url": books.html_url.clone().unwrap_or_else(|| format!("{}/apps/provenant-test", books.web_url)),
                    "client_id": "Iv1.0123456789abcdef", "client_secret": CREATED_CLIENT_SECRET,
                    "webhook_secret": CREATED_WEBHOOK_SECRET, "pem": KEY,
                    "permissions": {"checks": "write"}, "events": ["pull_request"]
                })
                .to_string(),
            ))
        }
        ("POST", ["app", "installations", id, "access_tokens"]) => {
            if let Err(e) = check_jwt(&bearer(r)) {
                books.jwt_errors.push(e);
                return unauthorized("A JSON web token could not be decoded");
            }
            let installation: u64 = id.parse().ok()?;
            if !books.installations.values().any(|i| *i == installation) {
                return Some(Canned::status(404, r#"{"message":"Not Found"}"#));
            }
            let token = format!("ghs_{installation}_{}", books.issued.len() + 1);
            let expires = now_ms() + books.token_lifetime_ms;
            books.issued.insert(token.clone(), (installation, expires));
            Some(Canned::status(
                201,
                &json!({"token": token, "expires_at": rfc3339(expires), "permissions": {"statuses": "write"}})
                    .to_string(),
            ))
        }
        ("GET", ["repos", owner, _, "installation"]) => {
            if let Err(e) = check_jwt(&bearer(r)) {
                books.jwt_errors.push(e);
                return unauthorized("A JSON web token could not be decoded");
            }
            match books.installations.get(*owner) {
                Some(id) => Some(Canned::status(
                    200,
                    &json!({"id": id, "account": {"login": owner}, "app_id": APP_ID}).to_string(),
                )),
                None => Some(Canned::status(404, r#"{"message":"Not Found"}"#)),
            }
        }
        _ => {
            let token = bearer(r);
            let good = books
                .issued
                .get(&token)
                .is_some_and(|(_, expires)| *expires > now_ms());
            if !good || books.revoked.contains(&token) || books.refuse_all {
                return unauthorized("Bad credentials");
            }
            if r.method == "POST" && r.path.ends_with("/check-runs") {
                let body = r.json();
                let id = 9001 + books.check_runs.len() as u64;
                books.check_runs.push((
                    id,
                    body["head_sha"].as_str().unwrap_or_default().to_string(),
                    body["external_id"].as_str().unwrap_or_default().to_string(),
                ));
                if std::mem::take(&mut books.lose_next_answer) {
                    return Some(Canned::status(502, "Bad Gateway"));
                }
                return Some(Canned::status(
                    201,
                    &json!({"id": id, "status": "queued", "name": "provenant/eval"}).to_string(),
                ));
            }
            if let ["repos", _, _, "commits", sha, list] = segments.as_slice()
                && list.starts_with("check-runs?")
                && r.method == "GET"
            {
                let runs: Vec<Value> = books
                    .check_runs
                    .iter()
                    .filter(|(_, head, _)| head == sha)
                    .map(|(id, head, external)| {
                        json!({"id": id, "head_sha": head, "external_id": external, "name": "provenant/eval"})
                    })
                    .collect();
                return Some(Canned::status(
                    200,
                    &json!({"total_count": runs.len(), "check_runs": runs}).to_string(),
                ));
            }
            // The default answer (201) for the API call itself.
            None
        }
    }
}

impl GithubApp {
    pub fn calls(&self, what: impl Fn(&Recorded) -> bool) -> Vec<Recorded> {
        self.api.requests().into_iter().filter(what).collect()
    }

    pub fn token_exchanges(&self) -> usize {
        self.calls(|r| r.path.ends_with("/access_tokens")).len()
    }

    pub fn installation_lookups(&self) -> usize {
        self.calls(|r| r.path.ends_with("/installation")).len()
    }

    /// The tokens the eval runs' check runs were sent with, in order (an App's integration
    /// posts check runs, not commit statuses).
    pub fn report_tokens(&self) -> Vec<String> {
        self.calls(|r| r.path.contains("/check-runs") && r.method != "GET")
            .iter()
            .map(bearer)
            .collect()
    }

    pub fn jwt_errors(&self) -> Vec<String> {
        self.books.lock().expect("lock").jwt_errors.clone()
    }
}
