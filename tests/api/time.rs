//! The clock seam: each test holds the server's clock and jumps or pins it, so that retries an
//! hour away, 5-minute signature windows and a 30-day retention are checked at their edges
//! without waiting.

use std::sync::Arc;
use std::time::{Duration, Instant};

use provenant::base::clock::Clock;
use provenant::db::events::EventDetail;
use provenant::db::integrations::Integration;
use provenant::db::sql::params;
use provenant::pipeline::worker::{Ctx, ProcessError, Processor, Processors};
use serde_json::json;

use crate::fake::{Canned, FakeRemote};
use crate::fixtures::github_pr;
use crate::helpers::*;

const HOUR: Duration = Duration::from_secs(3600);
const DAY: Duration = Duration::from_secs(86_400);

fn app_with_clock(adjust: impl FnOnce(&mut provenant::app::config::Settings)) -> (TestApp, Clock) {
    let clock = Clock::system();
    let app = TestApp::spawn_with(
        {
            let clock = clock.clone();
            move |s| {
                s.clock = clock;
                adjust(s);
            }
        },
        Processors {
            webhook: Arc::new(FailsFirstAttempt),
            ..Processors::default()
        },
    );
    (app, clock)
}

/// A WEBHOOK processor whose first attempt fails with a retryable error.
struct FailsFirstAttempt;

impl Processor for FailsFirstAttempt {
    fn process(
        &self,
        _ctx: &Ctx<'_>,
        _i: &Integration,
        event: &EventDetail,
    ) -> Result<String, ProcessError> {
        if event.summary.attempts < 2 {
            return Err(ProcessError::Retryable {
                error: "remote said 503".into(),
                after: None,
            });
        }
        Ok(format!("ok on attempt {}", event.summary.attempts))
    }
}

