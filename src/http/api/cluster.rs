//! `GET /api/cluster`: the nodes sharing this database, their last heartbeat, and which of
//! them holds the cluster's duties.

use poem::web::Data;
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};

use super::errors::{AUTHED, ApiError};
use super::{ApiTags, BearerAuth};
use crate::db::{self, cluster};
use crate::domain::checked::Timestamp;
use crate::http::state::SharedState;
use crate::pipeline::cluster::SHOWN_FOR;

pub struct ClusterApi;

/// The duties the node that holds them runs for the whole cluster.
const DUTIES: [&str; 3] = ["pruning", "reconcile", "replays"];

/// One node.
#[derive(Object)]
#[oai(rename_all = "camelCase", skip_serializing_if_is_none)]
pub struct NodeOut {
    /// `--node-id`, or the one kept in its data folder.
    pub id: String,
    /// Where it serves, as it announced (its public URL).
    pub address: String,
    /// The version of provenant it runs.
    pub version: String,
    /// RFC 3339, UTC.
    pub started_at: Timestamp,
    /// Its last heartbeat (RFC 3339, UTC).
    pub last_heartbeat_at: Timestamp,
    /// Its lease is good: it is running, or died less than a lease ago.
    pub alive: bool,
    /// When it stopped cleanly.
    pub stopped_at: Option<Timestamp>,
    /// The duties it holds for the cluster (`pruning`, `reconcile`, `replays`); empty for
    /// every node but one.
    pub duties: Vec<String>,
    /// This is the node that answered.
    pub this_node: bool,
}

/// The nodes seen in the last day.
#[derive(Object)]
#[oai(rename_all = "camelCase")]
pub struct ClusterOut {
    /// Newest start first.
    pub nodes: Vec<NodeOut>,
    /// The node that answered.
    pub this_node: String,
    /// How long a node's claims outlive its last heartbeat, in milliseconds.
    pub lease_ms: u64,
}

#[OpenApi(tag = "ApiTags::Health")]
impl ClusterApi {
    /// List the nodes sharing this database.
    ///
    /// The nodes that share this database (one on SQLite), their last heartbeat, whether
    /// their lease is good, and which node holds the cluster's duties (retention pruning,
    /// reconcile checks, replays).
    #[oai(path = "/cluster", method = "get", operation_id = "getCluster")]
    async fn cluster(
        &self,
        _auth: BearerAuth,
        state: Data<&SharedState>,
    ) -> Result<Json<ClusterOut>, ApiError<AUTHED>> {
        let within = SHOWN_FOR.as_millis() as i64;
        let rows = db::run(&state.pool, move |conn| cluster::nodes(conn, within)).await?;
        let me = &state.node;
        Ok(Json(ClusterOut {
            nodes: rows
                .into_iter()
                .map(|n| NodeOut {
                    this_node: n.id == me.id,
                    duties: if n.leads {
                        DUTIES.iter().map(|d| d.to_string()).collect()
                    } else {
                        Vec::new()
                    },
                    id: n.id,
                    address: n.address,
                    version: n.version,
                    started_at: Timestamp(n.started_at),
                    last_heartbeat_at: Timestamp(n.heartbeat_at),
                    alive: n.alive,
                    stopped_at: n.stopped_at.map(Timestamp),
                })
                .collect(),
            this_node: me.id.clone(),
            lease_ms: u64::try_from(me.lease.as_millis()).unwrap_or(u64::MAX),
        }))
    }
}
