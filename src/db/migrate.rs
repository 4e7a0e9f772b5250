//! Brings a database file to the schema this binary expects.
//!
//! `schema.sql` is the whole current schema, applied to a new (version 0) database. A database
//! of an older version takes the numbered, forward-only steps in `STEPS`, in order; a test
//! checks that a version-1 database ends with the same schema as a new one. A database whose
//! `user_version` is newer than this binary knows is refused rather than guessed at.
//!
//! PostgreSQL has its own whole schema (`schema.postgres.sql`, at the version this binary
//! knows) and its own steps after it, numbered like SQLite's: every later change is written
//! for both. Its version is a row in `provenant_schema`; nodes that start together take a
//! transaction-scoped advisory lock first (no session lock, so PgBouncer in transaction mode
//! works), and the one that comes second finds the work done.

use anyhow::{Context, bail};
use rusqlite::Connection;

const SCHEMA: &str = include_str!("../../schema.sql");

/// Steps after the first released schema: `STEPS[0]` takes version 1 to 2, and so on.
const STEPS: &[&str] = &[
    include_str!("migrations/0002-outbox.sql"),
    include_str!("migrations/0003-event-bodies.sql"),
    include_str!("migrations/0004-rejections-and-rotation.sql"),
    include_str!("migrations/0005-security.sql"),
    include_str!("migrations/0006-health-room.sql"),
    include_str!("migrations/0007-key-check.sql"),
    include_str!("migrations/0008-nodes.sql"),
    include_str!("migrations/0009-github-app.sql"),
    include_str!("migrations/0010-github-app-manifests.sql"),
    include_str!("migrations/0011-team-access.sql"),
    include_str!("migrations/0012-sso.sql"),
    include_str!("migrations/0013-stats.sql"),
    include_str!("migrations/0014-alerts.sql"),
    include_str!("migrations/0015-urls-and-sessions.sql"),
    include_str!("migrations/0016-dispatch.sql"),
    include_str!("migrations/0017-run-timeouts.sql"),
    include_str!("migrations/0018-eval-results.sql"),
];

pub const CURRENT_VERSION: i64 = 1 + STEPS.len() as i64;

/// The version whose upgrade put the egress fence up: what existing integrations reached
/// before is trusted from then on (see [`adopt_configured_hosts`]).
const EGRESS_FENCE_VERSION: i64 = 18;

/// The upgrade to [`EGRESS_FENCE_VERSION`] trusts the hosts existing integrations use, and
/// says which.
fn adopt_configured_hosts(conn: super::Conn<'_>) -> anyhow::Result<()> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let adopted = super::hosts::adopt_configured(conn, now)?;
    if !adopted.is_empty() {
        tracing::info!(
            hosts = %adopted.join(","),
            "outbound requests now refuse addresses inside a network unless their origin is trusted; \
             the hosts existing integrations use are trusted (list more with --egress-allow)"
        );
    }
    Ok(())
}

const POSTGRES_SCHEMA: &str = include_str!("../../schema.postgres.sql");

/// The schema version `schema.postgres.sql` was first written at.
const POSTGRES_BASE: i64 = 7;

/// PostgreSQL's steps after its base: `POSTGRES_STEPS[0]` takes version 7 to 8, and so on.
const POSTGRES_STEPS: &[&str] = &[
    include_str!("migrations/0008-nodes.postgres.sql"),
    include_str!("migrations/0009-github-app.postgres.sql"),
    include_str!("migrations/0010-github-app-manifests.postgres.sql"),
    include_str!("migrations/0011-team-access.postgres.sql"),
    include_str!("migrations/0012-sso.postgres.sql"),
    include_str!("migrations/0013-stats.postgres.sql"),
    include_str!("migrations/0014-alerts.postgres.sql"),
    include_str!("migrations/0015-urls-and-sessions.postgres.sql"),
    include_str!("migrations/0016-dispatch.postgres.sql"),
    include_str!("migrations/0017-run-timeouts.postgres.sql"),
    include_str!("migrations/0018-eval-results.postgres.sql"),
];

const _: () = assert!(POSTGRES_BASE + POSTGRES_STEPS.len() as i64 == CURRENT_VERSION);

