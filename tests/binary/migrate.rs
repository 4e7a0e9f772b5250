//! `provenant migrate-to-postgres`: a SQLite installation with every kind of row (made
//! through the API, with stand-ins for GitHub and Slack) is copied into an empty PostgreSQL
//! database, after which the API answers exactly as it did on SQLite. A database that is not
//! empty is refused. PostgreSQL only (skipped on SQLite).

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use provenant::db::sql::params;
use provenant::db::testing::Sql;
use serde_json::{Value, json};

use crate::fake::{Canned, FakeRemote};
use crate::fixture::*;
use crate::fixtures::github_pr;

const SECRET: &str = "github-webhook-secret";
const PUBLIC: &str = "https://hooks.example.test";

/// The real binary on the data folder's SQLite file (whatever the suite's backend), or on
/// PostgreSQL at `url`.
fn server(dir: &Path, url: Option<&str>) -> Server {
    let mut cmd = command(dir);
    cmd.env_remove("PROVENANT_DATABASE_URL")
        .env("PROVENANT_API_TOKEN", TOKEN)
        // The webhook URLs shown must not depend on the port of each start.
        .env("PROVENANT_PUBLIC_URL", PUBLIC);
    if let Some(url) = url {
        cmd.env("PROVENANT_DATABASE_URL", url);
    }
    Server::spawn(cmd)
}

fn migrate(dir: &Path, url: &str) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_provenant"))
        .env_clear()
        .args(["migrate-to-postgres", "--data-dir"])
        .arg(dir)
        .args(["--database-url", url])
        .output()
        .expect("run")
}

