//! Replaying safely: by filter with a dry run first, and a proposed config evaluated against
//! recent deliveries with nothing sent.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::fake::FakeRemote;
use crate::helpers::*;

fn send_alert(app: &TestApp, id: &str, kind: &str, n: usize) -> String {
    let event_id = app.deliver_accepted(
        id,
        &[("content-type", "application/json")],
        json!({"type": kind, "message": format!("alert {n}")})
            .to_string()
            .as_bytes(),
    );
    app.wait_for_status(id, &event_id, &["PROCESSED"]);
    event_id
}

#[test]
fn a_filter_replay_previews_then_requeues_only_the_matching_events_with_visible_progress() {
    let app = TestApp::spawn();
    let id = app.create_integration_id("WEBHOOK", json!({"allow_unverified": true}));
    let mut lows = Vec::new();
    for n in 0..5 {
        lows.push(send_alert(&app, &id, "drift.low", n));
        send_alert(&app, &id, "drift.critical", n);
    }
    let attempts = |event_id: &str| app.event(&id, event_id)["attempts"].as_i64().expect("n");

    // A dry run counts and shows a sample, and changes nothing.
    let reply = app.post_json(
        &format!("/api/integrations/{id}/replay"),
        &json!({"eventType": "drift.low", "status": "PROCESSED", "dryRun": true}),
    );
    assert_eq!(reply.status, 200, "{}", reply.text);
    let preview = reply.json();
    assert_eq!(preview["dryRun"], true);
    assert_eq!(preview["matching"], 5);
    let sample = preview["sample"].as_array().expect("sample");
    assert_eq!(sample.len(), 5);
    assert!(sample.iter().all(|e| e["eventType"] == "drift.low"));
    app.wait_until_idle();
    assert!(
        lows.iter().all(|e| attempts(e) == 1),
        "a dry run changed something"
    );

    // The real run: only the five drift.low events go round again.
    let reply = app.post_json(
        &format!("/api/integrations/{id}/replay"),
        &json!({"eventType": "drift.low", "status": "PROCESSED"}),
    );
    assert_eq!(reply.status, 202, "{}", reply.text);
    let replay = reply.json();
    assert_eq!(replay["total"], 5);
    let replay_id = replay["id"].as_str().expect("id").to_string();
    let deadline = Instant::now() + Duration::from_secs(10);
    let done = loop {
        let progress = app
            .get(&format!("/api/integrations/{id}/replays/{replay_id}"))
            .json();
        if progress["state"] == "DONE" {
            break progress;
        }
        assert!(
            Instant::now() < deadline,
            "replay never finished: {progress}"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(done["requeued"], 5, "{done}");
    assert_eq!(done["skipped"], 0);
    assert!(done["finishedAt"].is_string());
    app.wait_until_idle();
    for e in &lows {
        let event = app.event(&id, e);
        assert_eq!(event["status"], "PROCESSED");
        assert_eq!(event["attempts"], 2, "{event}");
    }
    let criticals = app
        .get(&format!(
            "/api/integrations/{id}/events?eventType=drift.critical"
        ))
        .json();
    for e in criticals["items"].as_array().expect("items") {
        assert_eq!(e["attempts"], 1, "a non-matching event was replayed: {e}");
    }

    // Bad input and unknown ids.
    app.post_json(
        &format!("/api/integrations/{id}/replay"),
        &json!({"from": "yesterday"}),
    )
    .problem(422);
    app.post_json(
        &format!("/api/integrations/{id}/replay"),
        &json!({"status": "DONE"}),
    )
    .problem(422);
    app.get(&format!(
        "/api/integrations/{id}/replays/01a226d6-b1ea-769e-93f9-1a22811a93ec"
    ))
    .problem(404);
}

#[test]
fn a_time_window_narrows_a_replay() {
    let app = TestApp::spawn();
    let id = app.create_integration_id("WEBHOOK", json!({"allow_unverified": true}));
    let first = send_alert(&app, &id, "drift.low", 0);
    std::thread::sleep(Duration::from_millis(30));
    let middle = app.event(&id, &send_alert(&app, &id, "drift.low", 1))["receivedAt"]
        .as_str()
        .expect("at")
        .to_string();
    send_alert(&app, &id, "drift.low", 2);
    let preview = app
        .post_json(
            &format!("/api/integrations/{id}/replay"),
            &json!({"from": middle, "dryRun": true}),
        )
        .json();
    assert_eq!(preview["matching"], 2, "{preview}");
    let preview = app
        .post_json(
            &format!("/api/integrations/{id}/replay"),
            &json!({"to": middle, "dryRun": true}),
        )
        .json();
    assert_eq!(preview["matching"], 1, "{preview}");
    assert_eq!(preview["sample"][0]["id"], first.as_str());
}

#[test]
fn a_dry_run_of_a_config_that_routes_violation_high_to_slack_sends_nothing() {
    let app = TestApp::spawn();
    let slack = FakeRemote::start();
    app.create_integration(
        "SLACK",
        json!({"webhook_url": format!("{}/services/T/B/alerts", slack.url), "events": ["violation.*"]}),
    );
    // The monitor forwards only drift alerts today.
    let monitor = app.create_integration_id(
        "WEBHOOK",
        json!({"allow_unverified": true, "events": ["drift.*"]}),
    );
    let high = send_alert(&app, &monitor, "violation.high", 0);
    assert_eq!(
        app.event(&monitor, &high)["outcome"],
        "ignored: not subscribed"
    );
    let before: Value = app.get("/api/outbox").json();

    let reply = app.post_json(
        &format!("/api/integrations/{monitor}/dry-run"),
        &json!({"config": {"events": ["drift.*", "violation.high"], "allow_unverified": true}, "limit": 5}),
    );
    assert_eq!(reply.status, 200, "{}", reply.text);
    let results = reply.json()["results"].as_array().expect("results").clone();
    assert_eq!(results.len(), 1);
    let result = &results[0];
    assert_eq!(result["eventId"], high.as_str());
    assert_eq!(result["outcome"], "announced to 1 Slack integration(s)");
    let trace = result["trace"].to_string();
    assert!(trace.contains("matches `violation.*`"), "{trace}");

    // Nothing was stored, queued or sent, and the config is unchanged.
    app.wait_until_idle();
    assert_eq!(slack.requests().len(), 0);
    assert_eq!(app.get("/api/outbox").json(), before);
    assert_eq!(
        app.get(&format!("/api/integrations/{monitor}")).json()["config"]["events"],
        json!(["drift.*"])
    );
    assert_eq!(app.get("/api/eval-runs").json()["items"], json!([]));

    // A config that does not fit is refused like a PATCH would be.
    app.post_json(
        &format!("/api/integrations/{monitor}/dry-run"),
        &json!({"config": {"events": "drift.*"}}),
    )
    .problem(422);
    app.post_json(
        &format!("/api/integrations/{monitor}/dry-run"),
        &json!({"limit": 0}),
    )
    .problem(422);
}
