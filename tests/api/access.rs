//! API tokens with scopes: made, used, refused, revoked and expired through the API, every
//! operation against every scope as the spec declares it, and guessing refused with 429.

use std::time::Duration;

use provenant::base::clock::Clock;
use serde_json::{Value, json};

use crate::fixtures::*;
use crate::helpers::*;

const SCOPES: [&str; 4] = ["read", "runs:write", "write", "admin"];

fn make_token(app: &TestApp, name: &str, scopes: &[&str]) -> Value {
    app.make_token(name, scopes)
}

fn value_of(token: &Value) -> String {
    token["token"].as_str().expect("token").to_string()
}

fn call(app: &TestApp, method: &str, path: &str, token: &str, body: Option<&Value>) -> Reply {
    app.call(method, path, token, body)
}

#[test]
fn a_token_is_shown_once_kept_as_a_hash_and_works_until_revoked() {
    let app = TestApp::spawn();
    let made = make_token(&app, "dashboard", &["read"]);
    let value = value_of(&made);
    assert!(value.starts_with("prov_"), "{made}");
    assert_eq!(value.len(), 5 + 64, "32 random bytes in hex: {made}");
    assert_eq!(made["prefix"], value[..13], "{made}");
    assert_eq!(made["scopes"], json!(["read"]));
    assert_eq!(made["createdBy"], "api-token");
    assert!(made["lastUsedAt"].is_null(), "{made}");

    // It works, under its own name.
    let me = call(&app, "GET", "/api/me", &value, None);
    assert_eq!(me.status, 200, "{}", me.text);
    assert_eq!(
        me.json(),
        json!({"actor": "dashboard", "scopes": ["read"], "credential": "token", "tokenId": made["id"]})
    );
    assert_eq!(
        call(&app, "GET", "/api/integrations", &value, None).status,
        200
    );

    // The list never shows a value; its last use is noted.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let listed = loop {
        let list = app.get("/api/tokens");
        assert_eq!(list.status, 200, "{}", list.text);
        let listed = list.json()[0].clone();
        if listed["lastUsedAt"].is_string() || std::time::Instant::now() > deadline {
            assert!(!list.text.contains(&value), "{}", list.text);
            break listed;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(listed["lastUsedAt"].is_string(), "{listed}");
    assert!(listed.get("token").is_none(), "{listed}");
    assert_eq!(listed["name"], "dashboard");

    // Only its hash is stored.
    app.wait_until_idle();
    assert!(
        !app.database_contains(&value),
        "the token's value is in the database"
    );
    // The search reads the stored rows: the token's name is found.
    assert!(app.database_contains("dashboard"));

    // Revoked: the next request is refused.
    let id = made["id"].as_str().expect("id");
    assert_eq!(app.delete(&format!("/api/tokens/{id}")).status, 204);
    call(&app, "GET", "/api/me", &value, None).problem(401);
    app.delete(&format!("/api/tokens/{id}")).problem(404);
    assert_eq!(app.get("/api/tokens").json(), json!([]));
}

#[test]
fn a_token_that_has_expired_is_refused() {
    let clock = Clock::system();
    let app = TestApp::spawn_with(
        {
            let clock = clock.clone();
            move |s| s.clock = clock
        },
        Default::default(),
    );
    let expires = provenant::base::clock::rfc3339(clock.now_ms() + 60 * 60 * 1000);
    let reply = app.post_json(
        "/api/tokens",
        &json!({"name": "for an hour", "scopes": ["read"], "expiresAt": expires}),
    );
    assert_eq!(reply.status, 201, "{}", reply.text);
    let value = value_of(&reply.json());
    assert_eq!(call(&app, "GET", "/api/me", &value, None).status, 200);
    clock.advance(Duration::from_secs(60 * 60 + 1));
    call(&app, "GET", "/api/me", &value, None).problem(401);
}

#[test]
fn a_token_to_make_is_checked_field_by_field() {
    let app = TestApp::spawn();
    make_token(&app, "taken", &["read"]);
    let refused = |body: Value, status: u16, field: &str| {
        let problem = app.post_json("/api/tokens", &body).problem(status);
        assert_eq!(problem["field"], field, "{body}: {problem}");
    };
    refused(json!({"name": "", "scopes": ["read"]}), 422, "name");
    refused(json!({"name": "   ", "scopes": ["read"]}), 422, "name");
    refused(
        json!({"name": "x".repeat(65), "scopes": ["read"]}),
        422,
        "name",
    );
    refused(json!({"name": "a\nb", "scopes": ["read"]}), 422, "name");
    refused(
        json!({"name": "api-token", "scopes": ["read"]}),
        422,
        "name",
    );
    refused(json!({"name": "taken", "scopes": ["write"]}), 409, "name");
    refused(json!({"name": "n", "scopes": []}), 422, "scopes");
    refused(json!({"name": "n", "scopes": ["root"]}), 422, "scopes[0]");
    refused(
        json!({"name": "n", "scopes": ["read", "read"]}),
        422,
        "scopes",
    );
    refused(json!({"name": "n", "scopes": "read"}), 422, "scopes");
    refused(json!({"name": "n"}), 422, "scopes");
    refused(
        json!({"name": "n", "scopes": ["read"], "expiresAt": "2001-01-01T00:00:00Z"}),
        422,
        "expiresAt",
    );
    refused(
        json!({"name": "n", "scopes": ["read"], "expiresAt": "tomorrow"}),
        422,
        "expiresAt",
    );
    refused(
        json!({"name": "n", "scopes": ["read"], "value": "prov_mine"}),
        422,
        "value",
    );
    assert_eq!(
        app.get("/api/tokens").json().as_array().map(Vec::len),
        Some(1)
    );
}

struct SpecOperation {
    id: String,
    method: String,
    path: String,
    scopes: Vec<String>,
}

fn secured_operations(app: &TestApp) -> Vec<SpecOperation> {
    let spec = app.get("/api/openapi.json").json();
    let mut out = Vec::new();
    for (path, methods) in spec["paths"].as_object().expect("paths") {
        for (method, op) in methods.as_object().expect("operations") {
            if op["security"] == json!([]) {
                assert!(op.get("x-scopes").is_none(), "{path}: {op}");
                continue;
            }
            let scopes: Vec<String> = op["x-scopes"]
                .as_array()
                .unwrap_or_else(|| panic!("{method} {path} declares no x-scopes"))
                .iter()
                .map(|s| s.as_str().expect("scope").to_string())
                .collect();
            assert!(
                op["responses"]["403"].is_object(),
                "{method} {path} does not declare its 403"
            );
            out.push(SpecOperation {
                id: op["operationId"].as_str().expect("id").to_string(),
                method: method.to_uppercase(),
                // Ids nothing has: an allowed call goes on to its 404 or its 422, never 403.
                path: format!(
                    "/api{}",
                    path.split('/')
                        .map(|s| if s.starts_with('{') {
                            "00000000-0000-4000-8000-000000000000"
                        } else {
                            s
                        })
                        .collect::<Vec<_>>()
                        .join("/")
                ),
                scopes,
            });
        }
    }
    out
}

#[test]
fn every_operation_admits_exactly_the_scopes_its_spec_declares() {
    let app = TestApp::spawn();
    let tokens: Vec<(&str, String)> = SCOPES
        .iter()
        .map(|scope| {
            (
                *scope,
                value_of(&make_token(&app, &format!("only {scope}"), &[scope])),
            )
        })
        .collect();
    let operations = secured_operations(&app);
    assert!(operations.len() > 30, "{}", operations.len());
    for op in &operations {
        for (scope, token) in &tokens {
            // An empty object: enough to get past the guard, never enough to change anything
            // (deletions name ids that do not exist).
            let body = (op.method != "GET" && op.method != "DELETE").then(|| json!({}));
            let reply = call(&app, &op.method, &op.path, token, body.as_ref());
            let allowed = op.scopes.iter().any(|s| s == scope);
            if allowed {
                assert!(
                    reply.status != 401 && reply.status != 403,
                    "{} with {scope}: {} {}",
                    op.id,
                    reply.status,
                    reply.text
                );
            } else {
                let problem = reply.problem(403);
                assert_eq!(problem["code"], "forbidden", "{}: {problem}", op.id);
                assert_eq!(
                    problem["scope"], op.scopes[0],
                    "{} with {scope}: {problem}",
                    op.id
                );
                assert!(
                    problem["detail"]
                        .as_str()
                        .is_some_and(|d| d.contains(&format!("`{}`", op.scopes[0]))),
                    "{problem}"
                );
            }
        }
    }
    // What each scope is for, as the issue says it.
    let scopes_of = |id: &str| {
        operations
            .iter()
            .find(|o| o.id == id)
            .unwrap_or_else(|| panic!("{id}"))
            .scopes
            .clone()
    };
    assert_eq!(scopes_of("updateEvalRun"), ["runs:write", "write", "admin"]);
    assert_eq!(scopes_of("createIntegration"), ["write", "admin"]);
    assert_eq!(scopes_of("putSecret"), ["admin"]);
    assert_eq!(scopes_of("createApiToken"), ["admin"]);
    assert_eq!(scopes_of("rotateSecret"), ["admin"]);
    let runs_only: Vec<&str> = operations
        .iter()
        .filter(|o| o.scopes.iter().any(|s| s == "runs:write"))
        .map(|o| o.id.as_str())
        .collect();
    assert_eq!(
        runs_only,
        [
            "listDeployments",
            "updateDeployment",
            "listEvalRuns",
            "updateEvalRun",
            "getEvalRunResults",
            "getCurrentAccess",
            "signOut"
        ]
    );
}

#[test]
fn an_eval_platform_token_lists_and_reports_on_runs_and_does_nothing_else() {
    let github = crate::fake::FakeRemote::start();
    github.set_default(crate::fake::Canned::status(201, r#"{"id": 7}"#));
    let app = TestApp::spawn();
    let id = app.create_integration_id(
        "GITHUB",
        json!({"allow_unverified": true, "repo": REPO, "token": "ghp_x", "api_url": github.url}),
    );
    let event = app.deliver_accepted(
        &id,
        &[
            ("content-type", "application/json"),
            ("x-github-event", "pull_request"),
        ],
        github_pr("opened", 1, "main", &"1".repeat(40), false, None)
            .to_string()
            .as_bytes(),
    );
    app.wait_for_status(&id, &event, &["PROCESSED"]);
    app.wait_until_idle();
    let token = value_of(&make_token(&app, "eval-platform", &["runs:write"]));

    let runs = call(&app, "GET", "/api/eval-runs", &token, None);
    assert_eq!(runs.status, 200, "{}", runs.text);
    let run = runs.json()["items"][0]["id"]
        .as_str()
        .expect("a run")
        .to_string();
    let patched = call(
        &app,
        "PATCH",
        &format!("/api/eval-runs/{run}"),
        &token,
        Some(&json!({"status": "RUNNING"})),
    );
    assert_eq!(patched.status, 200, "{}", patched.text);
    assert_eq!(
        call(&app, "GET", "/api/deployments", &token, None).status,
        200
    );

    for (method, path) in [
        ("GET", format!("/api/integrations/{id}")),
        ("GET", format!("/api/integrations/{id}/events")),
        ("GET", "/api/secrets".to_string()),
        ("POST", format!("/api/integrations/{id}/test")),
        ("DELETE", format!("/api/integrations/{id}")),
    ] {
        let body = (method == "POST").then(|| json!({}));
        let problem = call(&app, method, &path, &token, body.as_ref()).problem(403);
        assert_eq!(
            problem["scope"],
            if method == "GET" { "read" } else { "write" }
        );
    }
    // Nothing it was refused happened.
    assert_eq!(app.get(&format!("/api/integrations/{id}")).status, 200);
    // The metrics and the health details are for readers.
    assert_eq!(call(&app, "GET", "/metrics", &token, None).status, 403);
}

#[test]
fn the_primary_token_stays_an_admin() {
    let app = TestApp::spawn();
    let me = app.get("/api/me");
    assert_eq!(
        me.json(),
        json!({"actor": "api-token", "scopes": ["admin"], "credential": "primary"})
    );
    let admin = value_of(&make_token(&app, "second admin", &["admin"]));
    // An admin token may make and revoke tokens too, under its own name.
    let reply = call(
        &app,
        "POST",
        "/api/tokens",
        &admin,
        Some(&json!({"name": "made by an admin", "scopes": ["read"]})),
    );
    assert_eq!(reply.status, 201, "{}", reply.text);
    assert_eq!(reply.json()["createdBy"], "second admin");
}

#[test]
fn guessing_tokens_is_refused_with_429_then_recovers_and_the_receiver_is_untouched() {
    let clock = Clock::system();
    let app = TestApp::spawn_with(
        {
            let clock = clock.clone();
            move |s| {
                s.clock = clock;
                s.failed_sign_ins_per_minute = 5;
            }
        },
        Default::default(),
    );
    let hook = app.create_integration_id("WEBHOOK", json!({"allow_unverified": true}));
    for n in 0..5 {
        app.request(
            "GET",
            "/api/integrations",
            Some(&format!("prov_guess{n}")),
            &[],
            None,
        )
        .problem(401);
    }
    // The limit is reached: every token from this address is refused, the right one too,
    // so an answer cannot tell a right guess from a wrong one.
    for token in ["prov_guess", TOKEN] {
        let reply = app.request("GET", "/api/integrations", Some(token), &[], None);
        let problem = reply.problem(429);
        assert_eq!(problem["code"], "too_many_requests");
        let wait: u64 = reply
            .header("retry-after")
            .and_then(|v| v.parse().ok())
            .expect("Retry-After in seconds");
        assert!((1..=60).contains(&wait), "{wait}");
    }
    assert_eq!(
        app.request("GET", "/metrics", Some(TOKEN), &[], None)
            .status,
        429
    );
    // Deliveries still arrive: the receiver never counts.
    app.deliver_accepted(&hook, &[("content-type", "application/json")], b"{}");
    // A request with no token at all is not a guess, and is still told to sign in.
    app.request("GET", "/api/integrations", None, &[], None)
        .problem(401);

    clock.advance(Duration::from_secs(61));
    assert_eq!(app.get("/api/integrations").status, 200, "recovered");
}
