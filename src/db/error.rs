//! Backend errors become the project's storage error ([`DbError`]) here, classified once: code
//! outside `db` asks it whether storage is unavailable right now and what an operator should
//! read, never which backend raised it.

pub use crate::error::{DbError, DbErrorKind};

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

impl From<rusqlite::Error> for crate::error::AppError {
    fn from(e: rusqlite::Error) -> Self {
        crate::error::AppError::Db(e.into())
    }
}

impl From<r2d2::Error> for crate::error::AppError {
    fn from(e: r2d2::Error) -> Self {
        crate::error::AppError::Db(e.into())
    }
}
