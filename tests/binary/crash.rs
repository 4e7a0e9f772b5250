//! SIGKILL while deliveries are arriving and queued: every delivery that got a 2xx must be
//! there after a restart, processed, and stored once, and its effect (an eval run) must exist
//! exactly once.
//!
//! The deliveries are GitHub pull requests whose processing queues a commit status for a slow
//! stand-in for the GitHub API (one request at a time per token), so the outbox is long when
//! the kill comes; every queued status must still be posted after the restart.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::fake::{Canned, FakeRemote};
use crate::fixture::*;
use crate::fixtures::github_pr;

const SENDERS: usize = 4;
const PER_SENDER: usize = 150;
const KILL_AFTER_ACKS: usize = 250;

fn post_json(agent: &ureq::Agent, url: &str, body: &str) -> serde_json::Value {
    let mut resp = agent
        .post(url)
        .header("authorization", format!("Bearer {TOKEN}"))
        .content_type("application/json")
        .send(body)
        .expect("request");
    assert_eq!(resp.status(), 201);
    serde_json::from_str(&resp.body_mut().read_to_string().expect("body")).expect("json")
}

#[test]
fn every_acknowledged_delivery_survives_sigkill_and_is_processed_once() {
    let github = FakeRemote::start();
    github.set_default(Canned::status(201, "{}").after(Duration::from_millis(50)));
    let dir = tempfile::tempdir().expect("dir");
    let server = Server::start(dir.path(), Some(TOKEN));
    let agent = agent();
    let created = post_json(
        &agent,
        &format!("{}/api/integrations", server.address),
        &format!(
            r#"{{"type":"GITHUB","name":"crash","config":{{"repo":"octo-org/agent-repo","token":"ghp_crash","api_url":"{}"}}}}"#,
            github.url
        ),
    );
    let webhook_url = created["webhookUrl"].as_str().expect("url").to_string();

    let acked = Arc::new(Mutex::new(HashSet::new()));
    let ack_count = Arc::new(AtomicUsize::new(0));
    let senders: Vec<_> = (0..SENDERS)
        .map(|s| {
            let acked = acked.clone();
            let ack_count = ack_count.clone();
            let url = webhook_url.clone();
            std::thread::spawn(move || {
                let agent = crate::fixture::agent();
                for i in 0..PER_SENDER {
                    let delivery = format!("d-{s}-{i}");
                    // A distinct head commit per delivery: one eval run each.
                    let sha = format!("{s:04x}{i:036x}");
                    let payload =
                        github_pr("opened", (s * 1000 + i) as i64, "main", &sha, false, None);
                    let result = agent
                        .post(&url)
                        .header("content-type", "application/json")
                        .header("x-github-event", "pull_request")
                        .header("x-github-delivery", &delivery)
                        .send(payload.to_string().as_bytes());
                    match result {
                        Ok(r) if r.status().is_success() => {
                            acked.lock().expect("lock").insert(delivery);
                            ack_count.fetch_add(1, Ordering::SeqCst);
                        }
                        // The server is gone: stop sending.
                        _ => break,
                    }
                }
            })
        })
        .collect();

    let deadline = Instant::now() + Duration::from_secs(60);
    while ack_count.load(Ordering::SeqCst) < KILL_AFTER_ACKS {
        assert!(Instant::now() < deadline, "deliveries too slow");
        std::thread::sleep(Duration::from_millis(1));
    }
    server.kill();
    for s in senders {
        s.join().expect("sender");
    }
    let acked = acked.lock().expect("lock").clone();
    assert!(acked.len() >= KILL_AFTER_ACKS);

    let db = dir.path().join("provenant.db");
    let unfinished: i64 = rusqlite::Connection::open(&db)
        .expect("open")
        .query_row(
            "SELECT (SELECT COUNT(*) FROM webhook_events WHERE status IN ('RECEIVED', 'PROCESSING'))
                  + (SELECT COUNT(*) FROM outbox WHERE status IN ('PENDING', 'SENDING'))",
            [],
            |r| r.get(0),
        )
        .expect("count");
    eprintln!(
        "acknowledged {} deliveries; {unfinished} unfinished at the kill",
        acked.len()
    );
    assert!(unfinished > 0, "the kill should find a queue");

    // After the restart the GitHub stand-in answers at once, so the queue drains quickly.
    github.set_default(Canned::status(201, "{}"));
    let server = Server::start(dir.path(), Some(TOKEN));
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, health) = get(&agent, &format!("{}/api/health", server.address), None);
        let health: serde_json::Value = serde_json::from_str(&health).expect("json");
        if health["queue"]["received"] == 0
            && health["queue"]["processing"] == 0
            && health["outbox"]["pending"] == 0
            && health["outbox"]["sending"] == 0
        {
            break;
        }
        assert!(Instant::now() < deadline, "queue never drained: {health}");
        std::thread::sleep(Duration::from_millis(50));
    }

    let conn = rusqlite::Connection::open(&db).expect("open");
    let rows: Vec<(String, String, String)> = conn
        .prepare("SELECT delivery_id, status, id FROM webhook_events")
        .expect("query")
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .expect("rows")
        .collect::<Result<_, _>>()
        .expect("rows");
    let mut seen = HashSet::new();
    for (delivery, status, _) in &rows {
        assert!(seen.insert(delivery.clone()), "{delivery} stored twice");
        assert_eq!(status, "PROCESSED", "{delivery}");
    }
    for delivery in &acked {
        assert!(seen.contains(delivery), "acknowledged {delivery} was lost");
    }
    // Each stored delivery produced exactly one eval run, even those processed twice.
    let runs: i64 = conn
        .query_row("SELECT COUNT(*) FROM eval_runs", [], |r| r.get(0))
        .expect("count");
    assert_eq!(runs as usize, rows.len());
    // Every run's pending status reached GitHub at least once (the one in flight at the kill
    // may have gone twice).
    let posted: HashSet<String> = github.requests().iter().map(|r| r.path.clone()).collect();
    let shas: Vec<String> = conn
        .prepare("SELECT head_sha FROM eval_runs")
        .expect("query")
        .query_map([], |r| r.get(0))
        .expect("rows")
        .collect::<Result<_, _>>()
        .expect("shas");
    for sha in shas {
        let path = format!("/repos/octo-org/agent-repo/statuses/{sha}");
        assert!(
            posted.contains(&path),
            "the status for {sha} was never posted"
        );
    }
    let unsent: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM outbox WHERE status != 'SENT'",
            [],
            |r| r.get(0),
        )
        .expect("count");
    assert_eq!(unsent, 0);
}
