//! A GITHUB integration that runs as a GitHub App: its JWT, installation tokens kept until
//! shortly before they expire and refreshed once after a 401, destinations by installation,
//! and nothing of the key, the JWT or a token in an answer or an outbox row.
//!
//! GitHub is a stand-in that checks the App's JWT with the App's public key. The keys in
//! tests/fixtures/github-app-*.pem were made for these tests alone (`openssl genrsa
//! -traditional 2048`) and belong to no App.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Value, json};

use crate::fake::{Canned, FakeRemote, Recorded};
use crate::fixtures::*;
use crate::helpers::*;

const KEY: &str = include_str!("../fixtures/github-app-test-key.pem");
const PUBLIC_KEY: &str = include_str!("../fixtures/github-app-test-key.pub.pem");
const OTHER_KEY: &str = include_str!("../fixtures/github-app-other-key.pem");
const APP_ID: u64 = 4242;

/// What the stand-in holds: installations by owner, the tokens it issued, and what it found
/// wrong with the JWTs it was sent.
#[derive(Default)]
struct Books {
    installations: HashMap<String, u64>,
    /// Token → (installation, expires at, Unix ms).
    issued: HashMap<String, (u64, i64)>,
    revoked: HashSet<String>,
    /// Refuse every token, even new ones.
    refuse_all: bool,
    token_lifetime_ms: i64,
    jwt_errors: Vec<String>,
}

struct GithubApp {
    api: FakeRemote,
    books: Arc<Mutex<Books>>,
}

fn github_app() -> GithubApp {
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

fn bearer(r: &Recorded) -> String {
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
    match (r.method.as_str(), segments.as_slice()) {
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
            // The default answer (201) for the API call itself.
            None
        }
    }
}

impl GithubApp {
    fn calls(&self, what: impl Fn(&Recorded) -> bool) -> Vec<Recorded> {
        self.api.requests().into_iter().filter(what).collect()
    }

    fn token_exchanges(&self) -> usize {
        self.calls(|r| r.path.ends_with("/access_tokens")).len()
    }

    fn installation_lookups(&self) -> usize {
        self.calls(|r| r.path.ends_with("/installation")).len()
    }

    /// The tokens the commit statuses were posted with, in order.
    fn status_tokens(&self) -> Vec<String> {
        self.calls(|r| r.path.contains("/statuses/"))
            .iter()
            .map(bearer)
            .collect()
    }

    fn jwt_errors(&self) -> Vec<String> {
        self.books.lock().expect("lock").jwt_errors.clone()
    }
}

fn app_config(app: &GithubApp, repo: &str) -> Value {
    json!({
        "repo": repo,
        "app_id": APP_ID,
        "private_key": KEY,
        "api_url": app.api.url,
        "allow_unverified": true,
    })
}

/// A pull request opened on `repo`: its pending commit status is queued and sent.
fn open_pr(app: &TestApp, id: &str, repo: &str, number: i64) {
    let head = format!("{number:0>40}");
    let payload = github_pr("opened", number, "main", &head, false, None)
        .to_string()
        .replace(REPO, repo);
    let event_id = app.deliver_accepted(
        id,
        &[
            ("content-type", "application/json"),
            ("x-github-event", "pull_request"),
        ],
        payload.as_bytes(),
    );
    let event = app.wait_for_status(id, &event_id, &["PROCESSED", "FAILED"]);
    assert_eq!(event["status"], "PROCESSED", "{event}");
    app.wait_until_idle();
}

fn outbox_rows(app: &TestApp, id: &str) -> Vec<Value> {
    let reply = app.get(&format!("/api/outbox?integrationId={id}"));
    assert_eq!(reply.status, 200, "{}", reply.text);
    let text = reply.text.clone();
    for leak in ["ghs_", "eyJ", "PRIVATE KEY"] {
        assert!(!text.contains(leak), "{leak} in the outbox: {text}");
    }
    reply.json()["items"].as_array().expect("items").clone()
}

