//! The outbox: one queue per destination, so a stalled or rate-limited remote delays only
//! itself; its rows, their answers, and retrying a failed one.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::fake::{Canned, FakeRemote};
use crate::fixtures::*;
use crate::helpers::*;

fn sha(c: char) -> String {
    c.to_string().repeat(40)
}

fn pr(app: &TestApp, id: &str, number: i64, head: &str) {
    let event_id = app.deliver_accepted(
        id,
        &[
            ("content-type", "application/json"),
            ("x-github-event", "pull_request"),
        ],
        github_pr("opened", number, "main", head, false, None)
            .to_string()
            .as_bytes(),
    );
    let event = app.wait_for_status(id, &event_id, &["PROCESSED", "FAILED"]);
    assert_eq!(event["status"], "PROCESSED", "{event}");
}

fn github(app: &TestApp, api: &FakeRemote, token: &str) -> String {
    app.create_integration_id(
        "GITHUB",
        json!({"allow_unverified": true, "repo": REPO, "token": token, "api_url": api.url}),
    )
}

fn rows(app: &TestApp, query: &str) -> Vec<Value> {
    let reply = app.get(&format!("/api/outbox{query}"));
    assert_eq!(reply.status, 200, "{}", reply.text);
    reply.json()["items"].as_array().expect("items").clone()
}

