//! `GET /api/health`: is the server alive, is its database usable, how long is the queue.

use poem::web::Data;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};

use super::ApiTags;
use crate::db::{self, events, outbox};
use crate::domain::checked::Timestamp;
use crate::http::api::outbox::{DestinationOut, destination_out};
use crate::http::state::SharedState;

pub struct HealthApi;

/// A RECEIVED event older than this makes the server `degraded`.
const STUCK_AFTER_MS: i64 = 300_000;

/// Server health. Without a token only `status` and `version`; with the API token, the
/// details.
///
/// `storage`: Whether deliveries can be stored now, checked by a write (with a token).
/// `queue`: The processing queue; absent when the database is unavailable.
/// `outbox`: What waits to be said to the outside world; absent when the database is unavailable.
#[derive(Object)]
#[oai(skip_serializing_if_is_none, rename_all = "camelCase")]
pub struct HealthOut {
    /// `ok`; `degraded` when something needs attention but deliveries are still stored (the
    /// queue is stuck, a remote paused us); `unavailable` (with HTTP 503) when deliveries
    /// cannot be stored or the database cannot be read.
    pub status: String,
    /// The server's version.
    pub version: String,
    /// `ok`, or what is wrong with reading the database (with a token).
    pub database: Option<String>,
    // Whether deliveries can be stored now, checked by a write (with a token).
    pub storage: Option<StorageOut>,
    /// What needs attention, one sentence each; empty when all is well (with a token).
    pub problems: Option<Vec<String>>,
    // The processing queue; absent when the database is unavailable.
    #[oai(skip_serializing_if_is_none)]
    pub queue: Option<QueueOut>,
    // What waits to be said to the outside world; absent when the database is unavailable.
    #[oai(skip_serializing_if_is_none)]
    pub outbox: Option<OutboxHealthOut>,
}

/// Whether deliveries can be stored.
#[derive(Object)]
#[oai(skip_serializing_if_is_none, rename_all = "camelCase")]
pub struct StorageOut {
    /// A write succeeded just now (the health check writes one row; while deliveries are
    /// refused for storage, as many bytes as the refused delivery).
    pub writable: bool,
    /// The last failed write (of a delivery batch or of this check), even if writes work
    /// again since.
    pub last_write_error: Option<String>,
    /// When that write failed.
    pub last_write_error_at: Option<Timestamp>,
    /// How long ago the write check ran, in milliseconds: it runs at most once a second,
    /// however often health is asked for, and calls in between get its result.
    pub checked_ms_ago: i64,
}

/// Outbox rows by status, and destinations their remote asked to pause.
#[derive(Object)]
#[oai(skip_serializing_if_is_none, rename_all = "camelCase")]
pub struct OutboxHealthOut {
    /// Rows waiting (for their turn, a retry, or a paused destination).
    pub pending: i64,
    /// Rows being sent now.
    pub sending: i64,
    /// Rows that failed for good.
    pub failed: i64,
    /// Destinations paused by their remote (rate limits), until when and why.
    pub paused_destinations: Vec<DestinationOut>,
}

/// Events by status, and how long the oldest waiting one has waited.
#[derive(Object)]
#[oai(skip_serializing_if_is_none, rename_all = "camelCase")]
pub struct QueueOut {
    /// Events waiting to be processed (including retries not yet due).
    pub received: i64,
    /// Events being processed now.
    pub processing: i64,
    /// Events processed successfully.
    pub processed: i64,
    /// Events that failed for good.
    pub failed: i64,
    /// Milliseconds since the oldest RECEIVED event arrived; absent when none waits.
    #[oai(skip_serializing_if_is_none)]
    pub oldest_received_age_ms: Option<i64>,
}

#[derive(ApiResponse)]
pub enum HealthResponse {
    /// Deliveries are stored (`status` is `ok` or `degraded`).
    #[oai(status = 200)]
    Ok(
        Json<HealthOut>,
        /// The answer to `provenant doctor`'s probe (`X-Provenant-Probe`), when asked: it
        /// shows that the public URL reaches a server of this installation.
        #[oai(header = "X-Provenant-Probe-Answer")]
        Option<String>,
    ),
    /// Deliveries cannot be stored, or the database cannot be read.
    #[oai(status = 503)]
    Unavailable(
        Json<HealthOut>,
        /// As for 200.
        #[oai(header = "X-Provenant-Probe-Answer")]
        Option<String>,
    ),
}

