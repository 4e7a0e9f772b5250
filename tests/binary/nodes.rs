//! Two real nodes on one PostgreSQL database (PostgreSQL only; skipped on SQLite): a dead
//! node's claims are taken over once its lease runs out and not before, a secret rotated on
//! one node is refused by the other within a second, the same delivery sent to both at once
//! is stored once, and the stand-in GitHub never has two requests in flight for one
//! destination, whichever node sends them.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use provenant::db::sql::params;
use provenant::db::testing::Sql;
use serde_json::{Value, json};

use crate::fake::{Canned, FakeRemote};
use crate::fixture::*;
use crate::fixtures::github_pr;

const KEY: &str = "3333333333333333333333333333333333333333333333333333333333333333";
const SECRET: &str = "shared-webhook-secret";
/// Short, so that the take-over test waits seconds, not the default 15.
const LEASE: &str = "2s";

/// The database all nodes of a test share: the schema of the first node's folder.
fn shared_url(first: &Path) -> Option<String> {
    let url = provenant::db::testing::database_url(first);
    if url.is_none() {
        eprintln!("skipped: PostgreSQL only (set PROVENANT_TEST_DATABASE_URL)");
    }
    url
}

/// Two data folders and the database their nodes share; None (skipped) on SQLite.
fn two_folders() -> Option<(tempfile::TempDir, tempfile::TempDir, String)> {
    let (a, b) = (
        tempfile::tempdir().expect("dir"),
        tempfile::tempdir().expect("dir"),
    );
    let url = shared_url(a.path())?;
    Some((a, b, url))
}

/// Nodes A and B on their folders, and the GitHub integration `create_repo` made on A;
/// None (skipped) on SQLite.
struct TwoNodes {
    dir_a: tempfile::TempDir,
    _dir_b: tempfile::TempDir,
    a: Server,
    b: Server,
    agent: ureq::Agent,
    id: String,
}

fn two_nodes_with_a_repo() -> Option<TwoNodes> {
    let (dir_a, dir_b, url) = two_folders()?;
    let (a, b) = (
        node(dir_a.path(), &url, "node-a"),
        node(dir_b.path(), &url, "node-b"),
    );
    let agent = agent();
    let id = create_repo(&agent, &a);
    Some(TwoNodes {
        dir_a,
        _dir_b: dir_b,
        a,
        b,
        agent,
        id,
    })
}

/// A GitHub integration that signs with `SECRET`, created on `server`; its id.
fn create_repo(agent: &ureq::Agent, server: &Server) -> String {
    create(
        agent,
        server,
        &json!({"type": "GITHUB", "name": "repo", "config": {"repo": "octo-org/agent-repo", "webhook_secret": SECRET}}),
    )
}

fn node_command(dir: &Path, url: &str, id: &str) -> Command {
    let mut cmd = command(dir);
    cmd.env("PROVENANT_API_TOKEN", TOKEN)
        .env("PROVENANT_MASTER_KEY", KEY)
        .env("PROVENANT_DATABASE_URL", url)
        .env("PROVENANT_NODE_ID", id)
        .env("PROVENANT_NODE_LEASE", LEASE);
    cmd
}

fn node(dir: &Path, url: &str, id: &str) -> Server {
    Server::spawn(node_command(dir, url, id))
}

fn create(agent: &ureq::Agent, server: &Server, body: &Value) -> String {
    let (status, text) = call(
        agent,
        "POST",
        &format!("{}/api/integrations", server.address),
        &body.to_string(),
    );
    assert_eq!(status, 201, "{text}");
    let created: Value = serde_json::from_str(&text).expect("json");
    created["id"].as_str().expect("id").to_string()
}

/// A signed pull request delivery; the status and the answer.
fn deliver_pr(
    agent: &ureq::Agent,
    server: &Server,
    id: &str,
    delivery: &str,
    secret: &str,
    number: i64,
) -> (u16, Value) {
    let pr = github_pr(
        "opened",
        number,
        "main",
        &format!("{number:040x}"),
        false,
        None,
    );
    deliver_github(agent, server, id, delivery, secret, &pr)
}

fn count(db: &Sql, sql: &str) -> i64 {
    db.value(sql, params![]).expect("count")
}

