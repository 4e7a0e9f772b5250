//! Raw SQL for the test suites, which check what is really stored and set up states no API
//! makes (a crash's leftovers, an aged row, a lock held by another process). The one door
//! tests use to storage, so that they name no database crate and follow the backend.

use std::path::Path;

use super::sql::{FromColumn, Row, ToValue};
use super::{Connection, DbResult};
use crate::config::SyncMode;

/// A connection of its own to a server's database (the server may be running).
pub struct Sql(Connection);

impl Sql {
    /// The database of the data folder `data_dir`.
    pub fn open(data_dir: &Path) -> Sql {
        Sql(Connection::open(&super::db_path(data_dir), SyncMode::Full).expect("open the database"))
    }

    /// A database file by its path (a backup, say).
    pub fn open_file(path: &Path) -> Sql {
        Sql(Connection::open(path, SyncMode::Full).expect("open the database"))
    }

    /// Marks the database as written by another schema version (a newer binary, say).
    pub fn set_schema_version(&self, version: i64) -> DbResult<()> {
        self.0
            .conn()
            .execute_batch(&format!("PRAGMA user_version = {version}"))
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
