//! Choosing the database: the URL's password stays out of every line, a node with another
//! master key stops at start, and nodes that start together on one PostgreSQL database
//! migrate it once.

use std::time::Duration;

use provenant::db::sql::params;

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
