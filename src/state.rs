//! What every request handler can reach.

use std::sync::Arc;

use crate::config::Settings;
use crate::db::Pool;
use crate::db::writer::Writer;
use crate::secrets::SecretBox;
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
    /// The shared outbound HTTP client (for the "send test" endpoint).
    pub http: ureq::Agent,
}

pub type SharedState = Arc<AppState>;

impl AppState {
    /// Tells the worker that an event is waiting, so it does not wait for its next poll.
    pub fn wake_worker(&self) {
        self.wakeup.wake();
    }

    pub fn webhook_url(&self, integration_id: &str) -> String {
        format!(
            "{}/api/integrations/webhook/{integration_id}",
            self.public_url
        )
    }
}
