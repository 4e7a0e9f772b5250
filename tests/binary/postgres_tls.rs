//! TLS to PostgreSQL through the real binary (PostgreSQL only; skipped on SQLite). `.ci/run`
//! starts its cluster with TLS on, a certificate for `localhost` only, signed by a test
//! authority whose certificate it names in `PROVENANT_TEST_DATABASE_CA`. What a node's
//! connections are is read from PostgreSQL itself (`pg_stat_ssl`), by application name.

use std::path::Path;

use provenant::db::sql::params;
use provenant::db::testing::Sql;

use crate::fixture::*;

const CA_VAR: &str = "PROVENANT_TEST_DATABASE_CA";

/// The test database's base URL and the authority's certificate; None (skipped) without them.
fn cluster() -> Option<(String, String)> {
    let base = std::env::var(provenant::db::testing::DATABASE_URL_VAR)
        .ok()
        .filter(|v| !v.is_empty());
    let Some(base) = base else {
        eprintln!("skipped: PostgreSQL only (set PROVENANT_TEST_DATABASE_URL)");
        return None;
    };
    match std::env::var(CA_VAR).ok().filter(|v| !v.is_empty()) {
        Some(ca) => Some((base, ca)),
        None => {
            assert!(
                std::env::var_os("PROVENANT_REQUIRE_POSTGRES").is_none(),
                "PROVENANT_REQUIRE_POSTGRES is set, but {CA_VAR} is not: the TLS tests need \
                 the cluster's authority (.ci/run makes one)"
            );
            eprintln!("skipped: set {CA_VAR} to the test cluster's authority certificate");
            None
        }
    }
}

/// The URL a node on `dir` is given: the folder's schema, the host as `host`, under an
/// application name of its own, with `tls` (`sslmode=…&…`), and a password that the trust
/// authentication ignores, so that the test can look for it in what the node prints.
fn node_url(base: &str, dir: &Path, host: &str, app: &str, tls: &str) -> String {
    let url = provenant::db::testing::schema_url(base, dir).replacen(
        "postgres://postgres@127.0.0.1:",
        &format!("postgres://postgres:{PASSWORD}@{host}:"),
        1,
    );
    assert!(
        url.contains(PASSWORD),
        "the test expects the CI cluster's URL shape: {url}"
    );
    format!("{url}&application_name={app}&{tls}")
}

const PASSWORD: &str = "never-printed-hunter2";

