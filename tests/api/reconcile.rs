//! Never miss a GitHub delivery: a check of the hook's delivery log asks GitHub to redeliver
//! what never arrived, once, and nothing when everything is here.

use serde_json::{Value, json};

use crate::fake::{Canned, FakeRemote};
use crate::fixtures::*;
use crate::helpers::*;

const SECRET: &str = "reconcile-webhook-secret-0123";
const HOOK: u64 = 4242;

/// GitHub's log entry for an attempt.
fn logged(id: i64, guid: &str, redelivery: bool) -> Value {
    json!({
        "id": id, "guid": guid, "delivered_at": "2026-11-29T08:00:00Z", "redelivery": redelivery,
        "duration": 0.2, "status": if guid.starts_with("lost") { "failed to connect" } else { "OK" },
        "status_code": if guid.starts_with("lost") { 0 } else { 202 },
        "event": "pull_request", "action": "opened", "installation_id": null, "repository_id": 1
    })
}

/// The stand-in's next two answers: the repository's hooks (ours among them), then its log.
fn script_check(github: &FakeRemote, webhook_url: &str, log: &Value) {
    github.push(Canned::status(
        200,
        &json!([{"id": HOOK, "config": {"url": webhook_url}}]).to_string(),
    ));
    github.push(Canned::status(200, &log.to_string()));
}

fn deliver(app: &TestApp, id: &str, guid: &str, number: i64) {
    let body = github_pr(
        "opened",
        number,
        "main",
        &format!("{number:040x}"),
        false,
        None,
    )
    .to_string();
    let signature = github_signature(SECRET, body.as_bytes());
    app.deliver_accepted(
        id,
        &[
            ("content-type", "application/json"),
            ("x-github-event", "pull_request"),
            ("x-github-delivery", guid),
            ("x-hub-signature-256", &signature),
        ],
        body.as_bytes(),
    );
}

