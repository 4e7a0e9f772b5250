//! Every SQL statement that touches the `secrets` table. Values stay encrypted here; only
//! `SecretBox` turns them into text.

use super::DbResult;
use super::sql::{Conn, Row, params};

use crate::base::error::{AppError, AppResult};

#[derive(Debug, Clone)]
pub struct SecretMeta {
    pub name: String,
    pub created_at: i64,
    pub updated_at: i64,
    /// Where the value may be sent besides the public API hosts.
    pub hosts: Vec<String>,
}

fn meta_from_row(r: &Row<'_>) -> DbResult<SecretMeta> {
    let hosts: String = r.get(3)?;
    Ok(SecretMeta {
        name: r.get(0)?,
        created_at: r.get(1)?,
        updated_at: r.get(2)?,
        hosts: serde_json::from_str(&hosts).unwrap_or_default(),
    })
}

/// Creates or replaces a secret, with the hosts (besides the public API hosts) its value may
/// be sent to; returns whether it was new.
pub fn upsert(
    conn: Conn<'_>,
    name: &str,
    value_enc: &[u8],
    hosts: &[String],
    now: i64,
) -> AppResult<bool> {
    let existed = exists(conn, name)?;
    let hosts = serde_json::to_string(hosts).unwrap_or_else(|_| "[]".into());
    conn.execute(
        "INSERT INTO secrets (name, value_enc, hosts, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?4)
         ON CONFLICT (name) DO UPDATE SET value_enc = excluded.value_enc, hosts = excluded.hosts,
                                          updated_at = excluded.updated_at",
        params![name, value_enc, hosts, now],
    )?;
    Ok(!existed)
}

/// The hosts a secret's value may be sent to besides the public API hosts (empty for an
/// unknown secret).
pub fn hosts(conn: Conn<'_>, name: &str) -> AppResult<Vec<String>> {
    let text: Option<String> = conn.query_opt(
        "SELECT hosts FROM secrets WHERE name = ?1",
        params![name],
        |r| r.get(0),
    )?;
    Ok(text
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default())
}

pub fn exists(conn: Conn<'_>, name: &str) -> AppResult<bool> {
    Ok(conn
        .query_opt(
            "SELECT 1 FROM secrets WHERE name = ?1",
            params![name],
            |_| Ok(()),
        )?
        .is_some())
}

pub fn get_meta(conn: Conn<'_>, name: &str) -> AppResult<SecretMeta> {
    conn.query_row(
        "SELECT name, created_at, updated_at, hosts FROM secrets WHERE name = ?1",
        params![name],
        meta_from_row,
    )
    .map_err(super::not_found("secret"))
}

/// The encrypted value.
pub fn get_encrypted(conn: Conn<'_>, name: &str) -> AppResult<Vec<u8>> {
    conn.query_row(
        "SELECT value_enc FROM secrets WHERE name = ?1",
        params![name],
        |r| r.get(0),
    )
    .map_err(super::not_found("secret"))
}

pub fn list(conn: Conn<'_>) -> AppResult<Vec<SecretMeta>> {
    Ok(conn.query_map(
        "SELECT name, created_at, updated_at, hosts FROM secrets ORDER BY name",
        params![],
        meta_from_row,
    )?)
}

/// The value before the last rotation and until when it is accepted, if one was kept.
pub fn previous(conn: Conn<'_>, name: &str) -> AppResult<Option<(Vec<u8>, i64)>> {
    Ok(conn.query_opt(
        "SELECT previous_value_enc, previous_until FROM secrets
             WHERE name = ?1 AND previous_value_enc IS NOT NULL AND previous_until IS NOT NULL",
        params![name],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?)
}

/// Replaces a secret's value, keeping the old one accepted until `until`.
pub fn rotate(conn: Conn<'_>, name: &str, value_enc: &[u8], until: i64, now: i64) -> AppResult<()> {
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

pub fn delete(conn: Conn<'_>, name: &str) -> AppResult<()> {
    if conn.execute("DELETE FROM secrets WHERE name = ?1", params![name])? == 0 {
        return Err(AppError::NotFound("secret"));
    }
    Ok(())
}
