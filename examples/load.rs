//! A load loop for the receiver: N sender threads post JSON deliveries to one WEBHOOK
//! integration for a while, then it waits for the worker to drain the queue and reports
//! deliveries per second, the latency of the 202, and the time from receipt to PROCESSED.
//!
//! cargo run --release --example load -- [--seconds 10] [--senders 16] [--bytes 5000] [--sync full|normal]
//!
//! By default the server runs in this process (the real app on 127.0.0.1:0, a temporary data
//! folder); `--url URL --token TOKEN` targets a running server instead.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use provenant::config::{Settings, SyncMode};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

struct Args {
    seconds: u64,
    senders: usize,
    bytes: usize,
    sync: SyncMode,
    url: Option<String>,
    token: Option<String>,
}

fn args() -> Args {
    let mut a = Args {
        seconds: 10,
        senders: 16,
        bytes: 5000,
        sync: SyncMode::Full,
        url: None,
        token: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--seconds" => a.seconds = value().parse().expect("--seconds"),
            "--senders" => a.senders = value().parse().expect("--senders"),
            "--bytes" => a.bytes = value().parse().expect("--bytes"),
            "--sync" => {
                a.sync = match value().as_str() {
                    "normal" => SyncMode::Normal,
                    _ => SyncMode::Full,
                }
            }
            "--url" => a.url = Some(value()),
            "--token" => a.token = Some(value()),
            other => panic!("unknown argument {other}"),
        }
    }
    a
}

fn new_agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into()
}

fn get_json(agent: &ureq::Agent, url: &str, token: &str) -> Value {
    let mut resp = agent
        .get(url)
        .header("authorization", format!("Bearer {token}"))
        .call()
        .expect("GET");
    serde_json::from_str(&resp.body_mut().read_to_string().expect("body")).expect("json")
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn ms_between(a: &str, b: &str) -> Option<f64> {
    let a = OffsetDateTime::parse(a, &Rfc3339).ok()?;
    let b = OffsetDateTime::parse(b, &Rfc3339).ok()?;
    Some((b - a).as_seconds_f64() * 1000.0)
}

fn main() {
    let args = args();
    let _temp;
    let (base, token) = match (&args.url, &args.token) {
        (Some(url), Some(token)) => (url.trim_end_matches('/').to_string(), token.clone()),
        _ => {
            let dir = tempfile::tempdir().expect("temporary folder");
            let token = "load-test-token-0123456789".to_string();
            let mut settings = Settings::for_data_dir(dir.path());
            settings.api_token = Some(token.clone());
            settings.sync = args.sync;
            let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            listener.set_nonblocking(true).expect("nonblocking");
            let base = format!("http://{}", listener.local_addr().expect("addr"));
            std::thread::spawn(move || {
                tokio::runtime::Runtime::new()
                    .expect("runtime")
                    .block_on(async move {
                        let listener =
                            tokio::net::TcpListener::from_std(listener).expect("listener");
                        provenant::run(settings, listener, std::future::pending())
                            .await
                            .expect("server");
                    });
            });
            _temp = dir;
            (base, token)
        }
    };
    let agent = new_agent();
    let deadline = Instant::now() + Duration::from_secs(10);
    while agent.get(format!("{base}/api/health")).call().is_err() {
        assert!(Instant::now() < deadline, "server did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut resp = agent
        .post(format!("{base}/api/integrations"))
        .header("authorization", format!("Bearer {token}"))
        .content_type("application/json")
        .send(json!({"type": "WEBHOOK", "name": "load", "config": {}}).to_string())
        .expect("create integration");
    let created: Value =
        serde_json::from_str(&resp.body_mut().read_to_string().expect("body")).expect("json");
    let id = created["id"].as_str().expect("id").to_string();
    let url = format!("{base}/api/integrations/webhook/{id}");

    let body = json!({"type": "load.test", "padding": "x".repeat(args.bytes.saturating_sub(40))})
        .to_string();
    let stop = Arc::new(AtomicBool::new(false));
    let accepted = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    println!(
        "{} senders, {}-byte bodies, {} s, sync={:?}",
        args.senders,
        body.len(),
        args.seconds,
        args.sync
    );
    let started = Instant::now();
    let handles: Vec<_> = (0..args.senders)
        .map(|s| {
            let (stop, accepted, failed) = (stop.clone(), accepted.clone(), failed.clone());
            let (url, body) = (url.clone(), body.clone());
            std::thread::spawn(move || {
                let agent = new_agent();
                let mut latencies = Vec::new();
                let mut i = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let t = Instant::now();
                    let r = agent
                        .post(&url)
                        .header("content-type", "application/json")
                        .header("x-request-id", format!("load-{s}-{i}"))
                        .send(body.as_bytes());
                    i += 1;
                    match r {
                        Ok(resp) if resp.status().as_u16() == 202 => {
                            accepted.fetch_add(1, Ordering::Relaxed);
                            latencies.push(t.elapsed().as_secs_f64() * 1000.0);
                        }
                        _ => {
                            failed.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
                latencies
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs(args.seconds));
    stop.store(true, Ordering::Relaxed);
    let mut latencies: Vec<f64> = handles
        .into_iter()
        .flat_map(|h| h.join().expect("sender"))
        .collect();
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort_by(f64::total_cmp);
    let n = accepted.load(Ordering::Relaxed);
    println!(
        "accepted {n} deliveries ({:.0}/s), {} failed; 202 latency p50 {:.2} ms, p99 {:.2} ms",
        n as f64 / elapsed,
        failed.load(Ordering::Relaxed),
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99)
    );

    let drain_started = Instant::now();
    loop {
        let health = get_json(&agent, &format!("{base}/api/health"), &token);
        let waiting = health["queue"]["received"].as_i64().unwrap_or(0)
            + health["queue"]["processing"].as_i64().unwrap_or(0);
        if waiting == 0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    println!(
        "queue drained {:.1} s after the senders stopped",
        drain_started.elapsed().as_secs_f64()
    );

    let mut to_processed = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut page_url = format!("{base}/api/integrations/{id}/events?limit=200");
        if let Some(c) = &cursor {
            page_url.push_str(&format!("&cursor={c}"));
        }
        let page = get_json(&agent, &page_url, &token);
        for e in page["items"].as_array().into_iter().flatten() {
            if let (Some(r), Some(p)) = (e["receivedAt"].as_str(), e["processedAt"].as_str())
                && let Some(ms) = ms_between(r, p)
            {
                to_processed.push(ms);
            }
        }
        match page["nextCursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    to_processed.sort_by(f64::total_cmp);
    println!(
        "received → PROCESSED: median {:.1} ms, p99 {:.1} ms over {} events",
        percentile(&to_processed, 0.5),
        percentile(&to_processed, 0.99),
        to_processed.len()
    );
}
