//! Announcements reaching Slack (a local stand-in), and what Slack's answers do.

use std::time::Duration;

use serde_json::{Value, json};

use crate::fake::{Canned, FakeRemote};
use crate::fixtures::*;
use crate::helpers::*;

fn slack_integration(app: &TestApp, slack: &FakeRemote, events: Option<Value>) -> String {
    let mut config = json!({
        "webhook_url": format!("{}/services/T000/B000/XXXX", slack.url),
        "channel": "#agent-alerts",
        "username": "Provenant Bot"
    });
    if let Some(e) = events {
        config["events"] = e;
    }
    app.create_integration_id("SLACK", config)
}

fn webhook_integration(app: &TestApp, events: Value) -> String {
    app.create_integration_id(
        "WEBHOOK",
        json!({"allow_unverified": true, "description": "Production monitoring webhook", "events": events}),
    )
}

fn send_generic(app: &TestApp, id: &str, body: Value) -> Value {
    let event_id = app.deliver_accepted(
        id,
        &[("content-type", "application/json")],
        body.to_string().as_bytes(),
    );
    app.wait_for_status(id, &event_id, &["PROCESSED", "FAILED"])
}

fn notifications(app: &TestApp, query: &str) -> Vec<Value> {
    app.get(&format!("/api/notifications{query}")).json()["items"]
        .as_array()
        .expect("items")
        .clone()
}

