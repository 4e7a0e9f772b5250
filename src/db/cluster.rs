//! Every SQL statement that touches `nodes`, `duties` and `cluster_state`: who is running,
//! whose claims are still good, which node holds the cluster's duties, and the counter that
//! tells every node's receiver to read integrations afresh.
//!
//! Leases are reckoned by the database's clock, not each node's: two machines whose clocks
//! disagree by a second still agree on when a lease ran out.

use super::sql::{Conn, params};
use crate::base::error::AppResult;

/// The duty a node holds for the cluster: retention pruning, reconcile checks, replays.
const LEAD: &str = "lead";

/// Now in Unix milliseconds, by the database's clock.
pub(in crate::db) fn now_sql(conn: Conn<'_>) -> &'static str {
    if conn.is_postgres() {
        "CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)"
    } else {
        "CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER)"
    }
}

/// This node as it announces itself.
pub struct NodeInfo<'a> {
    pub id: &'a str,
    pub claim_token: &'a str,
    pub address: &'a str,
    pub version: &'a str,
    pub lease_ms: i64,
}

/// What a start found left over from this node's previous run.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Requeued {
    pub events: usize,
    pub outbox_rows: usize,
}

/// Records this node's start under its new claim token and puts its previous run's claims
/// back in their queues: that run is over (its data folder is locked by this one), so they
/// need not wait for its lease to run out. Other nodes' claims are left alone. On SQLite no
/// other node exists: every claim left over is this node's, whatever id it ran under.
pub fn join(conn: Conn<'_>, node: &NodeInfo<'_>) -> AppResult<Requeued> {
    let previous: Option<String> = conn.query_opt(
        "SELECT claim_token FROM nodes WHERE id = ?1",
        params![node.id],
        |r| r.get(0),
    )?;
    let now = now_sql(conn);
    conn.execute(
        &format!(
            "INSERT INTO nodes (id, claim_token, address, version, started_at, heartbeat_at,
                                lease_until, stopped_at)
             VALUES (?1, ?2, ?3, ?4, {now}, {now}, {now} + ?5, NULL)
             ON CONFLICT (id) DO UPDATE SET claim_token = ?2, address = ?3, version = ?4,
                 started_at = {now}, heartbeat_at = {now}, lease_until = {now} + ?5,
                 stopped_at = NULL"
        ),
        params![
            node.id,
            node.claim_token,
            node.address,
            node.version,
            node.lease_ms
        ],
    )?;
    if !conn.is_postgres() {
        return Ok(Requeued {
            events: super::events::requeue_every_claim(conn)?,
            outbox_rows: super::outbox::requeue_every_claim(conn)?,
        });
    }
    let Some(previous) = previous else {
        return Ok(Requeued::default());
    };
    Ok(Requeued {
        events: super::events::requeue_claims(conn, &previous)?,
        outbox_rows: super::outbox::requeue_claims(conn, &previous)?,
    })
}

/// How long the lease of the running node `node_id` is still good, by the database's clock;
/// None when no such node runs (it stopped, or its lease ran out).
pub fn lease_left_ms(conn: Conn<'_>, node_id: &str) -> AppResult<Option<i64>> {
    let now = now_sql(conn);
    Ok(conn.query_opt(
        &format!(
            "SELECT lease_until - {now} FROM nodes
             WHERE id = ?1 AND stopped_at IS NULL AND lease_until >= {now}"
        ),
        params![node_id],
        |r| r.get(0),
    )?)
}

/// Renews this node's lease. False when the row now names another start of the same node
/// id (a second process given the same `--node-id`).
pub fn heartbeat(
    conn: Conn<'_>,
    node_id: &str,
    claim_token: &str,
    lease_ms: i64,
) -> AppResult<bool> {
    let now = now_sql(conn);
    Ok(conn.execute(
        &format!(
            "UPDATE nodes SET heartbeat_at = {now}, lease_until = {now} + ?3
             WHERE id = ?1 AND claim_token = ?2"
        ),
        params![node_id, claim_token, lease_ms],
    )? == 1)
}

/// How many other nodes hold a good lease.
pub fn peers_alive(conn: Conn<'_>, node_id: &str) -> AppResult<i64> {
    let now = now_sql(conn);
    Ok(conn.query_value(
        &format!("SELECT COUNT(*) FROM nodes WHERE id != ?1 AND lease_until >= {now}"),
        params![node_id],
    )?)
}

/// Puts back in their queues the claims of nodes whose lease ran out (a node that died, or
/// lost the database for longer than its lease), and claims no node owns.
pub fn reclaim_expired(conn: Conn<'_>) -> AppResult<Requeued> {
    let live = format!(
        "SELECT claim_token FROM nodes WHERE lease_until >= {}",
        now_sql(conn)
    );
    Ok(Requeued {
        events: super::events::requeue_claims_not_of(conn, &live)?,
        outbox_rows: super::outbox::requeue_claims_not_of(conn, &live)?,
    })
}

/// A clean stop: the node's lease ends now, and so does its hold on the cluster's duties.
pub fn leave(conn: Conn<'_>, node_id: &str, claim_token: &str) -> AppResult<()> {
    let now = now_sql(conn);
    conn.execute(
        &format!(
            "UPDATE nodes SET lease_until = {now}, stopped_at = {now}
             WHERE id = ?1 AND claim_token = ?2"
        ),
        params![node_id, claim_token],
    )?;
    conn.execute(
        &format!("UPDATE duties SET lease_until = {now} - 1 WHERE claim_token = ?1"),
        params![claim_token],
    )?;
    Ok(())
}

