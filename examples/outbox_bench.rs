//! The outbox under a slow remote: N pull-request deliveries (distinct head commits) against a
//! GitHub stand-in that answers in 300 ms and a Slack stand-in that answers in 1 s, while drift
//! alerts go to a second, fast Slack URL. Reports when every event was PROCESSED (relative to
//! the last acknowledgement), when every commit status was posted, and the delay of the fast
//! Slack URL's messages meanwhile.
//!
//! cargo run --release --example outbox_bench -- [--prs 1000] [--github-ms 300] [--slack-ms 1000]
//!
//! Everything runs in this process on 127.0.0.1: the real app (temporary data folder) and the
//! stand-ins.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use provenant::app::config::Settings;
use serde_json::{Value, json};

const TOKEN: &str = "outbox-bench-token-0123456789";

struct Args {
    prs: usize,
    github_ms: u64,
    slack_ms: u64,
}

fn args() -> Args {
    let mut a = Args {
        prs: 1000,
        github_ms: 300,
        slack_ms: 1000,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--prs" => a.prs = value().parse().expect("--prs"),
            "--github-ms" => a.github_ms = value().parse().expect("--github-ms"),
            "--slack-ms" => a.slack_ms = value().parse().expect("--slack-ms"),
            other => panic!("unknown argument {other}"),
        }
    }
    a
}

/// When each request arrived, and its path.
type Seen = Arc<Mutex<Vec<(Instant, String)>>>;

/// A stand-in that answers every request after `delay` and records when each arrived.
fn stand_in(delay: Duration, status: u16, body: &'static str) -> (String, Seen) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let record = record.clone();
            std::thread::spawn(move || serve(stream, delay, status, body, &record));
        }
    });
    (url, seen)
}

fn serve(
    stream: TcpStream,
    delay: Duration,
    status: u16,
    body: &str,
    seen: &Mutex<Vec<(Instant, String)>>,
) {
    let mut reader = BufReader::new(stream.try_clone().expect("clone"));
    let mut stream = stream;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
        let mut length = 0usize;
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header).unwrap_or(0) == 0 {
                return;
            }
            let header = header.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((k, v)) = header.split_once(':')
                && k.eq_ignore_ascii_case("content-length")
            {
                length = v.trim().parse().unwrap_or(0);
            }
        }
        let mut request_body = vec![0; length];
        if reader.read_exact(&mut request_body).is_err() {
            return;
        }
        seen.lock().expect("lock").push((Instant::now(), path));
        std::thread::sleep(delay);
        let answer = format!(
            "HTTP/1.1 {status} OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        if stream.write_all(answer.as_bytes()).is_err() {
            return;
        }
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into()
}

