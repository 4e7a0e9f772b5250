//! Alerts through the real server, with a Slack stand-in and the clock seam: a condition is
//! announced once when it starts (`provenant.alert.<condition>`), never again while it lasts,
//! and once when it clears (`provenant.resolved.<condition>`, with how long it lasted); the
//! open ones are at `GET /api/alerts` and in `/metrics`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use provenant::base::clock::{Clock, rfc3339};
use provenant::pipeline::worker::Processors;
use serde_json::{Value, json};

use crate::fake::{Canned, FakeRemote, Recorded};
use crate::helpers::*;

/// A server whose alerts are checked every 100 ms, on a pinned clock, and whose WEBHOOK
/// deliveries fail when they say so.
fn alerting_app(clock: &Clock) -> TestApp {
    alerting_app_with(
        clock,
        Processors {
            webhook: Arc::new(FailsWhenAsked),
            ..Processors::default()
        },
    )
}

fn alerting_app_with(clock: &Clock, processors: Processors) -> TestApp {
    let clock = clock.clone();
    TestApp::spawn_with(
        move |s| {
            s.clock = clock;
            s.alerts.check_every = Some(Duration::from_millis(100));
        },
        processors,
    )
}

/// A SLACK integration that hears the server's own alerts, on its own stand-in.
fn alert_listener(app: &TestApp) -> FakeRemote {
    let slack = FakeRemote::start();
    app.create_integration_id(
        "SLACK",
        json!({
            "webhook_url": format!("{}/services/T000/B000/ALERTS", slack.url),
            "events": ["provenant.*"]
        }),
    );
    slack
}

/// The pinned clock stands at the start of a minute, so counts fall in one minute.
fn pinned_clock() -> Clock {
    let clock = Clock::system();
    clock.pin((now_ms() / 60_000) * 60_000 + 1_000);
    clock
}

fn text_of(call: &Recorded) -> String {
    call.json()["text"].as_str().unwrap_or_default().to_string()
}

fn alerts(app: &TestApp) -> Value {
    let reply = app.get("/api/alerts");
    assert_eq!(reply.status, 200, "{}", reply.text);
    reply.json()
}

/// Waits until `GET /api/alerts` lists `open` open alerts.
fn wait_for_open(app: &TestApp, open: usize) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let list = alerts(app);
        if list["open"].as_array().map(Vec::len) == Some(open) {
            return list;
        }
        assert!(Instant::now() < deadline, "expected {open} open: {list}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Waits for Slack's `n`th message. The pinned clock stands still, and a Slack webhook takes
/// one message a second: the clock is moved a second at a time meanwhile (after a change is
/// announced, so the durations it tells are those of the jump before).
fn wait_for_slack(slack: &FakeRemote, clock: &Clock, n: usize) -> Vec<Recorded> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let got = slack.requests();
        if got.len() >= n {
            return got;
        }
        assert!(Instant::now() < deadline, "expected {n} messages: {got:?}");
        std::thread::sleep(Duration::from_millis(200));
        clock.advance(Duration::from_secs(1));
    }
}