/// Brings the PostgreSQL database (the schema `search_path` names first) to this binary's
/// schema in one transaction.
pub(in crate::db) fn migrate_postgres(conn: super::Conn<'_>) -> anyhow::Result<()> {
    use super::sql::params;
    super::in_transaction(conn, |conn| -> anyhow::Result<()> {
        // A node that starts while another migrates waits for it, however long a step takes,
        // instead of giving up after the usual lock timeout.
        conn.execute_batch("SET LOCAL lock_timeout = 0")?;
        conn.execute(
            "SELECT pg_advisory_xact_lock(hashtext('provenant schema ' || current_schema()))",
            params![],
        )?;
        let known: bool = conn.query_value(
            "SELECT to_regclass('provenant_schema') IS NOT NULL",
            params![],
        )?;
        let version: i64 = if known {
            conn.query_value(
                "SELECT COALESCE(MAX(version), 0) FROM provenant_schema",
                params![],
            )?
        } else {
            let tables: i64 = conn.query_value(
                "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = current_schema()",
                params![],
            )?;
            if tables > 0 {
                bail!(
                    "the database's schema {} already holds {tables} tables that provenant did not make; \
                     give provenant an empty database or schema of its own",
                    conn.query_value::<String>("SELECT current_schema()", params![])?
                );
            }
            0
        };
        if version > CURRENT_VERSION {
            bail!(
                "the database was written by a newer provenant (schema version {version}, this binary knows {CURRENT_VERSION}); \
                 run the newer binary on every node"
            );
        }
        if version == 0 {
            conn.execute_batch(POSTGRES_SCHEMA)
                .context("applying schema.postgres.sql")?;
            conn.execute(
                "INSERT INTO provenant_schema (version) VALUES (?1)",
                params![CURRENT_VERSION],
            )?;
            return Ok(());
        }
        for (i, step) in POSTGRES_STEPS.iter().enumerate() {
            let target = POSTGRES_BASE + 1 + i as i64;
            if version < target {
                conn.execute_batch(step)
                    .with_context(|| format!("migrating to schema version {target}"))?;
            }
        }
        if version < EGRESS_FENCE_VERSION {
            adopt_configured_hosts(conn)?;
        }
        conn.execute(
            "UPDATE provenant_schema SET version = ?1",
            params![CURRENT_VERSION],
        )?;
        Ok(())
    })
}

/// The schema version the database is at (0: nothing there yet), read without changing it.
pub(in crate::db) fn version(conn: super::Conn<'_>) -> anyhow::Result<i64> {
    use super::sql::params;
    if !conn.is_postgres() {
        return Ok(conn.query_value("PRAGMA user_version", params![])?);
    }
    let known: bool = conn.query_value(
        "SELECT to_regclass('provenant_schema') IS NOT NULL",
        params![],
    )?;
    if !known {
        return Ok(0);
    }
    Ok(conn.query_value(
        "SELECT COALESCE(MAX(version), 0) FROM provenant_schema",
        params![],
    )?)
}

