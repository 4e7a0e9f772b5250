//! The scenarios, in the order they run. Each returns its row(s) or the reason it could not run.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::Args;
use crate::client;
use crate::fixtures;
use crate::load::{self, LoadResult, MakeRequest, Plan};
use crate::report::{PageRow, Results, Row};
use crate::server::{self, Server, TOKEN};

const SECRET: &str = "bench-signing-secret";

pub fn run_all(args: &Args) -> Results {
    let mut results = Results {
        date: time::OffsetDateTime::now_utc().date().to_string(),
        machine: machine(),
        ..Default::default()
    };
    let mut ceiling_pr = None;
    let mut ceiling_small = None;
    let mut pr_rate = None;
    let mut small_rate = None;
    let step =
        |name: &str, results: &mut Results, f: &mut dyn FnMut() -> anyhow::Result<Vec<Row>>| {
            if !args.wants(name) {
                return;
            }
            eprintln!("running {name} …");
            match f() {
                Ok(rows) => {
                    for row in rows {
                        if row.errors > 0 {
                            results.failures.push((
                                row.name.clone(),
                                format!("{} errors: {}", row.errors, row.note),
                            ));
                        }
                        eprintln!("  {}: {:.0} {}/s", row.name, row.rate, row.unit);
                        results.scenarios.push(row);
                    }
                }
                Err(e) => {
                    eprintln!("  {name} failed: {e:#}");
                    results.failures.push((name.to_string(), format!("{e:#}")));
                }
            }
        };
    step("ceiling-http", &mut results, &mut || {
        let pr = ceiling_http(args, Body::PullRequest)?;
        let small = ceiling_http(args, Body::Small)?;
        ceiling_pr = Some(pr.rate);
        ceiling_small = Some(small.rate);
        Ok(vec![pr, small])
    });
    step("ceiling-sqlite", &mut results, &mut || {
        Ok(vec![ceiling_sqlite(args)?])
    });
    step("ingest-pr", &mut results, &mut || {
        let mut row = ingest(args, Body::PullRequest, None, "ingest-pr")?;
        row.of_ceiling = ceiling_pr.map(|c| row.rate / c);
        pr_rate = Some(row.rate);
        Ok(vec![row])
    });
    step("ingest-small", &mut results, &mut || {
        let mut row = ingest(args, Body::Small, None, "ingest-small")?;
        row.of_ceiling = ceiling_small.map(|c| row.rate / c);
        small_rate = Some(row.rate);
        Ok(vec![row])
    });
    if server::on_postgres() {
        step("two-nodes", &mut results, &mut || {
            let of_one = |row: &mut Row, one: Option<f64>| {
                if let Some(one) = one {
                    row.note += &format!("; {:.0} % of one node's figure", row.rate / one * 100.0);
                }
            };
            let mut pr = two_nodes(args, Body::PullRequest, None, "two-nodes-pr")?;
            of_one(&mut pr, pr_rate);
            let mut small = two_nodes(args, Body::Small, None, "two-nodes-small")?;
            of_one(&mut small, small_rate);
            let half = pr_rate.unwrap_or(2_000.0) / 2.0;
            let at_half = two_nodes(args, Body::PullRequest, Some(half), "two-nodes-at-half")?;
            Ok(vec![pr, small, at_half])
        });
    }
    step("ingest-at-half", &mut results, &mut || {
        // Half of what ingest-pr reached in this run (or of its 10,000/s target alone).
        let rate = pr_rate.unwrap_or(10_000.0) / 2.0;
        let mut row = ingest(args, Body::PullRequest, Some(rate), "ingest-at-half")?;
        row.of_ceiling = ceiling_pr.map(|c| row.rate / c);
        Ok(vec![row])
    });
    step("backlog-drain", &mut results, &mut || {
        // Deliveries arrive at half of what ingest-small reached (or of its target).
        backlog_drain(args, small_rate.unwrap_or(15_000.0) / 2.0)
    });
    step("dispatch-pr", &mut results, &mut || {
        Ok(vec![dispatch_pr(args)?])
    });
    step("large-body", &mut results, &mut || {
        Ok(vec![large_body(args)?])
    });
    step("health-under-load", &mut results, &mut || {
        health_under_load(args)
    });
    step("many-integrations", &mut results, &mut || {
        let mut row = many_integrations(args)?;
        row.of_ceiling = ceiling_small.map(|c| row.rate / c);
        Ok(vec![row])
    });
    if args.wants("pages-at-1m") {
        eprintln!("running pages-at-1m …");
        match pages_at_1m(args) {
            Ok((row, pages)) => {
                results.scenarios.push(row);
                results.pages = pages;
            }
            Err(e) => {
                eprintln!("  pages-at-1m failed: {e:#}");
                results
                    .failures
                    .push(("pages-at-1m".into(), format!("{e:#}")));
            }
        }
    }
    results
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines().find_map(|l| {
                l.strip_prefix("model name")
                    .map(|v| v.trim_start_matches([' ', '\t', ':']).to_string())
            })
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!("{cores} cores, {cpu}")
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Body {
    PullRequest,
    Small,
}

/// Prepared deliveries: bodies with their signatures, reused in turn.
struct Deliveries {
    bodies: Vec<(Arc<[u8]>, String)>,
}

impl Deliveries {
    fn new(kind: Body, variants: u64) -> Deliveries {
        Deliveries::signed_with(kind, variants, SECRET)
    }

    fn signed_with(kind: Body, variants: u64, secret: &str) -> Deliveries {
        let bodies = (0..variants)
            .map(|i| {
                let body = match kind {
                    Body::PullRequest => {
                        let sha = format!("{:040x}", 0x5eed_0000_0000u64 + i);
                        fixtures::pull_request_opened(1000 + i, &sha)
                    }
                    Body::Small => fixtures::generic_event(i),
                };
                let signature = sign(secret, &body);
                (Arc::from(body), signature)
            })
            .collect();
        Deliveries { bodies }
    }

    fn body_len(&self) -> usize {
        self.bodies[0].0.len()
    }

    /// Request `n` to `integration`: a fresh delivery id each time, so nothing is a duplicate.
    fn request(&self, kind: Body, integration: &str, n: u64) -> (Vec<u8>, Arc<[u8]>) {
        let (body, signature) = &self.bodies[(n % self.bodies.len() as u64) as usize];
        let headers = match kind {
            Body::PullRequest => format!(
                "content-type: application/json\r\nuser-agent: GitHub-Hookshot/bench\r\n\
                 x-github-event: pull_request\r\nx-github-delivery: {}\r\n\
                 x-github-hook-id: 1\r\nx-hub-signature-256: {signature}\r\n",
                guid(n)
            ),
            Body::Small => format!(
                "content-type: application/json\r\nx-request-id: bench-{n}\r\n\
                 x-hub-signature-256: {signature}\r\n"
            ),
        };
        let path = format!("/api/integrations/webhook/{integration}");
        (
            client::head("POST", &path, &headers, body.len()),
            body.clone(),
        )
    }
}

/// A GUID-shaped delivery id as GitHub sends, scattered like real ones (not in order).
fn guid(n: u64) -> String {
    let a = n.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    let b = a.rotate_left(29) ^ 0xd1b5_4a32_d192_ed03;
    format!(
        "{:08x}-{:04x}-11e3-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        b & 0xffff,
        b >> 16
    )
}

fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(120)))
        .build()
        .into()
}