#[test]
fn a_dead_nodes_claims_are_taken_over_when_its_lease_runs_out_and_not_before() {
    let Some((dir_a, dir_b, url)) = two_folders() else {
        return;
    };
    let agent = agent();
    // Node A holds the events it claimed at the moment before its commit, and dies there.
    let a = Server::spawn({
        let mut cmd = node_command(dir_a.path(), &url, "node-a");
        cmd.env(
            provenant::base::crashpoint::ENV_VAR,
            "worker.before-commit:1",
        );
        cmd
    });
    let id = create_repo(&agent, &a);
    for n in 0..5 {
        let (status, reply) = deliver_pr(&agent, &a, &id, &format!("d-{n}"), SECRET, n + 1);
        assert_eq!(status, 202, "{reply}");
    }
    assert!(
        a.wait_for_stderr("crash point reached", Duration::from_secs(10)),
        "{}",
        a.stderr()
    );
    a.kill();
    let db = Sql::open(dir_a.path());
    let held = count(
        &db,
        "SELECT COUNT(*) FROM webhook_events WHERE status = 'PROCESSING'",
    );
    assert!(held >= 1, "node A held claims when it died");

    // Node B starts at once: A's lease is still good, so B leaves A's claims alone.
    let b = node(dir_b.path(), &url, "node-b");
    let lease_left = |db: &Sql| -> i64 {
        db.value(
            "SELECT lease_until - CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)
             FROM nodes WHERE id = 'node-a'",
            params![],
        )
        .expect("lease")
    };
    let mut checked_before_expiry = 0;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        // Read together with the lease, before it: a claim taken back is taken after.
        let left = lease_left(&db);
        let processing = count(
            &db,
            "SELECT COUNT(*) FROM webhook_events WHERE status = 'PROCESSING'",
        );
        if left > 100 {
            assert_eq!(
                processing, held,
                "taken over with {left} ms of A's lease left"
            );
            checked_before_expiry += 1;
        }
        let processed = count(
            &db,
            "SELECT COUNT(*) FROM webhook_events WHERE status = 'PROCESSED'",
        );
        if processed == 5 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "B did not finish A's events: {processed} of 5 processed; {}",
            b.stderr()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        checked_before_expiry > 0,
        "the lease ran out before B could be watched"
    );
    assert!(
        b.wait_for_stderr(
            "took back the claims of a node whose lease ran out",
            Duration::from_secs(1)
        ),
        "{}",
        b.stderr()
    );
    // Processed once each: the events A held were claimed twice, the others once.
    let attempts = count(
        &db,
        "SELECT CAST(SUM(attempts) AS BIGINT) FROM webhook_events",
    );
    assert_eq!(attempts, 5 + held, "attempts");
    let runs = count(&db, "SELECT COUNT(*) FROM eval_runs");
    assert_eq!(runs, 5, "one eval run per pull request");
    assert!(b.terminate().success());
}

