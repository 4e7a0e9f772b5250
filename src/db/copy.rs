//! `provenant migrate-to-postgres`: copies a SQLite installation into an empty PostgreSQL
//! database, row for row and column for column, in one PostgreSQL transaction (a copy that
//! fails leaves the database as empty as it was), then checks every table's count.
//!
//! Both databases are first brought to this binary's schema, so their tables and columns are
//! the same. Values are copied as stored: secrets stay encrypted with the same master key,
//! bodies stay compressed, ids, `seq`s and times are kept (the identity sequences then start
//! after the largest `seq`), so every URL and cursor a user kept still works.

use anyhow::{Context, bail};

use super::SyncMode;
use super::sql::{AnyValue, Conn, ToValue, params};
use super::{Connection, Location};

/// Every table with what the installation holds, parents before the tables that refer to
/// them (the order schema.sql creates them in).
const COPIED: &[&str] = &[
    "integrations",
    "webhook_events",
    "event_bodies",
    "secrets",
    "trusted_api_hosts",
    "eval_runs",
    "run_tokens",
    "deployments",
    "outbox",
    "destinations",
    "rejections",
    "replays",
    "reconcile_checks",
    "redelivery_requests",
    "key_check",
    "slack_posts",
    "slack_threads",
    "pr_comments",
    "github_installations",
    "github_installation_repos",
    "api_tokens",
    "audit_log",
    "integration_stats",
    "destination_stats",
    "alerts",
];

/// Tables of one running installation, made afresh by the nodes that use the database: the
/// health check's row, the nodes and their duties, the configuration counter, Slack's turns,
/// GitHub App manifest flows under way (good for an hour: one is started again), and SSO
/// sign-ins and sessions (people sign in again on the new database), and the last hour's
/// minute counts (alerts start afresh from the next deliveries).
const NOT_COPIED: &[&str] = &[
    "health_probe",
    "nodes",
    "duties",
    "cluster_state",
    "slack_turns",
    "github_app_manifests",
    "sso_sign_ins",
    "sessions",
    "integration_minutes",
];

/// Rows read and written at a time; bodies (up to 25 MiB each) fewer at a time.
const BATCH_ROWS: i64 = 500;
const BATCH_BODIES: i64 = 16;

/// What a table held on both sides once copied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Copied {
    pub table: &'static str,
    pub rows: i64,
}

/// Copies the SQLite database at `from` into the empty PostgreSQL database `to`; returns
/// each table's count, checked on both sides. `progress` hears of each table as it is done.
pub fn sqlite_to_postgres(
    from: &Location,
    to: &Location,
    mut progress: impl FnMut(&Copied),
) -> anyhow::Result<Vec<Copied>> {
    let (Location::File(path), Location::Postgres(_)) = (from, to) else {
        bail!("the copy goes from a SQLite file to PostgreSQL");
    };
    if !path.exists() {
        bail!("there is no database at {}", path.display());
    }
    // Both at this binary's schema version (an older file is migrated first, as a start would).
    drop(super::open(from)?);
    drop(super::open(to)?);
    let source = Connection::open(from, SyncMode::Full)?;
    let target = Connection::open(to, SyncMode::Full)?;
    let (source, target) = (source.conn(), target.conn());
    check_tables(source)?;
    refuse_unless_empty(target, &to.describe())?;
    let copied = super::in_transaction(target, |target| -> anyhow::Result<Vec<Copied>> {
        let mut copied = Vec::new();
        for &table in COPIED {
            let columns = columns(source, table)?;
            check_columns(target, table, &columns)?;
            copy_table(source, target, table, &columns)?;
            restart_identity(target, table)?;
            let (here, there) = (count(source, table)?, count(target, table)?);
            if here != there {
                bail!("{table}: {here} rows in SQLite but {there} copied; nothing was kept");
            }
            let done = Copied { table, rows: here };
            progress(&done);
            copied.push(done);
        }
        Ok(copied)
    })?;
    Ok(copied)
}

/// Every table of the file is either copied or known not to need it: a table added later
/// and forgotten here stops the copy instead of being left behind.
fn check_tables(source: Conn<'_>) -> anyhow::Result<()> {
    let tables: Vec<String> = source.query_map(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
        params![],
        |r| r.get(0),
    )?;
    if let Some(unknown) = tables
        .iter()
        .find(|t| !COPIED.contains(&t.as_str()) && !NOT_COPIED.contains(&t.as_str()))
    {
        bail!("the table {unknown} is not known to the copy; nothing was copied");
    }
    Ok(())
}