fn api(server: &Server, method: &str, path: &str, body: Option<Value>) -> anyhow::Result<Value> {
    let url = format!("http://{}{path}", server.addr);
    let auth = format!("Bearer {TOKEN}");
    let agent = agent();
    let mut response = match (method, body) {
        ("POST", Some(b)) => agent
            .post(&url)
            .header("authorization", &auth)
            .content_type("application/json")
            .send(b.to_string())?,
        _ => agent.get(&url).header("authorization", &auth).call()?,
    };
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string()?;
    if status >= 300 {
        bail!("{method} {path}: {status} {text}");
    }
    Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
}

fn create_integration(server: &Server, kind: Body, name: &str) -> anyhow::Result<String> {
    let body = match kind {
        Body::PullRequest => json!({
            "type": "GITHUB", "name": name,
            "config": {"repo": fixtures::REPO, "webhook_secret": SECRET}
        }),
        Body::Small => json!({"type": "WEBHOOK", "name": name, "config": {"secret": SECRET}}),
    };
    let created = api(server, "POST", "/api/integrations", Some(body))?;
    Ok(created["id"]
        .as_str()
        .context("integration id")?
        .to_string())
}

/// Waits until nothing is RECEIVED or PROCESSING; returns how long that took.
fn wait_drained(server: &Server, limit: Duration) -> anyhow::Result<Duration> {
    let started = Instant::now();
    loop {
        let health = api(server, "GET", "/api/health", None)?;
        let waiting = health["queue"]["received"].as_i64().unwrap_or(0)
            + health["queue"]["processing"].as_i64().unwrap_or(0);
        if waiting == 0 {
            return Ok(started.elapsed());
        }
        if started.elapsed() > limit {
            bail!("{waiting} events still waiting after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn mb(bytes: Option<u64>) -> Option<f64> {
    bytes.map(|b| b as f64 / 1_048_576.0)
}

fn load_row(name: &str, r: &LoadResult, unit: &'static str) -> Row {
    Row {
        name: name.into(),
        rate: r.per_second(),
        unit,
        ack_p50_ms: Some(r.percentile_ms(0.5)),
        ack_p99_ms: Some(r.percentile_ms(0.99)),
        ack_p999_ms: Some(r.percentile_ms(0.999)),
        errors: r.errors,
        note: r.first_error.clone().unwrap_or_default(),
        ..Default::default()
    }
}

fn ceiling_http(args: &Args, kind: Body) -> anyhow::Result<Row> {
    let server = Server::ceiling()?;
    let deliveries = Arc::new(Deliveries::new(kind, 16));
    let make: MakeRequest = {
        let d = deliveries.clone();
        Arc::new(move |_, n| d.request(kind, "0b5bd7a4-5a1e-4c3f-9a57-1d7c1f6f2b11", n))
    };
    server.reset_peak();
    let r = load::run(Plan {
        addrs: vec![server.addr],
        connections: args.connections,
        warmup: args.warmup(),
        duration: args.measured(),
        rate: None,
        ok_statuses: &[202],
        make,
    });
    let name = match kind {
        Body::PullRequest => "ceiling-http (21 KB PR body)",
        Body::Small => "ceiling-http (5 KB body)",
    };
    let mut row = load_row(name, &r, "req");
    row.peak_rss_mb = mb(server.peak_rss());
    row.body_bytes = Some(deliveries.body_len());
    server.stop()?;
    Ok(row)
}

/// The receiver's rows written through the server's own group-commit writer, with its
/// pragmas, by as many concurrent callers as the load has connections: no HTTP, no checks.
fn ceiling_sqlite(args: &Args) -> anyhow::Result<Row> {
    use provenant::db::events::NewEvent;
    use provenant::db::{self, packed, writer::Writer};

    let dir = server::TempDir::new()?;
    let path = server::database(dir.path());
    drop(db::open(&path)?);
    db::bench::insert_integration(&path, "bench", "GITHUB", r#"{"repo":"a/b"}"#)?;
    let body = fixtures::pull_request_opened(1, &"a".repeat(40));
    let packed = packed::pack(body.clone());
    let packed_len = packed.bytes.len();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let (writer, thread) = Writer::spawn(
        &path,
        provenant::db::SyncMode::Full,
        Default::default(),
        Arc::new(db::storage::Storage::new(
            &path,
            provenant::base::clock::Clock::system(),
        )),
        "bench",
        // Counted as a server with alerts on counts them.
        Arc::new(db::stats::Recent::new(true)),
        || {},
    )?;
    let seconds = args.seconds;
    let connections = args.connections;
    let (count, latencies) = runtime.block_on(async move {
        let stop = Instant::now() + Duration::from_secs(seconds);
        let mut tasks = Vec::new();
        for c in 0..connections {
            let (writer, packed) = (writer.clone(), packed.clone());
            tasks.push(tokio::spawn(async move {
                let mut n = 0u64;
                let mut latencies = Vec::new();
                while Instant::now() < stop {
                    let t = Instant::now();
                    let event = NewEvent {
                        verified: None,
                        id: provenant::domain::model::new_row_id(),
                        integration_id: "bench".into(),
                        event_type: "pull_request.opened".into(),
                        delivery_id: Some(format!("{c}-{n}")),
                        content_type: Some("application/json".into()),
                        headers: vec![("x-github-event".into(), "pull_request".into())],
                        payload: packed.clone(),
                        received_at: provenant::base::clock::system_ms(),
                    };
                    if writer.insert(event).await.is_ok() {
                        latencies.push(t.elapsed().as_micros() as u32);
                    }
                    n += 1;
                }
                latencies
            }));
        }
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await.unwrap_or_default());
        }
        drop(writer);
        all.sort_unstable();
        (all.len() as u64, all)
    });
    let _ = thread.join();
    let stored = stored_bytes(&path)?;
    let r = LoadResult {
        ok: count,
        seconds: seconds as f64,
        latencies_us: latencies,
        ..Default::default()
    };
    let mut row = load_row("ceiling-sqlite (21 KB PR rows)", &r, "rows");
    row.stored_bytes_per_1000 = Some(stored as f64 / count.max(1) as f64 * 1000.0);
    row.body_bytes = Some(body.len());
    row.note = format!("{packed_len} bytes compressed per row");
    Ok(row)
}

/// Checkpoints the WAL into the file and returns the size of the pages in use.
fn stored_bytes(path: &provenant::db::Location) -> anyhow::Result<u64> {
    provenant::db::bench::stored_bytes(path)
}

/// Receipt-to-PROCESSED times of every stored event, sorted, in microseconds (stored times
/// are milliseconds).
fn e2e_latencies(path: &provenant::db::Location) -> anyhow::Result<(Vec<u32>, u64)> {
    let (ms, total) = provenant::db::bench::e2e_latencies_ms(path)?;
    let mut out: Vec<u32> = ms.into_iter().map(|ms| (ms.max(0) * 1000) as u32).collect();
    out.sort_unstable();
    Ok((out, total))
}

fn ingest(args: &Args, kind: Body, rate: Option<f64>, name: &str) -> anyhow::Result<Row> {
    ingest_on(args, 1, kind, rate, name)
}

/// [`ingest`] through two nodes on one PostgreSQL database, the connections split between
/// them.
fn two_nodes(args: &Args, kind: Body, rate: Option<f64>, name: &str) -> anyhow::Result<Row> {
    ingest_on(args, 2, kind, rate, name)
}

/// Deliveries to `nodes` servers on one database (more than one: `--database-url` only),
/// each connection to the next server in turn; then drained and measured in the database.
fn ingest_on(
    args: &Args,
    nodes: usize,
    kind: Body,
    rate: Option<f64>,
    name: &str,
) -> anyhow::Result<Row> {
    let dirs = (0..nodes)
        .map(|_| server::TempDir::new())
        .collect::<anyhow::Result<Vec<_>>>()?;
    let first = dirs[0].path();
    let mut servers = vec![Server::real(first)?];
    for dir in &dirs[1..] {
        servers.push(Server::real_beside(dir.path(), first)?);
    }
    let integration = create_integration(&servers[0], kind, name)?;
    let path = server::database(first);
    // What the schema and the integration take before any event: a short run stores few
    // events, and the per-event figure must not carry this fixed part.
    let empty = stored_bytes(&path)?;
    let secret = args.sign_with.as_deref().unwrap_or(SECRET);
    let deliveries = Arc::new(Deliveries::signed_with(kind, 256, secret));
    let make: MakeRequest = {
        let d = deliveries.clone();
        Arc::new(move |_, n| d.request(kind, &integration, n))
    };
    for server in &servers {
        server.reset_peak();
    }
    let r = load::run(Plan {
        addrs: servers.iter().map(|s| s.addr).collect(),
        connections: args.connections.max(nodes),
        warmup: args.warmup(),
        duration: args.measured(),
        rate,
        ok_statuses: &[202],
        make,
    });
    let drained = wait_drained(&servers[0], Duration::from_secs(300))?;
    // The larger node's.
    let peak = servers.iter().filter_map(Server::peak_rss).max();
    for server in servers.into_iter().rev() {
        server.stop()?;
    }
    let (e2e, total) = e2e_latencies(&path)?;
    let stored = stored_bytes(&path)?.saturating_sub(empty);
    let mut row = load_row(name, &r, "req");
    row.e2e_p50_ms = Some(load::percentile_ms(&e2e, 0.5));
    row.e2e_p99_ms = Some(load::percentile_ms(&e2e, 0.99));
    row.peak_rss_mb = mb(peak);
    row.stored_bytes_per_1000 = Some(stored as f64 / total.max(1) as f64 * 1000.0);
    row.body_bytes = Some(deliveries.body_len());
    if row.note.is_empty() {
        let setup = if nodes > 1 {
            format!("{nodes} nodes, one database, peak RSS of the larger node; ")
        } else {
            String::new()
        };
        row.note = format!(
            "{setup}{total} events stored; the queue drained {:.1} s after the load stopped{}",
            drained.as_secs_f64(),
            rate.map_or(String::new(), |r| format!("; paced at {r:.0}/s"))
        );
    }
    Ok(row)
}

/// Pull requests paced at `DISPATCH_RATE` a second, each a new eval run sent to an HTTP runner
/// on this machine (`eval.dispatch`): how long from a delivery's receipt to its run taken by
/// the runner (`eval_run.requested` answered), through the worker and the outbox.
fn dispatch_pr(args: &Args) -> anyhow::Result<Row> {
    const DISPATCH_RATE: f64 = 200.0;
    let runner = crate::runner::Runner::start()?;
    let dir = server::TempDir::new()?;
    let server = Server::real(dir.path())?;
    let mut key = [0u8; 32];
    getrandom::fill(&mut key).map_err(|e| anyhow::anyhow!("random bytes: {e}"))?;
    let secret = format!(
        "whsec_{}",
        base64::Engine::encode(&base64::engine::general_purpose::STANDARD, key)
    );
    let created = api(
        &server,
        "POST",
        "/api/integrations",
        Some(json!({
            "type": "GITHUB", "name": "dispatch-pr",
            "config": {"repo": fixtures::REPO, "webhook_secret": SECRET,
                       "eval": {"dispatch": {"url": format!("http://{}/provenant", runner.addr), "secret": secret}}}
        })),
    )?;
    let integration = created["id"]
        .as_str()
        .context("integration id")?
        .to_string();
    // Every delivery a pull request of its own: each makes a run to dispatch.
    let deliveries = Arc::new(Deliveries::new(Body::PullRequest, 100_000));
    let make: MakeRequest = {
        let d = deliveries.clone();
        Arc::new(move |_, n| d.request(Body::PullRequest, &integration, n))
    };
    let r = load::run(Plan {
        addrs: vec![server.addr],
        connections: 8,
        warmup: args.warmup(),
        duration: args.measured(),
        rate: Some(DISPATCH_RATE),
        ok_statuses: &[202],
        make,
    });
    wait_drained(&server, Duration::from_secs(120))?;
    let path = server::database(dir.path());
    let started = Instant::now();
    let latencies = loop {
        let (sent, waiting) = provenant::db::bench::dispatch_latencies_ms(&path)?;
        if waiting == 0 {
            break sent;
        }
        if started.elapsed() > Duration::from_secs(120) {
            bail!("{waiting} dispatches still waiting after two minutes");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    server.stop()?;
    let mut micros: Vec<u32> = latencies
        .iter()
        .map(|ms| (ms.max(&0) * 1000) as u32)
        .collect();
    micros.sort_unstable();
    let mut row = load_row("dispatch-pr", &r, "req");
    row.e2e_p50_ms = Some(load::percentile_ms(&micros, 0.5));
    row.e2e_p99_ms = Some(load::percentile_ms(&micros, 0.99));
    if row.note.is_empty() {
        row.note = format!(
            "e2e: delivery received → eval_run.requested answered by a runner on this machine; \
             {} runs dispatched, {} requests taken; paced at {DISPATCH_RATE:.0}/s",
            micros.len(),
            runner.taken()
        );
    }
    Ok(row)
}

/// Deliveries paced at 2,000/s, alone and then with 1,000 unauthenticated health checks a
/// second beside them (a load balancer gone wild): the acknowledgement p50 should barely move,
/// since the health check writes at most once a second.
fn health_under_load(args: &Args) -> anyhow::Result<Vec<Row>> {
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    const RATE: f64 = 2_000.0;
    const HEALTH_EVERY: Duration = Duration::from_millis(1);
    const HEALTH_CALLERS: usize = 4;
    let mut rows = Vec::new();
    for with_health in [false, true] {
        let name = if with_health {
            "deliveries-with-health-1000/s"
        } else {
            "deliveries-at-2000/s"
        };
        let dir = server::TempDir::new()?;
        let server = Server::real(dir.path())?;
        let integration = create_integration(&server, Body::Small, name)?;
        let deliveries = Arc::new(Deliveries::signed_with(Body::Small, 256, SECRET));
        let make: MakeRequest = {
            let d = deliveries.clone();
            Arc::new(move |_, n| d.request(Body::Small, &integration, n))
        };
        let stop = Arc::new(AtomicBool::new(false));
        let calls = Arc::new(AtomicU64::new(0));
        // Four callers at 250/s each: a slow answer does not hold the others back.
        let probers: Vec<_> = (0..if with_health { HEALTH_CALLERS } else { 0 })
            .map(|_| {
                let (stop, calls) = (stop.clone(), calls.clone());
                let url = format!("http://{}/api/health", server.addr);
                std::thread::spawn(move || {
                    let agent = agent();
                    let mut next = Instant::now();
                    while !stop.load(Ordering::SeqCst) {
                        if agent.get(&url).call().is_ok() {
                            calls.fetch_add(1, Ordering::Relaxed);
                        }
                        next += HEALTH_EVERY * HEALTH_CALLERS as u32;
                        if let Some(wait) = next.checked_duration_since(Instant::now()) {
                            std::thread::sleep(wait);
                        }
                    }
                })
            })
            .collect();
        let started = Instant::now();
        let r = load::run(Plan {
            addrs: vec![server.addr],
            connections: args.connections,
            warmup: args.warmup(),
            duration: args.measured(),
            rate: Some(RATE),
            ok_statuses: &[202],
            make,
        });
        stop.store(true, Ordering::SeqCst);
        for p in probers {
            let _ = p.join();
        }
        let elapsed = started.elapsed().as_secs_f64();
        wait_drained(&server, Duration::from_secs(120))?;
        server.stop()?;
        let mut row = load_row(name, &r, "req");
        if row.note.is_empty() {
            row.note = if with_health {
                format!(
                    "paced at {RATE:.0}/s; {:.0} health checks/s beside them",
                    calls.load(Ordering::Relaxed) as f64 / elapsed
                )
            } else {
                format!("paced at {RATE:.0}/s; no health checks")
            };
        }
        rows.push(row);
    }
    Ok(rows)
}

/// Writes `count` events straight into the database of a stopped server, in big
/// transactions: how the backlog and the million-event history are made quickly.
fn fill_events(
    path: &provenant::db::Location,
    integrations: &[String],
    count: u64,
    status: impl Fn(u64) -> &'static str,
    spread_ms: i64,
) -> anyhow::Result<()> {
    let body = provenant::db::packed::pack(fixtures::generic_event(7));
    let now = provenant::base::clock::system_ms();
    provenant::db::bench::fill_events(path, integrations, count, status, spread_ms, &body, now)
}

/// The backlog alone, then again with deliveries arriving at `receive_rate` while it drains.
fn backlog_drain(args: &Args, receive_rate: f64) -> anyhow::Result<Vec<Row>> {
    let dir = server::TempDir::new()?;
    let server = Server::real(dir.path())?;
    let integration = create_integration(&server, Body::Small, "backlog")?;
    server.stop()?;
    let path = server::database(dir.path());
    fill_events(
        &path,
        std::slice::from_ref(&integration),
        args.backlog,
        |_| "RECEIVED",
        60_000,
    )?;
    let server = Server::real(dir.path())?;
    let took = wait_drained(&server, Duration::from_secs(600))?;
    let peak = server.peak_rss();
    server.stop()?;
    let rate = args.backlog as f64 / took.as_secs_f64();
    let drain = Row {
        name: "backlog-drain".into(),
        rate,
        unit: "events",
        peak_rss_mb: mb(peak),
        note: format!(
            "{} stored 5 KB WEBHOOK events (no actions configured) processed in {:.2} s",
            args.backlog,
            took.as_secs_f64()
        ),
        ..Default::default()
    };

    // Again, receiving while the backlog drains: the acknowledgements must not suffer.
    fill_events(
        &path,
        std::slice::from_ref(&integration),
        args.backlog,
        |_| "RECEIVED",
        60_000,
    )?;
    let server = Server::real(dir.path())?;
    let deliveries = Arc::new(Deliveries::new(Body::Small, 256));
    let make: MakeRequest = {
        let d = deliveries.clone();
        Arc::new(move |_, n| d.request(Body::Small, &integration, n))
    };
    let started = Instant::now();
    let r = load::run(Plan {
        addrs: vec![server.addr],
        connections: args.connections,
        warmup: Duration::ZERO,
        duration: args.measured().min(Duration::from_secs(5)),
        rate: Some(receive_rate),
        ok_statuses: &[202],
        make,
    });
    let took = wait_drained(&server, Duration::from_secs(600))? + started.elapsed();
    let peak = server.peak_rss();
    server.stop()?;
    let mut during = load_row("ingest-small while draining", &r, "req");
    during.peak_rss_mb = mb(peak);
    if during.note.is_empty() {
        during.note = format!(
            "paced at {receive_rate:.0}/s while a backlog of {} drained; all drained {:.2} s after the start",
            args.backlog,
            took.as_secs_f64()
        );
    }
    Ok(vec![drain, during])
}

/// One 25 MiB JSON delivery: what it costs in memory to receive, store and process.
fn large_body(_args: &Args) -> anyhow::Result<Row> {
    let dir = server::TempDir::new()?;
    let server = Server::real(dir.path())?;
    let created = api(
        &server,
        "POST",
        "/api/integrations",
        Some(json!({"type": "WEBHOOK", "name": "large", "config": {}})),
    )?;
    let id = created["id"]
        .as_str()
        .context("integration id")?
        .to_string();
    let mut body = Vec::with_capacity(25 * 1024 * 1024);
    body.extend_from_slice(br#"{"event":"inventory.snapshot","items":["#);
    let mut i = 0u64;
    while body.len() < 25 * 1024 * 1024 - 200 {
        if i > 0 {
            body.push(b',');
        }
        body.extend_from_slice(
            format!(
                r#"{{"sku":"SKU-{i:09}","warehouse":"eu-{}","count":{}}}"#,
                i % 7,
                i * 37 % 1000
            )
            .as_bytes(),
        );
        i += 1;
    }
    body.extend_from_slice(b"]}");
    let baseline = server.peak_rss();
    server.reset_peak();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let head = client::head(
        "POST",
        &format!("/api/integrations/webhook/{id}"),
        "content-type: application/json\r\n",
        body.len(),
    );
    let started = Instant::now();
    let (status, answer) = runtime.block_on(async {
        let mut conn = client::Conn::open(server.addr).await?;
        conn.call(client::Request {
            head: &head,
            body: &body,
        })
        .await
    })?;
    let acked = started.elapsed();
    if status != 202 {
        bail!("{status}: {}", String::from_utf8_lossy(&answer));
    }
    wait_drained(&server, Duration::from_secs(120))?;
    let peak = server.peak_rss();
    server.stop()?;
    let stored = stored_bytes(&server::database(dir.path()))?;
    Ok(Row {
        name: "large-body (25 MiB)".into(),
        rate: 1.0 / acked.as_secs_f64(),
        unit: "req",
        ack_p50_ms: Some(acked.as_secs_f64() * 1000.0),
        peak_rss_mb: mb(peak),
        stored_bytes_per_1000: Some(stored as f64 * 1000.0),
        body_bytes: Some(body.len()),
        note: format!(
            "peak RSS while receiving, storing and processing it: {:.0} MB, {:.0} MB before ({:.1}× the body above the idle server)",
            mb(peak).unwrap_or(0.0),
            mb(baseline).unwrap_or(0.0),
            (peak.unwrap_or(0).saturating_sub(baseline.unwrap_or(0))) as f64 / body.len() as f64
        ),
        ..Default::default()
    })
}

fn many_integrations(args: &Args) -> anyhow::Result<Row> {
    const COUNT: usize = 1000;
    let dir = server::TempDir::new()?;
    let server = Server::real(dir.path())?;
    let ids: Vec<String> = (0..COUNT)
        .map(|i| create_integration(&server, Body::Small, &format!("team-{i}")))
        .collect::<anyhow::Result<_>>()?;
    let ids = Arc::new(ids);
    let deliveries = Arc::new(Deliveries::new(Body::Small, 256));
    let make: MakeRequest = {
        let (d, ids) = (deliveries.clone(), ids.clone());
        // Interleaved: consecutive deliveries go to different integrations.
        Arc::new(move |_, n| d.request(Body::Small, &ids[(n % ids.len() as u64) as usize], n))
    };
    server.reset_peak();
    let r = load::run(Plan {
        addrs: vec![server.addr],
        connections: args.connections,
        warmup: args.warmup(),
        duration: args.measured(),
        rate: None,
        ok_statuses: &[202],
        make,
    });
    wait_drained(&server, Duration::from_secs(300))?;
    let peak = server.peak_rss();
    server.stop()?;
    let (e2e, _) = e2e_latencies(&server::database(dir.path()))?;
    let mut row = load_row("many-integrations (1,000, 5 KB)", &r, "req");
    row.e2e_p50_ms = Some(load::percentile_ms(&e2e, 0.5));
    row.e2e_p99_ms = Some(load::percentile_ms(&e2e, 0.99));
    row.peak_rss_mb = mb(peak);
    row.body_bytes = Some(deliveries.body_len());
    Ok(row)
}

/// One page request, timed over a fresh connection's keep-alive.
struct PageRequest {
    name: &'static str,
    path: String,
}

fn timed_get(
    conn: &mut client::Conn,
    runtime: &tokio::runtime::Runtime,
    path: &str,
) -> anyhow::Result<f64> {
    let head = client::head(
        "GET",
        path,
        &format!("authorization: Bearer {TOKEN}\r\n"),
        0,
    );
    let started = Instant::now();
    let (status, body) = runtime.block_on(conn.call(client::Request {
        head: &head,
        body: &[],
    }))?;
    let took = started.elapsed().as_secs_f64() * 1000.0;
    if status != 200 {
        bail!("GET {path}: {status} {}", String::from_utf8_lossy(&body));
    }
    Ok(took)
}

fn pages_at_1m(args: &Args) -> anyhow::Result<(Row, Vec<PageRow>)> {
    const INTEGRATIONS: usize = 20;
    let dir = server::TempDir::new()?;
    let server = Server::real(dir.path())?;
    let ids: Vec<String> = (0..INTEGRATIONS)
        .map(|i| create_integration(&server, Body::Small, &format!("service-{i}")))
        .collect::<anyhow::Result<_>>()?;
    server.stop()?;
    let path = server::database(dir.path());
    let filled = Instant::now();
    // One event in a hundred failed; history spread over the last 20 days.
    fill_events(
        &path,
        &ids,
        args.page_events,
        |n| if n % 100 == 37 { "FAILED" } else { "PROCESSED" },
        20 * 86_400_000,
    )?;
    let fill_seconds = filled.elapsed().as_secs_f64();
    let stored = stored_bytes(&path)?;
    let middle = provenant::db::bench::nth_event_id(
        &path,
        &ids[3],
        args.page_events as i64 / INTEGRATIONS as i64 / 2,
    )?;
    let one = &ids[3];
    let requests = [
        PageRequest {
            name: "GET /api/integrations",
            path: "/api/integrations".into(),
        },
        PageRequest {
            name: "GET /api/integrations/{id}",
            path: format!("/api/integrations/{one}"),
        },
        PageRequest {
            name: "GET …/{id}/events (last 50)",
            path: format!("/api/integrations/{one}/events?limit=50"),
        },
        PageRequest {
            name: "GET …/{id}/events?status=FAILED",
            path: format!("/api/integrations/{one}/events?status=FAILED&limit=50"),
        },
        PageRequest {
            name: "GET …/{id}/events/{eventId}",
            path: format!("/api/integrations/{one}/events/{middle}"),
        },
        PageRequest {
            name: "GET /api/health",
            path: "/api/health".into(),
        },
    ];
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let mut cold: Vec<Vec<f64>> = vec![Vec::new(); requests.len()];
    let mut dropped_caches = true;
    let mut peak = None;
    for _ in 0..args.restarts.max(1) {
        dropped_caches &= server::drop_os_caches();
        let server = Server::real(dir.path())?;
        let mut conn = runtime.block_on(client::Conn::open(server.addr))?;
        for (i, r) in requests.iter().enumerate() {
            cold[i].push(timed_get(&mut conn, &runtime, &r.path)?);
        }
        peak = server.peak_rss().max(peak);
        server.stop()?;
    }
    let server = Server::real(dir.path())?;
    let mut conn = runtime.block_on(client::Conn::open(server.addr))?;
    let mut pages = Vec::new();
    for (i, r) in requests.iter().enumerate() {
        for _ in 0..20 {
            timed_get(&mut conn, &runtime, &r.path)?;
        }
        let mut warm: Vec<u32> = (0..300)
            .map(|_| timed_get(&mut conn, &runtime, &r.path).map(|ms| (ms * 1000.0) as u32))
            .collect::<anyhow::Result<_>>()?;
        warm.sort_unstable();
        let mut c: Vec<u32> = cold[i].iter().map(|ms| (ms * 1000.0) as u32).collect();
        c.sort_unstable();
        pages.push(PageRow {
            request: r.name.into(),
            warm_p50_ms: load::percentile_ms(&warm, 0.5),
            warm_p99_ms: load::percentile_ms(&warm, 0.99),
            cold_p50_ms: load::percentile_ms(&c, 0.5),
            cold_p99_ms: load::percentile_ms(&c, 1.0),
            peak_rss_mb: None,
        });
    }
    peak = server.peak_rss().max(peak);
    server.stop()?;
    let row = Row {
        name: "pages-at-1m".into(),
        rate: args.page_events as f64 / fill_seconds,
        unit: "filled rows",
        peak_rss_mb: mb(peak),
        stored_bytes_per_1000: Some(stored as f64 / args.page_events as f64 * 1000.0),
        body_bytes: Some(fixtures::generic_event(7).len()),
        note: format!(
            "{} events over {INTEGRATIONS} integrations; cold = first request after a restart, {} samples{}",
            args.page_events,
            args.restarts.max(1),
            if dropped_caches {
                ", with the OS page cache dropped"
            } else {
                " (OS page cache kept: not root)"
            }
        ),
        ..Default::default()
    };
    Ok((row, pages))
}