#[test]
fn two_deliveries_github_logged_but_never_brought_are_asked_for_once_and_then_nothing() {
    let app = TestApp::spawn();
    let github = FakeRemote::start();
    github.set_default(Canned::status(202, "{}"));
    let id = app.create_integration_id(
        "GITHUB",
        json!({"repo": REPO, "webhook_secret": SECRET, "token": "ghp_reconcile", "api_url": github.url}),
    );
    let webhook_url = app.get(&format!("/api/integrations/{id}")).json()["webhookUrl"]
        .as_str()
        .expect("url")
        .to_string();
    // Three arrived; two never did (GitHub could not connect). One of the three arrived on
    // a redelivery: its first attempt failed.
    deliver(&app, &id, "ok-1", 1);
    deliver(&app, &id, "ok-2", 2);
    deliver(&app, &id, "ok-3", 3);
    // Their commit statuses go to the same stand-in first; only hook calls are counted below.
    app.wait_until_idle();
    let hook_calls = || -> Vec<crate::fake::Recorded> {
        github
            .requests()
            .into_iter()
            .filter(|r| r.path.contains("/hooks"))
            .collect()
    };
    let log = json!([
        logged(107, "ok-3", true),
        logged(106, "lost-2", false),
        logged(105, "ok-3", false),
        logged(104, "ok-2", false),
        logged(103, "lost-1", false),
        logged(102, "ok-1", false),
    ]);
    // Without hook_id, the hook is found by its URL.
    github.push(Canned::status(
        200,
        &json!([{"id": 1, "config": {"url": "https://elsewhere.example/hook"}},
                {"id": HOOK, "config": {"url": webhook_url, "content_type": "json"}}])
        .to_string(),
    ));
    github.push(Canned::status(200, &log.to_string()));

    let reply = app.post(&format!("/api/integrations/{id}/reconcile"));
    assert_eq!(reply.status, 200, "{}", reply.text);
    let report = reply.json();
    assert_eq!(report["hookId"], HOOK, "{report}");
    assert_eq!(report["listed"], 5, "{report}");
    assert_eq!(report["requested"], 2, "{report}");
    let missing: Vec<&str> = report["missing"]
        .as_array()
        .expect("missing")
        .iter()
        .map(|m| m["guid"].as_str().expect("guid"))
        .collect();
    assert_eq!(missing, vec!["lost-1", "lost-2"]);
    assert_eq!(report["missing"][0]["statusCode"], 0);
    assert_eq!(report["missing"][0]["event"], "pull_request.opened");

    // The two requests go through the outbox to GitHub's redelivery endpoint.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while hook_calls().len() < 4 {
        assert!(std::time::Instant::now() < deadline, "{:?}", hook_calls());
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let calls = hook_calls();
    let mut posts: Vec<(String, String)> = calls[2..]
        .iter()
        .map(|r| (r.method.clone(), r.path.clone()))
        .collect();
    posts.sort();
    assert_eq!(
        posts,
        vec![
            (
                "POST".to_string(),
                format!("/repos/{REPO}/hooks/{HOOK}/deliveries/103/attempts")
            ),
            (
                "POST".to_string(),
                format!("/repos/{REPO}/hooks/{HOOK}/deliveries/106/attempts")
            ),
        ]
    );
    assert_eq!(calls[0].path, format!("/repos/{REPO}/hooks?per_page=100"));
    assert_eq!(
        calls[1].path,
        format!("/repos/{REPO}/hooks/{HOOK}/deliveries?per_page=100")
    );
    assert_eq!(
        calls[1].header("authorization"),
        Some("Bearer ghp_reconcile")
    );
    app.wait_until_idle();

    // A check before they arrive asks for nothing again.
    script_check(&github, &webhook_url, &log);
    let again = app
        .post(&format!("/api/integrations/{id}/reconcile"))
        .json();
    assert_eq!(again["requested"], 0, "{again}");
    assert_eq!(again["missing"].as_array().expect("m").len(), 2);
    assert!(
        again["missing"]
            .as_array()
            .expect("m")
            .iter()
            .all(|m| m["requestedNow"] == false)
    );

    // GitHub redelivers them; the next check finds nothing missing.
    deliver(&app, &id, "lost-1", 4);
    deliver(&app, &id, "lost-2", 5);
    // (Their commit statuses are sent before the stand-in is scripted again.)
    app.wait_until_idle();
    script_check(&github, &webhook_url, &log);
    let last = app
        .post(&format!("/api/integrations/{id}/reconcile"))
        .json();
    assert_eq!(last["requested"], 0, "{last}");
    assert_eq!(last["missing"], json!([]), "{last}");
    app.wait_until_idle();
    assert_eq!(
        hook_calls().len(),
        8,
        "no other request about the hook was made"
    );

    // The log: both recovered, three checks.
    let log = app.get(&format!("/api/integrations/{id}/reconcile")).json();
    assert_eq!(log["recovered"], 2, "{log}");
    assert_eq!(log["checks"].as_array().expect("checks").len(), 3);
    assert_eq!(log["checks"][2]["requested"], 2);
    assert!(log["lastCheckAt"].is_string());
    assert!(
        log["requests"]
            .as_array()
            .expect("r")
            .iter()
            .all(|r| r["arrived"] == true)
    );
}

