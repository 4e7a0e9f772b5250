//! The egress fence: a runner URL (any URL a user types) that resolves inside the network,
//! to loopback, a private or a link-local (cloud metadata) address, by number or by name, is
//! refused without a connection unless an admin lists its origin in `--egress-allow`; a
//! redirect is never followed.

use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::{Value, json};

use crate::fake::{Canned, FakeRemote};
use crate::fixtures::*;
use crate::helpers::*;

/// A port that counts the connections made to it (and closes them).
fn counting_port() -> (u16, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let count = Arc::new(AtomicUsize::new(0));
    let seen = count.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            seen.fetch_add(1, Ordering::SeqCst);
            drop(stream);
        }
    });
    (port, count)
}

/// A signing secret made for this test.
fn new_secret() -> String {
    use base64::Engine as _;
    let mut key = [0u8; 32];
    getrandom::fill(&mut key).expect("random");
    format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(key)
    )
}

/// A GITHUB integration whose eval runs go to `runner`; a pull request `number` opened on it;
/// its run and its DISPATCH row as the API shows them once the outbox is idle.
fn dispatch_to(app: &TestApp, runner: &str, number: i64) -> (Value, Value) {
    let id = app.create_integration_id(
        "GITHUB",
        json!({"repo": REPO, "allow_unverified": true,
               "eval": {"dispatch": {"url": runner, "secret": new_secret()}}}),
    );
    let head = format!("{number:040x}");
    let event = app.deliver_accepted(
        &id,
        &[
            ("content-type", "application/json"),
            ("x-github-event", "pull_request"),
        ],
        github_pr("opened", number, "main", &head, false, None)
            .to_string()
            .as_bytes(),
    );
    app.wait_for_status(&id, &event, &["PROCESSED"]);
    app.wait_until_idle();
    let run = app.get("/api/eval-runs").json()["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|r| r["headSha"] == head)
        .cloned()
        .expect("the run");
    let row = app.get("/api/outbox?kind=DISPATCH").json()["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|r| r["integrationId"] == id.as_str())
        .cloned()
        .expect("the DISPATCH row");
    (run, row)
}

#[test]
fn runner_urls_inside_the_network_are_refused_without_a_connection_unless_allowed() {
    let (port, connections) = counting_port();
    // The public API hosts only: what a production server starts with.
    let app = TestApp::spawn_with(
        |s| {
            s.egress_allow = vec!["api.github.com".into(), "hooks.slack.com".into()];
        },
        Default::default(),
    );
    for (number, runner, reason) in [
        (
            1,
            format!("https://127.0.0.1:{port}/provenant"),
            "is a loopback address (127.0.0.1)",
        ),
        (
            2,
            format!("https://localhost:{port}/provenant"),
            "is a loopback address",
        ),
        (
            3,
            "https://10.0.0.1/provenant".into(),
            "is a private address (10.0.0.1)",
        ),
        (
            4,
            "https://169.254.169.254/latest/meta-data".into(),
            "is a link-local address (cloud metadata lives there) (169.254.169.254)",
        ),
    ] {
        let (run, row) = dispatch_to(&app, &runner, number);
        assert_eq!(row["status"], "FAILED", "{runner}: {row}");
        let error = row["lastError"].as_str().unwrap_or_default();
        assert!(
            error.contains("refused by the egress fence") && error.contains(reason),
            "{runner}: {error}"
        );
        assert!(error.contains("--egress-allow https://"), "{error}");
        assert_eq!(row["attempts"], 1, "a refusal is not retried: {row}");
        assert_eq!(run["status"], "FAILED", "{runner}: {run}");
    }
    assert_eq!(connections.load(Ordering::SeqCst), 0, "nothing connected");

    // Listed, the same origin is reached (the stand-in speaks no TLS: the connection is made,
    // then fails).
    let allowed = TestApp::spawn_with(
        |s| {
            s.egress_allow = vec![format!("https://127.0.0.1:{port}")];
        },
        Default::default(),
    );
    let (_, row) = dispatch_to(&allowed, &format!("https://127.0.0.1:{port}/provenant"), 5);
    assert!(
        connections.load(Ordering::SeqCst) >= 1,
        "the listed origin was reached: {row}"
    );
    assert!(
        !row["lastError"]
            .as_str()
            .unwrap_or_default()
            .contains("egress fence"),
        "{row}"
    );
}

#[test]
fn a_runner_that_redirects_is_not_followed() {
    let app = TestApp::spawn();
    let elsewhere = FakeRemote::start();
    let runner = FakeRemote::start();
    runner.set_default(
        Canned::status(307, "").header("location", &format!("{}/stolen", elsewhere.url)),
    );
    let (run, row) = dispatch_to(&app, &format!("{}/provenant", runner.url), 6);
    assert_eq!(runner.requests().len(), 1, "{row}");
    assert!(elsewhere.requests().is_empty(), "the redirect was followed");
    assert_eq!(row["status"], "FAILED", "{row}");
    assert_eq!(run["status"], "FAILED", "{run}");
}
