//! Every SQL statement that touches `sessions`: people signed in to the pages with single
//! sign-on. Only a SHA-256 of a cookie's value is kept (it carries 256 random bits, like an
//! API token). A session ends `idle` after its last request or at `expires_at`, whichever is
//! first, and at once when its row is deleted (sign-out, revocation): every node reads it.

use super::DbResult;
use super::sql::{Conn, Row, params};
use super::tokens::hash;
use crate::base::error::{AppError, AppResult};
use crate::domain::access::Scope;

/// `last_seen_at` is written at most this often per session, so that reads stay reads.
pub const LAST_SEEN_EVERY_MS: i64 = 60 * 1000;

#[derive(Debug, Clone)]
pub struct Session {
    pub id: String,
    /// The person's e-mail address, when the provider verified it; else empty.
    pub email: String,
    /// The provider's `sub`.
    pub subject: String,
    /// The groups the provider named at sign-in: the access rules are checked against them
    /// again on every request.
    pub groups: Vec<String>,
    pub role: Scope,
    pub source: String,
    pub created_at: i64,
    pub last_seen_at: i64,
    pub expires_at: i64,
}

const COLUMNS: &str =
    "id, email, role, source, created_at, last_seen_at, expires_at, subject, groups";

fn from_row(r: &Row<'_>) -> DbResult<Session> {
    let role: String = r.get(2)?;
    let groups: String = r.get(8)?;
    Ok(Session {
        id: r.get(0)?,
        email: r.get(1)?,
        subject: r.get(7)?,
        groups: serde_json::from_str(&groups).unwrap_or_default(),
        role: Scope::parse(&role).unwrap_or(Scope::Read),
        source: r.get(3)?,
        created_at: r.get(4)?,
        last_seen_at: r.get(5)?,
        expires_at: r.get(6)?,
    })
}

/// Keeps a new session under `value`'s hash, and forgets those that have ended.
pub fn insert(conn: Conn<'_>, session: &Session, value: &str, idle_ms: i64) -> AppResult<()> {
    let now = session.created_at;
    conn.execute(
        "DELETE FROM sessions WHERE expires_at <= ?1 OR last_seen_at <= ?2",
        params![now, now - idle_ms],
    )?;
    conn.execute(
        "INSERT INTO sessions (id, value_hash, email, role, source, created_at, last_seen_at,
                               expires_at, subject, groups)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        params![
            session.id,
            hash(value),
            session.email,
            session.role.as_str(),
            session.source,
            session.created_at,
            session.last_seen_at,
            session.expires_at,
            session.subject,
            serde_json::to_string(&session.groups).unwrap_or_else(|_| "[]".into())
        ],
    )?;
    Ok(())
}

const LIVE: &str = "expires_at > ?1 AND last_seen_at > ?2";

/// The live session whose cookie holds `value`.
pub fn find_by_value(
    conn: Conn<'_>,
    value: &str,
    now: i64,
    idle_ms: i64,
) -> AppResult<Option<Session>> {
    Ok(conn.query_opt(
        &format!("SELECT {COLUMNS} FROM sessions WHERE {LIVE} AND value_hash = ?3"),
        params![now, now - idle_ms, hash(value)],
        from_row,
    )?)
}

/// Notes a request at `now`, unless one was noted less than a minute ago.
pub fn touch(conn: Conn<'_>, id: &str, now: i64) -> AppResult<()> {
    conn.execute(
        "UPDATE sessions SET last_seen_at = ?2 WHERE id = ?1 AND last_seen_at <= ?3",
        params![id, now, now - LAST_SEEN_EVERY_MS],
    )?;
    Ok(())
}

/// Every live session, newest first.
pub fn list(conn: Conn<'_>, now: i64, idle_ms: i64) -> AppResult<Vec<Session>> {
    Ok(conn.query_map(
        &format!("SELECT {COLUMNS} FROM sessions WHERE {LIVE} ORDER BY created_at DESC, id"),
        params![now, now - idle_ms],
        from_row,
    )?)
}

/// Ends a session at once; 404 when there is none of that id.
pub fn delete(conn: Conn<'_>, id: &str) -> AppResult<Session> {
    let session = conn
        .query_opt(
            &format!("SELECT {COLUMNS} FROM sessions WHERE id = ?1"),
            params![id],
            from_row,
        )?
        .ok_or(AppError::NotFound("session"))?;
    conn.execute("DELETE FROM sessions WHERE id = ?1", params![id])?;
    Ok(session)
}
