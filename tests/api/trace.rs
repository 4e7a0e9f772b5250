//! Every event's decision trace: how it was verified and read, what processing decided and
//! why, and what became of what it queued.

use serde_json::{Value, json};

use crate::fake::{Canned, FakeRemote};
use crate::fixtures::*;
use crate::helpers::*;

const SECRET: &str = "trace-test-webhook-secret-0123";

fn trace_texts(event: &Value) -> Vec<(String, String)> {
    event["trace"]
        .as_array()
        .expect("trace")
        .iter()
        .map(|s| {
            (
                s["stage"].as_str().expect("stage").to_string(),
                s["text"].as_str().expect("text").to_string(),
            )
        })
        .collect()
}

fn has(trace: &[(String, String)], stage: &str, needle: &str) -> bool {
    trace.iter().any(|(s, t)| s == stage && t.contains(needle))
}

fn deliver_pr(app: &TestApp, id: &str, base: &str, delivery: &str) -> Value {
    let body = github_pr("opened", 12, base, &"a".repeat(40), false, None).to_string();
    let signature = github_signature(SECRET, body.as_bytes());
    let event_id = app.deliver_accepted(
        id,
        &[
            ("content-type", "application/json"),
            ("x-github-event", "pull_request"),
            ("x-github-delivery", delivery),
            ("x-hub-signature-256", &signature),
        ],
        body.as_bytes(),
    );
    app.wait_for_status(id, &event_id, &["PROCESSED"])
}

#[test]
fn a_pull_request_into_another_branch_says_which_branch_and_why_nothing_happened() {
    let app = TestApp::spawn();
    let id = app.create_integration_id(
        "GITHUB",
        json!({"repo": REPO, "webhook_secret": SECRET, "branch": "main"}),
    );
    let event = deliver_pr(&app, &id, "dev", "trace-1");
    let trace = trace_texts(&event);
    assert!(
        has(
            &trace,
            "RECEIVED",
            "verified: X-Hub-Signature-256 (HMAC-SHA256) with the current secret"
        ),
        "{trace:#?}"
    );
    assert!(
        has(&trace, "RECEIVED", "event type `pull_request.opened`"),
        "{trace:#?}"
    );
    assert!(
        has(&trace, "RECEIVED", "delivery id `trace-1`: not seen before"),
        "{trace:#?}"
    );
    assert!(
        has(
            &trace,
            "PROCESSING",
            "`pull_request.opened`: ignored: base branch `dev` is not `main`"
        ),
        "{trace:#?}"
    );
    assert!(
        has(&trace, "PROCESSING", "attempt 1: processed"),
        "{trace:#?}"
    );
    let runs = app.get("/api/eval-runs").json();
    assert_eq!(runs["items"], json!([]));
}

#[test]
fn an_eval_run_traces_what_it_created_queued_and_what_became_of_it() {
    let app = TestApp::spawn();
    let github = FakeRemote::start();
    github.set_default(Canned::status(201, "{}"));
    let id = app.create_integration_id(
        "GITHUB",
        json!({"repo": REPO, "webhook_secret": SECRET, "token": "ghp_trace", "api_url": github.url}),
    );
    let event = deliver_pr(&app, &id, "main", "trace-2");
    github.wait_for(1);
    app.wait_until_idle();
    let event = app.event(&id, event["id"].as_str().expect("id"));
    let trace = trace_texts(&event);
    assert!(
        has(
            &trace,
            "PROCESSING",
            "for pull request #12 at aaaaaaaaaaaa into the watched branch: eval run"
        ),
        "{trace:#?}"
    );
    assert!(
        has(&trace, "PROCESSING", "no active Slack integration"),
        "{trace:#?}"
    );
    assert!(
        has(&trace, "PROCESSING", "queued COMMIT_STATUS for github:"),
        "{trace:#?}"
    );
    assert!(
        has(&trace, "OUTBOX", "COMMIT_STATUS for github:")
            && has(&trace, "OUTBOX", "sent, the remote answered 201"),
        "{trace:#?}"
    );
    // The row is named, so it can be looked up.
    let row = event["trace"]
        .as_array()
        .expect("trace")
        .iter()
        .find(|s| s["stage"] == "OUTBOX")
        .expect("outbox step")["outboxRowId"]
        .as_str()
        .expect("row id")
        .to_string();
    let rows = app.get(&format!("/api/outbox?integrationId={id}")).json();
    assert!(
        rows["items"]
            .as_array()
            .expect("rows")
            .iter()
            .any(|r| r["id"] == row.as_str())
    );

    // The same pull request again: found, nothing new.
    let again = deliver_pr(&app, &id, "main", "trace-3");
    let trace = trace_texts(&again);
    assert!(
        has(
            &trace,
            "PROCESSING",
            "was already recorded: nothing created or sent again"
        ),
        "{trace:#?}"
    );
}

#[test]
fn an_alert_names_each_slack_subscription_that_takes_it_or_not() {
    let app = TestApp::spawn();
    let slack = FakeRemote::start();
    app.create_integration(
        "SLACK",
        json!({"webhook_url": format!("{}/services/T/B/team", slack.url), "events": ["violation.high", "drift.*"]}),
    );
    let renamed = app.get("/api/integrations").json();
    let team = renamed
        .as_array()
        .or_else(|| renamed["items"].as_array())
        .expect("list")[0]["id"]
        .as_str()
        .expect("id")
        .to_string();
    app.patch_json(
        &format!("/api/integrations/{team}"),
        &json!({"name": "Team alerts"}),
    );
    let monitor = app.create_integration_id("WEBHOOK", json!({"allow_unverified": true}));
    let send = |kind: &str| {
        let event_id = app.deliver_accepted(
            &monitor,
            &[("content-type", "application/json")],
            json!({"type": kind, "message": "m"}).to_string().as_bytes(),
        );
        trace_texts(&app.wait_for_status(&monitor, &event_id, &["PROCESSED"]))
    };
    let low = send("violation.low");
    assert!(
        has(
            &low,
            "PROCESSING",
            "`violation.low` matches no pattern of `Team alerts` (events: violation.high, drift.*)"
        ),
        "{low:#?}"
    );
    let high = send("violation.high");
    assert!(
        has(
            &high,
            "PROCESSING",
            "`violation.high` matches `violation.high` of `Team alerts`"
        ),
        "{high:#?}"
    );
    slack.wait_for(1);
    app.wait_until_idle();
    let events = app
        .get(&format!("/api/integrations/{monitor}/events"))
        .json();
    let high_id = events["items"][0]["id"].as_str().expect("id").to_string();
    let high = trace_texts(&app.event(&monitor, &high_id));
    assert!(
        has(&high, "OUTBOX", "SLACK_MESSAGE for slack:"),
        "{high:#?}"
    );
}