/// How many of the connections under `app` are encrypted, and how many are not.
fn connections(base: &str, app: &str) -> (i64, i64) {
    Sql::open_url(base)
        .query_row(
            "SELECT count(*) FILTER (WHERE s.ssl), count(*) FILTER (WHERE NOT s.ssl)
             FROM pg_stat_activity a JOIN pg_stat_ssl s ON s.pid = a.pid
             WHERE a.application_name = ?1",
            params![app],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .expect("pg_stat_ssl")
}

fn start(dir: &Path, url: &str) -> Server {
    let mut cmd = command(dir);
    cmd.env("PROVENANT_API_TOKEN", TOKEN)
        .env("PROVENANT_DATABASE_URL", url);
    Server::spawn(cmd)
}

/// A start that must fail: its exit code and what it printed.
fn refused(dir: &Path, url: &str) -> (Option<i32>, String) {
    let mut cmd = command(dir);
    cmd.env("PROVENANT_API_TOKEN", TOKEN)
        .env("PROVENANT_DATABASE_URL", url);
    let out = cmd.output().expect("run provenant");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The node works over the connection: an integration made and a delivery stored.
fn works(server: &Server) {
    let agent = agent();
    let url = webhook_url(&agent, server, "tls");
    let resp = agent
        .post(&url)
        .header("content-type", "application/json")
        .send(r#"{"over":"tls"}"#)
        .expect("deliver");
    assert_eq!(resp.status().as_u16(), 202);
}

#[test]
fn verify_full_checks_the_authority_and_the_name_and_every_connection_is_encrypted() {
    let Some((base, ca)) = cluster() else { return };
    let dir = tempfile::tempdir().expect("dir");
    let tls = format!("sslmode=verify-full&sslrootcert={ca}");
    let app = "provenant-tls-full";
    let server = start(
        dir.path(),
        &node_url(&base, dir.path(), "localhost", app, &tls),
    );
    works(&server);
    let (encrypted, plain) = connections(&base, app);
    assert!(
        encrypted >= 3,
        "the pool, the writer, the worker: {encrypted} encrypted"
    );
    assert_eq!(plain, 0, "no connection of the node is unencrypted");
    assert!(
        server.stderr().contains("sslmode=verify-full"),
        "{}",
        server.stderr()
    );
    assert!(!server.stderr().contains(PASSWORD), "{}", server.stderr());
    drop(server);

    // The certificate names `localhost`: by address, verify-full refuses it, naming why.
    let other = tempfile::tempdir().expect("dir");
    let (code, stderr) = refused(
        other.path(),
        &node_url(&base, other.path(), "127.0.0.1", "provenant-tls-name", &tls),
    );
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("not valid for name"), "{stderr}");
    assert!(!stderr.contains(PASSWORD), "{stderr}");

    // Without sslrootcert the built-in public roots apply, and the test authority is not one.
    let (code, stderr) = refused(
        other.path(),
        &node_url(
            &base,
            other.path(),
            "localhost",
            "provenant-tls-roots",
            "sslmode=verify-full",
        ),
    );
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("UnknownIssuer"), "{stderr}");
    assert!(!stderr.contains(PASSWORD), "{stderr}");
}

#[test]
fn verify_ca_checks_the_authority_but_not_the_name() {
    let Some((base, ca)) = cluster() else { return };
    let dir = tempfile::tempdir().expect("dir");
    let app = "provenant-tls-ca";
    let server = start(
        dir.path(),
        &node_url(
            &base,
            dir.path(),
            "127.0.0.1",
            app,
            &format!("sslmode=verify-ca&sslrootcert={ca}"),
        ),
    );
    works(&server);
    let (encrypted, plain) = connections(&base, app);
    assert!(
        encrypted >= 1 && plain == 0,
        "{encrypted} encrypted, {plain} not"
    );
}

#[test]
fn require_and_the_default_encrypt_and_disable_does_not() {
    let Some((base, _)) = cluster() else { return };
    for (tls, app, encrypted) in [
        ("sslmode=require", "provenant-tls-require", true),
        // libpq's default, prefer: encrypted when the server offers it, as this one does.
        ("connect_timeout=5", "provenant-tls-prefer", true),
        ("sslmode=disable", "provenant-tls-disable", false),
    ] {
        let dir = tempfile::tempdir().expect("dir");
        let server = start(
            dir.path(),
            &node_url(&base, dir.path(), "127.0.0.1", app, tls),
        );
        works(&server);
        let (on, off) = connections(&base, app);
        if encrypted {
            assert!(on >= 1 && off == 0, "{tls}: {on} encrypted, {off} not");
        } else {
            assert!(on == 0 && off >= 1, "{tls}: {on} encrypted, {off} not");
        }
    }
}

#[test]
fn unsupported_tls_options_stop_the_start_by_name() {
    let Some((base, _)) = cluster() else { return };
    let dir = tempfile::tempdir().expect("dir");
    for (tls, named) in [
        ("sslmode=verify", "`verify`"),
        ("sslcert=/etc/client.pem", "sslcert"),
        (
            "sslmode=verify-full&sslrootcert=/nonexistent/ca.pem",
            "/nonexistent/ca.pem",
        ),
    ] {
        let (code, stderr) = refused(
            dir.path(),
            &node_url(&base, dir.path(), "127.0.0.1", "provenant-tls-bad", tls),
        );
        assert_eq!(code, Some(2), "{tls}: {stderr}");
        assert!(stderr.contains(named), "{tls}: {stderr}");
        assert!(!stderr.contains(PASSWORD), "{tls}: {stderr}");
    }
}
