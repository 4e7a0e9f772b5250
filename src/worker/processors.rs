//! What processing a delivery means, per integration type. The pipeline does not know what a
//! processor does; it only records the outcome or error and schedules retries.

use std::sync::Arc;
use std::time::Duration;

use crate::db::events::EventDetail;
use crate::db::integrations::Integration;
use crate::model::IntegrationType;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProcessError {
    /// Worth trying again later (a 5xx or timeout from a remote service). `after` is the
    /// least wait the remote asked for (`Retry-After`).
    Retryable {
        error: String,
        after: Option<Duration>,
    },
    /// Will fail the same way every time (bad credentials, a malformed payload).
    Permanent(String),
}

pub trait Processor: Send + Sync {
    /// Handles one event; returns a short outcome text for the event log.
    fn process(
        &self,
        integration: &Integration,
        event: &EventDetail,
    ) -> Result<String, ProcessError>;
}

/// The processor for each integration type.
#[derive(Clone)]
pub struct Processors {
    pub github: Arc<dyn Processor>,
    pub gitlab: Arc<dyn Processor>,
    pub slack: Arc<dyn Processor>,
    pub webhook: Arc<dyn Processor>,
}

impl Processors {
    pub fn for_type(&self, kind: IntegrationType) -> &dyn Processor {
        match kind {
            IntegrationType::Github => self.github.as_ref(),
            IntegrationType::Gitlab => self.gitlab.as_ref(),
            IntegrationType::Slack => self.slack.as_ref(),
            IntegrationType::Webhook => self.webhook.as_ref(),
        }
    }
}

impl Default for Processors {
    fn default() -> Self {
        let record = Arc::new(RecordOnly);
        Processors {
            github: record.clone(),
            gitlab: record.clone(),
            slack: record.clone(),
            webhook: record,
        }
    }
}

/// Records the delivery and answers GitHub's `ping`; takes no other action.
pub struct RecordOnly;

impl Processor for RecordOnly {
    fn process(
        &self,
        _integration: &Integration,
        event: &EventDetail,
    ) -> Result<String, ProcessError> {
        if event.summary.event_type == "ping" {
            Ok("pong".into())
        } else {
            Ok("recorded, no action".into())
        }
    }
}
