//! Every SQL statement that touches `reconcile_checks` and `redelivery_requests`: what each
//! check of GitHub's delivery log found, and which deliveries were asked for again.

use super::sql::{Conn, params};

use crate::base::error::AppResult;

/// One check of a hook's delivery log.
#[derive(Debug, Clone)]
pub struct Check {
    pub at: i64,
    pub listed: i64,
    pub missing: i64,
    pub requested: i64,
    pub error: Option<String>,
}

/// A delivery asked for again.
#[derive(Debug, Clone)]
pub struct Requested {
    pub guid: String,
    pub event_type: Option<String>,
    pub requested_at: i64,
    /// Whether it has arrived since (it is stored under its delivery id).
    pub arrived: bool,
}

pub fn record_check(conn: Conn<'_>, integration_id: &str, c: &Check) -> AppResult<()> {
    conn.execute(
        "INSERT INTO reconcile_checks (integration_id, at, listed, missing, requested, error)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            integration_id,
            c.at,
            c.listed,
            c.missing,
            c.requested,
            c.error
        ],
    )?;
    // The log keeps the last hundred checks.
    conn.execute(
        "DELETE FROM reconcile_checks WHERE integration_id = ?1 AND seq <= (
             SELECT seq FROM reconcile_checks WHERE integration_id = ?1
             ORDER BY seq DESC LIMIT 1 OFFSET 100)",
        params![integration_id],
    )?;
    Ok(())
}

pub fn was_requested(conn: Conn<'_>, integration_id: &str, guid: &str) -> AppResult<bool> {
    Ok(conn
        .query_opt(
            "SELECT 1 FROM redelivery_requests WHERE integration_id = ?1 AND guid = ?2",
            params![integration_id, guid],
            |_| Ok(()),
        )?
        .is_some())
}

pub fn record_request(
    conn: Conn<'_>,
    integration_id: &str,
    guid: &str,
    remote_id: i64,
    event_type: Option<&str>,
    at: i64,
    outbox_id: &str,
) -> AppResult<()> {
    conn.execute(
        "INSERT INTO redelivery_requests
             (integration_id, guid, remote_id, event_type, requested_at, outbox_id)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT DO NOTHING",
        params![integration_id, guid, remote_id, event_type, at, outbox_id],
    )?;
    Ok(())
}

/// The last checks, newest first.
pub fn checks(conn: Conn<'_>, integration_id: &str, limit: u32) -> AppResult<Vec<Check>> {
    Ok(conn.query_map(
        "SELECT at, listed, missing, requested, error FROM reconcile_checks
         WHERE integration_id = ?1 ORDER BY seq DESC LIMIT ?2",
        params![integration_id, limit],
        |r| {
            Ok(Check {
                at: r.get(0)?,
                listed: r.get(1)?,
                missing: r.get(2)?,
                requested: r.get(3)?,
                error: r.get(4)?,
            })
        },
    )?)
}

/// Each integration's latest check, for those that were ever checked.
pub fn latest_checks(conn: Conn<'_>) -> AppResult<Vec<(String, Check)>> {
    Ok(conn.query_map(
        "SELECT integration_id, at, listed, missing, requested, error FROM reconcile_checks c
         WHERE seq = (SELECT MAX(seq) FROM reconcile_checks l
                      WHERE l.integration_id = c.integration_id)
         ORDER BY integration_id",
        params![],
        |r| {
            Ok((
                r.get(0)?,
                Check {
                    at: r.get(1)?,
                    listed: r.get(2)?,
                    missing: r.get(3)?,
                    requested: r.get(4)?,
                    error: r.get(5)?,
                },
            ))
        },
    )?)
}

/// The deliveries asked for again, newest first, with whether each has arrived.
pub fn requests(conn: Conn<'_>, integration_id: &str, limit: u32) -> AppResult<Vec<Requested>> {
    Ok(conn.query_map(
        "SELECT r.guid, r.event_type, r.requested_at,
                EXISTS (SELECT 1 FROM webhook_events e
                        WHERE e.integration_id = r.integration_id AND e.delivery_id = r.guid)
         FROM redelivery_requests r WHERE r.integration_id = ?1
         ORDER BY r.requested_at DESC LIMIT ?2",
        params![integration_id, limit],
        |r| {
            Ok(Requested {
                guid: r.get(0)?,
                event_type: r.get(1)?,
                requested_at: r.get(2)?,
                arrived: r.get(3)?,
            })
        },
    )?)
}

/// How many deliveries asked for again have arrived since.
pub fn recovered(conn: Conn<'_>, integration_id: &str) -> AppResult<i64> {
    Ok(conn.query_row(
        "SELECT COUNT(*) FROM redelivery_requests r WHERE r.integration_id = ?1 AND EXISTS (
                 SELECT 1 FROM webhook_events e
                 WHERE e.integration_id = r.integration_id AND e.delivery_id = r.guid)",
        params![integration_id],
        |r| r.get(0),
    )?)
}
