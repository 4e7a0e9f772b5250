//! `GET /api/health`: is the server alive, is its database usable, how long is the queue.

use poem::web::Data;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};

use super::ApiTags;
use crate::api::outbox::{DestinationOut, destination_out};
use crate::clock;
use crate::db::{self, events, outbox};
use crate::state::SharedState;

pub struct HealthApi;

/// Server health.
#[derive(Object)]
#[oai(skip_serializing_if_is_none, rename_all = "camelCase")]
pub struct HealthOut {
    /// `ok`, or `unavailable` when the database cannot be used.
    pub status: String,
    /// The server's version.
    pub version: String,
    /// `ok`, or what is wrong with the database.
    pub database: String,
    /// The processing queue; absent when the database is unavailable.
    #[oai(skip_serializing_if_is_none)]
    pub queue: Option<QueueOut>,
    /// What waits to be said to the outside world; absent when the database is unavailable.
    #[oai(skip_serializing_if_is_none)]
    pub outbox: Option<OutboxHealthOut>,
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
    /// Seconds since the oldest RECEIVED event arrived; absent when none waits.
    #[oai(skip_serializing_if_is_none)]
    pub oldest_received_age_seconds: Option<f64>,
}

#[derive(ApiResponse)]
pub enum HealthResponse {
    /// The server and its database work.
    #[oai(status = 200)]
    Ok(Json<HealthOut>),
    /// The database cannot be used.
    #[oai(status = 503)]
    Unavailable(Json<HealthOut>),
}

#[OpenApi(tag = "ApiTags::Health")]
impl HealthApi {
    /// Liveness, database check and queue figures. Needs no token.
    #[oai(path = "/health", method = "get")]
    async fn health(&self, state: Data<&SharedState>) -> HealthResponse {
        let result = db::run(&state.pool, |conn| {
            conn.query_row("SELECT 1", [], |_| Ok(()))?;
            let now = clock::now_ms();
            let paused: Vec<_> = outbox::destinations(conn, now)?
                .into_iter()
                .filter(|d| d.paused_until.is_some())
                .collect();
            Ok((events::queue_stats(conn)?, outbox::counts(conn)?, paused))
        })
        .await;
        let version = env!("CARGO_PKG_VERSION").to_string();
        match result {
            Ok((stats, (pending, sending, failed), paused)) => {
                let now = clock::now_ms();
                HealthResponse::Ok(Json(HealthOut {
                    status: "ok".into(),
                    version,
                    database: "ok".into(),
                    queue: Some(QueueOut {
                        received: stats.received,
                        processing: stats.processing,
                        processed: stats.processed,
                        failed: stats.failed,
                        oldest_received_age_seconds: stats
                            .oldest_received_at
                            .map(|t| (now - t).max(0) as f64 / 1000.0),
                    }),
                    outbox: Some(OutboxHealthOut {
                        pending,
                        sending,
                        failed,
                        paused_destinations: paused.into_iter().map(destination_out).collect(),
                    }),
                }))
            }
            Err(e) => {
                tracing::error!(error = %e, "health check: database unavailable");
                HealthResponse::Unavailable(Json(HealthOut {
                    status: "unavailable".into(),
                    version,
                    database: "unavailable: see the server log".into(),
                    queue: None,
                    outbox: None,
                }))
            }
        }
    }
}
