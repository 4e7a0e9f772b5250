//! SIGKILL at named dangerous moments (see `src/base/crashpoint.rs`), three cycles each on one data
//! folder, under load from concurrent senders, with a GitHub integration that has a token
//! (commit statuses) and an HTTP eval runner (each eval run dispatched to it), and a generic
//! WEBHOOK integration whose `drift.critical` events a Slack integration announces; GitHub, the
//! runner and Slack are stood in for by slow local servers. After the kills, a clean start
//! drains everything, and then:
//!
//! - every delivery that got a 2xx is stored once and PROCESSED;
//! - no eval run is duplicated, even for events processed twice or replayed;
//! - every queued commit status, Slack message and dispatch reached its remote at least once,
//!   and at most one per destination per kill twice (the one in flight when the process died);
//! - pruning interrupted between batches finishes at the next start;
//! - integration counters match the rows, and `PRAGMA integrity_check` is `ok`.
//!
//! A graceful stop (SIGTERM) under load, last, must leave nothing PROCESSING or SENDING.
//! Each point prints one line of counts (`cargo test --test binary crash -- --nocapture`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use provenant::base::crashpoint;
use provenant::db::sql::params;
use provenant::db::testing::Sql;
use serde_json::{Value, json};

use crate::fake::{Canned, FakeRemote};
use crate::fixture::*;
use crate::fixtures::github_pr;

const SENDERS: usize = 3;
/// New deliveries per sender per cycle: bounds the work to drain (Slack takes one message a
/// second per webhook).
const PER_CYCLE: usize = 60;
/// Every this many deliveries of the first sender is a `drift.critical` for Slack.
const DRIFT_EVERY: usize = 10;
/// Remotes answer after this: the outbox always has rows queued and one in flight.
const REMOTE_DELAY: Duration = Duration::from_millis(5);
/// WEBHOOK events aged past retention before the pruning point's cycles (three batches of 500
/// and a partial one).
const AGED_EVENTS: usize = 1_300;
/// How long a clean start may take to finish what the kills left.
const DRAIN_LIMIT: Duration = Duration::from_secs(90);

struct Env {
    dir: tempfile::TempDir,
    /// A second node on the same PostgreSQL database, never killed (see `run_point_two_nodes`).
    second: Option<Second>,
    github: FakeRemote,
    slack: FakeRemote,
    /// The HTTP eval runner every eval run is dispatched to.
    runner: FakeRemote,
    github_id: String,
    monitor_id: String,
    /// Everything the senders know, kept across restarts.
    ledger: Arc<Mutex<Ledger>>,
}

#[derive(Default)]
struct Ledger {
    /// delivery id → event id, for every delivery answered with a 2xx.
    acked: HashMap<String, String>,
    /// The event ids of acknowledged pull requests (what the replayer replays).
    pull_request_events: Vec<String>,
    /// Deliveries sent without an answer (the server died): sent again at the next start, as
    /// GitHub's redelivery would.
    unanswered: Vec<Delivery>,
    /// Next delivery number per sender.
    next: Vec<usize>,
    replays: usize,
}

#[derive(Clone)]
struct Delivery {
    id: String,
    /// A pull request (GitHub) or a drift alert (the WEBHOOK integration).
    drift: bool,
    body: String,
}

#[derive(Debug, Default)]
struct Tally {
    kills: usize,
    acked: usize,
    stored: usize,
    eval_runs: usize,
    unfinished_at_kills: i64,
    statuses_twice: usize,
    slack_twice: usize,
    dispatched_twice: usize,
    replays: usize,
    pruned: usize,
    /// Aged events left after each kill (pruning point only).
    aged_left: Vec<i64>,
}

struct Second {
    dir: tempfile::TempDir,
    /// The database both nodes share: the schema of the first node's folder.
    url: String,
}

/// One master key for both nodes (each folder would make its own).
const SHARED_KEY: &str = "4444444444444444444444444444444444444444444444444444444444444444";

