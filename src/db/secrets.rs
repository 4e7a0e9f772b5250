//! Every SQL statement that touches the `secrets` table. Values stay encrypted here; only
//! `SecretBox` turns them into text.

use rusqlite::{Connection, OptionalExtension, params};

use crate::error::{AppError, AppResult};

#[derive(Debug, Clone)]
pub struct SecretMeta {
    pub name: String,
    pub created_at: i64,
    pub updated_at: i64,
}

/// Creates or replaces a secret; returns whether it was new.
pub fn upsert(conn: &Connection, name: &str, value_enc: &[u8], now: i64) -> AppResult<bool> {
    let existed = exists(conn, name)?;
    conn.execute(
        "INSERT INTO secrets (name, value_enc, created_at, updated_at) VALUES (?1, ?2, ?3, ?3)
         ON CONFLICT (name) DO UPDATE SET value_enc = excluded.value_enc, updated_at = excluded.updated_at",
        params![name, value_enc, now],
    )?;
    Ok(!existed)
}

pub fn exists(conn: &Connection, name: &str) -> AppResult<bool> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM secrets WHERE name = ?1")?
        .query_row([name], |_| Ok(()))
        .optional()?
        .is_some())
}

pub fn get_meta(conn: &Connection, name: &str) -> AppResult<SecretMeta> {
    conn.prepare_cached("SELECT name, created_at, updated_at FROM secrets WHERE name = ?1")?
        .query_row([name], |r| {
            Ok(SecretMeta {
                name: r.get(0)?,
                created_at: r.get(1)?,
                updated_at: r.get(2)?,
            })
        })
        .map_err(super::not_found("secret"))
}

/// The encrypted value.
pub fn get_encrypted(conn: &Connection, name: &str) -> AppResult<Vec<u8>> {
    conn.prepare_cached("SELECT value_enc FROM secrets WHERE name = ?1")?
        .query_row([name], |r| r.get(0))
        .map_err(super::not_found("secret"))
}

pub fn list(conn: &Connection) -> AppResult<Vec<SecretMeta>> {
    let mut stmt =
        conn.prepare_cached("SELECT name, created_at, updated_at FROM secrets ORDER BY name")?;
    let rows = stmt.query_map([], |r| {
        Ok(SecretMeta {
            name: r.get(0)?,
            created_at: r.get(1)?,
            updated_at: r.get(2)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The value before the last rotation and until when it is accepted, if one was kept.
pub fn previous(conn: &Connection, name: &str) -> AppResult<Option<(Vec<u8>, i64)>> {
    Ok(conn
        .prepare_cached(
            "SELECT previous_value_enc, previous_until FROM secrets
             WHERE name = ?1 AND previous_value_enc IS NOT NULL AND previous_until IS NOT NULL",
        )?
        .query_row([name], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?)
}

/// Replaces a secret's value, keeping the old one accepted until `until`.
pub fn rotate(
    conn: &Connection,
    name: &str,
    value_enc: &[u8],
    until: i64,
    now: i64,
) -> AppResult<()> {
    let changed = conn.execute(
        "UPDATE secrets SET previous_value_enc = value_enc, previous_until = ?3,
                value_enc = ?2, updated_at = ?4
         WHERE name = ?1",
        params![name, value_enc, until, now],
    )?;
    if changed == 0 {
        return Err(AppError::NotFound("secret"));
    }
    Ok(())
}

pub fn delete(conn: &Connection, name: &str) -> AppResult<()> {
    if conn.execute("DELETE FROM secrets WHERE name = ?1", [name])? == 0 {
        return Err(AppError::NotFound("secret"));
    }
    Ok(())
}
