//! How the table modules run SQL: through a borrowed connection ([`Conn`]), with parameters
//! as plain [`Value`]s and rows read by position into plain Rust types.
//!
//! The statements are written once, with numbered `?N` parameters, and stay inside `db`:
//! the query methods are visible to `db` alone. Code outside `db` only passes a `Conn` on and
//! asks `db` for transactions and savepoints, so it cannot come to depend on one backend.

use rusqlite::types::{ToSqlOutput, ValueRef};

use super::error::{self, DbError, DbResult};
use super::pg;
use crate::domain::model::{
    EventStatus, IntegrationType, OutboxKind, OutboxStatus, RunKind, RunStatus,
};

pub use super::value::Value;

/// A Rust value that can be a statement's parameter.
pub trait ToValue {
    fn to_value(&self) -> Value<'_>;
}

/// A Rust value that a column can be read as.
pub trait FromColumn: Sized {
    fn from_column(value: Value<'_>) -> Result<Self, String>;
}

/// The parameters of one statement: `params![a, b]`, each by reference.
#[macro_export]
#[doc(hidden)]
macro_rules! __db_params {
    () => { &[] as &[&dyn $crate::db::sql::ToValue] };
    ($($param:expr),+ $(,)?) => {
        &[$(&$param as &dyn $crate::db::sql::ToValue),+] as &[&dyn $crate::db::sql::ToValue]
    };
}
pub use crate::__db_params as params;

/// A connection, lent for the length of a piece of work (a request's reads, one transaction).
/// Copy it freely; it cannot outlive the connection it came from.
#[derive(Clone, Copy)]
pub struct Conn<'a> {
    backend: Backend<'a>,
}

#[derive(Clone, Copy)]
enum Backend<'a> {
    Sqlite(&'a rusqlite::Connection),
    Postgres(&'a pg::Client),
}

/// One row of a result, read by column position.
pub struct Row<'a> {
    row: RowOf<'a>,
}

enum RowOf<'a> {
    Sqlite(&'a rusqlite::Row<'a>),
    Postgres(&'a tokio_postgres::Row),
}

