//! A CI job reports on its own run with the OIDC token its platform gives it, and no stored
//! secret: verified against a stand-in issuer's JWKS (signature, `iss`, `aud` = this server's
//! public URL, `exp`), and admitted only for a run of its repository at its commit. Every
//! refusal is a 401 or a 403 that says why, and is audited with the failed sign-ins.

use std::time::Duration;

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use provenant::base::clock::Clock;
use provenant::domain::ci_jobs::CiIssuerSettings;
use serde_json::{Value, json};

use crate::fake::{Canned, FakeRemote};
use crate::fixtures::*;
use crate::github_app_standin::{KEY, OTHER_KEY};
use crate::helpers::*;
use crate::oidc_standin::{KEY_N, KID};

/// A CI platform's issuer: discovery and a JWKS with the test key (as GitHub Actions'
/// `token.actions.githubusercontent.com` has: no sign-in endpoints).
fn issuer() -> FakeRemote {
    let remote = FakeRemote::start();
    let url = remote.url.clone();
    remote.respond_with(move |req| match req.path.as_str() {
        "/.well-known/openid-configuration" => Some(Canned::status(
            200,
            &json!({"issuer": url, "jwks_uri": format!("{url}/jwks")}).to_string(),
        )),
        "/jwks" => Some(Canned::status(
            200,
            &json!({"keys": [{"kty": "RSA", "kid": KID, "use": "sig", "alg": "RS256", "n": KEY_N, "e": "AQAB"}]})
                .to_string(),
        )),
        _ => None,
    });
    remote
}

/// A token as the issuer at `iss` would give a job, its claims changed by `change`.
fn token(iss: &str, aud: &str, key: &str, change: impl FnOnce(&mut Value)) -> String {
    let now = now_secs();
    let mut claims = json!({
        "iss": iss, "aud": aud, "sub": format!("repo:{REPO}:ref:refs/heads/tune"),
        "iat": now, "nbf": now, "exp": now + 300,
        "repository": REPO, "sha": "c".repeat(40), "ref": "refs/heads/tune",
    });
    change(&mut claims);
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(if key == KEY {
        KID.into()
    } else {
        "other-key".into()
    });
    jsonwebtoken::encode(
        &header,
        &claims,
        &EncodingKey::from_rsa_pem(key.as_bytes()).expect("key"),
    )
    .expect("token")
}

struct Setup {
    app: TestApp,
    github: FakeRemote,
    gitlab: FakeRemote,
    clock: Clock,
    run_id: String,
}

fn setup() -> Setup {
    let (github, gitlab) = (issuer(), issuer());
    let clock = Clock::system();
    let app = TestApp::spawn_with(
        {
            let (github, gitlab, clock) = (github.url.clone(), gitlab.url.clone(), clock.clone());
            move |s| {
                s.clock = clock;
                s.ci_issuers = CiIssuerSettings {
                    github: Some(github),
                    gitlab: Some(gitlab),
                };
            }
        },
        Default::default(),
    );
    let id = app.create_integration_id("GITHUB", json!({"repo": REPO, "allow_unverified": true}));
    let event_id = app.deliver_accepted(
        &id,
        &[
            ("content-type", "application/json"),
            ("x-github-event", "pull_request"),
        ],
        github_pr("opened", 70, "main", &"c".repeat(40), false, None)
            .to_string()
            .as_bytes(),
    );
    app.wait_for_status(&id, &event_id, &["PROCESSED"]);
    let run_id = app.get("/api/eval-runs").json()["items"][0]["id"]
        .as_str()
        .expect("run")
        .to_string();
    Setup {
        app,
        github,
        gitlab,
        clock,
        run_id,
    }
}

impl Setup {
    /// This server's public URL, which a job asks its token for.
    fn audience(&self) -> String {
        self.app.address.clone()
    }

    fn patch(&self, token: &str, path: &str) -> Reply {
        self.app.request(
            "PATCH",
            path,
            Some(token),
            &[("content-type", "application/json")],
            Some(json!({"status": "RUNNING"}).to_string().into_bytes()),
        )
    }

    fn run_path(&self) -> String {
        format!("/api/eval-runs/{}", self.run_id)
    }
}

#[test]
fn a_job_of_the_runs_repository_at_its_commit_reports_with_its_own_token() {
    let s = setup();
    let good = token(&s.github.url, &s.audience(), KEY, |_| {});
    let reply = s.patch(&good, &s.run_path());
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.json()["status"], "RUNNING");
    let audit = s.app.get("/api/audit").text;
    assert!(
        audit.contains(&format!("ci:github:{REPO}@cccccccccccc")),
        "the audit log names the job: {audit}"
    );
    assert!(!audit.contains(&good), "the token is not kept");
    // It may do nothing else.
    let listing = s
        .app
        .request("GET", "/api/eval-runs", Some(&good), &[], None);
    assert_eq!(listing.status, 403, "{}", listing.text);
}

#[test]
fn a_wrong_audience_an_expired_token_or_an_unknown_key_is_refused_with_401() {
    let s = setup();
    let audience = s.audience();
    let cases = [
        (
            token(&s.github.url, "https://elsewhere.example", KEY, |_| {}),
            "another audience",
        ),
        (
            token(&s.github.url, &audience, KEY, |c| {
                c["exp"] = json!(now_secs() - 3600)
            }),
            "has expired",
        ),
        (
            token(&s.github.url, &audience, OTHER_KEY, |_| {}),
            "does not list",
        ),
        (
            token("https://issuer.example", &audience, KEY, |_| {}),
            "not from a CI issuer",
        ),
        // The GitLab issuer's name, on a token its keys did not sign… they are the same test
        // key here, so: a GitHub token claiming GitLab lacks `project_path`.
        (
            token(&s.gitlab.url, &audience, KEY, |_| {}),
            "no `project_path`",
        ),
    ];
    for (bad, why) in cases {
        let reply = s.patch(&bad, &s.run_path());
        assert_eq!(reply.status, 401, "{why}: {}", reply.text);
        assert!(reply.text.contains(why), "{why}: {}", reply.text);
    }
    assert_eq!(
        s.app.get("/api/eval-runs").json()["items"][0]["status"],
        "PENDING"
    );
    // Audited with the failed sign-ins once their minute is over.
    s.clock.advance(Duration::from_secs(61));
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let audit = s.app.get("/api/audit?action=sign_in.failed").json();
        if audit["items"][0]["changes"]["failures"]["after"] == 5 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{audit}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_job_of_another_repository_or_commit_is_refused_with_403() {
    let s = setup();
    let audience = s.audience();
    let cases = [
        (
            token(&s.github.url, &audience, KEY, |c| {
                c["repository"] = json!("someone/else")
            }),
            "not for the run's repository",
        ),
        (
            token(&s.github.url, &audience, KEY, |c| {
                c["sha"] = json!("d".repeat(40))
            }),
            "another commit",
        ),
        (
            token(&s.gitlab.url, &audience, KEY, |c| {
                c["project_path"] = json!(REPO)
            }),
            "another platform",
        ),
    ];
    for (bad, why) in cases {
        let reply = s.patch(&bad, &s.run_path());
        assert_eq!(reply.status, 403, "{why}: {}", reply.text);
        assert!(reply.text.contains(why), "{why}: {}", reply.text);
    }
    let good = token(&s.github.url, &audience, KEY, |_| {});
    let unknown = s.patch(&good, "/api/eval-runs/01900000-0000-7000-8000-000000000009");
    assert_eq!(unknown.status, 403, "{}", unknown.text);
    assert_eq!(
        s.app.get("/api/eval-runs").json()["items"][0]["status"],
        "PENDING"
    );
}
