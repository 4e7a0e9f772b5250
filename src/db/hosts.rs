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

/// The URL fields of an integration's config that name where this server's requests go, as
/// JSON pointers: its API base (GitHub, GitLab, Slack) and its runners. (`web_url` is where
/// a browser goes, never this server.)
const CONFIGURED_URLS: &[&str] = &["/api_url", "/eval/dispatch/url", "/deploy/dispatch/url"];

/// Records as trusted the hosts existing integrations were configured with (their API bases,
/// their runners) that are not public API hosts, so that the egress fence (schema 18)
/// refuses nothing that worked before it; returns them. A bare `host[:port]` (https): plain
/// http still needs an admin's `http://` entry, as before. Run once, by the upgrade to 18.
pub(in crate::db) fn adopt_configured(conn: Conn<'_>, now: i64) -> AppResult<Vec<String>> {
    let configs: Vec<String> =
        conn.query_map("SELECT config FROM integrations", params![], |r| r.get(0))?;
    let mut adopted = std::collections::BTreeSet::new();
    for config in configs {
        let Ok(config) = serde_json::from_str::<serde_json::Value>(&config) else {
            continue;
        };
        for pointer in CONFIGURED_URLS {
            let Some(url) = config.pointer(pointer).and_then(|v| v.as_str()) else {
                continue;
            };
            let Some(host) = crate::domain::hosts::host_of(url) else {
                continue;
            };
            if !crate::domain::hosts::listed(crate::domain::hosts::PUBLIC_API_HOSTS, &host)
                && crate::domain::hosts::is_valid_entry(&host)
            {
                adopted.insert(host);
            }
        }
    }
    for host in &adopted {
        conn.execute(
            "INSERT INTO trusted_api_hosts (host, recorded_at) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
            params![host, now],
        )?;
    }
    Ok(adopted.into_iter().collect())
}
