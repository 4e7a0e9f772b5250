//! The background worker: statuses, retries, permanent failures, panics, crash recovery.

use std::sync::Arc;

use provenant::db::events::EventDetail;
use provenant::db::integrations::Integration;
use provenant::db::sql::params;
use provenant::pipeline::worker::{Ctx, ProcessError, Processor, Processors};
use serde_json::{Value, json};

use crate::helpers::*;

/// A WEBHOOK processor that does what the payload's `behavior` says.
struct Scripted;

impl Processor for Scripted {
    fn process(
        &self,
        _ctx: &Ctx<'_>,
        _i: &Integration,
        event: &EventDetail,
    ) -> Result<String, ProcessError> {
        let payload: Value = serde_json::from_slice(&event.payload).unwrap_or_default();
        match payload["behavior"].as_str().unwrap_or("") {
            "retry_once" if event.summary.attempts < 2 => Err(ProcessError::Retryable {
                error: "remote said 503".into(),
                after: None,
            }),
            "retry_once" => Ok(format!("ok on attempt {}", event.summary.attempts)),
            "always_retry" => Err(ProcessError::Retryable {
                error: "remote said 503".into(),
                after: None,
            }),
            "permanent" => Err(ProcessError::Permanent(
                "remote said 404: no such channel".into(),
            )),
            "panic" => panic!("processor bug"),
            _ => Ok("done".into()),
        }
    }
}

fn scripted_app() -> (TestApp, String) {
    let processors = Processors {
        webhook: Arc::new(Scripted),
        ..Processors::default()
    };
    let app = TestApp::spawn_with(|_| {}, processors);
    let id = app.create_integration_id("WEBHOOK", json!({"allow_unverified": true}));
    (app, id)
}

fn send(app: &TestApp, id: &str, behavior: &str) -> String {
    let body = json!({ "behavior": behavior }).to_string();
    app.deliver_accepted(id, &[("content-type", "application/json")], body.as_bytes())
}

#[test]
fn an_event_goes_from_received_to_processed_and_shows_in_the_list() {
    let app = TestApp::spawn();
    let id = app.create_integration_id(
        "GITHUB",
        json!({"allow_unverified": true, "repo": "octo/hello"}),
    );
    let reply = app.deliver(
        &id,
        &[
            ("content-type", "application/json"),
            ("x-github-event", "ping"),
        ],
        br#"{"zen":"Keep it logically awesome."}"#,
    );
    let event_id = reply.json()["eventId"].as_str().expect("id").to_string();
    let event = app.wait_for_status(&id, &event_id, &["PROCESSED"]);
    assert_eq!(event["outcome"], "pong");
    assert_eq!(event["attempts"], 1);
    assert!(event["processedAt"].is_string());
    let list = app.get(&format!("/api/integrations/{id}/events")).json();
    assert_eq!(list["items"][0]["id"], event_id.as_str());
    assert_eq!(list["items"][0]["status"], "PROCESSED");
}

#[test]
fn a_retryable_failure_is_retried_and_then_succeeds() {
    let (app, id) = scripted_app();
    let event_id = send(&app, &id, "retry_once");
    let event = app.wait_for_status(&id, &event_id, &["PROCESSED", "FAILED"]);
    assert_eq!(event["status"], "PROCESSED", "{event}");
    assert_eq!(event["attempts"], 2);
    assert_eq!(event["outcome"], "ok on attempt 2");
}

#[test]
fn retries_stop_after_the_schedule_and_the_event_fails() {
    let (app, id) = scripted_app();
    let event_id = send(&app, &id, "always_retry");
    let event = app.wait_for_status(&id, &event_id, &["FAILED"]);
    // The test schedule has two waits: three attempts in all.
    assert_eq!(event["attempts"], 3);
    let error = event["error"].as_str().expect("error");
    assert!(
        error.contains("gave up after 3 attempts") && error.contains("503"),
        "{error}"
    );
}

#[test]
fn a_permanent_failure_fails_at_once_with_its_error() {
    let (app, id) = scripted_app();
    let event_id = send(&app, &id, "permanent");
    let event = app.wait_for_status(&id, &event_id, &["FAILED"]);
    assert_eq!(event["attempts"], 1);
    assert_eq!(event["error"], "remote said 404: no such channel");
}

#[test]
fn a_panicking_processor_fails_its_event_and_the_worker_goes_on() {
    let (app, id) = scripted_app();
    let bad = send(&app, &id, "panic");
    let good = send(&app, &id, "fine");
    let event = app.wait_for_status(&id, &bad, &["FAILED"]);
    assert_eq!(event["error"], "internal error");
    let event = app.wait_for_status(&id, &good, &["PROCESSED"]);
    assert_eq!(event["outcome"], "done");
}

#[test]
fn a_failed_event_can_be_retried_by_hand() {
    let (app, id) = scripted_app();
    let event_id = send(&app, &id, "permanent");
    app.wait_for_status(&id, &event_id, &["FAILED"]);
    let reply = app.post(&format!("/api/integrations/{id}/events/{event_id}/retry"));
    assert_eq!(reply.status, 202, "{}", reply.text);
    let event = app.wait_for_status(&id, &event_id, &["FAILED"]);
    assert_eq!(event["attempts"], 2);
    // Unknown events are 404.
    app.post(&format!(
        "/api/integrations/{id}/events/1b4e28ba-2fa1-41d2-883f-0e1bdd2f0c5e/retry"
    ))
    .problem(404);
}