#[test]
fn a_check_without_a_token_or_a_hook_says_why() {
    let app = TestApp::spawn();
    let no_token = app.create_integration_id("GITHUB", json!({"repo": REPO}));
    let problem = app
        .post(&format!("/api/integrations/{no_token}/reconcile"))
        .problem(409);
    assert!(
        problem["detail"]
            .as_str()
            .expect("d")
            .contains("config.token")
    );
    let slack = app.create_integration_id(
        "SLACK",
        json!({"webhook_url": "https://hooks.slack.com/services/T/B/x"}),
    );
    app.post(&format!("/api/integrations/{slack}/reconcile"))
        .problem(409);

    let github = FakeRemote::start();
    github.push(Canned::status(200, "[]"));
    let id = app.create_integration_id(
        "GITHUB",
        json!({"repo": REPO, "token": "ghp_x", "api_url": github.url}),
    );
    let report = app
        .post(&format!("/api/integrations/{id}/reconcile"))
        .json();
    assert!(
        report["error"]
            .as_str()
            .expect("error")
            .contains("no webhook of the repository points at"),
        "{report}"
    );
    let log = app.get(&format!("/api/integrations/{id}/reconcile")).json();
    assert!(log["checks"][0]["error"].is_string(), "{log}");
    app.get("/api/integrations/00000000-0000-4000-8000-000000000000/reconcile")
        .problem(404);
}

