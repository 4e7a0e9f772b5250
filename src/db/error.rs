//! Backend errors become the project's storage error ([`DbError`]) here, classified once: code
//! outside `db` asks it whether storage is unavailable right now and what an operator should
//! read, never which backend raised it.

pub use crate::base::error::{DbError, DbErrorKind};

pub type DbResult<T> = Result<T, DbError>;

/// A stored value that cannot be read as what the code expects (a corrupt row).
pub(in crate::db) fn column(index: usize, message: impl std::fmt::Display) -> DbError {
    DbError::new(DbErrorKind::Other, format!("column {index}: {message}"))
}

pub(in crate::db) fn no_row() -> DbError {
    DbError::new(DbErrorKind::NoRow, "the query returned no row")
}

impl From<rusqlite::Error> for DbError {
    fn from(e: rusqlite::Error) -> Self {
        use rusqlite::ErrorCode::*;
        let (kind, message) = match e.sqlite_error_code() {
            Some(DatabaseBusy | DatabaseLocked) => (
                DbErrorKind::Unavailable,
                "the database is locked by another connection or process".to_string(),
            ),
            Some(DiskFull) => (DbErrorKind::Unavailable, "the disk is full".to_string()),
            Some(ReadOnly) => (
                DbErrorKind::Unavailable,
                "the database file is read-only".to_string(),
            ),
            Some(CannotOpen) => (
                DbErrorKind::Unavailable,
                "the database file cannot be opened".to_string(),
            ),
            Some(SystemIoFailure) => (
                DbErrorKind::Unavailable,
                format!("I/O error writing the database: {e}"),
            ),
            _ if matches!(e, rusqlite::Error::QueryReturnedNoRows) => {
                (DbErrorKind::NoRow, e.to_string())
            }
            _ => (DbErrorKind::Other, e.to_string()),
        };
        DbError::new(kind, message)
    }
}

impl From<r2d2::Error> for DbError {
    fn from(e: r2d2::Error) -> Self {
        DbError::new(
            DbErrorKind::Unavailable,
            format!("no database connection is free: {e}"),
        )
    }
}

impl From<rusqlite::Error> for crate::base::error::AppError {
    fn from(e: rusqlite::Error) -> Self {
        crate::base::error::AppError::Db(e.into())
    }
}

impl From<r2d2::Error> for crate::base::error::AppError {
    fn from(e: r2d2::Error) -> Self {
        crate::base::error::AppError::Db(e.into())
    }
}

impl From<tokio_postgres::Error> for DbError {
    fn from(e: tokio_postgres::Error) -> Self {
        use tokio_postgres::error::SqlState;
        let unavailable = |message: String| DbError::new(DbErrorKind::Unavailable, message);
        let Some(code) = e.code() else {
            // No SQLSTATE: the socket, not the server, answered (refused, reset, timed out),
            // or a value did not fit its column's type here, which is our mistake.
            let text = e.to_string();
            if text.starts_with("error deserializing") || text.starts_with("error serializing") {
                return DbError::new(DbErrorKind::Other, text);
            }
            return if e.is_closed() {
                unavailable("the connection to PostgreSQL was lost".to_string())
            } else {
                // The causes say why ("invalid peer certificate: UnknownIssuer", "Connection
                // refused"); none of them carries the URL or its password.
                let mut text = format!("PostgreSQL cannot be reached: {e}");
                let mut cause = std::error::Error::source(&e);
                while let Some(c) = cause {
                    text.push_str(&format!(": {c}"));
                    cause = c.source();
                }
                unavailable(text)
            };
        };
        let detail = e
            .as_db_error()
            .map(|d| d.message().to_string())
            .unwrap_or_else(|| e.to_string());
        match code {
            c if *c == SqlState::DISK_FULL => {
                unavailable("the disk is full under PostgreSQL".to_string())
            }
            c if *c == SqlState::READ_ONLY_SQL_TRANSACTION => {
                unavailable("PostgreSQL is read-only (a standby, or after a failover)".to_string())
            }
            c if *c == SqlState::TOO_MANY_CONNECTIONS => {
                unavailable("PostgreSQL has no connection slot free".to_string())
            }
            c if *c == SqlState::ADMIN_SHUTDOWN
                || *c == SqlState::CRASH_SHUTDOWN
                || *c == SqlState::CANNOT_CONNECT_NOW =>
            {
                unavailable(format!("PostgreSQL is shutting down or starting: {detail}"))
            }
            c if c.code().starts_with("08") => {
                unavailable(format!("the connection to PostgreSQL failed: {detail}"))
            }
            c if c.code().starts_with("53") || c.code().starts_with("58") => {
                unavailable(format!("PostgreSQL is out of resources: {detail}"))
            }
            c if *c == SqlState::LOCK_NOT_AVAILABLE => unavailable(
                "the database is locked by another connection (PostgreSQL's lock timeout)"
                    .to_string(),
            ),
            c if *c == SqlState::T_R_SERIALIZATION_FAILURE
                || *c == SqlState::T_R_DEADLOCK_DETECTED
                || *c == SqlState::QUERY_CANCELED =>
            {
                unavailable(format!("PostgreSQL is busy: {detail}"))
            }
            _ => DbError::new(DbErrorKind::Other, format!("PostgreSQL: {detail}")),
        }
    }
}