#[test]
fn an_app_posts_commit_statuses_with_an_installation_token_and_shows_none_of_it() {
    let github = github_app();
    let app = TestApp::spawn();
    let created = app.create_integration("GITHUB", app_config(&github, REPO));
    assert_eq!(created["config"]["private_key"], "***", "{created}");
    assert_eq!(created["config"]["app_id"], APP_ID);
    assert!(!created.to_string().contains("PRIVATE KEY"), "{created}");
    let id = created["id"].as_str().expect("id").to_string();

    open_pr(&app, &id, REPO, 1);
    assert_eq!(github.jwt_errors(), Vec::<String>::new());
    // The installation was asked for (none is configured), then a token, then the status.
    assert_eq!(github.installation_lookups(), 1);
    assert_eq!(github.token_exchanges(), 1);
    assert_eq!(github.status_tokens(), ["ghs_77_1"]);
    let rows = outbox_rows(&app, &id);
    assert_eq!(rows[0]["status"], "SENT", "{rows:?}");
    let destination = rows[0]["destination"].as_str().expect("destination");
    assert!(
        destination.ends_with(&format!(":app{APP_ID}:octo-org")),
        "{destination}"
    );

    // The next status reuses both.
    open_pr(&app, &id, REPO, 2);
    assert_eq!(github.status_tokens(), ["ghs_77_1", "ghs_77_1"]);
    assert_eq!(github.token_exchanges(), 1);
    assert_eq!(github.installation_lookups(), 1);
    // The integration's test reads the repository as the installation.
    let tested = app.post(&format!("/api/integrations/{id}/test"));
    assert_eq!(tested.status, 200, "{}", tested.text);
    let checks = tested.json()["checks"].clone();
    let check = checks
        .as_array()
        .and_then(|c| c.iter().find(|c| c["name"] == "app"))
        .unwrap_or_else(|| panic!("no app check: {checks}"));
    assert_eq!(check["ok"], true, "{check}");
    let read_repo = github.calls(|r| r.method == "GET" && r.path == format!("/repos/{REPO}"));
    assert_eq!(read_repo.len(), 1);
    assert_eq!(bearer(&read_repo[0]), "ghs_77_1");
    // Reading the integration back still shows no key.
    let read = app.get(&format!("/api/integrations/{id}")).text;
    assert!(
        !read.contains("PRIVATE KEY") && !read.contains("ghs_"),
        "{read}"
    );
}

#[test]
fn a_token_is_used_until_shortly_before_it_expires_and_then_replaced() {
    let github = github_app();
    // Five minutes and five seconds: usable for five seconds.
    github.books.lock().expect("lock").token_lifetime_ms = 5 * 60 * 1000 + 5_000;
    let app = TestApp::spawn();
    let mut config = app_config(&github, REPO);
    config["installation_id"] = json!(77);
    let id = app.create_integration_id("GITHUB", config);
    open_pr(&app, &id, REPO, 1);
    open_pr(&app, &id, REPO, 2);
    // A configured installation is not looked up.
    assert_eq!(github.installation_lookups(), 0);
    assert_eq!(github.status_tokens(), ["ghs_77_1", "ghs_77_1"]);
    std::thread::sleep(Duration::from_millis(5_500));
    // In its last five minutes: not used, replaced.
    open_pr(&app, &id, REPO, 3);
    assert_eq!(github.status_tokens(), ["ghs_77_1", "ghs_77_1", "ghs_77_2"]);
    assert_eq!(github.token_exchanges(), 2);
    assert_eq!(github.jwt_errors(), Vec::<String>::new());
}

#[test]
fn a_401_refreshes_the_token_once_and_a_second_401_fails_the_row() {
    let github = github_app();
    let app = TestApp::spawn();
    let id = app.create_integration_id("GITHUB", app_config(&github, REPO));
    open_pr(&app, &id, REPO, 1);
    assert_eq!(github.status_tokens(), ["ghs_77_1"]);

    // GitHub stops taking the token (revoked, or the App's permissions changed).
    github
        .books
        .lock()
        .expect("lock")
        .revoked
        .insert("ghs_77_1".into());
    open_pr(&app, &id, REPO, 2);
    assert_eq!(
        github.status_tokens(),
        ["ghs_77_1", "ghs_77_1", "ghs_77_2"],
        "refused, then sent again with a fresh token"
    );
    let rows = outbox_rows(&app, &id);
    assert!(rows.iter().all(|r| r["status"] == "SENT"), "{rows:?}");

    // Now nothing is taken: one refresh, then the row fails for good.
    github.books.lock().expect("lock").refuse_all = true;
    open_pr(&app, &id, REPO, 3);
    assert_eq!(github.token_exchanges(), 3);
    assert_eq!(github.status_tokens().len(), 5);
    let rows = outbox_rows(&app, &id);
    let failed: Vec<&Value> = rows.iter().filter(|r| r["status"] == "FAILED").collect();
    assert_eq!(failed.len(), 1, "{rows:?}");
    assert_eq!(failed[0]["responseStatus"], 401);
}

