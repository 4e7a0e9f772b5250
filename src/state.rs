//! What every request handler can reach.

use std::sync::Arc;

use crate::config::Settings;
use crate::db::integrations::Generation;
use crate::db::storage::Storage;
use crate::db::writer::Writer;
use crate::db::{self, Pool, WriteGate};
use crate::error::AppResult;
use crate::metrics::Metrics;
use crate::outbox::OutboxHandle;
use crate::remote::AllowedHosts;
use crate::replay::ReplayWaker;
use crate::secrets::SecretBox;
use crate::webhook::directory::Directory;
use crate::worker::Wakeup;

pub struct AppState {
    pub pool: Pool,
    pub writer: Writer,
    pub settings: Settings,
    /// The management API's bearer token.
    pub api_token: String,
    /// Base of the webhook URLs shown to users, without a trailing slash.
    pub public_url: String,
    pub wakeup: Wakeup,
    pub secrets: Arc<SecretBox>,
    /// Wakes the outbox's dispatcher when a request handler queued rows.
    pub outbox: OutboxHandle,
    pub metrics: Arc<Metrics>,
    /// API writes take turns here (see [`db::write`]).
    pub write_gate: WriteGate,
    /// The receiver's in-memory view of active integrations; emptied by every API write, on
    /// this node or (through the cluster watcher) on another.
    pub receivers: Arc<Directory>,
    /// Moves with every API write; the worker's copies of integrations follow it.
    pub config_generation: Generation,
    /// Whether deliveries can be stored now (for the health check).
    pub storage: Arc<Storage>,
    /// This node's minute counts not yet written (the alerts' check writes them).
    pub recent: Arc<crate::db::stats::Recent>,
    /// When this node's alerts were last looked at.
    pub last_alert_check: crate::alerts::LastCheck,
    /// Wakes the task that paces replays by filter.
    pub replays: ReplayWaker,
    /// Asks for a check of an integration's delivery log (a delivery came after a gap).
    pub reconcile: crate::reconcile::ReconcileWaker,
    /// The hosts whose answers may be kept and shown.
    pub allowed_hosts: Arc<AllowedHosts>,
    /// This node among the others on its database.
    pub node: Arc<crate::cluster::Node>,
    /// HTTPS: the certificate served and its troubles; None for plain HTTP.
    pub tls: Option<Arc<crate::tls::Tls>>,
    /// The one outbound HTTP client (its connection pool and proxy settings), shared with
    /// the outbox: reconcile checks and GitHub App conversions use it too.
    pub http: ureq::Agent,
    /// Wrong tokens counted per source address, to refuse guessing (429).
    pub failed_sign_ins: Arc<crate::throttle::Throttle>,
    /// The last run of `GET /api/doctor` (when, and its checks): another within
    /// [`crate::api::doctor::RUN_AT_MOST_EVERY`] gets these instead of calling every remote
    /// with every credential again. Held while a run is in progress, so callers share it.
    pub last_doctor: tokio::sync::Mutex<Option<(i64, Vec<crate::doctor::Check>)>>,
    /// Single sign-ons started, per source and in total (each is a row until it ends).
    pub sign_in_starts: Arc<crate::throttle::Throttle>,
    /// Single sign-on for the pages, when it is configured.
    pub sso: Option<Arc<crate::remote::oidc::Provider>>,
}

pub type SharedState = Arc<AppState>;

impl AppState {
    /// Tells the worker that an event is waiting, so it does not wait for its next poll.
    pub fn wake_worker(&self) {
        self.wakeup.wake();
    }

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

    pub fn webhook_url(&self, integration_id: &str) -> String {
        format!(
            "{}/api/integrations/webhook/{integration_id}",
            self.public_url
        )
    }
}
