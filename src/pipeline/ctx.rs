//! What background work shares: the parts a task is handed instead of the HTTP state (the
//! pool and its write turns, this node, the clock, the one outbound HTTP agent, secrets, where
//! credentials may go, the worker's and the outbox's wake-ups). The HTTP state holds one and
//! reads through it; reconcile, replays and alerts get one and nothing of HTTP.

use std::sync::Arc;

use crate::base::clock::Clock;
use crate::db::stats::Recent;
use crate::db::storage::Storage;
use crate::db::{Pool, WriteGate};
use crate::domain::hosts::AllowedHosts;
use crate::domain::secrets::SecretBox;
use crate::pipeline::cluster::Node;
use crate::pipeline::outbox::OutboxHandle;
use crate::pipeline::worker::Wakeup;

pub struct Ctx {
    pub pool: Pool,
    /// Writes take turns here (see `db::write`).
    pub write_gate: WriteGate,
    pub clock: Clock,
    /// This node among the others on its database.
    pub node: Arc<Node>,
    /// The one outbound HTTP client (its connection pool and proxy settings), shared with the
    /// outbox.
    pub http: ureq::Agent,
    pub secrets: Arc<SecretBox>,
    /// The hosts whose answers may be kept and shown, and the http origins credentials may
    /// go to.
    pub allowed_hosts: Arc<AllowedHosts>,
    /// Base of the webhook URLs shown to users, without a trailing slash.
    pub public_url: String,
    /// Wakes the worker when an event is waiting.
    pub wakeup: Wakeup,
    /// Wakes the outbox's dispatcher when rows were queued.
    pub outbox: OutboxHandle,
    /// Whether deliveries can be stored now.
    pub storage: Arc<Storage>,
    /// This node's minute counts not yet written (the alerts' check writes them).
    pub recent: Arc<Recent>,
    /// Alerts one WEBHOOK integration may have waiting for one Slack integration.
    pub max_queued_alerts: usize,
}

impl Ctx {
    /// Tells the worker that an event is waiting, so it does not wait for its next poll.
    pub fn wake_worker(&self) {
        self.wakeup.wake();
    }

    /// The receiver's URL for an integration.
    pub fn webhook_url(&self, integration_id: &str) -> String {
        format!(
            "{}/api/integrations/webhook/{integration_id}",
            self.public_url
        )
    }
}