#[test]
fn a_jwt_signed_with_another_key_is_refused_and_the_row_says_what_to_check() {
    let github = github_app();
    let app = TestApp::spawn();
    let mut config = app_config(&github, REPO);
    config["private_key"] = json!(OTHER_KEY);
    let id = app.create_integration_id("GITHUB", config);
    open_pr(&app, &id, REPO, 1);
    assert_eq!(github.jwt_errors().len(), 1, "{:?}", github.jwt_errors());
    assert!(github.status_tokens().is_empty());
    let rows = outbox_rows(&app, &id);
    assert_eq!(rows[0]["status"], "FAILED", "{rows:?}");
    let error = rows[0]["lastError"].as_str().expect("error");
    assert!(
        error.contains("config.app_id") && error.contains("config.private_key"),
        "{error}"
    );
}

#[test]
fn repositories_of_one_installation_share_a_destination_and_a_token_and_other_installations_do_not()
{
    let github = github_app();
    let app = TestApp::spawn();
    let first = app.create_integration_id("GITHUB", app_config(&github, "octo-org/first"));
    let second = app.create_integration_id("GITHUB", app_config(&github, "octo-org/second"));
    let other = app.create_integration_id("GITHUB", app_config(&github, "other-org/third"));
    open_pr(&app, &first, "octo-org/first", 1);
    open_pr(&app, &second, "octo-org/second", 2);
    open_pr(&app, &other, "other-org/third", 3);
    let destination = |id: &str| outbox_rows(&app, id)[0]["destination"].clone();
    assert_eq!(destination(&first), destination(&second));
    assert_ne!(destination(&first), destination(&other));
    assert_eq!(github.status_tokens(), ["ghs_77_1", "ghs_77_1", "ghs_78_2"]);
    // One lookup per owner: an App is installed once per account.
    assert_eq!(github.installation_lookups(), 2);
}

#[test]
fn app_credentials_are_checked_when_the_integration_is_saved() {
    let github = github_app();
    let app = TestApp::spawn();
    let create = |config: Value| {
        app.post_json(
            "/api/integrations",
            &json!({"type": "GITHUB", "name": "App", "config": config}),
        )
    };
    let mut both = app_config(&github, REPO);
    both["token"] = json!("ghp_personal_token");
    let problem = create(both).problem(422);
    assert_eq!(problem["field"], "config.token", "{problem}");
    assert!(
        problem["detail"]
            .as_str()
            .is_some_and(|d| d.contains("keep one")),
        "{problem}"
    );

    let mut no_key = app_config(&github, REPO);
    no_key
        .as_object_mut()
        .expect("object")
        .remove("private_key");
    assert_eq!(create(no_key).problem(422)["field"], "config.private_key");

    let mut no_app = app_config(&github, REPO);
    no_app.as_object_mut().expect("object").remove("app_id");
    assert_eq!(create(no_app).problem(422)["field"], "config.app_id");

    let mut not_pem = app_config(&github, REPO);
    not_pem["private_key"] = json!("ghp_this_is_not_a_key");
    let problem = create(not_pem).problem(422);
    assert_eq!(problem["field"], "config.private_key");
    assert!(
        !problem.to_string().contains("ghp_this_is_not_a_key"),
        "{problem}"
    );

    let mut zero = app_config(&github, REPO);
    zero["app_id"] = json!(0);
    assert_eq!(create(zero).problem(422)["field"], "config.app_id");
    assert_eq!(app.integration_count(), 0);
}

#[test]
fn the_key_may_be_a_named_secret() {
    let github = github_app();
    let app = TestApp::spawn();
    // A named secret goes only to the hosts it names besides the public APIs.
    let host = github.api.url.trim_start_matches("http://").to_string();
    let reply = app.put_json(
        "/api/secrets/GITHUB_APP_KEY",
        &json!({"value": KEY, "hosts": [host]}),
    );
    assert!(reply.status / 100 == 2, "{}", reply.text);
    let mut config = app_config(&github, REPO);
    config["private_key"] = json!("${secret:GITHUB_APP_KEY}");
    let created = app.create_integration("GITHUB", config);
    assert_eq!(created["config"]["private_key"], "${secret:GITHUB_APP_KEY}");
    let id = created["id"].as_str().expect("id").to_string();
    open_pr(&app, &id, REPO, 1);
    assert_eq!(github.status_tokens(), ["ghs_77_1"]);
    assert_eq!(github.jwt_errors(), Vec::<String>::new());
}