/// A node `(id, database URL)` of two, or the only one.
fn start_as(
    dir: &std::path::Path,
    crash_at: Option<(&str, u32)>,
    node: Option<(&str, &str)>,
) -> Server {
    let mut cmd = command(dir);
    cmd.env("PROVENANT_API_TOKEN", TOKEN);
    if let Some((id, url)) = node {
        cmd.env("PROVENANT_DATABASE_URL", url)
            .env("PROVENANT_NODE_ID", id)
            .env("PROVENANT_MASTER_KEY", SHARED_KEY)
            // Node A starts again at once and puts back its own claims; a longer lease keeps
            // a node starved of CPU on this loaded machine (two nodes, PostgreSQL, the senders)
            // from being taken for dead while it is still sending.
            .env("PROVENANT_NODE_LEASE", "10s");
    }
    if let Some((point, hit)) = crash_at {
        cmd.env(crashpoint::ENV_VAR, format!("{point}:{hit}"));
    }
    Server::spawn(cmd)
}

impl Env {
    /// The node that is killed (the only one, or node A of two).
    fn start(&self, crash_at: Option<(&str, u32)>) -> Server {
        let node = self.second.as_ref().map(|s| ("node-a", s.url.as_str()));
        start_as(self.dir.path(), crash_at, node)
    }

    /// Node B, which runs throughout.
    fn start_second(&self) -> Option<Server> {
        let second = self.second.as_ref()?;
        Some(start_as(
            second.dir.path(),
            None,
            Some(("node-b", &second.url)),
        ))
    }
}

fn post(agent: &ureq::Agent, url: &str, body: &Value) -> Value {
    let mut resp = agent
        .post(url)
        .header("authorization", format!("Bearer {TOKEN}"))
        .content_type("application/json")
        .send(body.to_string().as_bytes())
        .expect("request");
    assert_eq!(resp.status(), 201);
    serde_json::from_str(&resp.body_mut().read_to_string().expect("body")).expect("json")
}

fn setup() -> (Env, Server) {
    setup_with(false)
}

/// With `two_nodes`, node A's folder names the schema both nodes share (PostgreSQL only).
fn setup_with(two_nodes: bool) -> (Env, Server) {
    let github = FakeRemote::start();
    github.set_default(Canned::status(201, "{}").after(REMOTE_DELAY));
    let slack = FakeRemote::start();
    slack.set_default(Canned::status(200, "ok").after(REMOTE_DELAY));
    let runner = FakeRemote::start();
    runner.set_default(Canned::status(202, "{}").after(REMOTE_DELAY));
    let mut key = [0u8; 32];
    getrandom::fill(&mut key).expect("random");
    let runner_secret = format!(
        "whsec_{}",
        base64::Engine::encode(&base64::engine::general_purpose::STANDARD, key)
    );
    let dir = tempfile::tempdir().expect("dir");
    let second = two_nodes.then(|| Second {
        dir: tempfile::tempdir().expect("dir"),
        url: provenant::db::testing::database_url(dir.path()).expect("PostgreSQL"),
    });
    let node = second.as_ref().map(|s| ("node-a", s.url.as_str()));
    let server = start_as(dir.path(), None, node);
    let agent = agent();
    let api = format!("{}/api/integrations", server.address);
    let github_id = post(
        &agent,
        &api,
        &json!({"type": "GITHUB", "name": "agent repo", "config": {
            "repo": "octo-org/agent-repo", "token": "ghp_crashpoints", "api_url": github.url,
            "allow_unverified": true,
            "eval": {"dispatch": {"url": format!("{}/provenant", runner.url), "secret": runner_secret}}}}),
    )["id"]
        .as_str()
        .expect("id")
        .to_string();
    let monitor_id = post(
        &agent,
        &api,
        &json!({"type": "WEBHOOK", "name": "monitor", "config": {"allow_unverified": true}}),
    )["id"]
        .as_str()
        .expect("id")
        .to_string();
    post(
        &agent,
        &api,
        &json!({"type": "SLACK", "name": "alerts", "config": {
            "webhook_url": format!("{}/services/T000/B000/XXXX", slack.url),
            "events": ["drift.*"]}}),
    );
    let ledger = Arc::new(Mutex::new(Ledger {
        next: vec![0; SENDERS],
        ..Ledger::default()
    }));
    let env = Env {
        dir,
        second,
        github,
        slack,
        runner,
        github_id,
        monitor_id,
        ledger,
    };
    (env, server)
}