fn api(agent: &ureq::Agent, method: &str, url: &str, body: Option<Value>) -> Value {
    let request = ureq::http::Request::builder()
        .method(method)
        .uri(url)
        .header("authorization", format!("Bearer {TOKEN}"))
        .header("content-type", "application/json");
    let mut resp = match body {
        Some(b) => agent.run(request.body(b.to_string()).expect("request")),
        None => agent.run(request.body(()).expect("request")),
    }
    .expect("API call");
    serde_json::from_str(&resp.body_mut().read_to_string().expect("body")).unwrap_or(Value::Null)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn main() {
    let args = args();
    let dir = tempfile::tempdir().expect("temporary folder");
    let mut settings = Settings::for_data_dir(dir.path());
    settings.api_token = Some(TOKEN.into());
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.set_nonblocking(true).expect("nonblocking");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    std::thread::spawn(move || {
        tokio::runtime::Runtime::new()
            .expect("runtime")
            .block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
                provenant::app::run(settings, listener, std::future::pending())
                    .await
                    .expect("server");
            });
    });
    let agent = agent();
    let started = Instant::now();
    while agent.get(format!("{base}/api/health")).call().is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "server did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    let (github_url, github_seen) = stand_in(Duration::from_millis(args.github_ms), 201, "{}");
    let (slow_slack, _) = stand_in(Duration::from_millis(args.slack_ms), 200, "ok");
    let (fast_slack, fast_seen) = stand_in(Duration::ZERO, 200, "ok");
    let gh = api(
        &agent,
        "POST",
        &format!("{base}/api/integrations"),
        Some(json!({"type": "GITHUB", "name": "bench", "config": {
            "repo": "octo-org/agent-repo", "token": "ghp_bench", "api_url": github_url,
            "allow_unverified": true}})),
    );
    let gh_id = gh["id"].as_str().expect("id").to_string();
    api(
        &agent,
        "POST",
        &format!("{base}/api/integrations"),
        Some(json!({"type": "SLACK", "name": "slow", "config": {
            "webhook_url": format!("{slow_slack}/services/T/B/slow"), "events": ["eval_run.*"]}})),
    );
    api(
        &agent,
        "POST",
        &format!("{base}/api/integrations"),
        Some(json!({"type": "SLACK", "name": "fast", "config": {
            "webhook_url": format!("{fast_slack}/services/T/B/fast"), "events": ["drift.*"]}})),
    );
    let monitor = api(
        &agent,
        "POST",
        &format!("{base}/api/integrations"),
        Some(json!({"type": "WEBHOOK", "name": "monitor", "config": {"allow_unverified": true}})),
    );
    let monitor_url = format!(
        "{base}/api/integrations/webhook/{}",
        monitor["id"].as_str().expect("id")
    );

    println!(
        "{} PR deliveries; GitHub answers in {} ms, the eval Slack in {} ms; drift alerts to a fast Slack URL",
        args.prs, args.github_ms, args.slack_ms
    );
    // Drift alerts to the fast Slack URL, one every 1.2 s (above Slack's one a second), while
    // the statuses drain; their delay is measured from the 202 to Slack's receipt.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sent_alerts = Arc::new(Mutex::new(Vec::<Instant>::new()));
    let alerts = {
        let (stop, sent, url) = (stop.clone(), sent_alerts.clone(), monitor_url.clone());
        std::thread::spawn(move || {
            let agent = self::agent();
            let mut i = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let body = json!({"type": "drift.critical", "n": i}).to_string();
                let resp = agent
                    .post(&url)
                    .header("content-type", "application/json")
                    .send(body.as_bytes())
                    .expect("alert");
                assert_eq!(resp.status().as_u16(), 202);
                sent.lock().expect("lock").push(Instant::now());
                i += 1;
                std::thread::sleep(Duration::from_millis(1200));
            }
        })
    };

    let hook = format!("{base}/api/integrations/webhook/{gh_id}");
    let t0 = Instant::now();
    for n in 0..args.prs {
        let head = format!("{n:040x}");
        let payload = json!({
            "action": "opened", "number": n + 1,
            "pull_request": {"number": n + 1, "title": "bench", "html_url": format!("https://github.com/octo-org/agent-repo/pull/{}", n + 1),
                "head": {"sha": head, "ref": "tune"}, "base": {"ref": "main"}, "user": {"login": "bench"}},
            "repository": {"full_name": "octo-org/agent-repo"}
        });
        let resp = agent
            .post(&hook)
            .header("content-type", "application/json")
            .header("x-github-event", "pull_request")
            .header("x-github-delivery", format!("bench-{n}"))
            .send(payload.to_string().as_bytes())
            .expect("deliver");
        assert_eq!(resp.status().as_u16(), 202);
    }
    let last_ack = t0.elapsed();
    println!(
        "acknowledged {} deliveries in {:.2} s",
        args.prs,
        last_ack.as_secs_f64()
    );

    loop {
        let health = api(&agent, "GET", &format!("{base}/api/health"), None);
        if health["queue"]["received"] == 0 && health["queue"]["processing"] == 0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let processed = t0.elapsed();
    println!(
        "every event PROCESSED {:.2} s after the first delivery, {:.3} s after the last acknowledgement",
        processed.as_secs_f64(),
        (processed - last_ack).as_secs_f64()
    );

    loop {
        let posted = github_seen.lock().expect("lock").len();
        if posted >= args.prs {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let statuses = t0.elapsed();
    println!(
        "every commit status posted {:.1} s after the first delivery ({} requests; one at a time per token: {} × {} ms = {:.1} s)",
        statuses.as_secs_f64(),
        github_seen.lock().expect("lock").len(),
        args.prs,
        args.github_ms,
        args.prs as f64 * args.github_ms as f64 / 1000.0
    );
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    alerts.join().expect("alerts");
    std::thread::sleep(Duration::from_secs(2));
    let sent = sent_alerts.lock().expect("lock").clone();
    let received = fast_seen.lock().expect("lock").clone();
    let mut delays: Vec<f64> = sent
        .iter()
        .zip(received.iter())
        .map(|(s, (r, _))| r.saturating_duration_since(*s).as_secs_f64() * 1000.0)
        .collect();
    delays.sort_by(f64::total_cmp);
    println!(
        "fast Slack URL during the run: {} alerts, {} received; delay p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms",
        sent.len(),
        received.len(),
        percentile(&delays, 0.5),
        percentile(&delays, 0.99),
        delays.last().copied().unwrap_or(f64::NAN)
    );
}