fn wait_for_notification(app: &TestApp, status: &str) -> Value {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let all = notifications(app, "");
        if let Some(n) = all.iter().find(|n| n["status"] == status) {
            return n.clone();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no {status} notification: {all:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_drift_critical_event_reaches_slack_and_an_unsubscribed_one_does_not() {
    let app = TestApp::spawn();
    let slack = FakeRemote::start();
    let slack_id = slack_integration(&app, &slack, None);
    let monitor = webhook_integration(&app, json!(["drift.*", "violation.high"]));

    let event = send_generic(
        &app,
        &monitor,
        json!({
            "type": "drift.critical",
            "message": "Answer quality dropped 18% on <prod>",
            "environment": "production",
            "agent": "support-bot",
            "url": "https://provenant.example.com/drift/42"
        }),
    );
    assert_eq!(event["status"], "PROCESSED");
    assert_eq!(event["outcome"], "announced to 1 Slack integration(s)");

    let calls = slack.wait_for(1);
    let call = &calls[0];
    assert_eq!(call.method, "POST");
    assert_eq!(call.path, "/services/T000/B000/XXXX");
    assert_eq!(call.header("content-type"), Some("application/json"));
    let body = call.json();
    assert_eq!(body["channel"], "#agent-alerts");
    assert_eq!(body["username"], "Provenant Bot");
    let text = body["text"].as_str().expect("text");
    assert!(
        text.contains("CRITICAL") && text.contains("drift.critical") && text.contains("production"),
        "{text}"
    );
    let blocks = body["blocks"].as_array().expect("blocks");
    assert!(!blocks.is_empty() && blocks.len() <= 50);
    assert_eq!(blocks[0]["type"], "header");
    let section = blocks[1]["text"]["text"].as_str().expect("section");
    assert!(
        section.contains("&lt;prod&gt;"),
        "payload text is escaped: {section}"
    );
    assert!(section.contains("<https://provenant.example.com/drift/42|Open>"));
    let fields = blocks[2]["fields"].as_array().expect("fields");
    assert!(
        fields
            .iter()
            .any(|f| f["text"].as_str().expect("t").contains("support-bot"))
    );

    let sent = wait_for_notification(&app, "SENT");
    assert_eq!(sent["integrationId"], slack_id.as_str());
    assert_eq!(sent["eventType"], "drift.critical");
    assert_eq!(sent["sourceEventId"], event["id"]);

    // Not in the monitor's list: recorded, not announced.
    let ignored = send_generic(&app, &monitor, json!({"type": "violation.low"}));
    assert_eq!(ignored["outcome"], "ignored: not subscribed");
    app.wait_until_idle();
    assert_eq!(slack.requests().len(), 1);
    assert_eq!(notifications(&app, "").len(), 1);
}

#[test]
fn a_slack_integrations_own_filter_is_respected() {
    let app = TestApp::spawn();
    let wants_drift = FakeRemote::start();
    let wants_all = FakeRemote::start();
    slack_integration(&app, &wants_drift, Some(json!(["drift.*"])));
    slack_integration(&app, &wants_all, None);
    let monitor = webhook_integration(&app, json!([]));
    send_generic(
        &app,
        &monitor,
        json!({"event": "violation.high", "message": "PII in output"}),
    );
    app.wait_until_idle();
    assert_eq!(wants_all.requests().len(), 1);
    assert!(wants_drift.requests().is_empty());
}

#[test]
fn slack_429_is_honoured_with_its_retry_after() {
    let app = TestApp::spawn();
    let slack = FakeRemote::start();
    slack.push(Canned::status(429, "rate_limited").header("Retry-After", "1"));
    slack_integration(&app, &slack, None);
    let monitor = webhook_integration(&app, json!([]));
    send_generic(&app, &monitor, json!({"type": "drift.critical"}));
    let calls = slack.wait_for(2);
    let waited = calls[1].at - calls[0].at;
    assert!(
        waited >= Duration::from_millis(1000),
        "retried after only {waited:?}"
    );
    let sent = wait_for_notification(&app, "SENT");
    assert_eq!(sent["attempts"], 2);
}

#[test]
fn slack_5xx_is_retried_and_slow_answers_are_waited_for() {
    let app = TestApp::spawn();
    let slack = FakeRemote::start();
    slack.push(Canned::status(500, "internal_error"));
    slack.push(Canned::status(200, "ok").after(Duration::from_millis(500)));
    slack_integration(&app, &slack, None);
    let monitor = webhook_integration(&app, json!([]));
    send_generic(&app, &monitor, json!({"type": "drift.warning"}));
    let sent = wait_for_notification(&app, "SENT");
    assert_eq!(sent["attempts"], 2);
    assert_eq!(slack.requests().len(), 2);
}

#[test]
fn a_permanent_slack_error_fails_at_once_and_keeps_slacks_words() {
    let app = TestApp::spawn();
    let slack = FakeRemote::start();
    slack.set_default(Canned::status(404, "channel_not_found"));
    slack_integration(&app, &slack, None);
    let monitor = webhook_integration(&app, json!([]));
    send_generic(&app, &monitor, json!({"type": "violation.high"}));
    let failed = wait_for_notification(&app, "FAILED");
    assert_eq!(failed["attempts"], 1);
    assert!(
        failed["lastError"]
            .as_str()
            .expect("error")
            .contains("channel_not_found")
    );
    app.wait_until_idle();
    assert_eq!(slack.requests().len(), 1);
    assert_eq!(notifications(&app, "?status=FAILED").len(), 1);
    assert!(notifications(&app, "?status=SENT").is_empty());
}

#[test]
fn eval_runs_and_their_outcomes_are_announced_once() {
    let app = TestApp::spawn();
    let slack = FakeRemote::start();
    slack_integration(&app, &slack, Some(json!(["eval_run.*"])));
    let gh = app.create_integration_id("GITHUB", json!({"allow_unverified": true, "repo": REPO}));
    let payload = github_pr("opened", 7, "main", &"1".repeat(40), false, None);
    for delivery in ["e-1", "e-2"] {
        // Two deliveries announcing the same head SHA.
        let reply = app.deliver(
            &gh,
            &[
                ("content-type", "application/json"),
                ("x-github-event", "pull_request"),
                ("x-github-delivery", delivery),
            ],
            payload.to_string().as_bytes(),
        );
        let event_id = reply.json()["eventId"].as_str().expect("id").to_string();
        app.wait_for_status(&gh, &event_id, &["PROCESSED"]);
    }
    let calls = slack.wait_for(1);
    let text = calls[0].json()["text"].as_str().expect("text").to_string();
    assert!(
        text.contains("Eval run triggered") && text.contains("#7") && text.contains(REPO),
        "{text}"
    );

    let run_id = app.get("/api/eval-runs").json()["items"][0]["id"]
        .as_str()
        .expect("id")
        .to_string();
    app.patch_json(
        &format!("/api/eval-runs/{run_id}"),
        &json!({"status": "FAILED"}),
    );
    let calls = slack.wait_for(2);
    let failed = calls[1].json();
    assert!(
        failed["text"]
            .as_str()
            .expect("text")
            .contains("Eval run failed")
    );
    app.wait_until_idle();
    assert_eq!(
        slack.requests().len(),
        2,
        "the second delivery did not announce again"
    );
}

#[test]
fn the_test_endpoint_sends_to_slack_and_reports_its_answer() {
    let app = TestApp::spawn();
    let slack = FakeRemote::start();
    let id = slack_integration(&app, &slack, None);
    let reply = app.post(&format!("/api/integrations/{id}/test"));
    assert_eq!(reply.status, 200, "{}", reply.text);
    let result = reply.json();
    assert_eq!(result["ok"], true, "{result}");
    assert_eq!(slack.requests().len(), 1);
    assert!(
        slack.requests()[0].json()["text"]
            .as_str()
            .expect("t")
            .contains("Test message")
    );

    slack.set_default(Canned::status(403, "action_prohibited"));
    let result = app.post(&format!("/api/integrations/{id}/test")).json();
    assert_eq!(result["ok"], false);
    let slack_check = result["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .find(|c| c["name"] == "slack")
        .expect("slack check")
        .clone();
    assert!(
        slack_check["detail"]
            .as_str()
            .expect("d")
            .contains("action_prohibited")
    );
}

#[test]
fn the_test_endpoint_checks_a_github_token_and_reports_the_receiver() {
    let app = TestApp::spawn();
    let api = FakeRemote::start();
    let id = app.create_integration_id(
        "GITHUB",
        json!({"repo": REPO, "token": "ghp_check", "api_url": api.url, "webhook_secret": "s"}),
    );
    let result = app.post(&format!("/api/integrations/{id}/test")).json();
    assert_eq!(result["ok"], true, "{result}");
    assert_eq!(result["secretSet"], true);
    assert!(result["webhookUrl"].as_str().expect("url").ends_with(&id));
    let call = &api.requests()[0];
    assert_eq!(call.method, "GET");
    assert_eq!(call.path, format!("/repos/{REPO}"));
    assert_eq!(call.header("authorization"), Some("Bearer ghp_check"));

    api.set_default(Canned::status(404, r#"{"message":"Not Found"}"#));
    let result = app.post(&format!("/api/integrations/{id}/test")).json();
    assert_eq!(result["ok"], false);
    let text = result.to_string();
    assert!(
        text.contains("404") && text.contains("wrong repository"),
        "{text}"
    );
    assert!(!text.contains("ghp_check"));

    // A generic webhook reports only the receiver.
    let hook = app.create_integration_id("WEBHOOK", json!({"allow_unverified": true}));
    let result = app.post(&format!("/api/integrations/{hook}/test")).json();
    assert_eq!(result["ok"], true);
    assert_eq!(result["secretSet"], false);
}

#[test]
fn messages_to_one_slack_webhook_are_spaced_about_a_second_apart() {
    let app = TestApp::spawn();
    let slack = FakeRemote::start();
    slack_integration(&app, &slack, None);
    let monitor = webhook_integration(&app, json!([]));
    for _ in 0..3 {
        let reply = app.deliver(
            &monitor,
            &[("content-type", "application/json")],
            br#"{"type":"drift.warning"}"#,
        );
        assert_eq!(reply.status, 202);
    }
    let calls = slack.wait_for(3);
    for pair in calls.windows(2) {
        let gap = pair[1].at - pair[0].at;
        assert!(
            gap >= Duration::from_millis(950),
            "only {gap:?} between two messages to one URL"
        );
    }
}
