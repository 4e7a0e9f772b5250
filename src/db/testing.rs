//! Raw SQL for the test suites, which check what is really stored and set up states no API
//! makes (a crash's leftovers, an aged row, a lock held by another process). The one door
//! tests use to storage, so that they name no database crate and follow the backend.
//!
//! The suites run on SQLite, and again on PostgreSQL when `PROVENANT_TEST_DATABASE_URL` names
//! a database (`.ci/run` starts a throw-away cluster for it). Each test's data folder then
//! stands for a schema of its own in that database, made on first use, so a server restarted
//! on the same folder finds what it stored, as it would in the folder's file.

use std::path::Path;

use super::SyncMode;
use super::sql::{FromColumn, Row, ToValue, params};
use super::{Connection, DbResult, Location};

/// The variable that points the suites at PostgreSQL.
pub const DATABASE_URL_VAR: &str = "PROVENANT_TEST_DATABASE_URL";

/// Whether the suites run on PostgreSQL.
pub fn is_postgres() -> bool {
    std::env::var_os(DATABASE_URL_VAR).is_some_and(|v| !v.is_empty())
}

/// What a server on `data_dir` is given as `--database-url`: the test database with the
/// folder's own schema first in `search_path`; None on SQLite (the folder's file).
pub fn database_url(data_dir: &Path) -> Option<String> {
    let base = std::env::var(DATABASE_URL_VAR)
        .ok()
        .filter(|v| !v.is_empty())?;
    Some(schema_url(&base, data_dir))
}

/// The PostgreSQL database at `base` with a schema of `data_dir`'s own (made if missing)
/// first in `search_path`: a fresh, empty database for a test's or a benchmark's server.
pub fn schema_url(base: &str, data_dir: &Path) -> String {
    let schema = schema_of(data_dir);
    let admin = Location::postgres(base).expect("a PostgreSQL URL");
    Connection::open(&admin, SyncMode::Full)
        .expect("connect to the PostgreSQL database")
        .conn()
        .execute_batch(&format!("CREATE SCHEMA IF NOT EXISTS {schema}"))
        .expect("create the schema");
    let join = if base.contains('?') { '&' } else { '?' };
    format!("{base}{join}options=-c%20search_path%3D{schema}")
}

/// Where the server on `data_dir` keeps its data.
pub fn location(data_dir: &Path) -> Location {
    match database_url(data_dir) {
        Some(url) => Location::postgres(&url).expect("the test database URL"),
        None => Location::in_data_dir(data_dir),
    }
}

/// A schema name that only this folder maps to (folders are fresh temporary ones).
fn schema_of(data_dir: &Path) -> String {
    use sha2::Digest;
    let path = std::path::absolute(data_dir).unwrap_or_else(|_| data_dir.to_path_buf());
    let digest = sha2::Sha256::digest(path.as_os_str().as_encoded_bytes());
    format!("t_{}", hex::encode(&digest[..10]))
}

/// A connection of its own to a server's database (the server may be running).
pub struct Sql(Connection);

impl Sql {
    /// The database of the server on the data folder `data_dir`.
    pub fn open(data_dir: &Path) -> Sql {
        Sql(Connection::open(&location(data_dir), SyncMode::Full).expect("open the database"))
    }

    /// A PostgreSQL database by its URL (a test's own cluster, say).
    pub fn open_url(url: &str) -> Sql {
        let location = Location::postgres(url).expect("a PostgreSQL URL");
        Sql(Connection::open(&location, SyncMode::Full).expect("open the database"))
    }

    /// A SQLite database file by its path (a backup, say).
    pub fn open_file(path: &Path) -> Sql {
        Sql(
            Connection::open(&Location::File(path.to_path_buf()), SyncMode::Full)
                .expect("open the database"),
        )
    }

    /// Marks the database as written by another schema version (a newer binary, say).
    pub fn set_schema_version(&self, version: i64) -> DbResult<()> {
        let conn = self.0.conn();
        if conn.is_postgres() {
            // Before any server ran here, as well as after.
            conn.execute_batch(
                "CREATE TABLE IF NOT EXISTS provenant_schema (version BIGINT NOT NULL);
                 DELETE FROM provenant_schema",
            )?;
            conn.execute(
                "INSERT INTO provenant_schema (version) VALUES (?1)",
                params![version],
            )?;
            return Ok(());
        }
        conn.execute_batch(&format!("PRAGMA user_version = {version}"))
    }

