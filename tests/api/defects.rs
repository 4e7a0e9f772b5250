//! The defects found in review, each pinned by a test that failed before its fix.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::fake::{Canned, FakeRemote};
use crate::helpers::TestApp;

fn slack_integration(app: &TestApp, url: &str) -> String {
    app.create_integration_id("SLACK", json!({ "webhook_url": url }))
}

#[test]
fn slow_slack_tests_hold_no_database_connection_and_the_api_stays_responsive() {
    let app = TestApp::spawn();
    let slack = FakeRemote::start();
    slack.set_default(Canned::status(200, "ok").after(Duration::from_millis(2500)));
    // Eight integrations, eight different webhook URLs: none waits for another's turn.
    let ids: Vec<String> = (0..8)
        .map(|i| slack_integration(&app, &format!("{}/services/T/B/{i}", slack.url)))
        .collect();
    let app = Arc::new(app);
    let testers: Vec<_> = ids
        .into_iter()
        .map(|id| {
            let app = app.clone();
            std::thread::spawn(move || app.post(&format!("/api/integrations/{id}/test")))
        })
        .collect();
    slack.wait_for(8);
    // All eight tests are now waiting on Slack. The API must not wait with them.
    let started = Instant::now();
    let list = app.get("/api/integrations");
    let took = started.elapsed();
    assert_eq!(list.status, 200, "{}", list.text);
    assert!(
        took < Duration::from_millis(1000),
        "listing integrations took {took:?} while Slack tests were in flight"
    );
    for t in testers {
        let reply = t.join().expect("test thread");
        assert_eq!(reply.status, 200, "{}", reply.text);
        assert_eq!(reply.json()["ok"], true, "{}", reply.text);
    }
}

#[test]
fn the_test_endpoint_keeps_slacks_one_message_per_second_per_url() {
    let app = TestApp::spawn();
    let slack = FakeRemote::start();
    let id = slack_integration(&app, &format!("{}/services/T/B/one", slack.url));
    let app = Arc::new(app);
    let testers: Vec<_> = (0..3)
        .map(|_| {
            let app = app.clone();
            let id = id.clone();
            std::thread::spawn(move || app.post(&format!("/api/integrations/{id}/test")))
        })
        .collect();
    for t in testers {
        let reply = t.join().expect("test thread");
        assert_eq!(reply.status, 200, "{}", reply.text);
    }
    let requests = slack.wait_for(3);
    for pair in requests.windows(2) {
        let gap = pair[1].at.duration_since(pair[0].at);
        assert!(
            gap >= Duration::from_millis(950),
            "two messages to one URL only {gap:?} apart"
        );
    }
}

#[test]
fn concurrent_patches_while_deliveries_flow_all_succeed_and_the_last_write_wins() {
    let app = Arc::new(TestApp::spawn());
    let hook = app.create_integration_id("WEBHOOK", json!({}));
    let target = app.create_integration_id("WEBHOOK", json!({"description": "flooded"}));
    let stop = Arc::new(AtomicBool::new(false));
    let delivered = Arc::new(AtomicUsize::new(0));
    let body = json!({"event": "drift.low", "blob": "x".repeat(4000)}).to_string();
    let senders: Vec<_> = (0..8)
        .map(|_| {
            let (app, hook, stop, delivered, body) = (
                app.clone(),
                hook.clone(),
                stop.clone(),
                delivered.clone(),
                body.clone(),
            );
            std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    let reply = app.deliver(
                        &hook,
                        &[("content-type", "application/json")],
                        body.as_bytes(),
                    );
                    assert_eq!(reply.status, 202, "{}", reply.text);
                    delivered.fetch_add(1, Ordering::SeqCst);
                }
            })
        })
        .collect();
    // Let the flood build up before the user reaches for the switch.
    while delivered.load(Ordering::SeqCst) < 200 {
        std::thread::sleep(Duration::from_millis(10));
    }
    let patchers: Vec<_> = (0..80)
        .map(|i| {
            let (app, target) = (app.clone(), target.clone());
            std::thread::spawn(move || {
                let reply = app.patch_json(
                    &format!("/api/integrations/{target}"),
                    &json!({"name": format!("name {i}"), "isActive": i % 2 == 0}),
                );
                (i, reply.status, reply.text)
            })
        })
        .collect();
    let mut answers: Vec<(i64, String)> = vec![];
    let mut failures = vec![];
    for p in patchers {
        let (i, status, text) = p.join().expect("patch thread");
        if status == 200 {
            let v: Value = serde_json::from_str(&text).expect("json");
            let updated = v["updatedAt"].as_str().expect("updatedAt").to_string();
            answers.push((i, updated));
        } else {
            failures.push(format!("PATCH {i}: {status} {text}"));
        }
    }
    stop.store(true, Ordering::SeqCst);
    for s in senders {
        s.join().expect("sender");
    }
    assert!(
        failures.is_empty(),
        "{} failed: {failures:?}",
        failures.len()
    );
    let stored = app.get(&format!("/api/integrations/{target}")).json();
    let latest = answers
        .iter()
        .map(|(_, at)| at.clone())
        .max()
        .expect("answers");
    let winners: Vec<String> = answers
        .iter()
        .filter(|(_, at)| *at == latest)
        .map(|(i, _)| format!("name {i}"))
        .collect();
    assert!(
        winners.contains(&stored["name"].as_str().unwrap_or_default().to_string()),
        "stored {} but the last answered writes were {winners:?}",
        stored["name"]
    );
}