/// Sends pull requests (each with its own head SHA, so each makes one eval run and one commit
/// status) and now and then a drift alert (one Slack message), from `SENDERS` threads: first
/// what the last run left unanswered, then up to `PER_CYCLE` new ones each, until `stop` or
/// until the server stops answering.
fn start_senders(
    env: &Env,
    server: &Server,
    stop: &Arc<AtomicBool>,
) -> Vec<std::thread::JoinHandle<()>> {
    start_senders_to(env, &[server], stop)
}

/// Like [`start_senders`], each delivery to the next of `servers` in turn.
fn start_senders_to(
    env: &Env,
    servers: &[&Server],
    stop: &Arc<AtomicBool>,
) -> Vec<std::thread::JoinHandle<()>> {
    let urls: Vec<(String, String)> = servers
        .iter()
        .map(|server| {
            let base = format!("{}/api/integrations/webhook", server.address);
            (
                format!("{base}/{}", env.github_id),
                format!("{base}/{}", env.monitor_id),
            )
        })
        .collect();
    (0..SENDERS)
        .map(|s| {
            let (stop, ledger) = (stop.clone(), env.ledger.clone());
            let urls = urls.clone();
            std::thread::spawn(move || {
                let agent = agent();
                let turn = std::cell::Cell::new(s);
                let send = |d: &Delivery| -> Option<String> {
                    let (github_url, monitor_url) = &urls[turn.get() % urls.len()];
                    turn.set(turn.get() + 1);
                    let request = if d.drift {
                        agent.post(monitor_url).header("webhook-id", &d.id)
                    } else {
                        agent
                            .post(github_url)
                            .header("x-github-event", "pull_request")
                            .header("x-github-delivery", &d.id)
                    };
                    let mut resp = request
                        .header("content-type", "application/json")
                        .send(d.body.as_bytes())
                        .ok()?;
                    if !resp.status().is_success() {
                        return None;
                    }
                    let reply: Value =
                        serde_json::from_str(&resp.body_mut().read_to_string().ok()?).ok()?;
                    reply["eventId"].as_str().map(str::to_string)
                };
                let mut pending: std::collections::VecDeque<Delivery> = {
                    let mut l = ledger.lock().expect("lock");
                    let prefix = format!("d-{s}-");
                    let (mine, others): (Vec<_>, Vec<_>) = std::mem::take(&mut l.unanswered)
                        .into_iter()
                        .partition(|d| d.id.starts_with(&prefix));
                    l.unanswered = others;
                    mine.into()
                };
                let mut fresh = 0;
                loop {
                    let delivery = match pending.pop_front() {
                        Some(d) => d,
                        None if stop.load(Ordering::SeqCst) => break,
                        None if fresh >= PER_CYCLE => {
                            std::thread::sleep(Duration::from_millis(5));
                            continue;
                        }
                        None => {
                            fresh += 1;
                            let i = {
                                let mut l = ledger.lock().expect("lock");
                                l.next[s] += 1;
                                l.next[s]
                            };
                            let id = format!("d-{s}-{i}");
                            if s == 0 && i % DRIFT_EVERY == 0 {
                                let body = json!({"type": "drift.critical", "message": format!("drift {id} seen")});
                                Delivery { id, drift: true, body: body.to_string() }
                            } else {
                                let sha = format!("{s:04x}{i:08x}{}", "0".repeat(28));
                                let number = (s * 100_000 + i) as i64;
                                let body = github_pr("opened", number, "main", &sha, false, None);
                                Delivery { id, drift: false, body: body.to_string() }
                            }
                        }
                    };
                    match send(&delivery) {
                        Some(event_id) => {
                            let mut l = ledger.lock().expect("lock");
                            if !delivery.drift {
                                l.pull_request_events.push(event_id.clone());
                            }
                            l.acked.insert(delivery.id, event_id);
                        }
                        None => {
                            let mut l = ledger.lock().expect("lock");
                            l.unanswered.push(delivery);
                            l.unanswered.extend(pending);
                            return;
                        }
                    }
                }
            })
        })
        .collect()
}