/// Takes or renews the cluster's duties: free when nobody holds them or the holder's lease
/// ran out. Returns the fence (it grows each time the duties change hands) while this node
/// holds them, None while another node does.
pub fn take_lead(
    conn: Conn<'_>,
    node_id: &str,
    claim_token: &str,
    lease_ms: i64,
) -> AppResult<Option<i64>> {
    let now = now_sql(conn);
    Ok(conn.query_opt(
        &format!(
            "INSERT INTO duties (name, node_id, claim_token, fence, lease_until)
             VALUES (?1, ?2, ?3, 1, {now} + ?4)
             ON CONFLICT (name) DO UPDATE SET node_id = ?2, claim_token = ?3,
                 fence = CASE WHEN duties.claim_token = ?3 THEN duties.fence
                              ELSE duties.fence + 1 END,
                 lease_until = {now} + ?4
             WHERE duties.claim_token = ?3 OR duties.lease_until < {now}
             RETURNING fence"
        ),
        params![LEAD, node_id, claim_token, lease_ms],
        |r| r.get(0),
    )?)
}

/// Whether this node still holds the duties under `fence`: checked inside a duty's own
/// transaction, so that a node whose lease ran out (and was taken over) writes nothing.
pub fn holds_lead(conn: Conn<'_>, claim_token: &str, fence: i64) -> AppResult<bool> {
    let held: i64 = conn.query_value(
        &format!(
            "SELECT COUNT(*) FROM duties
             WHERE name = ?1 AND claim_token = ?2 AND fence = ?3 AND lease_until >= {}",
            now_sql(conn)
        ),
        params![LEAD, claim_token, fence],
    )?;
    Ok(held == 1)
}

/// The counter API writes move, as committed.
pub fn config_generation(conn: Conn<'_>) -> AppResult<i64> {
    Ok(conn.query_value(
        "SELECT config_generation FROM cluster_state WHERE id = 1",
        params![],
    )?)
}

/// Moves the counter, inside the API write's transaction; on PostgreSQL every node listening
/// hears of it when the transaction commits.
pub fn bump_config_generation(conn: Conn<'_>) -> AppResult<()> {
    conn.execute(
        "UPDATE cluster_state SET config_generation = config_generation + 1 WHERE id = 1",
        params![],
    )?;
    notify(conn, Notice::Config);
    Ok(())
}

/// What a node tells the others through the database (PostgreSQL's NOTIFY).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notice {
    /// Deliveries were stored: workers may claim them.
    Events,
    /// An API write committed: receivers read integrations afresh.
    Config,
}

impl Notice {
    pub(in crate::db) fn parse(text: &str) -> Option<Notice> {
        match text {
            "events" => Some(Notice::Events),
            "config" => Some(Notice::Config),
            _ => None,
        }
    }
}

/// The channel every node listens on (named as well in [`notify`]'s statements). Its
/// payload names the schema, since several installations (or tests) may share one database.
pub(in crate::db) const CHANNEL: &str = "provenant";

/// Sent when the transaction commits (nothing on SQLite, which has one node); it goes out
/// with the transaction's next statement, so it costs no round trip of its own.
pub fn notify(conn: Conn<'_>, notice: Notice) {
    conn.defer_on_postgres(match notice {
        Notice::Events => "SELECT pg_notify('provenant', current_schema() || ' events')",
        Notice::Config => "SELECT pg_notify('provenant', current_schema() || ' config')",
    });
}

/// A node as the cluster view shows it.
#[derive(Debug, Clone)]
pub struct NodeRow {
    pub id: String,
    pub address: String,
    pub version: String,
    pub started_at: i64,
    pub heartbeat_at: i64,
    /// Whether its lease is still good (by the database's clock).
    pub alive: bool,
    pub stopped_at: Option<i64>,
    /// Whether it holds the cluster's duties now.
    pub leads: bool,
}

/// Nodes seen within `within_ms` (or still holding a lease), newest start first.
pub fn nodes(conn: Conn<'_>, within_ms: i64) -> AppResult<Vec<NodeRow>> {
    let now = now_sql(conn);
    Ok(conn.query_map(
        &format!(
            "SELECT n.id, n.address, n.version, n.started_at, n.heartbeat_at,
                    n.lease_until >= {now} AND n.stopped_at IS NULL,
                    n.stopped_at,
                    d.claim_token IS NOT NULL
             FROM nodes n
             LEFT JOIN duties d ON d.name = ?1 AND d.claim_token = n.claim_token
                                AND d.lease_until >= {now}
             WHERE n.heartbeat_at >= {now} - ?2 OR n.lease_until >= {now}
             ORDER BY n.started_at DESC, n.id"
        ),
        params![LEAD, within_ms],
        |r| {
            Ok(NodeRow {
                id: r.get(0)?,
                address: r.get(1)?,
                version: r.get(2)?,
                started_at: r.get(3)?,
                heartbeat_at: r.get(4)?,
                alive: r.get(5)?,
                stopped_at: r.get(6)?,
                leads: r.get(7)?,
            })
        },
    )?)
}