#[test]
fn a_slack_webhook_url_is_masked_in_the_api_and_kept_when_sent_back_masked() {
    let app = TestApp::spawn();
    let url = "https://hooks.slack.com/services/T0000/B0000/XXXXXXXXXXXXXXXXXXXXXXXX";
    let created = app.create_integration("SLACK", json!({ "webhook_url": url, "channel": "#a" }));
    let id = created["id"].as_str().expect("id").to_string();
    let shown = "https://hooks.slack.com/services/\u{2026}/***";
    assert_eq!(created["config"]["webhook_url"], shown);
    let listed = app.get("/api/integrations");
    assert!(!listed.text.contains("XXXXXXXX"), "{}", listed.text);
    let one = app.get(&format!("/api/integrations/{id}"));
    assert!(!one.text.contains("XXXXXXXX"), "{}", one.text);

    // The config as read, sent back with a change elsewhere, keeps the real URL.
    let mut config = one.json()["config"].clone();
    config["channel"] = json!("#b");
    let reply = app.patch_json(
        &format!("/api/integrations/{id}"),
        &json!({ "config": config }),
    );
    assert_eq!(reply.status, 200, "{}", reply.text);
    let stored: Value = serde_json::from_str(&app.stored_config(&id)).expect("json");
    assert_eq!(
        app.open_stored(&id, "config.webhook_url", &stored["webhook_url"]),
        url
    );

    // A masked-looking URL that is not the stored one's mask is refused, not saved.
    let reply = app.patch_json(
        &format!("/api/integrations/{id}"),
        &json!({ "config": { "webhook_url": "https://evil.example/services/\u{2026}/***" } }),
    );
    assert_eq!(reply.problem(409)["field"], "config.webhook_url");

    // A reference to a secret is shown as written.
    app.request(
        "PUT",
        "/api/secrets/SLACK_URL",
        Some(crate::helpers::TOKEN),
        &[("content-type", "application/json")],
        Some(json!({"value": url}).to_string().into_bytes()),
    );
    let by_ref = app.create_integration("SLACK", json!({ "webhook_url": "${secret:SLACK_URL}" }));
    assert_eq!(by_ref["config"]["webhook_url"], "${secret:SLACK_URL}");
}

mod slack_receiver {
    use super::*;
    use crate::helpers::now_secs;

    const SIGNING_SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";

    fn slack_signature(secret: &str, ts: i64, body: &[u8]) -> String {
        use hmac::{Hmac, KeyInit, Mac};
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("key");
        mac.update(format!("v0:{ts}:").as_bytes());
        mac.update(body);
        format!("v0={}", hex::encode(mac.finalize().into_bytes()))
    }

    fn signed_app() -> (TestApp, String) {
        let app = TestApp::spawn();
        let id = app.create_integration_id(
            "SLACK",
            json!({"webhook_url": "https://hooks.slack.com/services/T/B/x", "signing_secret": SIGNING_SECRET}),
        );
        (app, id)
    }

    fn form(pairs: &[(&str, &str)]) -> Vec<u8> {
        let mut s = form_urlencoded::Serializer::new(String::new());
        for (k, v) in pairs {
            s.append_pair(k, v);
        }
        s.finish().into_bytes()
    }

    fn post_signed(
        app: &TestApp,
        id: &str,
        content_type: &str,
        body: &[u8],
        ts: i64,
        secret: &str,
    ) -> crate::helpers::Reply {
        let ts_text = ts.to_string();
        let sig = slack_signature(secret, ts, body);
        app.deliver(
            id,
            &[
                ("content-type", content_type),
                ("x-slack-request-timestamp", &ts_text),
                ("x-slack-signature", &sig),
            ],
            body,
        )
    }