fn wait_until(what: &str, within: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !done() {
        assert!(
            Instant::now() < deadline,
            "{what} did not happen within {within:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_stalled_github_delays_only_its_own_destination() {
    let app = TestApp::spawn();
    let stalled = FakeRemote::start();
    // The first request hangs for 30 s (the client gives up after 10 s); then GitHub is back.
    stalled.push(Canned::status(201, "{}").after(Duration::from_secs(30)));
    stalled.set_default(Canned::status(201, "{}"));
    let healthy = FakeRemote::start();
    healthy.set_default(Canned::status(201, "{}"));
    let slack = FakeRemote::start();
    let stuck = github(&app, &stalled, "ghp_stalled");
    let fine = github(&app, &healthy, "ghp_healthy");
    app.create_integration_id(
        "SLACK",
        json!({"webhook_url": format!("{}/services/T/B/fast", slack.url), "events": ["drift.*"]}),
    );
    let monitor = app.create_integration_id("WEBHOOK", json!({"allow_unverified": true}));

    pr(&app, &stuck, 1, &sha('1'));
    pr(&app, &stuck, 2, &sha('2'));
    stalled.wait_for(1);
    let started = Instant::now();

    // Meanwhile: another token's statuses, and drift alerts to Slack, flow.
    pr(&app, &fine, 3, &sha('3'));
    for i in 0..3 {
        let event_id = app.deliver_accepted(
            &monitor,
            &[("content-type", "application/json")],
            json!({"type": "drift.critical", "n": i})
                .to_string()
                .as_bytes(),
        );
        app.wait_for_status(&monitor, &event_id, &["PROCESSED"]);
    }
    healthy.wait_for(1);
    slack.wait_for(3);
    assert!(
        started.elapsed() < Duration::from_secs(6),
        "other destinations waited on the stalled one ({:?})",
        started.elapsed()
    );
    assert_eq!(
        stalled.requests().len(),
        1,
        "one request at a time per token"
    );

    // When GitHub recovers (the hung request times out and is retried), its rows are sent.
    wait_until(
        "the stalled rows to be sent",
        Duration::from_secs(25),
        || stalled.requests().len() >= 3,
    );
    app.wait_until_idle();
    let paths: Vec<String> = stalled.requests().iter().map(|r| r.path.clone()).collect();
    assert_eq!(
        paths,
        vec![
            format!("/repos/{REPO}/statuses/{}", sha('1')),
            format!("/repos/{REPO}/statuses/{}", sha('1')),
            format!("/repos/{REPO}/statuses/{}", sha('2')),
        ],
        "in order within the destination"
    );
    let first = rows(&app, &format!("?integrationId={stuck}&kind=COMMIT_STATUS"))
        .into_iter()
        .find(|r| {
            r["request"]["path"]
                .as_str()
                .is_some_and(|p| p.ends_with(&sha('1')))
        })
        .expect("row");
    assert_eq!(first["status"], "SENT");
    assert_eq!(first["attempts"], 2);
}

#[test]
fn a_secondary_rate_limit_pauses_that_destination_for_its_retry_after() {
    let app = TestApp::spawn();
    let api = FakeRemote::start();
    api.push(
        Canned::status(
            403,
            r#"{"message":"You have exceeded a secondary rate limit. Please wait a few minutes before you try again."}"#,
        )
        .header("Retry-After", "2"),
    );
    api.set_default(Canned::status(201, "{}"));
    let id = github(&app, &api, "ghp_limited");
    pr(&app, &id, 1, &sha('1'));
    pr(&app, &id, 2, &sha('2'));
    api.wait_for(1);

    // While paused: health says so, and no request is made.
    let health = app.get("/api/health").json();
    let paused = health["outbox"]["pausedDestinations"]
        .as_array()
        .expect("paused")
        .clone();
    assert_eq!(paused.len(), 1, "{health}");
    assert!(
        paused[0]["reason"]
            .as_str()
            .expect("reason")
            .contains("rate limit"),
        "{health}"
    );
    assert!(
        paused[0]["destination"]
            .as_str()
            .expect("d")
            .starts_with("github:")
    );
    assert!(
        !paused[0]["destination"]
            .as_str()
            .expect("d")
            .contains("ghp_limited"),
        "a destination never names the token"
    );
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(api.requests().len(), 1, "a request during the pause");

    let calls = api.wait_for(3);
    let gap = calls[1].at - calls[0].at;
    assert!(
        gap >= Duration::from_millis(1900),
        "resumed after only {gap:?}"
    );
    app.wait_until_idle();
    let sent = rows(&app, "?status=SENT&kind=COMMIT_STATUS");
    assert_eq!(sent.len(), 2);
    let health = app.get("/api/health").json();
    assert_eq!(
        health["outbox"]["pausedDestinations"],
        json!([]),
        "{health}"
    );
}

#[test]
fn a_row_the_remote_refuses_fails_at_once_and_can_be_retried() {
    let app = TestApp::spawn();
    let api = FakeRemote::start();
    api.push(Canned::status(422, r#"{"message":"Validation Failed"}"#));
    api.set_default(Canned::status(201, "{}"));
    let id = github(&app, &api, "ghp_refused");
    pr(&app, &id, 1, &sha('1'));
    app.wait_until_idle();
    let failed = rows(&app, "?status=FAILED");
    assert_eq!(failed.len(), 1);
    let row = &failed[0];
    assert_eq!(row["attempts"], 1);
    assert_eq!(row["responseStatus"], 422);
    assert!(
        row["lastError"]
            .as_str()
            .expect("error")
            .contains("Validation Failed")
    );
    assert_eq!(row["kind"], "COMMIT_STATUS");
    assert_eq!(row["request"]["body"]["state"], "pending");
    assert!(
        !row.to_string().contains("ghp_refused"),
        "no credential in a row: {row}"
    );
    let destinations = app.get("/api/outbox/destinations").json();
    assert_eq!(destinations[0]["failed"], 1, "{destinations}");
    // Whose it is and where, in people's words beside the key.
    assert_eq!(
        destinations[0]["integrations"],
        json!(["Test GITHUB"]),
        "{destinations}"
    );
    assert_eq!(
        destinations[0]["host"],
        api.url.trim_start_matches("http://"),
        "{destinations}"
    );
    assert!(
        destinations[0]["lastError"]
            .as_str()
            .is_some_and(|e| e.contains("Validation Failed")),
        "{destinations}"
    );

    let row_id = row["id"].as_str().expect("id");
    let reply = app.post(&format!("/api/outbox/{row_id}/retry"));
    assert_eq!(reply.status, 202, "{}", reply.text);
    app.wait_until_idle();
    let again = rows(&app, &format!("?integrationId={id}"));
    assert_eq!(again[0]["status"], "SENT");
    assert_eq!(api.requests().len(), 2);
    app.post(&format!("/api/outbox/{row_id}/retry"))
        .problem(409);
    app.post("/api/outbox/1b4e28ba-2fa1-41d2-883f-0e1bdd2f0c5e/retry")
        .problem(404);
}
