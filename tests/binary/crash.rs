//! SIGKILL while deliveries are arriving and queued: every delivery that got a 2xx must be
//! there after a restart, processed, and stored once.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::fixture::*;

const SENDERS: usize = 4;
const PER_SENDER: usize = 150;
const KILL_AFTER_ACKS: usize = 250;

#[test]
fn every_acknowledged_delivery_survives_sigkill_and_is_processed_once() {
    let dir = tempfile::tempdir().expect("dir");
    let server = Server::start(dir.path(), Some(TOKEN));
    let agent = agent();
    let mut resp = agent
        .post(format!("{}/api/integrations", server.address))
        .header("authorization", format!("Bearer {TOKEN}"))
        .content_type("application/json")
        .send(r#"{"type":"WEBHOOK","name":"crash","config":{}}"#)
        .expect("create");
    assert_eq!(resp.status(), 201);
    let created: serde_json::Value =
        serde_json::from_str(&resp.body_mut().read_to_string().expect("body")).expect("json");
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
                let payload = format!(
                    r#"{{"event":"load.test","padding":"{}"}}"#,
                    "x".repeat(2000)
                );
                for i in 0..PER_SENDER {
                    let delivery = format!("d-{s}-{i}");
                    let result = agent
                        .post(&url)
                        .header("content-type", "application/json")
                        .header("x-request-id", &delivery)
                        .send(payload.as_bytes());
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

    let unfinished: i64 = rusqlite::Connection::open(dir.path().join("provenant.db"))
        .expect("open")
        .query_row(
            "SELECT COUNT(*) FROM webhook_events WHERE status IN ('RECEIVED', 'PROCESSING')",
            [],
            |r| r.get(0),
        )
        .expect("count");
    eprintln!(
        "acknowledged {} deliveries; {unfinished} unfinished at the kill",
        acked.len()
    );

    let server = Server::start(dir.path(), Some(TOKEN));
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, health) = get(&agent, &format!("{}/api/health", server.address), None);
        let health: serde_json::Value = serde_json::from_str(&health).expect("json");
        if health["queue"]["received"] == 0 && health["queue"]["processing"] == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "queue never drained: {health}");
        std::thread::sleep(Duration::from_millis(50));
    }

    let conn = rusqlite::Connection::open(dir.path().join("provenant.db")).expect("open");
    let mut stmt = conn
        .prepare("SELECT delivery_id, status FROM webhook_events")
        .expect("query");
    let rows: Vec<(String, String)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .expect("rows")
        .collect::<Result<_, _>>()
        .expect("rows");
    let mut seen = HashSet::new();
    for (delivery, status) in &rows {
        assert!(seen.insert(delivery.clone()), "{delivery} stored twice");
        assert_eq!(status, "PROCESSED", "{delivery}");
    }
    for delivery in &acked {
        assert!(seen.contains(delivery), "acknowledged {delivery} was lost");
    }
}
