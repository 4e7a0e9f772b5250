//! The hourly roll-ups through the stats API: a scripted mix of deliveries over two hours (by
//! the clock seam) comes back as exactly those counts, and they stay after retention has
//! pruned the events; an outbox destination's sends, retries, refusals and pauses.

use std::sync::Arc;
use std::time::{Duration, Instant};

use provenant::base::clock::{Clock, rfc3339};
use provenant::pipeline::worker::Processors;
use serde_json::{Value, json};

use crate::fake::{Canned, FakeRemote};
use crate::helpers::*;

const HOUR_MS: i64 = 3_600_000;

fn stats(app: &TestApp, path: &str) -> Value {
    let reply = app.get(path);
    assert_eq!(reply.status, 200, "{path}: {}", reply.text);
    reply.json()
}

fn counts(bucket: &Value) -> [i64; 5] {
    ["received", "duplicates", "processed", "failed", "rejected"].map(|k| {
        bucket[k]
            .as_i64()
            .unwrap_or_else(|| panic!("{k} in {bucket}"))
    })
}

#[test]
fn roll_ups_match_a_scripted_mix_over_two_hours_and_outlive_event_retention() {
    let clock = Clock::system();
    // Two whole hours, well in the past, so the window is the test's alone.
    let start = (now_ms() / HOUR_MS - 72) * HOUR_MS;
    clock.pin(start + 10 * 60_000);
    let app = TestApp::spawn_with(
        {
            let clock = clock.clone();
            move |s| {
                s.clock = clock;
                s.retention = Duration::from_secs(86_400);
            }
        },
        Processors {
            webhook: Arc::new(FailsWhenAsked),
            ..Processors::default()
        },
    );
    let hook = app.create_integration_id("WEBHOOK", json!({"allow_unverified": true}));
    let signed = app.create_integration_id("WEBHOOK", json!({"secret": "whsec_c3RhdHMtdGVzdA=="}));
    let deliver = |id: &str, fail: bool| {
        let reply = app.deliver(
            &hook,
            &[("content-type", "application/json"), ("webhook-id", id)],
            json!({"fail": fail}).to_string().as_bytes(),
        );
        assert!(reply.status / 100 == 2, "{}", reply.text);
    };
    let reject = || {
        let reply = app.deliver(&signed, &[("content-type", "application/json")], b"{}");
        assert_eq!(reply.status, 401, "{}", reply.text);
    };
    // First hour: 3 processed, 1 failed, 1 repeated delivery id, 2 refused.
    for (id, fail) in [("a1", false), ("a2", false), ("a3", false), ("a4", true)] {
        deliver(id, fail);
    }
    deliver("a1", false);
    reject();
    reject();
    app.wait_until_idle();
    // Second hour: 2 processed, 2 failed, 1 repeated, 1 refused.
    clock.advance(Duration::from_secs(3600));
    for (id, fail) in [("b1", false), ("b2", true), ("b3", false), ("b4", true)] {
        deliver(id, fail);
    }
    deliver("b4", true);
    reject();
    app.wait_until_idle();

    let window = format!(
        "from={}&to={}",
        rfc3339(start),
        rfc3339(start + 2 * HOUR_MS)
    );
    // One bar's failed events, as a click on the chart asks for them: ended in that hour.
    let failed_in = |hour: i64| -> Vec<String> {
        let page = app
            .get(&format!(
                "/api/integrations/{hook}/events?status=FAILED&processedFrom={}&processedBefore={}",
                rfc3339(hour),
                rfc3339(hour + HOUR_MS)
            ))
            .json();
        page["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|e| e["deliveryId"].as_str().unwrap_or_default().to_string())
            .collect()
    };
    assert_eq!(failed_in(start), ["a4"]);
    assert_eq!(failed_in(start + HOUR_MS), ["b4", "b2"]);
    assert!(failed_in(start + 2 * HOUR_MS).is_empty());
    let check = |app: &TestApp| {
        let got = stats(
            app,
            &format!("/api/integrations/{hook}/stats?{window}&bucket=hour"),
        );
        assert_eq!(got["bucket"], "hour");
        assert_eq!(got["from"], rfc3339(start));
        let buckets = got["buckets"].as_array().expect("buckets");
        assert_eq!(buckets.len(), 2, "{got}");
        assert_eq!(buckets[0]["start"], rfc3339(start));
        assert_eq!(counts(&buckets[0]), [4, 1, 3, 1, 0]);
        assert_eq!(counts(&buckets[1]), [4, 1, 2, 2, 0]);
        assert_eq!(counts(&got["totals"]), [8, 2, 5, 3, 0]);
        // The clock stood still while each was processed: every end took no time.
        assert_eq!(buckets[0]["latency"][0], json!({"leMs": 10, "count": 4}));
        assert_eq!(buckets[0]["latency"][11], json!({"count": 0}));
        assert_eq!(buckets[0]["p50Ms"], 10);
        assert_eq!(buckets[0]["p95Ms"], 10);
        let refused = stats(app, &format!("/api/integrations/{signed}/stats?{window}"));
        let refused: Vec<i64> = refused["buckets"]
            .as_array()
            .expect("buckets")
            .iter()
            .map(|b| b["rejected"].as_i64().expect("rejected"))
            .collect();
        assert_eq!(refused, [2, 1]);
        // By the day: one bucket (both hours fall in one UTC day unless the test starts
        // at 23:00), summing to the same totals.
        let by_day = stats(
            app,
            &format!(
                "/api/integrations/{hook}/stats?bucket=day&from={}&to={}",
                rfc3339(start),
                rfc3339(start + 2 * HOUR_MS)
            ),
        );
        assert_eq!(counts(&by_day["totals"]), [8, 2, 5, 3, 0]);
        let days: i64 = by_day["buckets"]
            .as_array()
            .expect("buckets")
            .iter()
            .map(|b| b["received"].as_i64().expect("received"))
            .sum();
        assert_eq!(days, 8);
    };
    check(&app);

    // Three days on, retention (a day) has pruned every event; the numbers stay.
    clock.advance(Duration::from_secs(3 * 86_400));
    let deadline = Instant::now() + Duration::from_secs(20);
    while app.get(&format!("/api/integrations/{hook}/events")).json()["items"]
        .as_array()
        .is_some_and(|items| !items.is_empty())
    {
        assert!(Instant::now() < deadline, "the events were not pruned");
        std::thread::sleep(Duration::from_millis(50));
    }
    check(&app);

    // The default window is the last 24 hours, hour by hour, every hour present.
    let recent = stats(&app, &format!("/api/integrations/{hook}/stats"));
    assert_eq!(recent["buckets"].as_array().map(Vec::len), Some(24));
    assert_eq!(counts(&recent["totals"]), [0, 0, 0, 0, 0]);
    assert_eq!(recent["totals"]["p50Ms"], Value::Null);
}

#[test]
fn stats_refuse_unknown_ids_and_windows_they_cannot_answer() {
    let app = TestApp::spawn();
    let hook = app.create_integration_id("WEBHOOK", json!({"allow_unverified": true}));
    let unknown = "6f1c2a9e-3b7d-4e58-9a10-2c4d8e6f7a3b";
    app.get(&format!("/api/integrations/{unknown}/stats"))
        .problem(404);
    app.get("/api/integrations/not-an-id/stats").problem(404);
    app.get("/api/outbox/destinations/slack:nothing/stats")
        .problem(404);
    let backwards = app
        .get(&format!(
            "/api/integrations/{hook}/stats?from=2026-11-02T00:00:00Z&to=2026-11-01T00:00:00Z"
        ))
        .problem(422);
    assert_eq!(backwards["field"], "to", "{backwards}");
    let too_long = app
        .get(&format!(
            "/api/integrations/{hook}/stats?from=2025-01-01T00:00:00Z&bucket=hour"
        ))
        .problem(422);
    assert!(
        too_long["detail"]
            .as_str()
            .is_some_and(|d| d.contains("bucket=day")),
        "{too_long}"
    );
    assert!(
        app.get(&format!("/api/integrations/{hook}/stats?bucket=week"))
            .status
            / 100
            == 4
    );
    assert!(
        app.get(&format!("/api/integrations/{hook}/stats?from=yesterday"))
            .status
            / 100
            == 4
    );
}

#[test]
fn a_destinations_sends_retries_refusals_and_pauses_are_counted() {
    let app = TestApp::spawn();
    let slack = FakeRemote::start();
    let url = format!("{}/services/T/B/stats", slack.url);
    let id = app.create_integration_id("SLACK", json!({"webhook_url": url}));
    // A 500 (tried again), a rate limit (paused a second, tried again), then accepted.
    slack.push(Canned::status(500, "oops"));
    slack.push(Canned::status(429, "rate_limited").header("retry-after", "1"));
    slack.set_default(Canned::status(200, "ok"));
    let reply = app.post(&format!("/api/integrations/{id}/test"));
    assert_eq!(reply.status, 200, "{}", reply.text);
    slack.wait_for(3);
    app.wait_until_idle();
    // Then one Slack refuses for good.
    slack.push(Canned::status(404, "no_service"));
    let reply = app.post(&format!("/api/integrations/{id}/test"));
    assert_eq!(reply.status, 200, "{}", reply.text);
    slack.wait_for(4);
    app.wait_until_idle();

    let key = format!("slack:{id}");
    let got = stats(&app, &format!("/api/outbox/destinations/{key}/stats"));
    assert_eq!(got["destination"], key);
    let totals = &got["totals"];
    assert_eq!(totals["sent"], 1, "{got}");
    assert_eq!(totals["retried"], 2, "{got}");
    assert_eq!(totals["failed"], 1, "{got}");
    assert_eq!(totals["pausedSeconds"], 1, "{got}");
    let busy: Vec<&Value> = got["buckets"]
        .as_array()
        .expect("buckets")
        .iter()
        .filter(|b| b["sent"] != 0 || b["failed"] != 0)
        .collect();
    assert!(!busy.is_empty() && busy.len() <= 2, "{got}");
}

#[test]
fn a_destination_that_only_sent_is_listed_with_its_name_for_a_day() {
    let clock = Clock::system();
    clock.pin(now_ms());
    let app = TestApp::spawn_with(
        {
            let clock = clock.clone();
            move |s| s.clock = clock
        },
        Processors::default(),
    );
    let slack = FakeRemote::start();
    slack.set_default(Canned::status(200, "ok"));
    let url = format!("{}/services/T/B/healthy", slack.url);
    let id = app.create_integration_id("SLACK", json!({"webhook_url": url}));
    let reply = app.post(&format!("/api/integrations/{id}/test"));
    assert_eq!(reply.status, 200, "{}", reply.text);
    slack.wait_for(1);
    app.wait_until_idle();
    let listed = app.get("/api/outbox/destinations").json();
    let key = format!("slack:{id}");
    let healthy: Vec<&Value> = listed
        .as_array()
        .expect("list")
        .iter()
        .filter(|d| d["destination"] == key)
        .collect();
    assert_eq!(healthy.len(), 1, "{listed}");
    assert_eq!(healthy[0]["pending"], 0);
    assert_eq!(healthy[0]["failed"], 0);
    assert_eq!(healthy[0]["integrations"], json!(["Test SLACK"]));
    // A day and an hour on, nothing new: it is idle, and off the list.
    clock.advance(Duration::from_secs(25 * 3600));
    let later = app.get("/api/outbox/destinations").json();
    assert!(
        !later.to_string().contains(&key),
        "still listed a day on: {later}"
    );
}