impl<'a> Conn<'a> {
    pub(in crate::db) fn sqlite(conn: &'a rusqlite::Connection) -> Conn<'a> {
        Conn {
            backend: Backend::Sqlite(conn),
        }
    }

    pub(in crate::db) fn postgres(client: &'a pg::Client) -> Conn<'a> {
        Conn {
            backend: Backend::Postgres(client),
        }
    }

    /// Whether this is PostgreSQL, for the few statements the two backends spell differently.
    pub(in crate::db) fn is_postgres(self) -> bool {
        matches!(self.backend, Backend::Postgres(_))
    }

    /// Opens a transaction that writes: SQLite takes its write lock now (`IMMEDIATE`) rather
    /// than at the first write. PostgreSQL locks rows as they are written.
    pub(in crate::db) fn begin(self) -> DbResult<()> {
        match self.backend {
            Backend::Sqlite(c) => Ok(c.execute_batch("BEGIN IMMEDIATE")?),
            Backend::Postgres(c) => c.begin(),
        }
    }

    pub(in crate::db) fn commit(self) -> DbResult<()> {
        match self.backend {
            Backend::Sqlite(c) => Ok(c.execute_batch("COMMIT")?),
            Backend::Postgres(c) => c.commit(),
        }
    }

    pub(in crate::db) fn rollback(self) -> DbResult<()> {
        match self.backend {
            Backend::Sqlite(c) => Ok(c.execute_batch("ROLLBACK")?),
            Backend::Postgres(c) => c.rollback(),
        }
    }

    /// Whether a transaction may still be open: SQLite knows; a PostgreSQL COMMIT that failed
    /// has ended it, and a ROLLBACK then only warns.
    pub(in crate::db) fn in_transaction(self) -> bool {
        match self.backend {
            Backend::Sqlite(c) => !c.is_autocommit(),
            Backend::Postgres(c) => c.in_transaction(),
        }
    }

    /// Runs one statement; returns how many rows it changed.
    pub(in crate::db) fn execute(self, sql: &str, params: &[&dyn ToValue]) -> DbResult<usize> {
        match self.backend {
            Backend::Sqlite(c) => {
                let mut stmt = c.prepare_cached(sql)?;
                Ok(stmt.execute(rusqlite::params_from_iter(bind(params)))?)
            }
            Backend::Postgres(c) => {
                let changed = c.execute(sql, &values(params))?;
                Ok(usize::try_from(changed).unwrap_or(usize::MAX))
            }
        }
    }

    /// Runs one statement once for each set of parameters, each with its own result:
    /// pipelined on PostgreSQL (see `pg::Client::execute_pipelined`), one after the other on
    /// SQLite, where a statement is a function call.
    pub(in crate::db) fn execute_each(
        self,
        sql: &str,
        sets: &[&[&dyn ToValue]],
    ) -> DbResult<Vec<DbResult<usize>>> {
        match self.backend {
            Backend::Sqlite(_) => Ok(sets
                .iter()
                .map(|params| self.execute(sql, params))
                .collect()),
            Backend::Postgres(c) => {
                let sets: Vec<Vec<Value<'_>>> = sets.iter().map(|params| values(params)).collect();
                Ok(c.execute_pipelined(sql, &sets)?
                    .into_iter()
                    .map(|changed| changed.map(|n| usize::try_from(n).unwrap_or(usize::MAX)))
                    .collect())
            }
        }
    }

    /// The first row of a query; an error that `is_no_row` when there is none.
    pub(in crate::db) fn query_row<T>(
        self,
        sql: &str,
        params: &[&dyn ToValue],
        read: impl FnOnce(&Row<'_>) -> DbResult<T>,
    ) -> DbResult<T> {
        self.query_opt(sql, params, read)?.ok_or_else(error::no_row)
    }

    /// The first row of a query, if there is one.
    pub(in crate::db) fn query_opt<T>(
        self,
        sql: &str,
        params: &[&dyn ToValue],
        read: impl FnOnce(&Row<'_>) -> DbResult<T>,
    ) -> DbResult<Option<T>> {
        match self.backend {
            Backend::Sqlite(c) => {
                let mut stmt = c.prepare_cached(sql)?;
                let mut rows = stmt.query(rusqlite::params_from_iter(bind(params)))?;
                match rows.next()? {
                    Some(row) => Ok(Some(read(&Row {
                        row: RowOf::Sqlite(row),
                    })?)),
                    None => Ok(None),
                }
            }
            Backend::Postgres(c) => {
                let rows = c.query(sql, &values(params))?;
                match rows.first() {
                    Some(row) => Ok(Some(read(&Row {
                        row: RowOf::Postgres(row),
                    })?)),
                    None => Ok(None),
                }
            }
        }
    }

    /// Every row of a query, each read by `read`.
    pub(in crate::db) fn query_map<T>(
        self,
        sql: &str,
        params: &[&dyn ToValue],
        mut read: impl FnMut(&Row<'_>) -> DbResult<T>,
    ) -> DbResult<Vec<T>> {
        let mut out = Vec::new();
        match self.backend {
            Backend::Sqlite(c) => {
                let mut stmt = c.prepare_cached(sql)?;
                let mut rows = stmt.query(rusqlite::params_from_iter(bind(params)))?;
                while let Some(row) = rows.next()? {
                    out.push(read(&Row {
                        row: RowOf::Sqlite(row),
                    })?);
                }
            }
            Backend::Postgres(c) => {
                for row in &c.query(sql, &values(params))? {
                    out.push(read(&Row {
                        row: RowOf::Postgres(row),
                    })?);
                }
            }
        }
        Ok(out)
    }

    /// The one value of a one-row, one-column query.
    pub(in crate::db) fn query_value<T: FromColumn>(
        self,
        sql: &str,
        params: &[&dyn ToValue],
    ) -> DbResult<T> {
        self.query_row(sql, params, |r| r.get(0))
    }

    /// Runs statements without parameters, one after the other.
    pub(in crate::db) fn execute_batch(self, sql: &str) -> DbResult<()> {
        match self.backend {
            Backend::Sqlite(c) => Ok(c.execute_batch(sql)?),
            Backend::Postgres(c) => Ok(c.batch(sql)?),
        }
    }

    /// On PostgreSQL, sends `sql` (no parameters, no answer wanted) with the next statement;
    /// nothing on SQLite.
    pub(in crate::db) fn defer_on_postgres(self, sql: &'static str) {
        if let Backend::Postgres(c) = self.backend {
            c.defer(sql);
        }
    }

    /// Runs `work` in a savepoint inside the current transaction: what it wrote is kept when
    /// it answers `keep`, undone otherwise (so a retry starts from a clean slate, and on
    /// PostgreSQL a failed statement no longer aborts the transaction around it).
    pub fn savepoint<T>(self, work: impl FnOnce() -> (T, bool)) -> DbResult<T> {
        if let Backend::Postgres(c) = self.backend {
            // Sent with the work's first statement, and the release with the next one after
            // it: two round trips fewer per event.
            c.defer("SAVEPOINT per_event");
            let (out, keep) = work();
            if !keep {
                c.rollback_to("per_event")?;
            }
            c.defer("RELEASE SAVEPOINT per_event");
            return Ok(out);
        }
        // Cached statements: parsing these anew for every event showed in profiles.
        self.execute("SAVEPOINT per_event", params![])?;
        let (out, keep) = work();
        if !keep {
            self.execute("ROLLBACK TO SAVEPOINT per_event", params![])?;
        }
        self.execute("RELEASE SAVEPOINT per_event", params![])?;
        Ok(out)
    }

    /// Runs `work` so that a statement failing in it fails `work` alone, and the transaction
    /// around it goes on: SQLite does that by itself; PostgreSQL would ignore every later
    /// statement, so there `work` runs in a savepoint, rolled back when it fails.
    pub(in crate::db) fn contained<T, E: From<DbError>>(
        self,
        work: impl FnOnce() -> Result<T, E>,
    ) -> Result<T, E> {
        let Backend::Postgres(c) = self.backend else {
            return work();
        };
        self.execute("SAVEPOINT contained", params![])?;
        match work() {
            Ok(out) => {
                self.execute("RELEASE SAVEPOINT contained", params![])?;
                Ok(out)
            }
            Err(e) => {
                c.rollback_to("contained")?;
                Err(e)
            }
        }
    }

    /// How SQLite would run `sql` (every parameter NULL): one line per step.
    #[cfg(test)]
    pub(in crate::db) fn query_plan(self, sql: &str) -> Vec<String> {
        let Backend::Sqlite(c) = self.backend else {
            panic!("query plans are read from SQLite")
        };
        let mut stmt = c
            .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
            .expect("plan");
        let nulls = vec![rusqlite::types::Null; stmt.parameter_count()];
        stmt.query_map(rusqlite::params_from_iter(nulls), |r| r.get::<_, String>(3))
            .expect("rows")
            .collect::<Result<_, _>>()
            .expect("plan")
    }

    /// Whether the database answers a read.
    pub fn ping(self) -> DbResult<()> {
        self.query_value::<i64>("SELECT 1", params![]).map(|_| ())
    }
}

impl Row<'_> {
    /// Column `index` (from 0) read as `T`.
    pub fn get<T: FromColumn>(&self, index: usize) -> DbResult<T> {
        let column = match self.row {
            RowOf::Sqlite(row) => match row.get_ref(index)? {
                ValueRef::Null => Value::Null,
                ValueRef::Integer(i) => Value::Int(i),
                ValueRef::Real(f) => Value::Real(f),
                ValueRef::Text(t) => {
                    Value::Text(std::str::from_utf8(t).map_err(|e| error::column(index, e))?)
                }
                ValueRef::Blob(b) => Value::Blob(b),
            },
            RowOf::Postgres(row) => pg::column(row, index)?,
        };
        T::from_column(column).map_err(|message| error::column(index, message))
    }
}

fn values<'p>(params: &'p [&dyn ToValue]) -> Vec<Value<'p>> {
    bind(params).collect()
}

fn bind<'p>(params: &'p [&dyn ToValue]) -> impl Iterator<Item = Value<'p>> {
    params.iter().map(|p| p.to_value())
}