/// Waits for a check that began after everything so far: the clock moves a second (which
/// changes no window here) and `checkedAt` must reach it. What that check would announce is
/// queued in its own transaction, so [`announced`] then counts it.
fn check_now(app: &TestApp, clock: &Clock) {
    clock.advance(Duration::from_secs(1));
    let at = rfc3339(clock.now_ms());
    let deadline = Instant::now() + Duration::from_secs(20);
    while alerts(app)["checkedAt"] != at.as_str() {
        assert!(
            Instant::now() < deadline,
            "no check at {at}: {}",
            alerts(app)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    app.wait_until_idle();
}

/// The server's own announcements queued in the outbox, sent or not.
fn announced(app: &TestApp) -> Vec<String> {
    app.get("/api/notifications").json()["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|n| n["eventType"].as_str())
        .filter(|t| t.starts_with("provenant."))
        .map(String::from)
        .collect()
}

fn fail(app: &TestApp, hook: &str, n: usize) {
    for _ in 0..n {
        let reply = app.deliver(
            hook,
            &[("content-type", "application/json")],
            json!({"fail": true}).to_string().as_bytes(),
        );
        assert_eq!(reply.status / 100, 2, "{}", reply.text);
    }
    app.wait_until_idle();
}

#[test]
fn a_burst_of_failures_alerts_once_and_recovery_sends_one_resolved_message_with_its_duration() {
    let clock = pinned_clock();
    let app = alerting_app(&clock);
    let slack = alert_listener(&app);
    let hook = app.create_integration_id("WEBHOOK", json!({"allow_unverified": true}));

    // Four failures are under the threshold (and four deliveries too few for a rate).
    fail(&app, &hook, 4);
    check_now(&app, &clock);
    assert!(slack.requests().is_empty(), "{:?}", slack.requests());
    assert!(announced(&app).is_empty(), "{:?}", announced(&app));
    assert_eq!(alerts(&app)["open"], json!([]));

    fail(&app, &hook, 1);
    let calls = slack.wait_for(1);
    let body = calls[0].json();
    let text = text_of(&calls[0]);
    assert!(
        text.contains("Alert: Processing failures")
            && text.contains("Test WEBHOOK")
            && text.contains("5 deliveries failed of 5"),
        "{text}"
    );
    let section = body["blocks"][1]["text"]["text"].as_str().expect("section");
    assert!(
        section.contains(&format!(
            "<{}|Open>",
            app.url(&format!("/integrations/{hook}#recent-events"))
        )),
        "the message links to the integration's page: {section}"
    );
    assert_eq!(body["blocks"][0]["type"], "header");
    let open = wait_for_open(&app, 1);
    let alert = &open["open"][0];
    assert_eq!(alert["condition"], "failures");
    assert_eq!(alert["eventType"], "provenant.alert.failures");
    assert_eq!(alert["subject"], hook.as_str());
    assert_eq!(alert["subjectName"], "Test WEBHOOK");
    let metrics = app.get("/metrics").text;
    assert!(
        metrics.contains("provenant_alerts_open{condition=\"failures\"} 1")
            && metrics.contains("provenant_alerts_open{condition=\"rejections\"} 0"),
        "{metrics}"
    );

    // More failures while it is open: the alert's numbers grow, Slack hears nothing more.
    fail(&app, &hook, 3);
    check_now(&app, &clock);
    assert_eq!(slack.requests().len(), 1, "{:?}", slack.requests());
    assert_eq!(announced(&app), ["provenant.alert.failures"]);
    let open = alerts(&app);
    assert!(
        open["open"][0]["summary"]
            .as_str()
            .is_some_and(|s| s.contains("8 deliveries failed of 8")),
        "{open}"
    );

    // Eleven minutes after it opened without failures (the check before moved the clock a
    // second): the window is clear.
    clock.advance(Duration::from_secs(11 * 60 - 1));
    let calls = wait_for_slack(&slack, &clock, 2);
    let text = text_of(&calls[1]);
    assert!(
        text.contains("Resolved: Processing failures")
            && text.contains("Cleared after 11 min")
            && text.contains("Lasted: 11 min"),
        "{text}"
    );
    let list = wait_for_open(&app, 0);
    assert_eq!(list["resolved"][0]["condition"], "failures");
    assert_eq!(list["resolved"][0]["durationSeconds"], 660);
    assert!(list["resolved"][0]["resolvedAt"].is_string(), "{list}");
    check_now(&app, &clock);
    assert_eq!(slack.requests().len(), 2, "one message each way");
    assert_eq!(announced(&app).len(), 2, "{:?}", announced(&app));
    assert!(
        app.get("/metrics")
            .text
            .contains("provenant_alerts_open{condition=\"failures\"} 0")
    );
}

#[test]
fn a_failure_rate_over_the_threshold_alerts_with_fewer_failures_than_the_count() {
    let clock = pinned_clock();
    let app = alerting_app(&clock);
    let slack = alert_listener(&app);
    let hook = app.create_integration_id("WEBHOOK", json!({"allow_unverified": true}));
    for _ in 0..7 {
        app.deliver_accepted(
            &hook,
            &[("content-type", "application/json")],
            json!({"fail": false}).to_string().as_bytes(),
        );
    }
    // 2 of 9 is 22 %, over 20 %; two failures are far under five.
    fail(&app, &hook, 2);
    let calls = slack.wait_for(1);
    assert!(
        text_of(&calls[0]).contains("2 deliveries failed of 9 processed"),
        "{}",
        text_of(&calls[0])
    );
}

#[test]
fn a_paused_destination_alerts_after_ten_minutes_and_not_before_and_resolves_when_it_sends() {
    let clock = pinned_clock();
    // The standard processors: the WEBHOOK integration forwards its drift alert to Slack.
    let app = alerting_app_with(&clock, Processors::default());
    let listener = alert_listener(&app);
    // Another Slack workspace, which rate-limits us for half an hour.
    let limited = FakeRemote::start();
    limited.push(Canned::status(429, "rate_limited").header("Retry-After", "1800"));
    let limited_id = app.create_integration_id(
        "SLACK",
        json!({
            "webhook_url": format!("{}/services/T000/B000/LIMITED", limited.url),
            "events": ["drift.*"]
        }),
    );
    let monitor = app.create_integration_id(
        "WEBHOOK",
        json!({"allow_unverified": true, "events": ["drift.*"]}),
    );
    app.deliver_accepted(
        &monitor,
        &[("content-type", "application/json")],
        json!({"type": "drift.critical", "message": "quality dropped"})
            .to_string()
            .as_bytes(),
    );
    limited.wait_for(1);
    // Alerts forwarded from a WEBHOOK integration queue apart, by their source.
    let destination = format!("slack:{limited_id}:alerts:{monitor}");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let list = app.get("/api/outbox/destinations").json();
        let paused = list
            .as_array()
            .into_iter()
            .flatten()
            .any(|d| d["destination"] == destination.as_str() && d["pausedUntil"].is_string());
        if paused {
            break;
        }
        assert!(Instant::now() < deadline, "never paused: {list}");
        std::thread::sleep(Duration::from_millis(50));
    }

    clock.advance(Duration::from_secs(9 * 60));
    check_now(&app, &clock);
    assert!(listener.requests().is_empty(), "{:?}", listener.requests());
    assert!(announced(&app).is_empty(), "{:?}", announced(&app));
    assert_eq!(alerts(&app)["open"], json!([]));

    clock.advance(Duration::from_secs(2 * 60));
    let calls = listener.wait_for(1);
    let text = text_of(&calls[0]);
    assert!(
        text.contains("Alert: Destination failing")
            && text.contains("Slack: Test SLACK")
            && text.contains("paused by the remote for 11 min"),
        "{text}"
    );
    let open = wait_for_open(&app, 1);
    assert_eq!(open["open"][0]["condition"], "destination");
    assert_eq!(open["open"][0]["subject"], destination.as_str());
    assert!(
        open["open"][0]["link"]
            .as_str()
            .is_some_and(|l| l.ends_with("/outbox")),
        "{open}"
    );
    check_now(&app, &clock);
    assert_eq!(listener.requests().len(), 1);
    assert_eq!(announced(&app), ["provenant.alert.destination"]);

    // The pause runs out, the message goes through: the destination is well again.
    clock.advance(Duration::from_secs(25 * 60));
    assert!(wait_for_slack(&limited, &clock, 2).len() >= 2);
    let calls = wait_for_slack(&listener, &clock, 2);
    let text = text_of(&calls[1]);
    assert!(
        text.contains("Resolved: Destination failing") && text.contains("Lasted: 36 min"),
        "{text}"
    );
    wait_for_open(&app, 0);
}

#[test]
fn signature_rejections_alert_and_resolve() {
    let clock = pinned_clock();
    let app = alerting_app(&clock);
    let slack = alert_listener(&app);
    let signed = app.create_integration_id("WEBHOOK", json!({"secret": "whsec_c3RhdHMtdGVzdA=="}));
    let reject = |n: usize| {
        for _ in 0..n {
            let reply = app.deliver(&signed, &[("content-type", "application/json")], b"{}");
            assert_eq!(reply.status, 401, "{}", reply.text);
        }
    };
    reject(9);
    check_now(&app, &clock);
    assert!(slack.requests().is_empty(), "{:?}", slack.requests());
    assert!(announced(&app).is_empty(), "{:?}", announced(&app));

    reject(1);
    let calls = slack.wait_for(1);
    let text = text_of(&calls[0]);
    assert!(
        text.contains("Alert: Signature rejections")
            && text.contains("10 deliveries refused in the last 10 min")
            && text.contains("Test WEBHOOK"),
        "{text}"
    );
    let open = wait_for_open(&app, 1);
    assert_eq!(open["open"][0]["condition"], "rejections");
    assert!(
        open["open"][0]["link"].as_str().is_some_and(
            |l| l.ends_with(&format!("/integrations/{signed}?tab=rejections#rejections"))
        ),
        "{open}"
    );

    clock.advance(Duration::from_secs(10 * 60));
    let calls = wait_for_slack(&slack, &clock, 2);
    let text = text_of(&calls[1]);
    assert!(
        text.contains("Resolved: Signature rejections") && text.contains("Lasted: 10 min"),
        "{text}"
    );
    let list = wait_for_open(&app, 0);
    assert_eq!(list["resolved"][0]["condition"], "rejections");
}

#[test]
fn open_alerts_are_a_banner_on_every_page_until_they_clear() {
    let clock = pinned_clock();
    let app = alerting_app(&clock);
    let signed = app.create_integration_id("WEBHOOK", json!({"secret": "whsec_c3RhdHMtdGVzdA=="}));
    for _ in 0..10 {
        let reply = app.deliver(&signed, &[("content-type", "application/json")], b"{}");
        assert_eq!(reply.status, 401, "{}", reply.text);
    }
    wait_for_open(&app, 1);
    crate::browser::run(async {
        let Some(b) = crate::browser::Browser::start("alerts banner").await else {
            return;
        };
        b.sign_in(&app.address, TOKEN).await;
        for page in [
            "/",
            "/outbox",
            "/secrets",
            &format!("/integrations/{signed}"),
        ] {
            b.goto(&app.url(page)).await;
            b.wait_for("#alerts-banner:not([hidden]) li").await;
            let text = b.text_of("#alerts-banner").await;
            assert!(
                text.contains("1 open alert")
                    && text.contains("Signature rejections")
                    && text.contains("Test WEBHOOK")
                    && text.contains("10 deliveries refused"),
                "{page}: {text}"
            );
        }
        b.screenshot("alerts-banner").await;
        // Its link stays on this server's pages.
        b.find("#alerts-banner a.alert-link")
            .await
            .click()
            .await
            .expect("click");
        b.wait_until(
            "the rejections tab",
            &format!("return location.pathname === '/integrations/{signed}' && location.hash === '#rejections'"),
        )
        .await;
        b.wait_for("#rejections:not([hidden])").await;
        clock.advance(Duration::from_secs(11 * 60));
        wait_for_open(&app, 0);
        b.goto(&app.url("/")).await;
        b.wait_for("#main h1").await;
        // The banner has had its answer (and found nothing open).
        b.wait_for("#alerts-banner[data-loaded]").await;
        assert_eq!(b.count("#alerts-banner:not([hidden])").await, 0);
        b.close().await;
    });
}

#[test]
fn a_destination_failing_for_good_alerts_and_deleting_its_integration_clears_it() {
    let clock = pinned_clock();
    let app = alerting_app_with(&clock, Processors::default());
    let listener = alert_listener(&app);
    let broken = FakeRemote::start();
    broken.set_default(Canned::status(404, "no_service"));
    let broken_id = app.create_integration_id(
        "SLACK",
        json!({
            "webhook_url": format!("{}/services/T000/B000/GONE", broken.url),
            "events": ["drift.*"]
        }),
    );
    let monitor = app.create_integration_id(
        "WEBHOOK",
        json!({"allow_unverified": true, "events": ["drift.*"]}),
    );
    app.deliver_accepted(
        &monitor,
        &[("content-type", "application/json")],
        json!({"type": "drift.critical", "message": "quality dropped"})
            .to_string()
            .as_bytes(),
    );
    broken.wait_for(1);
    app.wait_until_idle();
    clock.advance(Duration::from_secs(11 * 60));
    let calls = listener.wait_for(1);
    let text = text_of(&calls[0]);
    assert!(
        text.contains("Alert: Destination failing")
            && text.contains("its last attempts did not go through for 11 min"),
        "{text}"
    );
    assert_eq!(
        app.delete(&format!("/api/integrations/{broken_id}")).status,
        204
    );
    let calls = wait_for_slack(&listener, &clock, 2);
    assert!(
        text_of(&calls[1]).contains("Resolved: Destination failing"),
        "{}",
        text_of(&calls[1])
    );
    wait_for_open(&app, 0);
}