#[test]
fn a_secret_rotated_on_one_node_is_refused_by_the_other_within_a_second() {
    let Some((dir_a, dir_b, url)) = two_folders() else {
        return;
    };
    let agent = agent();
    let (a, b) = (
        node(dir_a.path(), &url, "node-a"),
        node(dir_b.path(), &url, "node-b"),
    );
    let id = create_repo(&agent, &a);
    // B has read the integration (and keeps it in its receiver's memory).
    let (status, reply) = deliver_pr(&agent, &b, &id, "before", SECRET, 1);
    assert_eq!(status, 202, "{reply}");
    let (status, text) = call(
        &agent,
        "POST",
        &format!("{}/api/integrations/{id}/rotate-secret", a.address),
        r#"{"secret":"the-new-secret-0123456789","overlapSeconds":0}"#,
    );
    assert_eq!(status, 200, "{text}");
    let rotated = Instant::now();
    let mut n = 2;
    loop {
        let (status, _) = deliver_pr(&agent, &b, &id, &format!("after-{n}"), SECRET, n);
        if status == 401 {
            break;
        }
        assert_eq!(status, 202);
        assert!(
            rotated.elapsed() < Duration::from_secs(1),
            "B still took the old secret after {:?}",
            rotated.elapsed()
        );
        n += 1;
        std::thread::sleep(Duration::from_millis(20));
    }
    let (status, reply) = deliver_pr(&agent, &b, &id, "new", "the-new-secret-0123456789", 100);
    assert_eq!(status, 202, "{reply}");

    // Deactivated on A: B answers as for an unknown integration within a second too.
    let (status, text) = call(
        &agent,
        "PATCH",
        &format!("{}/api/integrations/{id}", a.address),
        r#"{"isActive":false}"#,
    );
    assert_eq!(status, 200, "{text}");
    let deactivated = Instant::now();
    loop {
        let (status, _) = deliver_pr(
            &agent,
            &b,
            &id,
            &format!("off-{n}"),
            "the-new-secret-0123456789",
            n,
        );
        if status == 404 {
            break;
        }
        assert!(
            deactivated.elapsed() < Duration::from_secs(1),
            "B still took deliveries after {:?} (answered {status})",
            deactivated.elapsed()
        );
        n += 1;
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(a.terminate().success());
    assert!(b.terminate().success());
}

#[test]
fn a_delivery_stored_on_one_node_wakes_the_other_nodes_worker() {
    let Some((dir_a, dir_b, url)) = two_folders() else {
        return;
    };
    let a = node(dir_a.path(), &url, "node-a");
    let b = Server::spawn({
        let mut cmd = node_command(dir_b.path(), &url, "node-b");
        cmd.env("PROVENANT_LOG", "info,provenant::pipeline::cluster=debug");
        cmd
    });
    let agent = agent();
    let id = create_repo(&agent, &a);
    const WOKEN: &str = "deliveries were stored (on this node or another)";
    assert!(!b.stderr().contains(WOKEN), "{}", b.stderr());
    let (status, reply) = deliver_pr(&agent, &a, &id, "on-a", SECRET, 1);
    assert_eq!(status, 202, "{reply}");
    let stored = Instant::now();
    // NOTIFY, not the worker's 5 s poll: B hears of it at once (within 50 ms when the machine
    // is idle; the bound here leaves room for a loaded CI machine).
    assert!(
        b.wait_for_stderr(WOKEN, Duration::from_secs(1)),
        "{}",
        b.stderr()
    );
    eprintln!(
        "node B heard of node A's delivery at most {:?} after A answered",
        stored.elapsed()
    );
    assert!(a.terminate().success());
    assert!(b.terminate().success());
}

#[test]
fn the_same_delivery_sent_to_both_nodes_at_once_is_stored_once_under_one_event_id() {
    let Some(TwoNodes {
        dir_a,
        a,
        b,
        agent,
        id,
        ..
    }) = two_nodes_with_a_repo()
    else {
        return;
    };
    for n in 0..20 {
        let delivery = format!("twice-{n}");
        let (one, two) = std::thread::scope(|s| {
            let one = s.spawn(|| deliver_pr(&agent, &a, &id, &delivery, SECRET, n + 1));
            let two = s.spawn(|| deliver_pr(&agent, &b, &id, &delivery, SECRET, n + 1));
            (one.join().expect("a"), two.join().expect("b"))
        });
        // One stored it (202); the other found it stored (200, `duplicate`), same id.
        let mut statuses = [one.0, two.0];
        statuses.sort_unstable();
        assert_eq!(statuses, [200, 202], "{} {}", one.1, two.1);
        assert_ne!(
            one.1["duplicate"], two.1["duplicate"],
            "{} {}",
            one.1, two.1
        );
        assert_eq!(one.1["eventId"], two.1["eventId"], "{} {}", one.1, two.1);
    }
    let db = Sql::open(dir_a.path());
    assert_eq!(count(&db, "SELECT COUNT(*) FROM webhook_events"), 20);
    assert!(a.terminate().success());
    assert!(b.terminate().success());
}

#[test]
fn one_request_at_a_time_per_destination_across_nodes_and_a_node_lists_both() {
    let Some((dir_a, dir_b, url)) = two_folders() else {
        return;
    };
    let github = FakeRemote::start();
    github.set_default(Canned::status(201, "{}").after(Duration::from_millis(30)));
    let (a, b) = (
        node(dir_a.path(), &url, "node-a"),
        node(dir_b.path(), &url, "node-b"),
    );
    let agent = agent();
    let id = create(
        &agent,
        &a,
        &json!({"type": "GITHUB", "name": "repo", "config": {
            "repo": "octo-org/agent-repo", "token": "ghp_two_nodes", "api_url": github.url,
            "webhook_secret": SECRET}}),
    );
    // Round-robin, from two senders at once: both nodes process and send.
    const PRS: i64 = 40;
    std::thread::scope(|s| {
        for half in 0..2 {
            let (agent, a, b, id) = (&agent, &a, &b, &id);
            s.spawn(move || {
                for n in (half..PRS).step_by(2) {
                    let server = if n % 4 < 2 { a } else { b };
                    let (status, reply) =
                        deliver_pr(agent, server, id, &format!("rr-{n}"), SECRET, n + 1);
                    assert_eq!(status, 202, "{reply}");
                }
            });
        }
    });
    // One commit status per pull request (each has its own head SHA).
    let got = github.wait_for(PRS as usize);
    assert!(
        got.iter().all(|r| r.path.contains("/statuses/")),
        "{:?}",
        got.iter().map(|r| &r.path).collect::<Vec<_>>()
    );
    assert_eq!(
        github.max_in_flight(),
        1,
        "two requests were in flight at once"
    );
    // Both nodes are listed, with one of them holding the duties.
    let (status, text) = get(&agent, &format!("{}/api/cluster", b.address), Some(TOKEN));
    assert_eq!(status, 200, "{text}");
    let cluster: Value = serde_json::from_str(&text).expect("json");
    let nodes = cluster["nodes"].as_array().expect("nodes");
    let ids: Vec<&str> = nodes.iter().filter_map(|n| n["id"].as_str()).collect();
    assert!(
        ids.contains(&"node-a") && ids.contains(&"node-b"),
        "{cluster}"
    );
    let leaders = nodes
        .iter()
        .filter(|n| n["duties"].as_array().is_some_and(|d| !d.is_empty()))
        .count();
    assert_eq!(leaders, 1, "{cluster}");
    assert!(a.terminate().success());
    assert!(b.terminate().success());
}

#[test]
fn a_second_process_with_a_node_id_in_use_elsewhere_waits_for_its_lease_first() {
    let Some((dir_a, dir_b, url)) = two_folders() else {
        return;
    };
    // Killed: its lease stays good for a while, and a process elsewhere under its id must not
    // put its claims back meanwhile. The lease is longer than the other tests' so that the
    // second process starts inside it even on a loaded machine.
    let with_long_lease = |dir: &Path| {
        let mut cmd = node_command(dir, &url, "same-id");
        cmd.env("PROVENANT_NODE_LEASE", "6s");
        Server::spawn(cmd)
    };
    with_long_lease(dir_a.path()).kill();
    let started = Instant::now();
    let second = with_long_lease(dir_b.path());
    let waited = started.elapsed();
    const WAITING: &str = "its lease is still good: waiting";
    assert!(second.stderr().contains(WAITING), "{}", second.stderr());
    assert!(
        waited >= Duration::from_millis(500),
        "started after {waited:?}"
    );
    // Its own folder again: the previous run was this one, over since the folder is unlocked.
    second.kill();
    let third = with_long_lease(dir_b.path());
    assert!(!third.stderr().contains(WAITING), "{}", third.stderr());
    assert!(third.terminate().success());
}

/// Nodes in a container with no volume: given the database, the token and the master key,
/// they make no folder (so they share no lock, even in one working directory), make up an id
/// each unless given one, and work together. A folder already there is used, as before.
#[test]
fn nodes_given_the_database_the_token_and_the_key_need_no_data_folder() {
    let Some((schema_of, _, url)) = two_folders() else {
        return;
    };
    let work = tempfile::tempdir().expect("working directory");
    let folderless = |id: Option<&str>| {
        let mut cmd = command_without_folder();
        cmd.current_dir(work.path())
            .env("PROVENANT_API_TOKEN", TOKEN)
            .env("PROVENANT_MASTER_KEY", KEY)
            .env("PROVENANT_DATABASE_URL", &url)
            .env("PROVENANT_NODE_LEASE", LEASE);
        if let Some(id) = id {
            cmd.env("PROVENANT_NODE_ID", id);
        }
        Server::spawn(cmd)
    };
    let (a, b) = (folderless(None), folderless(Some("given-b")));
    let agent = agent();
    let id = create_repo(&agent, &a);
    let (status, reply) = deliver_pr(&agent, &b, &id, "no-folder", SECRET, 1);
    assert_eq!(status, 202, "{reply}");
    wait_drained(&a, Duration::from_secs(20));
    let db = Sql::open(schema_of.path());
    assert_eq!(
        count(
            &db,
            "SELECT COUNT(*) FROM webhook_events WHERE status = 'PROCESSED'"
        ),
        1
    );
    let (_, text) = get(&agent, &format!("{}/api/cluster", a.address), Some(TOKEN));
    let cluster: Value = serde_json::from_str(&text).expect("json");
    let ids: Vec<String> = cluster["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .filter_map(|n| n["id"].as_str().map(str::to_string))
        .collect();
    assert_eq!(ids.len(), 2, "{cluster}");
    assert!(ids.contains(&"given-b".to_string()), "{cluster}");
    assert!(a.stderr().contains("no data folder"), "{}", a.stderr());
    assert!(a.terminate().success());
    assert!(b.terminate().success());
    let made: Vec<_> = std::fs::read_dir(work.path()).expect("list").collect();
    assert!(
        made.is_empty(),
        "nothing is written to the working directory: {made:?}"
    );

    // Where a folder is there from before, it is used: the id it keeps, its lock.
    let folder = work.path().join("provenant-data");
    std::fs::create_dir(&folder).expect("folder");
    std::fs::write(folder.join("node-id"), "kept-id").expect("node id");
    let c = folderless(None);
    assert!(!c.stderr().contains("no data folder"), "{}", c.stderr());
    let (_, text) = get(&agent, &format!("{}/api/cluster", c.address), Some(TOKEN));
    assert!(text.contains("kept-id"), "{text}");
    assert!(folder.join("lock").exists());
    assert!(c.terminate().success());
}

/// Pushes to one pull request arrive at both nodes at once, faster than they are processed: the
/// integration's events are held by one node at a time (never claimed by both at once), so
/// they are processed in arrival order, and the newest head commit's eval run is the one left
/// standing, every older one superseded by a newer one.
#[test]
fn one_integrations_events_are_processed_by_one_node_at_a_time_in_arrival_order() {
    let Some(TwoNodes {
        dir_a,
        a,
        b,
        agent,
        id,
        ..
    }) = two_nodes_with_a_repo()
    else {
        return;
    };
    let db = Sql::open(dir_a.path());
    let done = std::sync::atomic::AtomicBool::new(false);
    const PUSHES: i64 = 300;
    let most_holders = std::thread::scope(|s| {
        let watcher = s.spawn(|| {
            let watch = Sql::open(dir_a.path());
            let mut most = 0;
            while !done.load(std::sync::atomic::Ordering::SeqCst) {
                most = most.max(count(
                    &watch,
                    "SELECT COUNT(DISTINCT claimed_by) FROM webhook_events WHERE status = 'PROCESSING'",
                ));
            }
            most
        });
        // Four senders at once, half to each node: a backlog builds for both workers.
        std::thread::scope(|senders| {
            for sender in 0..4 {
                let (agent, id) = (&agent, &id);
                let server = if sender % 2 == 0 { &a } else { &b };
                senders.spawn(move || {
                    for n in (1..=PUSHES).filter(|n| n % 4 == sender) {
                        let pr =
                            github_pr("synchronize", 7, "main", &format!("{n:040x}"), false, None);
                        let (status, reply) =
                            deliver_github(agent, server, id, &format!("push-{n}"), SECRET, &pr);
                        assert_eq!(status, 202, "{reply}");
                    }
                });
            }
        });
        wait_drained(&a, Duration::from_secs(60));
        done.store(true, std::sync::atomic::Ordering::SeqCst);
        watcher.join().expect("watcher")
    });
    assert!(
        most_holders <= 1,
        "{most_holders} nodes held the integration's events at once"
    );
    assert_eq!(count(&db, "SELECT COUNT(*) FROM eval_runs"), PUSHES);
    let standing: Vec<String> = db
        .query_map(
            "SELECT head_sha FROM eval_runs WHERE superseded_by IS NULL",
            params![],
            |r| r.get(0),
        )
        .expect("runs");
    // The push that arrived last (stored last) is the newest.
    let last: String = db
        .value(
            "SELECT delivery_id FROM webhook_events ORDER BY seq DESC LIMIT 1",
            params![],
        )
        .expect("last delivery");
    let n: i64 = last
        .trim_start_matches("push-")
        .parse()
        .expect("push number");
    assert_eq!(
        standing,
        vec![format!("{n:040x}")],
        "the newest push's run stands alone"
    );
    assert!(a.terminate().success());
    assert!(b.terminate().success());
}