#[OpenApi(tag = "ApiTags::Health")]
impl HealthApi {
    /// Get the server's health.
    ///
    /// Liveness, storage, queue and outbox figures. Needs no token: without one, only
    /// `status` and `version` (the HTTP status is the same); with a token that may read, every detail.
    /// Answers 503 when deliveries cannot be stored (full disk, read-only file, database
    /// locked by another process) or the database cannot be read: a load balancer can take
    /// the server out. Storage is checked by a write at most once a second.
    #[oai(path = "/health", method = "get", operation_id = "getHealth")]
    async fn health(&self, state: Data<&SharedState>, req: &poem::Request) -> HealthResponse {
        // A wrong token gets what no token gets (and counts as a wrong guess).
        let detailed = super::guard::authenticate(&state, req)
            .await
            .ok()
            .flatten()
            .is_some_and(|p| p.may(crate::domain::access::Need::Read));
        let (probe, probe_age) = match state.storage.recent_probe() {
            Some(recent) => recent,
            None => (probe(&state).await, std::time::Duration::ZERO),
        };
        let now = state.clock.now_ms();
        let read = db::run(&state.pool, move |conn| {
            conn.ping()?;
            let paused: Vec<_> = outbox::destinations(conn, now, None)?
                .into_iter()
                .filter(|d| d.paused_until.is_some())
                .collect();
            Ok((events::queue_stats(conn)?, outbox::counts(conn)?, paused))
        })
        .await;
        let (last_error, _) = state.storage.last_error();
        let mut problems = Vec::new();
        let mut database = "ok".to_string();
        let mut out = HealthOut {
            status: "ok".into(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            database: None,
            storage: Some(StorageOut {
                writable: probe.is_ok(),
                last_write_error: last_error.as_ref().map(|e| e.message.clone()),
                last_write_error_at: last_error.as_ref().map(|e| Timestamp(e.at)),
                checked_ms_ago: probe_age.as_millis() as i64,
            }),
            problems: None,
            queue: None,
            outbox: None,
        };
        if let Err(message) = &probe {
            problems.push(format!("deliveries cannot be stored: {message}"));
            if let Some(refused) = state.storage.refusing() {
                problems.push(format!(
                    "a delivery of {} bytes was refused at {} ({}), and none has been stored since",
                    refused.bytes,
                    crate::base::clock::rfc3339(refused.at),
                    refused.message
                ));
            }
        }
        match read {
            Ok((stats, (pending, sending, failed), paused)) => {
                let oldest_age = stats.oldest_received_at.map(|t| (now - t).max(0));
                if let Some(age) = oldest_age.filter(|a| *a > STUCK_AFTER_MS) {
                    problems.push(format!(
                        "the oldest waiting event arrived {} s ago (over {} s): processing is stuck or far behind",
                        age / 1000,
                        STUCK_AFTER_MS / 1000
                    ));
                }
                for d in &paused {
                    problems.push(format!(
                        "{} is paused until {}: {}",
                        d.destination,
                        d.paused_until
                            .map(crate::base::clock::rfc3339)
                            .unwrap_or_default(),
                        d.reason.as_deref().unwrap_or("asked by the remote")
                    ));
                }
                out.queue = Some(QueueOut {
                    received: stats.received,
                    processing: stats.processing,
                    processed: stats.processed,
                    failed: stats.failed,
                    oldest_received_age_ms: oldest_age,
                });
                out.outbox = Some(OutboxHealthOut {
                    pending,
                    sending,
                    failed,
                    paused_destinations: paused.into_iter().map(destination_out).collect(),
                });
            }
            Err(e) => {
                tracing::error!(error = %e, "health check: database unavailable");
                database = "unavailable: see the server log".into();
                problems.push("the database cannot be read".into());
            }
        }
        if let Some(tls) = &state.tls {
            problems.extend(tls.problems(now.div_euclid(1000)));
        }
        let unavailable = probe.is_err() || database != "ok";
        out.status = if unavailable {
            "unavailable"
        } else if !problems.is_empty() {
            "degraded"
        } else {
            "ok"
        }
        .into();
        if detailed {
            out.database = Some(database);
            out.problems = Some(problems);
        } else {
            // Without a token: what a load balancer needs, nothing about destinations, their
            // credentials or what remotes said.
            out.storage = None;
            out.queue = None;
            out.outbox = None;
        }
        let probe = req
            .headers()
            .get(crate::remote::agent::PROBE_HEADER)
            .and_then(|v| v.to_str().ok())
            .filter(|nonce| !nonce.is_empty() && nonce.len() <= 128)
            .map(|nonce| crate::remote::agent::probe_answer(&state.api_token, nonce));
        if unavailable {
            HealthResponse::Unavailable(Json(out), probe)
        } else {
            HealthResponse::Ok(Json(out), probe)
        }
    }
}

/// Writes the probe row, in its turn with the server's own writers (a fair queue), so a busy
/// worker is not mistaken for a locked database; a turn that never comes is reported.
async fn probe(state: &SharedState) -> Result<(), String> {
    let storage = state.storage.clone();
    match tokio::time::timeout(
        crate::db::storage::PROBE_WAIT,
        state.write_gate.clone().lock_owned(),
    )
    .await
    {
        Ok(turn) => tokio::task::spawn_blocking(move || {
            let _turn = turn;
            storage.probe()
        })
        .await
        .unwrap_or_else(|e| Err(format!("the write check failed: {e}"))),
        Err(_) => {
            Err("the server's own writers have not let a write through for a second".to_string())
        }
    }
}
