//! Every SQL statement that touches the `rejections` table: the last refused deliveries of
//! each integration.

use super::sql::{Conn, params};

use crate::base::error::AppResult;

/// How many refused deliveries are kept per integration.
pub const KEEP: i64 = 100;

/// A refused delivery, as kept: never its body, only the body's size and SHA-256.
#[derive(Debug, Clone)]
pub struct Rejection {
    pub integration_id: String,
    pub at: i64,
    /// The HTTP status answered (401, 400, 415).
    pub status: u16,
    pub reason: String,
    /// The sender's address, as the connection came in.
    pub source: Option<String>,
    /// Header names and values, signature values cut to a prefix and tokens hidden.
    pub headers: Vec<(String, String)>,
    pub body_bytes: i64,
    pub body_sha256: String,
}

/// Keeps `r` and forgets what is beyond the newest `KEEP` of its integration.
pub fn insert(conn: Conn<'_>, r: &Rejection) -> AppResult<()> {
    let headers = serde_json::to_string(&r.headers).unwrap_or_else(|_| "[]".into());
    conn.execute("INSERT INTO rejections (integration_id, at, status, reason, source, headers, body_bytes, body_sha256)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)", params![
        r.integration_id,
        r.at,
        r.status,
        r.reason,
        r.source,
        headers,
        r.body_bytes,
        r.body_sha256
    ])?;
    conn.execute(
        "DELETE FROM rejections WHERE integration_id = ?1 AND seq <= (
             SELECT seq FROM rejections WHERE integration_id = ?1
             ORDER BY seq DESC LIMIT 1 OFFSET ?2)",
        params![r.integration_id, KEEP],
    )?;
    Ok(())
}

/// The integration's kept rejections, newest first.
pub fn list(conn: Conn<'_>, integration_id: &str) -> AppResult<Vec<Rejection>> {
    Ok(conn.query_map(
        "SELECT integration_id, at, status, reason, source, headers, body_bytes, body_sha256
         FROM rejections WHERE integration_id = ?1 ORDER BY seq DESC",
        params![integration_id],
        |row| {
            let headers: String = row.get(5)?;
            Ok(Rejection {
                integration_id: row.get(0)?,
                at: row.get(1)?,
                status: row.get(2)?,
                reason: row.get(3)?,
                source: row.get(4)?,
                headers: serde_json::from_str(&headers).unwrap_or_default(),
                body_bytes: row.get(6)?,
                body_sha256: row.get(7)?,
            })
        },
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_newest_hundred_per_integration() {
        let db = crate::db::Connection::memory();
        let conn = db.conn();
        for id in ["a", "b"] {
            conn.execute(
                "INSERT INTO integrations (id, type, name, config, created_at, updated_at)
                 VALUES (?1, 'WEBHOOK', ?1, '{}', 0, 0)",
                params![id],
            )
            .expect("integration");
        }
        let rejection = |id: &str, at: i64| Rejection {
            integration_id: id.into(),
            at,
            status: 401,
            reason: format!("bad {at}"),
            source: Some("127.0.0.1:5000".into()),
            headers: vec![("x-hub-signature-256".into(), "sha256=0123…".into())],
            body_bytes: 3,
            body_sha256: "ab".into(),
        };
        for at in 0..130 {
            insert(conn, &rejection("a", at)).expect("insert");
        }
        insert(conn, &rejection("b", 7)).expect("insert");
        let kept = list(conn, "a").expect("list");
        assert_eq!(kept.len(), 100);
        assert_eq!(kept[0].at, 129);
        assert_eq!(kept[99].at, 30);
        assert_eq!(kept[0].headers[0].1, "sha256=0123…");
        assert_eq!(list(conn, "b").expect("list").len(), 1);
    }
}