/// Replays (`…/retry`) deliveries already answered, until `stop` or the server goes.
fn start_replayer(
    env: &Env,
    server: &Server,
    stop: &Arc<AtomicBool>,
) -> std::thread::JoinHandle<()> {
    let base = format!(
        "{}/api/integrations/{}/events",
        server.address, env.github_id
    );
    let (stop, ledger) = (stop.clone(), env.ledger.clone());
    std::thread::spawn(move || {
        let agent = agent();
        let mut n = 0usize;
        while !stop.load(Ordering::SeqCst) {
            let event_id = {
                let l = ledger.lock().expect("lock");
                let events = &l.pull_request_events;
                (!events.is_empty()).then(|| events[n % events.len()].clone())
            };
            n += 7;
            let Some(event_id) = event_id else {
                std::thread::sleep(Duration::from_millis(5));
                continue;
            };
            let result = agent
                .post(format!("{base}/{event_id}/retry"))
                .header("authorization", format!("Bearer {TOKEN}"))
                .send_empty();
            match result {
                // 409: it is being processed right now.
                Ok(r) if r.status() == 200 || r.status() == 202 || r.status() == 409 => {
                    ledger.lock().expect("lock").replays += 1;
                }
                _ => return,
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    })
}

fn open(dir: &std::path::Path) -> Sql {
    Sql::open(dir)
}

fn count(conn: &Sql, sql: &str) -> i64 {
    conn.query_row(sql, params![], |r| r.get(0)).expect(sql)
}

/// Seeds events older than the retention period, so that the server prunes at its start.
fn seed_aged_events(env: &Env, server: Server) -> usize {
    let agent = agent();
    let api = format!("{}/api/integrations", server.address);
    let id = post(
        &agent,
        &api,
        &json!({"type": "WEBHOOK", "name": "aged", "config": {}}),
    )["id"]
        .as_str()
        .expect("id")
        .to_string();
    let url = format!("{}/api/integrations/webhook/{id}", server.address);
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let url = url.clone();
            std::thread::spawn(move || {
                let agent = crate::fixture::agent();
                for i in (t..AGED_EVENTS).step_by(4) {
                    let resp = agent
                        .post(&url)
                        .header("content-type", "application/json")
                        .send(format!(r#"{{"type":"heartbeat","n":{i}}}"#).as_bytes())
                        .expect("deliver");
                    assert_eq!(resp.status(), 202);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("seeder");
    }
    wait_drained(&server, DRAIN_LIMIT);
    assert!(server.terminate().success());
    let forty_days_ms = 40 * 86_400_000_i64;
    open(env.dir.path())
        .execute(
            "UPDATE webhook_events SET received_at = received_at - ?1 WHERE integration_id = ?2",
            params![forty_days_ms, id],
        )
        .expect("age events");
    AGED_EVENTS
}

const AGED_LEFT: &str = "SELECT COUNT(*) FROM webhook_events e
     JOIN integrations i ON i.id = e.integration_id WHERE i.name = 'aged'";

/// The drift alerts among stored deliveries (their ids).
fn drifts(stored: &HashMap<String, (i64, String)>) -> impl Iterator<Item = &String> {
    // Only the first sender sends them, every `DRIFT_EVERY`-th delivery.
    stored.keys().filter(|d| {
        d.strip_prefix("d-0-")
            .and_then(|i| i.parse::<usize>().ok())
            .is_some_and(|i| i % DRIFT_EVERY == 0)
    })
}

/// Kills the server at the `hits[c]`-th time `point` is reached, for each cycle `c`; then
/// drains on a clean start and checks everything.
fn run_point(point: &'static str, hits: [u32; 3]) -> Tally {
    run_point_with(point, hits, false)
}

/// [`run_point`] with two nodes on one PostgreSQL database (None on SQLite): deliveries go
/// to both in turn, node A is killed at the point and started again, node B runs throughout.
fn run_point_two_nodes(point: &'static str, hits: [u32; 3]) -> Option<Tally> {
    if !provenant::db::testing::is_postgres() {
        eprintln!("skipped: two nodes need PostgreSQL (set PROVENANT_TEST_DATABASE_URL)");
        return None;
    }
    Some(run_point_with(point, hits, true))
}

fn run_point_with(point: &'static str, hits: [u32; 3], two_nodes: bool) -> Tally {
    let (env, first) = setup_with(two_nodes);
    let second = env.start_second();
    let mut tally = Tally::default();
    let mut server = Some(first);
    if point == crashpoint::PRUNE_BETWEEN_BATCHES {
        tally.pruned = seed_aged_events(&env, server.take().expect("server"));
    } else {
        // The first cycle's server must carry the crash setting.
        assert!(server.take().expect("server").terminate().success());
    }
    for hit in hits {
        let server = env.start(Some((point, hit)));
        let stop = Arc::new(AtomicBool::new(false));
        let servers: Vec<&Server> = std::iter::once(&server).chain(second.as_ref()).collect();
        let mut threads = start_senders_to(&env, &servers, &stop);
        if point == crashpoint::REPLAY_QUEUED {
            threads.push(start_replayer(&env, &server, &stop));
        }
        let reached = server.wait_for_stderr(
            &format!("crash point reached: {point}"),
            Duration::from_secs(60),
        );
        assert!(
            reached,
            "{point}:{hit} never reached; stderr:\n{}",
            server.stderr()
        );
        server.kill();
        tally.kills += 1;
        stop.store(true, Ordering::SeqCst);
        for t in threads {
            t.join().expect("sender");
        }
        let conn = open(env.dir.path());
        tally.unfinished_at_kills += count(
            &conn,
            "SELECT (SELECT COUNT(*) FROM webhook_events WHERE status IN ('RECEIVED', 'PROCESSING'))
                  + (SELECT COUNT(*) FROM outbox WHERE status IN ('PENDING', 'SENDING'))",
        );
        if point == crashpoint::PRUNE_BETWEEN_BATCHES {
            tally.aged_left.push(count(&conn, AGED_LEFT));
        }
    }

    // A clean start: what was never answered is sent again, then everything drains.
    let server = env.start(None);
    let stop = Arc::new(AtomicBool::new(true));
    let servers: Vec<&Server> = std::iter::once(&server).chain(second.as_ref()).collect();
    for t in start_senders_to(&env, &servers, &stop) {
        t.join().expect("sender");
    }
    wait_drained(&server, DRAIN_LIMIT);
    let status = server.terminate();
    assert!(status.success(), "{status:?}");
    if let Some(second) = second {
        let status = second.terminate();
        assert!(status.success(), "node B: {status:?}");
    }

    let conn = open(env.dir.path());
    let ledger = env.ledger.lock().expect("lock");
    tally.acked = ledger.acked.len();
    tally.replays = ledger.replays;
    assert!(
        ledger.unanswered.is_empty(),
        "unanswered after the clean start"
    );

    // Every acknowledged delivery: stored once, PROCESSED.
    let mut stored: HashMap<String, (i64, String)> = HashMap::new();
    let rows = conn
        .query_map(
            "SELECT delivery_id, COUNT(*), MAX(status) FROM webhook_events
             WHERE integration_id IN (?1, ?2) GROUP BY delivery_id",
            params![env.github_id, env.monitor_id],
            |r| Ok((r.get(0)?, (r.get(1)?, r.get(2)?))),
        )
        .expect("rows");
    for (delivery, v) in rows {
        let (delivery, v): (String, (i64, String)) = (delivery, v);
        stored.insert(delivery, v);
    }
    tally.stored = stored.len();
    for (delivery, (n, status)) in &stored {
        assert_eq!(*n, 1, "{point}: {delivery} stored {n} times");
        assert_eq!(status, "PROCESSED", "{point}: {delivery}");
    }
    for delivery in ledger.acked.keys() {
        assert!(
            stored.contains_key(delivery),
            "{point}: acknowledged {delivery} was lost"
        );
    }
    assert_eq!(
        count(
            &conn,
            "SELECT COUNT(*) FROM webhook_events WHERE status != 'PROCESSED'"
        ),
        0,
        "{point}: unfinished events"
    );

    // One eval run per stored pull request, never two.
    tally.eval_runs = count(&conn, "SELECT COUNT(*) FROM eval_runs") as usize;
    let distinct = count(&conn, "SELECT COUNT(DISTINCT head_sha) FROM eval_runs") as usize;
    assert_eq!(
        tally.eval_runs, distinct,
        "{point}: an eval run was duplicated"
    );
    let pull_requests = stored.len() - drifts(&stored).count();
    assert_eq!(
        tally.eval_runs, pull_requests,
        "{point}: runs vs deliveries"
    );

    // Every commit status and Slack message sent at least once; twice only when in flight at
    // a kill (at most one per destination per kill).
    let mut statuses: HashMap<String, usize> = HashMap::new();
    for r in env.github.requests() {
        *statuses.entry(r.path.clone()).or_default() += 1;
    }
    let shas: Vec<String> = conn
        .query_map("SELECT head_sha FROM eval_runs", params![], |r| r.get(0))
        .expect("shas");
    for sha in &shas {
        let path = format!("/repos/octo-org/agent-repo/statuses/{sha}");
        assert!(
            statuses.contains_key(&path),
            "{point}: the status for {sha} was never posted"
        );
    }
    tally.statuses_twice = statuses.values().map(|n| n - 1).sum();
    let mut messages: HashMap<String, usize> = HashMap::new();
    for r in env.slack.requests() {
        let text = String::from_utf8_lossy(&r.body).to_string();
        let about = text
            .split("drift ")
            .nth(1)
            .and_then(|rest| rest.split(' ').next())
            .unwrap_or_else(|| panic!("{point}: a Slack message about no drift: {text}"));
        *messages.entry(about.to_string()).or_default() += 1;
    }
    for delivery in drifts(&stored) {
        assert!(
            messages.contains_key(delivery),
            "{point}: no Slack message for {delivery}"
        );
    }
    assert_eq!(
        messages.len(),
        drifts(&stored).count(),
        "{point}: Slack messages vs drift alerts"
    );
    tally.slack_twice = messages.values().map(|n| n - 1).sum();
    // Every eval run was given to the runner; twice only when in flight at a kill.
    // A repeat carries the first one's `webhook-id`, so a runner can tell it is one.
    let mut dispatched: HashMap<String, usize> = HashMap::new();
    let mut message_ids: HashMap<String, String> = HashMap::new();
    for r in env.runner.requests() {
        let body = r.json();
        assert_eq!(body["type"], "eval_run.requested", "{point}: {body}");
        let run = body["data"]["id"].as_str().expect("run id").to_string();
        let id = r.header("webhook-id").expect("webhook-id").to_string();
        let first = message_ids.entry(run.clone()).or_insert_with(|| id.clone());
        assert_eq!(
            *first, id,
            "{point}: run {run} was sent under two webhook-ids"
        );
        *dispatched.entry(run).or_default() += 1;
    }
    let runs: Vec<String> = conn
        .query_map("SELECT id FROM eval_runs", params![], |r| r.get(0))
        .expect("runs");
    for run in &runs {
        assert!(
            dispatched.contains_key(run),
            "{point}: eval run {run} was never dispatched"
        );
    }
    assert_eq!(dispatched.len(), runs.len(), "{point}: dispatches vs runs");
    tally.dispatched_twice = dispatched.values().map(|n| n - 1).sum();
    assert!(
        tally.statuses_twice <= tally.kills
            && tally.slack_twice <= tally.kills
            && tally.dispatched_twice <= tally.kills,
        "{point}: more repeats than kills: {tally:?}"
    );
    assert_eq!(
        count(&conn, "SELECT COUNT(*) FROM outbox WHERE status != 'SENT'"),
        0,
        "{point}: outbox rows not sent"
    );

    // Counters follow the rows (pruning and inserts update them in the same transaction).
    let drift = count(
        &conn,
        "SELECT COUNT(*) FROM integrations i
         WHERE i.event_count != (SELECT COUNT(*) FROM webhook_events e WHERE e.integration_id = i.id)",
    );
    assert_eq!(drift, 0, "{point}: an integration's event count drifted");
    if point == crashpoint::PRUNE_BETWEEN_BATCHES {
        // Each kill came after one batch of 500; the last batch (300) left none.
        assert_eq!(tally.aged_left, [800, 300, 0], "{point}");
        assert_eq!(count(&conn, AGED_LEFT), 0, "{point}: aged events left");
    }
    let integrity = conn.integrity_check().expect("integrity");
    assert_eq!(integrity, "ok", "{point}");

    let nodes = if two_nodes { "two nodes, " } else { "" };
    eprintln!(
        "crash point {point:<22} {nodes}kills {} | acked {} stored {} eval runs {} lost 0 duplicated 0 | \
         unfinished at kills {} | statuses sent twice {} | Slack messages twice {} | dispatched twice {} | replays {} | aged events pruned {} (left after each kill {:?})",
        tally.kills,
        tally.acked,
        tally.stored,
        tally.eval_runs,
        tally.unfinished_at_kills,
        tally.statuses_twice,
        tally.slack_twice,
        tally.dispatched_twice,
        tally.replays,
        tally.pruned,
        tally.aged_left,
    );
    tally
}

#[test]
fn sigkill_mid_group_commit_loses_nothing_acknowledged() {
    let t = run_point(crashpoint::WRITER_BEFORE_COMMIT, [3, 15, 40]);
    assert!(t.acked > 0);
}

#[test]
fn sigkill_after_a_commit_before_the_answer_stores_the_redelivery_once() {
    run_point(crashpoint::WRITER_BEFORE_ACK, [3, 15, 40]);
}

#[test]
fn sigkill_with_events_processing_duplicates_no_eval_run() {
    run_point(crashpoint::WORKER_BEFORE_COMMIT, [2, 8, 20]);
}

#[test]
fn sigkill_with_an_outbox_row_answered_but_not_recorded_repeats_at_most_that_row() {
    let t = run_point(crashpoint::OUTBOX_IN_FLIGHT, [2, 8, 20]);
    // The row in flight at each kill was delivered and is sent again after the restart.
    assert!(t.statuses_twice + t.slack_twice >= 1, "{t:?}");
}

#[test]
fn sigkill_with_a_run_dispatched_but_not_recorded_dispatches_it_again_at_most_once() {
    let t = run_point(crashpoint::DISPATCH_IN_FLIGHT, [2, 8, 20]);
    // The run the runner took at each kill is given to it again after the restart, under the
    // same `webhook-id` (the outbox row's), by which a runner knows it for a repeat.
    assert!(t.dispatched_twice >= 1, "{t:?}");
}

#[test]
fn sigkill_between_pruning_batches_keeps_counts_right_and_finishes_pruning() {
    run_point(crashpoint::PRUNE_BETWEEN_BATCHES, [1, 1, 1]);
}

#[test]
fn sigkill_during_a_replay_duplicates_nothing() {
    let t = run_point(crashpoint::REPLAY_QUEUED, [2, 6, 15]);
    assert!(t.replays > 0);
}

// Two nodes, node A killed at each point where a node holds something another must not take
// too early or do twice. Pruning is left out: it is a duty of the cluster, which node B holds
// while node A restarts, so node A never reaches that point.

#[test]
fn two_nodes_sigkill_mid_group_commit_loses_nothing_acknowledged() {
    run_point_two_nodes(crashpoint::WRITER_BEFORE_COMMIT, [3, 15, 40]);
}

#[test]
fn two_nodes_sigkill_after_a_commit_before_the_answer_stores_the_redelivery_once() {
    run_point_two_nodes(crashpoint::WRITER_BEFORE_ACK, [3, 15, 40]);
}

#[test]
fn two_nodes_sigkill_with_events_processing_duplicates_no_eval_run() {
    // An integration's events are processed by one node at a time, passed between the two
    // after each batch: node A commits about half of the processing and reaches the point
    // less often (as node A sends about half of the outbox rows below), and on a loaded
    // machine node B can take most batches for a while: low hits, so that a CI run reaches
    // each within its wait.
    run_point_two_nodes(crashpoint::WORKER_BEFORE_COMMIT, [1, 3, 6]);
}

#[test]
fn two_nodes_sigkill_with_an_outbox_row_in_flight_repeats_at_most_that_row() {
    // Node B sends about half of the rows, and on a loaded machine most of them for a while:
    // node A reaches the point less often, so low hits.
    run_point_two_nodes(crashpoint::OUTBOX_IN_FLIGHT, [1, 3, 6]);
}

#[test]
fn two_nodes_sigkill_during_a_replay_duplicates_nothing() {
    if let Some(t) = run_point_two_nodes(crashpoint::REPLAY_QUEUED, [2, 6, 15]) {
        assert!(t.replays > 0);
    }
}

#[test]
fn sigterm_under_load_leaves_nothing_processing_or_sending() {
    let (env, server) = setup();
    // A GitHub that stalls longer than the stop waits for: a request is in flight when the
    // stop comes, and still is when the server exits.
    env.github
        .set_default(Canned::status(201, "{}").after(Duration::from_secs(30)));
    let stop = Arc::new(AtomicBool::new(false));
    let threads = start_senders(&env, &server, &stop);
    let deadline = Instant::now() + Duration::from_secs(30);
    while env.ledger.lock().expect("lock").acked.len() < 150 {
        assert!(Instant::now() < deadline, "deliveries too slow");
        std::thread::sleep(Duration::from_millis(5));
    }
    let status = server.terminate();
    stop.store(true, Ordering::SeqCst);
    for t in threads {
        t.join().expect("sender");
    }
    assert!(status.success(), "{status:?}");
    let conn = open(env.dir.path());
    assert_eq!(
        count(
            &conn,
            "SELECT COUNT(*) FROM webhook_events WHERE status = 'PROCESSING'"
        ),
        0
    );
    assert_eq!(
        count(
            &conn,
            "SELECT COUNT(*) FROM outbox WHERE status = 'SENDING'"
        ),
        0
    );
    let ledger = env.ledger.lock().expect("lock");
    let stored = count(&conn, "SELECT COUNT(*) FROM webhook_events") as usize;
    assert!(stored >= ledger.acked.len());
}