    #[test]
    fn signed_slash_commands_interactions_and_events_are_stored_with_their_types() {
        let (app, id) = signed_app();
        let form_type = "application/x-www-form-urlencoded";
        let cases: Vec<(&str, Vec<u8>, &str)> = vec![
            (
                form_type,
                form(&[("command", "/deploy"), ("text", "prod"), ("trigger_id", "t-1")]),
                "slack.command./deploy",
            ),
            (
                form_type,
                form(&[("payload", &json!({"type": "block_actions", "trigger_id": "t-2"}).to_string())]),
                "slack.block_actions",
            ),
            (
                "application/json",
                json!({"type": "event_callback", "event_id": "Ev1", "event": {"type": "app_mention"}})
                    .to_string()
                    .into_bytes(),
                "slack.event.app_mention",
            ),
        ];
        for (content_type, body, event_type) in cases {
            let reply = post_signed(&app, &id, content_type, &body, now_secs(), SIGNING_SECRET);
            assert_eq!(reply.status, 202, "{event_type}: {}", reply.text);
            let event_id = reply.json()["eventId"].as_str().expect("id").to_string();
            let event = app.event(&id, &event_id);
            assert_eq!(event["eventType"], event_type);
            let signature = event["headers"]
                .as_array()
                .expect("headers")
                .iter()
                .find(|h| h["name"] == "x-slack-signature")
                .expect("signature header kept")["value"]
                .clone();
            assert_eq!(signature, "***", "the signature is not stored");
        }
        // Slack retries an Events API callback with the same event_id: stored once.
        let again =
            json!({"type": "event_callback", "event_id": "Ev1", "event": {"type": "app_mention"}})
                .to_string()
                .into_bytes();
        let reply = post_signed(
            &app,
            &id,
            "application/json",
            &again,
            now_secs(),
            SIGNING_SECRET,
        );
        assert_eq!(reply.status, 200, "{}", reply.text);
        assert_eq!(reply.json()["duplicate"], true);
    }

    #[test]
    fn bad_stale_or_missing_slack_signatures_are_401_counted_and_not_stored() {
        let (app, id) = signed_app();
        let body = form(&[("command", "/deploy")]);
        let form_type = "application/x-www-form-urlencoded";
        let wrong = post_signed(&app, &id, form_type, &body, now_secs(), "another-secret");
        assert!(
            wrong.problem(401)["detail"]
                .as_str()
                .expect("detail")
                .contains("X-Slack-Signature")
        );
        let stale = post_signed(
            &app,
            &id,
            form_type,
            &body,
            now_secs() - 600,
            SIGNING_SECRET,
        );
        assert!(
            stale.problem(401)["detail"]
                .as_str()
                .expect("detail")
                .contains("X-Slack-Request-Timestamp")
        );
        app.deliver(&id, &[("content-type", form_type)], &body)
            .problem(401);
        // Refusals are counted by the writer thread just after the answer: wait for it.
        let deadline = Instant::now() + Duration::from_secs(5);
        let integration = loop {
            let integration = app.get(&format!("/api/integrations/{id}")).json();
            if integration["rejectedDeliveries"]["count"] == 3 || Instant::now() > deadline {
                break integration;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        assert_eq!(integration["rejectedDeliveries"]["count"], 3);
        assert_eq!(integration["verified"], true);
        let events = app.get(&format!("/api/integrations/{id}/events")).json();
        assert_eq!(events["items"].as_array().expect("items").len(), 0);
    }

    #[test]
    fn the_url_verification_challenge_is_echoed_and_nothing_is_stored() {
        let (app, id) = signed_app();
        let body = json!({"token": "t", "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P", "type": "url_verification"})
            .to_string()
            .into_bytes();
        let reply = post_signed(
            &app,
            &id,
            "application/json",
            &body,
            now_secs(),
            SIGNING_SECRET,
        );
        assert_eq!(reply.status, 200, "{}", reply.text);
        assert_eq!(
            reply.json()["challenge"],
            "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"
        );
        let events = app.get(&format!("/api/integrations/{id}/events")).json();
        assert_eq!(events["items"].as_array().expect("items").len(), 0);
        // Unsigned, the handshake is refused like anything else.
        app.deliver(&id, &[("content-type", "application/json")], &body)
            .problem(401);
    }

    #[test]
    fn without_a_signing_secret_slack_requests_are_stored_unverified() {
        let app = TestApp::spawn();
        let created = app.create_integration(
            "SLACK",
            json!({"webhook_url": "https://hooks.slack.com/services/T/B/x"}),
        );
        assert_eq!(created["verified"], false);
        let id = created["id"].as_str().expect("id");
        let body = form(&[("command", "/status")]);
        let event_id = app.deliver_accepted(
            id,
            &[("content-type", "application/x-www-form-urlencoded")],
            &body,
        );
        assert_eq!(
            app.event(id, &event_id)["eventType"],
            "slack.command./status"
        );
    }
}
