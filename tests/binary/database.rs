//! Choosing the database: the URL's password stays out of every line, a node with another
//! master key stops at start, and nodes that start together on one PostgreSQL database
//! migrate it once.

use std::time::{Duration, Instant};

use provenant::db::sql::params;
use provenant::db::testing::Sql;

use crate::fixture::*;

const KEY_A: &str = "1111111111111111111111111111111111111111111111111111111111111111";
const KEY_B: &str = "2222222222222222222222222222222222222222222222222222222222222222";

#[test]
fn the_database_urls_password_appears_in_no_error() {
    let dir = tempfile::tempdir().expect("dir");
    let out = command(dir.path())
        .env("PROVENANT_API_TOKEN", TOKEN)
        // Nothing listens on port 1: the connection is refused.
        .env(
            "PROVENANT_DATABASE_URL",
            "postgres://app:pw-s3cret-xyz@127.0.0.1:1/provenant",
        )
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(!stderr.contains("pw-s3cret-xyz"), "{stderr}");
    assert!(
        stderr.contains("postgres://app@127.0.0.1:1/provenant"),
        "{stderr}"
    );
    assert!(stderr.contains("cannot be reached"), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");

    // A URL that is not one is refused by name, without repeating it.
    let out = command(dir.path())
        .env("PROVENANT_API_TOKEN", TOKEN)
        .env(
            "PROVENANT_DATABASE_URL",
            "mysql://app:pw-s3cret-xyz@db/provenant",
        )
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--database-url"), "{stderr}");
    assert!(!stderr.contains("pw-s3cret-xyz"), "{stderr}");
}

#[test]
fn a_start_with_another_master_key_stops_with_one_clear_line() {
    let dir = tempfile::tempdir().expect("dir");
    let first = Server::spawn({
        let mut cmd = command(dir.path());
        cmd.env("PROVENANT_API_TOKEN", TOKEN)
            .env("PROVENANT_MASTER_KEY", KEY_A);
        cmd
    });
    assert!(first.terminate().success());
    let out = command(dir.path())
        .env("PROVENANT_API_TOKEN", TOKEN)
        .env("PROVENANT_MASTER_KEY", KEY_B)
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("the master key is not the one"), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    // The right key still starts.
    let again = Server::spawn({
        let mut cmd = command(dir.path());
        cmd.env("PROVENANT_API_TOKEN", TOKEN)
            .env("PROVENANT_MASTER_KEY", KEY_A);
        cmd
    });
    assert!(again.terminate().success());
}

#[test]
fn nodes_starting_together_on_one_postgresql_database_migrate_it_once() {
    let first = tempfile::tempdir().expect("dir");
    let Some(url) = provenant::db::testing::database_url(first.path()) else {
        eprintln!("skipped: PostgreSQL only (set PROVENANT_TEST_DATABASE_URL)");
        return;
    };
    let second = tempfile::tempdir().expect("dir");
    let node = |dir: &std::path::Path| {
        let mut cmd = command(dir);
        cmd.env("PROVENANT_API_TOKEN", TOKEN)
            .env("PROVENANT_MASTER_KEY", KEY_A)
            .env("PROVENANT_DATABASE_URL", &url);
        cmd.spawn().expect("spawn")
    };
    // Both at once: each starts migrating an empty schema.
    let (a, b) = (node(first.path()), node(second.path()));
    let (a, b) = (
        Server::adopt(a, Duration::from_secs(20)),
        Server::adopt(b, Duration::from_secs(20)),
    );
    let db = provenant::db::testing::Sql::open(first.path());
    let versions: Vec<i64> = db
        .query_map("SELECT version FROM provenant_schema", params![], |r| {
            r.get(0)
        })
        .expect("versions");
    assert_eq!(versions, [provenant::db::migrate::CURRENT_VERSION]);
    // What one node stores, the other serves.
    let agent = agent();
    let (status, text) = call(
        &agent,
        "POST",
        &format!("{}/api/integrations", a.address),
        r#"{"type":"WEBHOOK","name":"shared","config":{}}"#,
    );
    assert_eq!(status, 201, "{text}");
    let (status, text) = get(
        &agent,
        &format!("{}/api/integrations", b.address),
        Some(TOKEN),
    );
    assert_eq!(status, 200);
    assert!(text.contains(r#""name":"shared""#), "{text}");
    assert!(a.terminate().success());
    assert!(b.terminate().success());
}

/// A PostgreSQL cluster of the test's own, to stop and start again (the suite's shared one
/// must stay up): in a temporary folder owned by the `postgres` user, on a free port.
struct Cluster {
    dir: tempfile::TempDir,
    bin: std::path::PathBuf,
    port: u16,
}

impl Cluster {
    fn start() -> Cluster {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .expect("PostgreSQL's binaries in /usr/lib/postgresql")
            .flatten()
            .map(|e| e.path().join("bin"))
            .filter(|p| p.join("initdb").exists())
            .max()
            .expect("initdb");
        let dir = tempfile::tempdir().expect("dir");
        let owned = std::process::Command::new("chown")
            .arg("postgres")
            .arg(dir.path())
            .status()
            .expect("chown");
        assert!(owned.success());
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .expect("port")
            .local_addr()
            .expect("addr")
            .port();
        let cluster = Cluster { dir, bin, port };
        let data = cluster.dir.path().join("data");
        cluster.as_postgres(
            "initdb",
            &[
                "-D",
                &data.display().to_string(),
                "-A",
                "trust",
                "-U",
                "postgres",
                "-E",
                "UTF8",
            ],
        );
        cluster.start_again();
        cluster.as_postgres(
            "createdb",
            &[
                "-h",
                "127.0.0.1",
                "-p",
                &port.to_string(),
                "-U",
                "postgres",
                "provenant",
            ],
        );
        cluster
    }

    fn as_postgres(&self, tool: &str, args: &[&str]) {
        let out = std::process::Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(self.bin.join(tool))
            .args(args)
            .output()
            .expect("run a PostgreSQL tool");
        assert!(
            out.status.success(),
            "{tool}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn pg_ctl(&self, args: &[&str]) {
        let data = self.dir.path().join("data").display().to_string();
        let mut all = vec!["-D", &data];
        all.extend_from_slice(args);
        self.as_postgres("pg_ctl", &all);
    }

    fn start_again(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1",
            self.port,
            self.dir.path().display()
        );
        let log = self.dir.path().join("log").display().to_string();
        self.pg_ctl(&["-o", &options, "-l", &log, "-w", "start"]);
    }

    /// As a crash, or a pulled cable, would: no goodbye to the clients.
    fn stop_immediately(&self) {
        self.pg_ctl(&["-m", "immediate", "-w", "stop"]);
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/provenant", self.port)
    }

    /// A node on `data_dir` whose database is this cluster.
    fn node(&self, data_dir: &std::path::Path) -> Server {
        let mut cmd = command(data_dir);
        cmd.env("PROVENANT_API_TOKEN", TOKEN)
            .env("PROVENANT_DATABASE_URL", self.url());
        Server::spawn(cmd)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let data = self.dir.path().join("data").display().to_string();
        let _ = std::process::Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(self.bin.join("pg_ctl"))
            .args(["-D", &data, "-m", "immediate", "stop"])
            .output();
    }
}

fn deliver(agent: &ureq::Agent, url: &str, id: &str) -> (u16, bool) {
    let resp = agent
        .post(url)
        .header("content-type", "application/json")
        .header("webhook-id", id)
        .send(format!(r#"{{"type":"drift.low","id":"{id}"}}"#).as_bytes())
        .expect("deliver");
    (
        resp.status().as_u16(),
        resp.headers().contains_key("retry-after"),
    )
}

#[test]
fn postgresql_stopped_under_load_answers_503_and_recovers_without_a_restart() {
    if !provenant::db::testing::is_postgres() {
        eprintln!("skipped: PostgreSQL only (set PROVENANT_TEST_DATABASE_URL)");
        return;
    }
    let pg = Cluster::start();
    let dir = tempfile::tempdir().expect("dir");
    let server = pg.node(dir.path());
    let agent = agent();
    let url = webhook_url(&agent, &server, "through an outage");
    let mut acked = std::collections::BTreeSet::new();
    for n in 0..20 {
        let delivery = format!("before-{n}");
        assert_eq!(deliver(&agent, &url, &delivery).0, 202);
        acked.insert(delivery);
    }

    pg.stop_immediately();
    for n in 0..5 {
        let delivery = format!("during-{n}");
        let (status, retry_after) = deliver(&agent, &url, &delivery);
        // Never a 2xx for what cannot have been stored, never a 500.
        assert_eq!(status, 503, "{delivery}");
        assert!(retry_after, "503 without Retry-After");
    }
    let (status, health) = get(
        &agent,
        &format!("{}/api/health", server.address),
        Some(TOKEN),
    );
    assert_eq!(status, 503, "{health}");
    assert!(health.contains("unavailable"), "{health}");

    pg.start_again();
    // The senders retry: accepted again without a restart of the node.
    let deadline = Instant::now() + Duration::from_secs(30);
    for n in 0..5 {
        let delivery = format!("during-{n}");
        loop {
            let (status, _) = deliver(&agent, &url, &delivery);
            if status == 202 {
                acked.insert(delivery);
                break;
            }
            assert_eq!(status, 503, "{delivery}");
            assert!(Instant::now() < deadline, "deliveries never accepted again");
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    // Everything acknowledged is stored once and processed.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, health) = get(
            &agent,
            &format!("{}/api/health", server.address),
            Some(TOKEN),
        );
        let body: serde_json::Value = serde_json::from_str(&health).expect("json");
        if status == 200 && body["queue"]["processed"] == acked.len() as u64 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not recovered: {status} {health}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let db = provenant::db::testing::Sql::open_url(&pg.url());
    let stored: Vec<String> = db
        .query_map(
            "SELECT delivery_id FROM webhook_events ORDER BY delivery_id",
            params![],
            |r| r.get(0),
        )
        .expect("stored");
    assert_eq!(stored, acked.into_iter().collect::<Vec<_>>());
    assert!(server.terminate().success());
}

/// A failover can leave a node on a standby that refuses writes (SQLSTATE 25006).
#[test]
fn a_read_only_postgresql_answers_503_and_health_names_it() {
    if !provenant::db::testing::is_postgres() {
        eprintln!("skipped: PostgreSQL only (set PROVENANT_TEST_DATABASE_URL)");
        return;
    }
    let pg = Cluster::start();
    let dir = tempfile::tempdir().expect("dir");
    let server = pg.node(dir.path());
    let agent = agent();
    let url = webhook_url(&agent, &server, "on a standby");
    assert_eq!(deliver(&agent, &url, "before").0, 202);

    let admin = provenant::db::testing::Sql::open_url(&pg.url());
    let read_only = |on: bool| {
        admin
            .execute_batch(&format!(
                "ALTER SYSTEM SET default_transaction_read_only = {on}"
            ))
            .expect("alter system");
        admin
            .execute_batch("SELECT pg_reload_conf()")
            .expect("reload");
    };
    read_only(true);
    // The server's connections take the setting when they next read their configuration:
    // until then a delivery is still stored; from then on, each one is refused.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut attempt = 0;
    let retry_after = loop {
        attempt += 1;
        let (status, retry_after) = deliver(&agent, &url, &format!("while-read-only-{attempt}"));
        if status == 503 {
            break retry_after;
        }
        assert_eq!(status, 202);
        assert!(Instant::now() < deadline, "never read-only");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(retry_after);
    let (status, health) = get(
        &agent,
        &format!("{}/api/health", server.address),
        Some(TOKEN),
    );
    assert_eq!(status, 503, "{health}");
    // In the operator's words, not only PostgreSQL's.
    assert!(
        health.contains("PostgreSQL is read-only (a standby"),
        "{health}"
    );

    read_only(false);
    let deadline = Instant::now() + Duration::from_secs(10);
    while deliver(&agent, &url, &format!("while-read-only-{attempt}")).0 != 202 {
        assert!(Instant::now() < deadline, "never writable again");
        std::thread::sleep(Duration::from_millis(200));
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, _) = get(
            &agent,
            &format!("{}/api/health", server.address),
            Some(TOKEN),
        );
        if status == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "health never recovered");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(server.terminate().success());
}

/// The shape of the schema a URL works in: every column with its type and nullability, and
/// every index, sorted.
fn postgres_shape(db: &Sql) -> Vec<String> {
    let mut shape: Vec<String> = db
        .query_map(
            "SELECT table_name || '.' || column_name || ':' || data_type || ':' || is_nullable
             FROM information_schema.columns WHERE table_schema = current_schema()",
            params![],
            |r| r.get(0),
        )
        .expect("columns");
    shape.extend(
        db.query_map(
            "SELECT 'index ' || tablename || '.' || indexname FROM pg_indexes
             WHERE schemaname = current_schema()",
            params![],
            |r| r.get::<String>(0),
        )
        .expect("indexes"),
    );
    shape.sort();
    shape
}

#[test]
fn a_postgresql_database_of_version_7_migrates_to_the_schema_of_a_new_one_and_keeps_its_rows() {
    let (old, new) = (
        tempfile::tempdir().expect("dir"),
        tempfile::tempdir().expect("dir"),
    );
    let Some(old_url) = provenant::db::testing::database_url(old.path()) else {
        eprintln!("skipped: PostgreSQL only (set PROVENANT_TEST_DATABASE_URL)");
        return;
    };
    // As version 7 left it, with an integration and an event being processed (received
    // now: an old one would be pruned as soon as it is done).
    let db = Sql::open_url(&old_url);
    db.execute_batch(include_str!("../fixtures/schema-postgres-v7.sql"))
        .expect("version 7");
    db.execute_batch(
        "INSERT INTO provenant_schema (version) VALUES (7);
         INSERT INTO integrations (id, type, name, config, created_at, updated_at)
             VALUES ('01900000-0000-7000-8000-000000000001', 'WEBHOOK', 'old', '{}', 1, 1);
         INSERT INTO webhook_events (id, integration_id, event_type, status, received_at)
             VALUES ('01900000-0000-7000-8000-000000000002', '01900000-0000-7000-8000-000000000001',
                     'x', 'PROCESSING', CAST(EXTRACT(EPOCH FROM now()) * 1000 AS BIGINT));
         INSERT INTO event_bodies (event_seq, headers, body)
             SELECT seq, '[]', '\\x7b7d' FROM webhook_events;",
    )
    .expect("version 7 rows");
    let upgraded = Server::spawn({
        let mut cmd = command(old.path());
        cmd.env("PROVENANT_API_TOKEN", TOKEN);
        cmd
    });
    let fresh = Server::spawn({
        let mut cmd = command(new.path());
        cmd.env("PROVENANT_API_TOKEN", TOKEN);
        cmd
    });
    assert_eq!(postgres_shape(&db), postgres_shape(&Sql::open(new.path())));
    // The event a version-7 node left PROCESSING (no claim token) is taken back and done.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let status: String = db
            .value("SELECT status FROM webhook_events", params![])
            .expect("status");
        if status == "PROCESSED" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "still {status}: {}",
            upgraded.stderr()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(upgraded.terminate().success());
    assert!(fresh.terminate().success());
}