impl rusqlite::ToSql for Value<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        use rusqlite::types::Value as Owned;
        Ok(match *self {
            Value::Null => ToSqlOutput::Owned(Owned::Null),
            Value::Int(i) => ToSqlOutput::Owned(Owned::Integer(i)),
            Value::Real(f) => ToSqlOutput::Owned(Owned::Real(f)),
            Value::Text(t) => ToSqlOutput::Borrowed(ValueRef::Text(t.as_bytes())),
            Value::Blob(b) => ToSqlOutput::Borrowed(ValueRef::Blob(b)),
        })
    }
}

impl<T: ToValue + ?Sized> ToValue for &T {
    fn to_value(&self) -> Value<'_> {
        (**self).to_value()
    }
}

impl<T: ToValue> ToValue for Option<T> {
    fn to_value(&self) -> Value<'_> {
        match self {
            Some(v) => v.to_value(),
            None => Value::Null,
        }
    }
}

impl ToValue for str {
    fn to_value(&self) -> Value<'_> {
        Value::Text(self)
    }
}

impl ToValue for String {
    fn to_value(&self) -> Value<'_> {
        Value::Text(self)
    }
}

impl ToValue for [u8] {
    fn to_value(&self) -> Value<'_> {
        Value::Blob(self)
    }
}

