//! Every SQL statement that touches the `trusted_api_hosts` table: the api_url hosts that
//! were configured before answers from unlisted hosts were hidden (schema version 5).

use super::sql::{Conn, params};

use crate::base::error::AppResult;

/// The hosts recorded by the upgrade, lower-case `host[:port]`.
pub fn trusted(conn: Conn<'_>) -> AppResult<Vec<String>> {
    Ok(conn.query_map(
        "SELECT host FROM trusted_api_hosts ORDER BY host",
        params![],
        |r| r.get(0),
    )?)
}
