//! Brings a database file to the schema this binary expects.
//!
//! `schema.sql` is the whole current schema, applied to a new (version 0) database. Later
//! changes will be appended to `STEPS` as numbered, forward-only steps; a database whose
//! `user_version` is newer than this binary knows is refused rather than guessed at.

use anyhow::{Context, bail};
use rusqlite::Connection;

const SCHEMA: &str = include_str!("../../schema.sql");

/// Steps after the initial schema: `STEPS[0]` takes version 1 to 2, and so on.
const STEPS: &[&str] = &[];

pub const CURRENT_VERSION: i64 = 1 + STEPS.len() as i64;

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
    }
    for (i, step) in STEPS.iter().enumerate() {
        let target = i as i64 + 2;
        if version < target {
            tx.execute_batch(step)
                .with_context(|| format!("migrating to schema version {target}"))?;
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

    #[test]
    fn a_newer_database_is_refused() {
        let mut conn = Connection::open_in_memory().expect("open");
        conn.pragma_update(None, "user_version", CURRENT_VERSION + 1)
            .expect("set version");
        let err = migrate(&mut conn).expect_err("refused");
        assert!(err.to_string().contains("newer provenant"), "{err}");
    }
}