fn refuse_unless_empty(target: Conn<'_>, describe: &str) -> anyhow::Result<()> {
    let holding: Vec<String> = COPIED
        .iter()
        .map(|t| Ok((*t, count(target, t)?)))
        .collect::<anyhow::Result<Vec<_>>>()?
        .into_iter()
        .filter(|(_, n)| *n > 0)
        .map(|(t, n)| format!("{n} rows in {t}"))
        .collect();
    if !holding.is_empty() {
        bail!(
            "the database at {describe} is not empty ({}): migrate-to-postgres copies into an empty \
             database or schema only, so that nothing there is mixed with or overwritten by the copy",
            holding.join(", ")
        );
    }
    Ok(())
}

fn count(conn: Conn<'_>, table: &str) -> anyhow::Result<i64> {
    Ok(conn.query_value(
        &format!("SELECT CAST(COUNT(*) AS BIGINT) FROM {table}"),
        params![],
    )?)
}

/// The table's columns in SQLite, in their order.
fn columns(source: Conn<'_>, table: &str) -> anyhow::Result<Vec<String>> {
    Ok(source.query_map(
        &format!("SELECT name FROM pragma_table_info('{table}') ORDER BY cid"),
        params![],
        |r| r.get(0),
    )?)
}

/// PostgreSQL's table has the same columns (both are at one schema version).
fn check_columns(target: Conn<'_>, table: &str, columns: &[String]) -> anyhow::Result<()> {
    let mut theirs: Vec<String> = target.query_map(
        "SELECT column_name FROM information_schema.columns
         WHERE table_schema = current_schema() AND table_name = ?1",
        params![table],
        |r| r.get(0),
    )?;
    let mut ours = columns.to_vec();
    theirs.sort();
    ours.sort();
    if theirs != ours {
        bail!("{table}: the columns differ between SQLite ({ours:?}) and PostgreSQL ({theirs:?})");
    }
    Ok(())
}

fn copy_table(
    source: Conn<'_>,
    target: Conn<'_>,
    table: &str,
    columns: &[String],
) -> anyhow::Result<()> {
    let list = columns.join(", ");
    let read =
        format!("SELECT rowid, {list} FROM {table} WHERE rowid > ?1 ORDER BY rowid LIMIT ?2");
    let placeholders: Vec<String> = (1..=columns.len()).map(|n| format!("?{n}")).collect();
    let write = format!(
        "INSERT INTO {table} ({list}) VALUES ({})",
        placeholders.join(", ")
    );
    let batch = if table == "event_bodies" {
        BATCH_BODIES
    } else {
        BATCH_ROWS
    };
    let mut after = i64::MIN;
    loop {
        let rows: Vec<(i64, Vec<AnyValue>)> =
            source.query_map(&read, params![after, batch], |r| {
                let rowid: i64 = r.get(0)?;
                let values = (1..=columns.len())
                    .map(|i| r.get::<AnyValue>(i))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok((rowid, values))
            })?;
        let Some((last, _)) = rows.last() else {
            return Ok(());
        };
        after = *last;
        let sets: Vec<Vec<&dyn ToValue>> = rows
            .iter()
            .map(|(_, values)| values.iter().map(|v| v as &dyn ToValue).collect())
            .collect();
        let sets: Vec<&[&dyn ToValue]> = sets.iter().map(Vec::as_slice).collect();
        for written in target.execute_each(&write, &sets)? {
            written.with_context(|| format!("copying a row of {table}"))?;
        }
    }
}

/// An identity column (`seq`) goes on after the largest value copied, so new rows sort after
/// the old ones.
fn restart_identity(target: Conn<'_>, table: &str) -> anyhow::Result<()> {
    let identities: Vec<String> = target.query_map(
        "SELECT column_name FROM information_schema.columns
         WHERE table_schema = current_schema() AND table_name = ?1 AND is_identity = 'YES'",
        params![table],
        |r| r.get(0),
    )?;
    for column in identities {
        target.query_value::<i64>(
            &format!(
                "SELECT setval(pg_get_serial_sequence('{table}', '{column}'),
                               (SELECT COALESCE(MAX({column}), 0) + 1 FROM {table}), false)"
            ),
            params![],
        )?;
    }
    Ok(())
}
