//! What `provenant doctor` reads from the database, and nothing else: its integrity, and how
//! fast it grows.

use super::sql::params;
use super::{Conn, DbResult};

/// SQLite's `PRAGMA quick_check`: `ok`, or the first problems it found. PostgreSQL checks its
/// own pages as it reads them; there, a query that answers is the check.
pub fn quick_check(conn: Conn<'_>) -> DbResult<String> {
    if conn.is_postgres() {
        let one: i64 = conn.query_value("SELECT 1", params![])?;
        return Ok(if one == 1 { "ok" } else { "no answer" }.to_string());
    }
    conn.query_value("PRAGMA quick_check(5)", params![])
}

/// Bytes of deliveries (bodies and headers, as stored) received since `since_ms`.
pub fn bytes_received_since(conn: Conn<'_>, since_ms: i64) -> DbResult<i64> {
    conn.query_value(
        "SELECT CAST(COALESCE(SUM(LENGTH(b.body) + LENGTH(b.headers)), 0) AS BIGINT)
         FROM event_bodies b JOIN webhook_events e ON e.seq = b.event_seq
         WHERE e.received_at >= ?1",
        params![since_ms],
    )
}