#[test]
fn checks_run_on_their_own_soon_after_the_start_and_then_periodically() {
    let github = FakeRemote::start();
    let log = json!([logged(201, "lost-on-start", false)]);
    // Every answer is the log: the listing, and the redelivery request (any 2xx will do).
    github.set_default(Canned::status(200, &log.to_string()));
    let app = TestApp::spawn_with(
        |s| s.reconcile_every = Some(std::time::Duration::from_millis(300)),
        provenant::pipeline::worker::Processors::default(),
    );
    let id = app.create_integration_id(
        "GITHUB",
        json!({"repo": REPO, "token": "ghp_periodic", "api_url": github.url, "hook_id": HOOK}),
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let log = app.get(&format!("/api/integrations/{id}/reconcile")).json();
        let checks = log["checks"].as_array().expect("checks").len();
        if checks >= 2 && github.requests().iter().any(|r| r.method == "POST") {
            assert_eq!(log["requests"][0]["guid"], "lost-on-start", "{log}");
            // Asked for once, however many checks found it missing.
            let posts = github
                .requests()
                .iter()
                .filter(|r| r.method == "POST")
                .count();
            assert_eq!(posts, 1);
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no periodic check: {log}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

#[test]
fn a_check_waits_out_a_rate_limit_github_imposed_on_the_token() {
    let app = TestApp::spawn();
    let github = FakeRemote::start();
    github.push(
        Canned::status(429, r#"{"message":"API rate limit exceeded"}"#)
            .header("Retry-After", "600"),
    );
    let id = app.create_integration_id(
        "GITHUB",
        json!({"repo": REPO, "webhook_secret": SECRET, "token": "ghp_limited", "api_url": github.url, "hook_id": HOOK}),
    );
    deliver(&app, &id, "limited-1", 1);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while app.get("/api/outbox/destinations").json()[0]["pausedUntil"].is_null() {
        assert!(std::time::Instant::now() < deadline, "never paused");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let report = app
        .post(&format!("/api/integrations/{id}/reconcile"))
        .json();
    assert!(
        report["error"]
            .as_str()
            .expect("error")
            .starts_with("not checked: the API rate-limits this token until"),
        "{report}"
    );
    assert!(github.requests().iter().all(|r| !r.path.contains("/hooks")));
}

/// GitLab's hook event (`GET /projects/:id/hooks/:hook_id/events`).
fn gitlab_event(id: i64, key: &str, status: &str) -> Value {
    json!({
        "id": id, "url": "https://provenant.example/hook", "trigger": "merge_request_hooks",
        "request_headers": {
            "Content-Type": "application/json", "User-Agent": "GitLab/17.6.0",
            "X-Gitlab-Event": "Merge Request Hook", "X-Gitlab-Event-UUID": format!("uuid-{key}"),
            "Idempotency-Key": key
        },
        "request_data": {"object_kind": "merge_request"},
        "response_headers": {}, "response_body": "", "execution_duration": 0.1,
        "response_status": status
    })
}

#[test]
fn gitlab_events_that_never_arrived_are_resent_once() {
    let app = TestApp::spawn();
    let gitlab = FakeRemote::start();
    gitlab.set_default(Canned::status(201, r#"{"message":"201 Created"}"#));
    let id = app.create_integration_id(
        "GITLAB",
        json!({"project_id": 42, "token": "glpat-reconcile", "api_url": gitlab.url}),
    );
    let webhook_url = app.get(&format!("/api/integrations/{id}")).json()["webhookUrl"]
        .as_str()
        .expect("url")
        .to_string();
    // One arrived (stored under its Idempotency-Key), one never did.
    let body = gitlab_mr("open", 3, &"d".repeat(40), None, None).to_string();
    app.deliver_accepted(
        &id,
        &[
            ("content-type", "application/json"),
            ("x-gitlab-event", "Merge Request Hook"),
            ("idempotency-key", "key-arrived"),
        ],
        body.as_bytes(),
    );
    app.wait_until_idle();
    gitlab.push(Canned::status(
        200,
        &json!([{"id": 77, "url": "https://elsewhere.example"}, {"id": 78, "url": webhook_url}])
            .to_string(),
    ));
    gitlab.push(Canned::status(
        200,
        &json!([
            gitlab_event(902, "key-lost", "internal error"),
            gitlab_event(901, "key-arrived", "200")
        ])
        .to_string(),
    ));
    let report = app
        .post(&format!("/api/integrations/{id}/reconcile"))
        .json();
    assert_eq!(report["hookId"], 78, "{report}");
    assert_eq!(report["listed"], 2, "{report}");
    assert_eq!(report["requested"], 1, "{report}");
    assert_eq!(report["missing"][0]["guid"], "key-lost");
    assert_eq!(report["missing"][0]["event"], "Merge Request Hook");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let resent = gitlab
            .requests()
            .into_iter()
            .filter(|r| r.path.ends_with("/resend"))
            .collect::<Vec<_>>();
        if let Some(r) = resent.first() {
            assert_eq!(r.method, "POST");
            assert_eq!(r.path, "/projects/42/hooks/78/events/902/resend");
            assert_eq!(r.header("private-token"), Some("glpat-reconcile"));
            assert_eq!(resent.len(), 1);
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{:?}",
            gitlab.requests()
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(
        gitlab
            .requests()
            .iter()
            .any(|r| r.path == "/projects/42/hooks/78/events?per_page=100")
    );
}

#[test]
fn a_delivery_after_a_long_silence_checks_the_log_at_once() {
    let clock = provenant::base::clock::Clock::system();
    let github = FakeRemote::start();
    github.set_default(Canned::status(200, "[]"));
    let app = TestApp::spawn_with(
        {
            let clock = clock.clone();
            move |s| {
                s.clock = clock;
                // Periodic checks are an hour apart (the first comes 5 s after the start).
                s.reconcile_every = Some(std::time::Duration::from_secs(3600));
            }
        },
        provenant::pipeline::worker::Processors::default(),
    );
    let id = app.create_integration_id(
        "GITHUB",
        json!({"repo": REPO, "webhook_secret": SECRET, "token": "ghp_gap", "api_url": github.url, "hook_id": HOOK}),
    );
    let started = std::time::Instant::now();
    let log_reads = || {
        github
            .requests()
            .iter()
            .filter(|r| r.path.contains("/deliveries"))
            .count()
    };
    deliver(&app, &id, "before-the-silence", 1);
    app.wait_until_idle();
    assert_eq!(log_reads(), 0, "a delivery without a gap checked the log");

    // Eleven minutes of silence (by the server's clock), then a delivery.
    clock.advance(std::time::Duration::from_secs(11 * 60));
    deliver(&app, &id, "after-the-silence", 2);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3);
    while log_reads() == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "no check after the gap"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "too slow to tell the gap's check from the first periodic one"
    );
    let log = app.get(&format!("/api/integrations/{id}/reconcile")).json();
    assert_eq!(log["checks"].as_array().expect("checks").len(), 1, "{log}");
}
