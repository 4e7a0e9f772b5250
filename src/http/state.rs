//! What every request handler can reach.

use std::sync::Arc;

use crate::base::error::AppResult;
use crate::base::metrics::Metrics;
use crate::db;
use crate::db::integrations::Generation;
use crate::db::writer::Writer;
use crate::domain::webhook::directory::Directory;
use crate::pipeline::ctx::Ctx;
use crate::pipeline::replay::ReplayWaker;

pub struct AppState {
    /// What background work shares too (the pool, the clock, the node …): read through
    /// `Deref`, so `state.pool` is `state.ctx.pool`.
    pub ctx: Arc<Ctx>,
    pub writer: Writer,
    /// The management API's bearer token.
    pub api_token: String,
    /// The largest webhook body taken (`--max-body-bytes`).
    pub max_body_bytes: usize,
    /// The data folder, for `GET /api/doctor`; None for a PostgreSQL node without one.
    pub data_dir: Option<std::path::PathBuf>,
    pub metrics: Arc<Metrics>,
    /// The receiver's in-memory view of active integrations; emptied by every API write, on
    /// this node or (through the cluster watcher) on another.
    pub receivers: Arc<Directory>,
    /// Moves with every API write; the worker's copies of integrations follow it.
    pub config_generation: Generation,
    /// When this node's alerts were last looked at.
    pub last_alert_check: Arc<crate::pipeline::alerts::LastCheck>,
    /// Wakes the task that paces replays by filter.
    pub replays: ReplayWaker,
    /// Asks for a check of an integration's delivery log (a delivery came after a gap).
    pub reconcile: crate::pipeline::reconcile::ReconcileWaker,
    /// HTTPS: the certificate served and its troubles; None for plain HTTP.
    pub tls: Option<Arc<crate::tls::Tls>>,
    /// Wrong tokens counted per source address, to refuse guessing (429).
    pub failed_sign_ins: Arc<crate::http::throttle::Throttle>,
    /// The last run of `GET /api/doctor` (when, and its checks): another within
    /// [`crate::http::api::doctor::RUN_AT_MOST_EVERY`] gets these instead of calling every remote
    /// with every credential again. Held while a run is in progress, so callers share it.
    pub last_doctor: tokio::sync::Mutex<Option<(i64, Vec<crate::doctor::Check>)>>,
    /// Single sign-ons started, per source and in total (each is a row until it ends).
    pub sign_in_starts: Arc<crate::http::throttle::Throttle>,
    /// Single sign-on for the pages, when it is configured.
    pub sso: Option<Arc<crate::remote::oidc::Provider>>,
    /// The CI issuers whose job tokens may report on their runs (their keys, as fetched).
    pub ci_issuers: Arc<crate::remote::ci_oidc::CiIssuers>,
}

impl std::ops::Deref for AppState {
    type Target = Ctx;

    fn deref(&self) -> &Ctx {
        &self.ctx
    }
}

pub type SharedState = Arc<AppState>;

impl AppState {
    /// Runs a write for a request handler in its own `IMMEDIATE` transaction, in turn.
    pub async fn write<T, F>(&self, work: F) -> AppResult<T>
    where
        T: Send + 'static,
        F: FnOnce(db::Conn<'_>) -> AppResult<T> + Send + 'static,
    {
        // The counter moves in the same transaction, so other nodes' receivers follow.
        let out = db::write(&self.pool, &self.write_gate, move |tx| {
            let out = work(tx)?;
            db::cluster::bump_config_generation(tx)?;
            Ok(out)
        })
        .await;
        // Whatever changed (an integration, a secret), the receiver reads it afresh.
        self.receivers.invalidate();
        self.config_generation.bump();
        out
    }
}