    /// `ok`, or what is damaged: SQLite checks its file; PostgreSQL, which keeps its own
    /// files whole, that every index of the schema is valid.
    pub fn integrity_check(&self) -> DbResult<String> {
        let conn = self.0.conn();
        if !conn.is_postgres() {
            return conn.query_value("PRAGMA integrity_check", params![]);
        }
        let invalid: Vec<String> = conn.query_map(
            "SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
             JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = current_schema() AND NOT (i.indisvalid AND i.indisready)",
            params![],
            |r| r.get(0),
        )?;
        Ok(if invalid.is_empty() {
            "ok".to_string()
        } else {
            format!("invalid indexes: {}", invalid.join(", "))
        })
    }

    /// Moves every table and index of the schema, with its TOAST, into a new tablespace in
    /// `folder` (PostgreSQL's server user must own it): a small disk under a test's database,
    /// as the data folder's file sits on one on SQLite.
    pub fn move_to_tablespace(&self, folder: &Path) -> DbResult<()> {
        let conn = self.0.conn();
        let schema: String = conn.query_value("SELECT current_schema()", params![])?;
        let space = format!("ts_{schema}");
        let location = folder.display().to_string().replace('\'', "''");
        // One statement per call: CREATE TABLESPACE refuses to run inside a transaction.
        conn.execute_batch(&format!("CREATE TABLESPACE {space} LOCATION '{location}'"))?;
        let relations: Vec<(String, String)> = conn.query_map(
            "SELECT CASE c.relkind WHEN 'i' THEN 'INDEX' ELSE 'TABLE' END, c.relname
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'i')",
            params![],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        for (kind, name) in relations {
            conn.execute_batch(&format!("ALTER {kind} {name} SET TABLESPACE {space}"))?;
        }
        Ok(())
    }

    /// Drops the schema with everything in it, and the tablespace that
    /// [`Sql::move_to_tablespace`] made, so the small disk under it can go: PostgreSQL stops
    /// (PANIC) when a tablespace it still has buffers for disappears. The server must be gone.
    pub fn drop_tablespace(&self) -> DbResult<()> {
        let conn = self.0.conn();
        let schema: String = conn.query_value("SELECT current_schema()", params![])?;
        conn.execute_batch(&format!("DROP SCHEMA {schema} CASCADE"))?;
        conn.execute_batch(&format!("DROP TABLESPACE IF EXISTS ts_{schema}"))
    }

    /// Takes and holds what a delivery or the health check must write, as another process
    /// would, until [`Sql::release`].
    pub fn hold_writes(&self) -> DbResult<()> {
        let conn = self.0.conn();
        conn.execute_batch(if conn.is_postgres() {
            "BEGIN; LOCK TABLE webhook_events, health_probe IN EXCLUSIVE MODE"
        } else {
            "BEGIN IMMEDIATE; INSERT INTO secrets (name, value_enc, created_at, updated_at)
             VALUES ('HOLD', x'00', 0, 0)"
        })
    }

    /// Ends what [`Sql::hold_writes`] holds; nothing it wrote is kept.
    pub fn release(&self) -> DbResult<()> {
        self.0.conn().execute_batch("ROLLBACK")
    }

    pub fn execute(&self, sql: &str, params: &[&dyn ToValue]) -> DbResult<usize> {
        self.0.conn().execute(sql, params)
    }

    pub fn execute_batch(&self, sql: &str) -> DbResult<()> {
        self.0.conn().execute_batch(sql)
    }

    pub fn query_row<T>(
        &self,
        sql: &str,
        params: &[&dyn ToValue],
        read: impl FnOnce(&Row<'_>) -> DbResult<T>,
    ) -> DbResult<T> {
        self.0.conn().query_row(sql, params, read)
    }

    pub fn query_map<T>(
        &self,
        sql: &str,
        params: &[&dyn ToValue],
        read: impl FnMut(&Row<'_>) -> DbResult<T>,
    ) -> DbResult<Vec<T>> {
        self.0.conn().query_map(sql, params, read)
    }

    /// The one value of a one-row, one-column query.
    pub fn value<T: FromColumn>(&self, sql: &str, params: &[&dyn ToValue]) -> DbResult<T> {
        self.0.conn().query_value(sql, params)
    }
}