/// Asserts that `condition` stays false for `period` (the thing is not due yet).
fn stays_false(period: Duration, mut condition: impl FnMut() -> bool, what: &str) {
    let until = Instant::now() + period;
    while Instant::now() < until {
        assert!(!condition(), "{what} happened before it was due");
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// When the retry of the only row in `table` is due (Unix ms), once one is scheduled.
fn retry_due(app: &TestApp, table: &str) -> i64 {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let due: Option<i64> = app
            .db()
            .query_row(
                &format!("SELECT MAX(next_attempt_at) FROM {table} WHERE attempts >= 1"),
                params![],
                |r| r.get(0),
            )
            .expect("query");
        if let Some(due) = due {
            return due;
        }
        assert!(
            Instant::now() < deadline,
            "no retry was scheduled in {table}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_processing_retry_an_hour_away_runs_when_the_clock_reaches_it_and_not_a_millisecond_before() {
    let (app, clock) = app_with_clock(|s| s.retry_schedule = vec![HOUR]);
    clock.pin(now_ms());
    let id = app.create_integration_id("WEBHOOK", json!({"allow_unverified": true}));
    let event_id = app.deliver_accepted(
        &id,
        &[("content-type", "application/json")],
        br#"{"type":"drift.low"}"#,
    );
    let due = retry_due(&app, "webhook_events");
    let waiting = app.event(&id, &event_id);
    assert_eq!(waiting["status"], "RECEIVED", "{waiting}");
    assert_eq!(waiting["attempts"], 1, "{waiting}");
    // The schedule's hour, with its ±20 % spread.
    let wait = due - clock.now_ms();
    assert!(
        (2_880_000..=4_320_000).contains(&wait),
        "retry in {wait} ms"
    );

    clock.pin(due - 1);
    stays_false(
        Duration::from_millis(400),
        || app.event(&id, &event_id)["status"] == "PROCESSED",
        "the retry",
    );
    clock.pin(due);
    let started = Instant::now();
    let done = app.wait_for_status(&id, &event_id, &["PROCESSED"]);
    assert_eq!(done["attempts"], 2);
    assert_eq!(done["outcome"], "ok on attempt 2");
    // The jump wakes the worker: it does not sleep out its idle poll (5 s).
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn an_outbox_retry_an_hour_away_is_sent_when_the_clock_reaches_it_and_not_before() {
    let (app, clock) = app_with_clock(|s| s.retry_schedule = vec![HOUR]);
    clock.pin(now_ms());
    let github = FakeRemote::start();
    github.push(Canned::status(500, r#"{"message":"Server Error"}"#));
    github.set_default(Canned::status(201, "{}"));
    let id = app.create_integration_id(
        "GITHUB",
        // The retry may be more than the run's default hour away: it must not time out.
        json!({"allow_unverified": true, "repo": "octo-org/agent-repo", "token": "ghp_clock", "api_url": github.url,
               "eval": {"timeout": "168h"}}),
    );
    let body = github_pr(
        "opened",
        7,
        "main",
        "abc1230000000000000000000000000000000000",
        false,
        None,
    )
    .to_string();
    app.deliver_accepted(
        &id,
        &[
            ("content-type", "application/json"),
            ("x-github-event", "pull_request"),
        ],
        body.as_bytes(),
    );
    github.wait_for(1);
    let due = retry_due(&app, "outbox");
    let wait = due - clock.now_ms();
    assert!(
        (2_880_000..=4_320_000).contains(&wait),
        "retry in {wait} ms"
    );
    clock.pin(due - 1);
    stays_false(
        Duration::from_millis(400),
        || github.requests().len() > 1,
        "the second attempt",
    );
    clock.pin(due);
    let requests = github.wait_for(2);
    assert_eq!(requests[0].path, requests[1].path);
    assert_eq!(requests[1].json()["state"], "pending");
}

fn slack_signature(secret: &str, ts: i64, body: &[u8]) -> String {
    use hmac::{Hmac, KeyInit, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("key");
    mac.update(format!("v0:{ts}:").as_bytes());
    mac.update(body);
    format!("v0={}", hex::encode(mac.finalize().into_bytes()))
}

#[test]
fn slack_and_standard_webhooks_timestamps_are_accepted_to_exactly_five_minutes_either_way() {
    let (app, clock) = app_with_clock(|_| {});
    let signing = "8f742231b10e8888abcd99yyyzzz85a5";
    let slack = app.create_integration_id(
        "SLACK",
        json!({"webhook_url": "https://hooks.slack.com/services/T/B/x", "signing_secret": signing}),
    );
    let key = b"0123456789abcdef0123456789abcdef";
    let whsec = {
        use base64::Engine;
        format!(
            "whsec_{}",
            base64::engine::general_purpose::STANDARD.encode(key)
        )
    };
    let generic = app.create_integration_id("WEBHOOK", json!({"secret": whsec}));

    // The server's time stands at the last millisecond of a second, a day from now: only its
    // clock decides, and milliseconds do not widen the window.
    let now_secs = (now_ms() + DAY.as_millis() as i64) / 1000;
    clock.pin(now_secs * 1000 + 999);

    let mut n = 0;
    let mut slack_at = |offset: i64| {
        n += 1;
        let ts = now_secs + offset;
        let body = format!("token=x&team_id=T1&command=%2Fdeploy&text={n}&trigger_id=t{n}");
        let sig = slack_signature(signing, ts, body.as_bytes());
        app.deliver(
            &slack,
            &[
                ("content-type", "application/x-www-form-urlencoded"),
                ("x-slack-request-timestamp", &ts.to_string()),
                ("x-slack-signature", &sig),
            ],
            body.as_bytes(),
        )
    };
    for offset in [-300, 300, 0] {
        let reply = slack_at(offset);
        assert_eq!(reply.status, 202, "Slack at {offset:+} s: {}", reply.text);
    }
    for offset in [-301, 301, -86_400] {
        let problem = slack_at(offset).problem(401);
        assert!(
            problem["detail"]
                .as_str()
                .expect("detail")
                .contains("X-Slack-Request-Timestamp"),
            "Slack at {offset:+} s: {problem}"
        );
    }

    let mut m = 0;
    let mut standard_at = |offset: i64| {
        m += 1;
        let ts = now_secs + offset;
        let body = format!(r#"{{"type":"drift.low","n":{m}}}"#);
        let msg = format!("msg_{m}");
        let sig = standard_webhooks_signature(key, &msg, ts, body.as_bytes());
        app.deliver(
            &generic,
            &[
                ("content-type", "application/json"),
                ("webhook-id", &msg),
                ("webhook-timestamp", &ts.to_string()),
                ("webhook-signature", &sig),
            ],
            body.as_bytes(),
        )
    };
    for offset in [-300, 300] {
        let reply = standard_at(offset);
        assert_eq!(
            reply.status, 202,
            "Standard Webhooks at {offset:+} s: {}",
            reply.text
        );
    }
    for offset in [-301, 301, -86_400] {
        let problem = standard_at(offset).problem(401);
        assert!(
            problem["detail"]
                .as_str()
                .expect("detail")
                .contains("webhook-timestamp"),
            "Standard Webhooks at {offset:+} s: {problem}"
        );
    }
}

#[test]
fn retention_prunes_exactly_the_finished_events_older_than_its_setting() {
    let (app, clock) = app_with_clock(|s| s.retention = Duration::from_secs(30 * 86_400));
    let id = app.create_integration_id(
        "GITHUB",
        json!({"allow_unverified": true, "repo": "octo/hello"}),
    );
    let t0 = now_ms();
    let ten_minutes = 10 * 60 * 1000;
    // (name, received at): one millisecond either side of each of the two cutoffs below.
    let deliveries = [
        ("just-past-first", t0 - 1),
        ("at-first", t0),
        ("just-past-second", t0 + ten_minutes - 1),
        ("at-second", t0 + ten_minutes),
        ("recent", t0 + DAY.as_millis() as i64),
    ];
    for (name, at) in deliveries {
        clock.pin(at);
        let event_id = app.deliver_accepted(
            &id,
            &[
                ("content-type", "application/json"),
                ("x-github-event", "ping"),
                ("x-github-delivery", name),
            ],
            br#"{"zen":"Keep it logically awesome."}"#,
        );
        app.wait_for_status(&id, &event_id, &["PROCESSED"]);
    }
    let stored = || -> Vec<String> {
        app.db()
            .query_map(
                "SELECT delivery_id FROM webhook_events ORDER BY received_at",
                params![],
                |r| r.get(0),
            )
            .expect("rows")
    };
    let wait_for = |expected: &[&str]| {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let now = stored();
            if now == expected {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "stored {now:?}, expected {expected:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    assert_eq!(stored().len(), 5);

    // 30 days after t0: the cutoff is t0, and only what is older than it goes.
    clock.pin(t0 + 30 * DAY.as_millis() as i64);
    wait_for(&["at-first", "just-past-second", "at-second", "recent"]);
    // Ten minutes later (the worker prunes every ten minutes by this clock).
    clock.pin(t0 + 30 * DAY.as_millis() as i64 + ten_minutes);
    wait_for(&["at-second", "recent"]);
    let list = app.get(&format!("/api/integrations/{id}")).json();
    assert_eq!(list["eventCount"], 2, "{list}");
}

#[test]
fn a_storm_of_429s_pauses_for_exactly_what_github_asked_each_time_and_never_gives_up() {
    // One retry in the schedule: were rate limits counted as failures, the row would fail.
    let (app, clock) = app_with_clock(|s| s.retry_schedule = vec![Duration::from_millis(50)]);
    clock.pin(now_ms());
    let github = FakeRemote::start();
    const STORM: usize = 24;
    for k in 0..STORM {
        let limited = Canned::status(429, r#"{"message":"API rate limit exceeded"}"#);
        // Every other one without Retry-After: GitHub's advice is then to wait a minute.
        github.push(if k % 2 == 0 {
            limited.header("Retry-After", "600")
        } else {
            limited
        });
    }
    github.set_default(Canned::status(201, "{}"));
    // The storm lasts hours by the server's clock: the run must not time out meanwhile.
    let id = app.create_integration_id(
        "GITHUB",
        json!({"allow_unverified": true, "repo": "octo-org/agent-repo", "token": "ghp_storm", "api_url": github.url,
               "eval": {"timeout": "168h"}}),
    );
    let body = github_pr("opened", 9, "main", &"9".repeat(40), false, None).to_string();
    app.deliver_accepted(
        &id,
        &[
            ("content-type", "application/json"),
            ("x-github-event", "pull_request"),
        ],
        body.as_bytes(),
    );
    let paused_until = || -> Option<i64> {
        app.db()
            .query_row(
                "SELECT MAX(paused_until) FROM destinations",
                params![],
                |r| r.get(0),
            )
            .expect("query")
    };
    let mut last = 0;
    for k in 0..STORM {
        github.wait_for(k + 1);
        let deadline = Instant::now() + Duration::from_secs(10);
        let until = loop {
            if let Some(until) = paused_until().filter(|u| *u > last) {
                break until;
            }
            assert!(
                Instant::now() < deadline,
                "429 number {} paused nothing",
                k + 1
            );
            std::thread::sleep(Duration::from_millis(5));
        };
        let asked = if k % 2 == 0 { 600_000 } else { 60_000 };
        assert_eq!(
            until - clock.now_ms(),
            asked,
            "pause after 429 number {}",
            k + 1
        );
        clock.pin(until - 1);
        stays_false(
            Duration::from_millis(60),
            || github.requests().len() > k + 1,
            "a request during the pause",
        );
        clock.pin(until);
        last = until;
    }
    github.wait_for(STORM + 1);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let row = &app.get("/api/outbox?kind=COMMIT_STATUS").json()["items"][0];
        if row["status"] == "SENT" {
            assert_eq!(row["attempts"], STORM + 1, "{row}");
            break;
        }
        assert_ne!(row["status"], "FAILED", "{row}");
        assert!(Instant::now() < deadline, "{row}");
        std::thread::sleep(Duration::from_millis(20));
    }
}