pub fn migrate(conn: &mut Connection) -> anyhow::Result<()> {
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if version > CURRENT_VERSION {
        bail!(
            "the database was written by a newer provenant (schema version {version}, this binary knows {CURRENT_VERSION}); \
             run the newer binary or restore a backup"
        );
    }
    let tx = conn.transaction()?;
    if version == 0 {
        tx.execute_batch(SCHEMA).context("applying schema.sql")?;
    } else {
        for (i, step) in STEPS.iter().enumerate() {
            let target = i as i64 + 2;
            if version < target {
                tx.execute_batch(step)
                    .with_context(|| format!("migrating to schema version {target}"))?;
            }
        }
        if version < EGRESS_FENCE_VERSION {
            adopt_configured_hosts(super::Conn::sqlite(&tx))?;
        }
    }
    tx.pragma_update(None, "user_version", CURRENT_VERSION)?;
    tx.commit()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_database_gets_the_current_schema() {
        let mut conn = Connection::open_in_memory().expect("open");
        migrate(&mut conn).expect("migrate");
        let v: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .expect("version");
        assert_eq!(v, CURRENT_VERSION);
        // Running again is a no-op.
        migrate(&mut conn).expect("migrate twice");
    }

    /// Tables, columns and indexes, as SQLite describes them (whitespace aside).
    fn shape(conn: &Connection) -> Vec<String> {
        let mut out = vec![];
        let mut tables = conn
            .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
            .expect("tables");
        let names: Vec<String> = tables
            .query_map([], |r| r.get(0))
            .expect("query")
            .collect::<Result<_, _>>()
            .expect("names");
        for table in names {
            let mut cols = conn
                .prepare(&format!("PRAGMA table_info({table})"))
                .expect("info");
            let mut columns: Vec<String> = cols
                .query_map([], |r| {
                    Ok(format!(
                        "{table}.{}:{}:{}",
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, i64>(3)?
                    ))
                })
                .expect("columns")
                .collect::<Result<_, _>>()
                .expect("columns");
            columns.sort();
            out.extend(columns);
        }
        let mut indexes = conn
            .prepare("SELECT name, tbl_name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL ORDER BY name")
            .expect("indexes");
        out.extend(
            indexes
                .query_map([], |r| {
                    Ok(format!(
                        "index {}.{}",
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(0)?
                    ))
                })
                .expect("indexes")
                .collect::<Result<Vec<_>, _>>()
                .expect("indexes"),
        );
        out
    }

    #[test]
    fn a_version_1_database_migrates_to_the_schema_of_a_new_one_and_keeps_its_messages() {
        let mut old = Connection::open_in_memory().expect("open");
        old.execute_batch(include_str!("../../tests/fixtures/schema-v1.sql"))
            .expect("v1 schema");
        old.execute_batch(
            "PRAGMA user_version = 1;
             INSERT INTO integrations (id, type, name, config, created_at, updated_at)
                 VALUES ('i', 'SLACK', 'Team', '{\"webhook_url\":\"https://h/x\"}', 1, 1);
             INSERT INTO notifications (id, integration_id, event_type, dedupe_key, facts, status, created_at)
                 VALUES ('n', 'i', 'drift.critical', 'event:e', '{}', 'SENDING', 2);
             INSERT INTO integrations (id, type, name, config, created_at, updated_at)
                 VALUES ('g', 'GITHUB', 'Old', '{\"repo\":\"a/b\",\"branch\":\"release candidate\",\"token\":null}', 1, 1),
                        ('w', 'WEBHOOK', 'Old', '{\"events\":[\"drift critical\"],\"secret\":null}', 1, 1);
             INSERT INTO webhook_events (id, integration_id, event_type, status, headers, payload, received_at)
                 VALUES ('e1', 'w', 'x', 'PROCESSED', '[]', x'00', 5), ('e2', 'w', 'x', 'PROCESSED', '[]', x'00', 9);",
        )
        .expect("v1 rows");
        migrate(&mut old).expect("migrate");
        let mut new = Connection::open_in_memory().expect("open");
        migrate(&mut new).expect("migrate");
        assert_eq!(shape(&old), shape(&new));
        // The bodies moved to their own table, with the events they belong to.
        let kept: i64 = old
            .query_row(
                "SELECT COUNT(*) FROM webhook_events e JOIN event_bodies b ON b.event_seq = e.seq
                 WHERE b.body = x'00' AND b.headers = '[]'",
                [],
                |r| r.get(0),
            )
            .expect("events");
        assert_eq!(kept, 2);
        let (kind, status): (String, String) = old
            .query_row("SELECT kind, status FROM outbox WHERE id = 'n'", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .expect("moved");
        assert_eq!(
            (kind.as_str(), status.as_str()),
            ("SLACK_MESSAGE", "PENDING")
        );
    }

    #[test]
    fn a_newer_database_is_refused() {
        let mut conn = Connection::open_in_memory().expect("open");
        conn.pragma_update(None, "user_version", CURRENT_VERSION + 1)
            .expect("set version");
        let err = migrate(&mut conn).expect_err("refused");
        assert!(err.to_string().contains("newer provenant"), "{err}");
    }

    #[test]
    fn the_upgrade_to_the_fence_trusts_the_hosts_existing_integrations_use() {
        let mut old = Connection::open_in_memory().expect("open");
        old.execute_batch(include_str!("../../tests/fixtures/schema-v1.sql"))
            .expect("v1 schema");
        for step in &STEPS[..(EGRESS_FENCE_VERSION - 2) as usize] {
            old.execute_batch(step).expect("step");
        }
        old.execute_batch(&format!(
            "PRAGMA user_version = {};
             INSERT INTO integrations (id, type, name, config, created_at, updated_at) VALUES
               ('g', 'GITHUB', 'GHE', '{{\"repo\":\"a/b\",\"api_url\":\"https://ghe.corp.internal:8443/api/v3\",\"eval\":{{\"dispatch\":{{\"url\":\"https://10.1.2.3/run\"}}}}}}', 1, 1),
               ('p', 'GITHUB', 'Public', '{{\"repo\":\"a/c\",\"api_url\":\"https://api.github.com\"}}', 1, 1);",
            EGRESS_FENCE_VERSION - 1
        ))
        .expect("a version 17 database");
        migrate(&mut old).expect("migrate");
        let trusted: Vec<String> = old
            .prepare("SELECT host FROM trusted_api_hosts ORDER BY host")
            .expect("query")
            .query_map([], |r| r.get(0))
            .expect("rows")
            .collect::<Result<_, _>>()
            .expect("hosts");
        assert_eq!(trusted, ["10.1.2.3", "ghe.corp.internal:8443"]);
    }
}