fn post(agent: &ureq::Agent, server: &Server, path: &str, body: Value) -> Value {
    let (status, text) = call(
        agent,
        "POST",
        &format!("{}/api{path}", server.address),
        &body.to_string(),
    );
    assert!((200..300).contains(&status), "POST {path}: {status} {text}");
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

fn read(agent: &ureq::Agent, server: &Server, path: &str) -> Value {
    let (status, text) = get(agent, &format!("{}/api{path}", server.address), Some(TOKEN));
    assert_eq!(status, 200, "GET {path}: {text}");
    serde_json::from_str(&text).expect("json")
}

fn deliver(
    agent: &ureq::Agent,
    server: &Server,
    id: &str,
    n: usize,
    body: &Value,
    secret: &str,
) -> u16 {
    deliver_github(agent, server, id, &format!("delivery-{n}"), secret, body).0
}

/// What the API shows of everything stored: every list, every integration with its events
/// (each in detail), rejections, reconcile log and replay.
fn snapshot(agent: &ureq::Agent, server: &Server, replay: &str) -> Vec<(String, Value)> {
    let mut paths: Vec<String> = [
        "/integrations",
        "/secrets",
        "/eval-runs",
        "/deployments",
        "/outbox",
        "/outbox/destinations",
        "/notifications",
    ]
    .map(String::from)
    .to_vec();
    let integrations = read(agent, server, "/integrations");
    for i in integrations.as_array().expect("integrations") {
        let id = i["id"].as_str().expect("id");
        paths.push(format!("/integrations/{id}"));
        paths.push(format!("/integrations/{id}/rejections"));
        paths.push(format!("/integrations/{id}/reconcile"));
        let events = read(
            agent,
            server,
            &format!("/integrations/{id}/events?limit=100"),
        );
        paths.push(format!("/integrations/{id}/events?limit=100"));
        for e in events["items"].as_array().expect("events") {
            paths.push(format!(
                "/integrations/{id}/events/{}",
                e["id"].as_str().expect("event id")
            ));
        }
    }
    paths.push(replay.to_string());
    paths
        .into_iter()
        .map(|p| {
            let v = read(agent, server, &p);
            (p, v)
        })
        .collect()
}

#[test]
fn a_sqlite_installation_moves_to_postgresql_and_the_api_answers_the_same() {
    let dir = tempfile::tempdir().expect("dir");
    let Some(url) = provenant::db::testing::database_url(dir.path()) else {
        eprintln!("skipped: PostgreSQL only (set PROVENANT_TEST_DATABASE_URL)");
        return;
    };
    let github = FakeRemote::start();
    github.set_default(Canned::status(201, r#"{"id":4242}"#));
    let slack = FakeRemote::start();
    slack.set_default(Canned::status(200, "ok"));
    let broken_slack = FakeRemote::start();
    broken_slack.set_default(Canned::status(404, "no_service"));
    let agent = agent();

    // On SQLite: one integration of each kind, and rows of every table.
    let sqlite = server(dir.path(), None);
    let gh = post(
        &agent,
        &sqlite,
        "/integrations",
        json!({"type": "GITHUB", "name": "repo", "config": {
        "repo": "octo-org/agent-repo", "token": "ghp_moving_up", "api_url": github.url,
        "webhook_secret": SECRET}}),
    )["id"]
        .as_str()
        .expect("id")
        .to_string();
    let monitor = post(
        &agent,
        &sqlite,
        "/integrations",
        json!({"type": "WEBHOOK", "name": "monitor", "config": {"allow_unverified": true}}),
    )["id"]
        .as_str()
        .expect("id")
        .to_string();
    post(
        &agent,
        &sqlite,
        "/integrations",
        json!({"type": "SLACK", "name": "alerts", "config": {
        "webhook_url": format!("{}/services/T0/B0/X", slack.url), "events": ["drift.*"]}}),
    );
    post(
        &agent,
        &sqlite,
        "/integrations",
        json!({"type": "SLACK", "name": "broken", "config": {
        "webhook_url": format!("{}/services/T0/B0/Y", broken_slack.url), "events": ["drift.*"]}}),
    );
    post(
        &agent,
        &sqlite,
        "/integrations",
        json!({"type": "GITLAB", "name": "mirror", "config": {
        "project_id": 42, "token": "glpat-moving-up", "api_url": github.url}}),
    );
    let (status, text) = call(
        &agent,
        "PUT",
        &format!("{}/api/secrets/SHARED_TOKEN", sqlite.address),
        r#"{"value":"a-secret-value-123"}"#,
    );
    assert!((200..300).contains(&status), "{text}");
    for n in 1..=3 {
        let pr = github_pr(
            "opened",
            n as i64,
            "main",
            &format!("{n:040x}"),
            false,
            None,
        );
        assert_eq!(deliver(&agent, &sqlite, &gh, n, &pr, SECRET), 202);
    }
    let merged = github_pr(
        "closed",
        1,
        "main",
        &format!("{:040x}", 1),
        true,
        Some(&"f".repeat(40)),
    );
    assert_eq!(deliver(&agent, &sqlite, &gh, 4, &merged, SECRET), 202);
    // A bad signature: a rejection.
    assert_eq!(
        deliver(&agent, &sqlite, &gh, 5, &merged, "not-the-secret"),
        401
    );
    let resp = agent
        .post(&format!(
            "{}/api/integrations/webhook/{monitor}",
            sqlite.address
        ))
        .header("content-type", "application/json")
        .header("webhook-id", "drift-1")
        .send(br#"{"type":"drift.critical","message":"drift seen"}"#)
        .expect("drift");
    assert_eq!(resp.status(), 202);
    wait_drained(&sqlite, Duration::from_secs(30));
    let replay = post(
        &agent,
        &sqlite,
        &format!("/integrations/{gh}/replay"),
        json!({"status": "PROCESSED"}),
    );
    let replay = format!(
        "/integrations/{gh}/replays/{}",
        replay["id"].as_str().expect("replay id")
    );
    post(
        &agent,
        &sqlite,
        &format!("/integrations/{gh}/reconcile"),
        json!({}),
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    while read(&agent, &sqlite, &replay)["state"] != "DONE" {
        assert!(Instant::now() < deadline, "the replay never finished");
        std::thread::sleep(Duration::from_millis(50));
    }
    wait_drained(&sqlite, Duration::from_secs(30));
    let before = snapshot(&agent, &sqlite, &replay);
    assert!(sqlite.terminate().success());
    {
        let file = Sql::open_file(&dir.path().join("provenant.db"));
        for table in [
            "eval_runs",
            "deployments",
            "rejections",
            "replays",
            "reconcile_checks",
            "secrets",
            "event_bodies",
        ] {
            let n: i64 = file
                .value(&format!("SELECT COUNT(*) FROM {table}"), params![])
                .expect("count");
            assert!(n > 0, "the SQLite installation has no {table} to copy");
        }
        let failed: i64 = file
            .value(
                "SELECT COUNT(*) FROM outbox WHERE status = 'FAILED'",
                params![],
            )
            .expect("count");
        assert!(failed > 0, "no FAILED outbox row to copy");
    }

    // Copied, then the API on PostgreSQL answers the same, in every detail.
    let out = migrate(dir.path(), &url);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("every table's count matches"), "{stderr}");
    assert!(stderr.contains("webhook_events"), "{stderr}");
    let postgres = server(dir.path(), Some(&url));
    let after = snapshot(&agent, &postgres, &replay);
    assert_eq!(before.len(), after.len());
    for ((path, was), (_, is)) in before.iter().zip(&after) {
        assert_eq!(was, is, "GET {path} differs after the move");
    }
    // New rows come after the copied ones.
    let pr = github_pr("opened", 9, "main", &format!("{:040x}", 9), false, None);
    assert_eq!(deliver(&agent, &postgres, &gh, 9, &pr, SECRET), 202);
    let events = read(
        &agent,
        &postgres,
        &format!("/integrations/{gh}/events?limit=1"),
    );
    assert_eq!(events["items"][0]["deliveryId"], "delivery-9", "{events}");
    assert!(postgres.terminate().success());

    // Not into a database that holds something already.
    let out = migrate(dir.path(), &url);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    let last = stderr.trim().lines().last().unwrap_or_default();
    assert!(last.contains("is not empty"), "{stderr}");
    assert!(last.contains("rows in integrations"), "{stderr}");
}
