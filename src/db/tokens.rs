//! Every SQL statement that touches `api_tokens`: tokens made with `POST /api/tokens`. Only a
//! SHA-256 of a value is stored. A value carries 256 random bits, so a fast hash is enough: no
//! dictionary reaches it, and looking a hash up reveals nothing about the value by its timing.

use sha2::{Digest, Sha256};

use super::sql::{Conn, Row, params};
use super::{DbResult, not_found};
use crate::base::error::{AppError, AppResult};
use crate::domain::access::Scope;

/// `lastUsedAt` is written at most this often per token, so that reads stay reads.
pub const LAST_USED_EVERY_MS: i64 = 60 * 1000;

#[derive(Debug, Clone)]
pub struct StoredToken {
    pub id: String,
    pub name: String,
    pub prefix: String,
    pub scopes: Vec<Scope>,
    pub created_by: String,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub last_used_at: Option<i64>,
}

pub fn hash(value: &str) -> String {
    hex::encode(Sha256::digest(value.as_bytes()))
}

const COLUMNS: &str = "id, name, prefix, scopes, created_by, created_at, expires_at, last_used_at";

fn from_row(r: &Row<'_>) -> DbResult<StoredToken> {
    let scopes: String = r.get(3)?;
    Ok(StoredToken {
        id: r.get(0)?,
        name: r.get(1)?,
        prefix: r.get(2)?,
        scopes: scopes.split(' ').filter_map(Scope::parse).collect(),
        created_by: r.get(4)?,
        created_at: r.get(5)?,
        expires_at: r.get(6)?,
        last_used_at: r.get(7)?,
    })
}

fn joined(scopes: &[Scope]) -> String {
    scopes
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Stores a new token (its value only as a hash); 409 when its name is taken.
pub fn insert(conn: Conn<'_>, token: &StoredToken, value: &str) -> AppResult<()> {
    let taken: Option<i64> = conn.query_opt(
        "SELECT 1 FROM api_tokens WHERE name = ?1",
        params![token.name],
        |r| r.get(0),
    )?;
    if taken.is_some() {
        return Err(AppError::ConflictAt {
            field: "name".into(),
            message: "a token of this name exists; revoke it first, or pick another name".into(),
        });
    }
    conn.execute(
        "INSERT INTO api_tokens (id, name, prefix, token_hash, scopes, created_by, created_at, expires_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            token.id,
            token.name,
            token.prefix,
            hash(value),
            joined(&token.scopes),
            token.created_by,
            token.created_at,
            token.expires_at
        ],
    )?;
    Ok(())
}

/// The token whose value is `value`, unless it has expired by `now`.
pub fn find_by_value(conn: Conn<'_>, value: &str, now: i64) -> AppResult<Option<StoredToken>> {
    Ok(conn.query_opt(
        &format!(
            "SELECT {COLUMNS} FROM api_tokens
             WHERE token_hash = ?1 AND (expires_at IS NULL OR expires_at > ?2)"
        ),
        params![hash(value), now],
        from_row,
    )?)
}

/// Notes that a token was used at `now`, unless that was noted less than a minute ago.
pub fn touch(conn: Conn<'_>, id: &str, now: i64) -> AppResult<()> {
    conn.execute(
        "UPDATE api_tokens SET last_used_at = ?2
         WHERE id = ?1 AND (last_used_at IS NULL OR last_used_at <= ?3)",
        params![id, now, now - LAST_USED_EVERY_MS],
    )?;
    Ok(())
}

/// Every token, newest first.
pub fn list(conn: Conn<'_>) -> AppResult<Vec<StoredToken>> {
    Ok(conn.query_map(
        &format!("SELECT {COLUMNS} FROM api_tokens ORDER BY created_at DESC, id"),
        params![],
        from_row,
    )?)
}

pub fn get(conn: Conn<'_>, id: &str) -> AppResult<StoredToken> {
    conn.query_row(
        &format!("SELECT {COLUMNS} FROM api_tokens WHERE id = ?1"),
        params![id],
        from_row,
    )
    .map_err(not_found("token"))
}

/// Revokes a token: the next request that presents it is refused, on every node.
pub fn delete(conn: Conn<'_>, id: &str) -> AppResult<StoredToken> {
    let token = get(conn, id)?;
    conn.execute("DELETE FROM api_tokens WHERE id = ?1", params![id])?;
    Ok(token)
}