#[test]
fn retrying_an_event_being_processed_is_409() {
    let app = TestApp::spawn();
    let id = app.create_integration_id("WEBHOOK", json!({"allow_unverified": true}));
    let event_id = app.deliver_accepted(&id, &[("content-type", "application/json")], b"{}");
    app.wait_for_status(&id, &event_id, &["PROCESSED"]);
    // Pretend the worker holds it: under this node's live claim, or the sweep for claims of
    // dead nodes would put it back to RECEIVED first.
    app.db()
        .execute(
            "UPDATE webhook_events SET status = 'PROCESSING',
                 claimed_by = (SELECT claim_token FROM nodes ORDER BY started_at DESC LIMIT 1)
             WHERE id = ?1",
            params![&event_id],
        )
        .expect("update");
    let reply = app.post(&format!("/api/integrations/{id}/events/{event_id}/retry"));
    reply.problem(409);
}

#[test]
fn events_interrupted_by_a_crash_are_processed_after_restart() {
    let dir = tempfile::tempdir().expect("dir");
    let app = TestApp::spawn_in(dir.path(), |_| {}, Processors::default());
    let id = app.create_integration_id("WEBHOOK", json!({"allow_unverified": true}));
    let event_id = app.deliver_accepted(&id, &[("content-type", "application/json")], b"{}");
    app.wait_for_status(&id, &event_id, &["PROCESSED"]);
    app.stop();
    // Leave it as a crash would: claimed, never finished.
    provenant::db::testing::Sql::open(dir.path())
        .execute(
            "UPDATE webhook_events SET status = 'PROCESSING', outcome = NULL WHERE id = ?1",
            params![&event_id],
        )
        .expect("update");
    let app = TestApp::spawn_in(dir.path(), |_| {}, Processors::default());
    let event = app.wait_for_status(&id, &event_id, &["PROCESSED"]);
    assert_eq!(event["attempts"], 2);
    assert_eq!(event["outcome"], "announced to 0 Slack integration(s)");
}

#[test]
fn health_counts_the_queue() {
    let (app, id) = scripted_app();
    let failed = send(&app, &id, "permanent");
    let done = send(&app, &id, "fine");
    app.wait_for_status(&id, &failed, &["FAILED"]);
    app.wait_for_status(&id, &done, &["PROCESSED"]);
    let health = app.get("/api/health").json();
    assert_eq!(health["queue"]["failed"], 1);
    assert_eq!(health["queue"]["processed"], 1);
    assert_eq!(health["queue"]["received"], 0);
    assert!(health["queue"].get("oldestReceivedAgeMs").is_none());
}

#[test]
fn old_finished_events_and_outbox_rows_are_pruned() {
    let dir = tempfile::tempdir().expect("dir");
    let slack = crate::fake::FakeRemote::start();
    let app = TestApp::spawn_in(dir.path(), |_| {}, Processors::default());
    app.create_integration_id(
        "SLACK",
        json!({"webhook_url": format!("{}/services/T/B/prune", slack.url)}),
    );
    let id = app.create_integration_id("WEBHOOK", json!({"allow_unverified": true}));
    let old = app.deliver_accepted(&id, &[("content-type", "application/json")], b"{}");
    app.wait_for_status(&id, &old, &["PROCESSED"]);
    app.wait_until_idle();
    app.stop();
    // Age the event and the Slack message it queued past the 30-day default.
    let conn = provenant::db::testing::Sql::open(dir.path());
    conn.execute(
        "UPDATE webhook_events SET received_at = received_at - 2678400000 WHERE id = ?1",
        params![&old],
    )
    .expect("age");
    let aged = conn
        .execute("UPDATE outbox SET created_at = created_at - 2678400000 WHERE source_event_id = ?1 AND status = 'SENT'", params![&old])
        .expect("age");
    assert_eq!(aged, 1);
    drop(conn);
    // The worker prunes when it first goes idle after a start.
    let app = TestApp::spawn_in(dir.path(), |_| {}, Processors::default());
    let fresh = app.deliver_accepted(&id, &[("content-type", "application/json")], b"{}");
    app.wait_for_status(&id, &fresh, &["PROCESSED"]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let reply = app.get(&format!("/api/integrations/{id}/events/{old}"));
        if reply.status == 404 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "old event was not pruned"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(
        app.get(&format!("/api/integrations/{id}/events/{fresh}"))
            .status,
        200
    );
    // The integration's count follows: the pruned event no longer counts.
    let integration = app.get(&format!("/api/integrations/{id}")).json();
    assert_eq!(integration["eventCount"], 1, "{integration}");
    app.wait_until_idle();
    let kept: Vec<Value> = app.get("/api/outbox").json()["items"]
        .as_array()
        .expect("items")
        .clone();
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert_eq!(kept[0]["sourceEventId"], fresh.as_str());
}

#[test]
fn the_cluster_lists_the_node_that_answered_and_the_lease_in_milliseconds() {
    let app = TestApp::spawn_with(
        |s| s.node_lease = std::time::Duration::from_millis(12_500),
        Processors::default(),
    );
    let cluster = app.get("/api/cluster").json();
    assert_eq!(cluster["leaseMs"], 12_500, "{cluster}");
    let this = cluster["thisNode"].as_str().expect("thisNode");
    assert!(
        cluster["nodes"]
            .as_array()
            .expect("nodes")
            .iter()
            .any(|n| n["id"] == this && n["alive"] == true),
        "{cluster}"
    );
}