impl ToValue for Vec<u8> {
    fn to_value(&self) -> Value<'_> {
        Value::Blob(self)
    }
}

impl ToValue for bool {
    fn to_value(&self) -> Value<'_> {
        Value::Int(i64::from(*self))
    }
}

impl ToValue for f64 {
    fn to_value(&self) -> Value<'_> {
        Value::Real(*self)
    }
}

macro_rules! int_values {
    ($($t:ty),+) => {$(
        impl ToValue for $t {
            fn to_value(&self) -> Value<'_> {
                // Wider than i64 only for values no table holds (counts, limits, sizes).
                Value::Int(i64::try_from(*self).unwrap_or(i64::MAX))
            }
        }

        impl FromColumn for $t {
            fn from_column(value: Value<'_>) -> Result<Self, String> {
                match value {
                    Value::Int(i) => <$t>::try_from(i).map_err(|e| format!("{i}: {e}")),
                    other => Err(format!("expected an integer, found {other:?}")),
                }
            }
        }
    )+};
}
int_values!(i64, i32, u16, u32, u64, usize);

impl<T: FromColumn> FromColumn for Option<T> {
    fn from_column(value: Value<'_>) -> Result<Self, String> {
        match value {
            Value::Null => Ok(None),
            other => T::from_column(other).map(Some),
        }
    }
}

impl FromColumn for bool {
    fn from_column(value: Value<'_>) -> Result<Self, String> {
        match value {
            Value::Int(i) => Ok(i != 0),
            other => Err(format!("expected a flag, found {other:?}")),
        }
    }
}

impl FromColumn for f64 {
    fn from_column(value: Value<'_>) -> Result<Self, String> {
        match value {
            Value::Real(f) => Ok(f),
            Value::Int(i) => Ok(i as f64),
            other => Err(format!("expected a number, found {other:?}")),
        }
    }
}

impl FromColumn for String {
    fn from_column(value: Value<'_>) -> Result<Self, String> {
        match value {
            Value::Text(t) => Ok(t.to_string()),
            other => Err(format!("expected text, found {other:?}")),
        }
    }
}

impl FromColumn for Vec<u8> {
    fn from_column(value: Value<'_>) -> Result<Self, String> {
        match value {
            Value::Blob(b) => Ok(b.to_vec()),
            Value::Text(t) => Ok(t.as_bytes().to_vec()),
            other => Err(format!("expected bytes, found {other:?}")),
        }
    }
}

/// Any column's value, owned: for copying rows whatever their table holds.
#[derive(Debug, Clone, PartialEq)]
pub enum AnyValue {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
}

impl FromColumn for AnyValue {
    fn from_column(value: Value<'_>) -> Result<Self, String> {
        Ok(match value {
            Value::Null => AnyValue::Null,
            Value::Int(i) => AnyValue::Int(i),
            Value::Real(f) => AnyValue::Real(f),
            Value::Text(t) => AnyValue::Text(t.to_string()),
            Value::Blob(b) => AnyValue::Blob(b.to_vec()),
        })
    }
}

impl ToValue for AnyValue {
    fn to_value(&self) -> Value<'_> {
        match self {
            AnyValue::Null => Value::Null,
            AnyValue::Int(i) => Value::Int(*i),
            AnyValue::Real(f) => Value::Real(*f),
            AnyValue::Text(t) => Value::Text(t),
            AnyValue::Blob(b) => Value::Blob(b),
        }
    }
}

/// The product's enums are stored as the text they are shown as.
macro_rules! text_columns {
    ($($t:ty),+) => {$(
        impl ToValue for $t {
            fn to_value(&self) -> Value<'_> {
                Value::Text(self.as_str())
            }
        }

        impl FromColumn for $t {
            fn from_column(value: Value<'_>) -> Result<Self, String> {
                match value {
                    Value::Text(t) => <$t>::parse(t)
                        .ok_or_else(|| format!("unknown {} {t}", stringify!($t))),
                    other => Err(format!("expected text, found {other:?}")),
                }
            }
        }
    )+};
}
text_columns!(
    IntegrationType,
    EventStatus,
    RunStatus,
    RunKind,
    OutboxStatus,
    OutboxKind
);
