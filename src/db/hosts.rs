//! Every SQL statement that touches the `trusted_api_hosts` table: the api_url hosts that
//! were configured before answers from unlisted hosts were hidden (schema version 5).

use rusqlite::Connection;

use crate::error::AppResult;

/// The hosts recorded by the upgrade, lower-case `host[:port]`.
pub fn trusted(conn: &Connection) -> AppResult<Vec<String>> {
    let mut stmt = conn.prepare("SELECT host FROM trusted_api_hosts ORDER BY host")?;
    let hosts = stmt.query_map([], |r| r.get(0))?;
    Ok(hosts.collect::<Result<_, _>>()?)
}
