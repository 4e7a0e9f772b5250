//! WEBHOOK: a generic receiver whose events are announced to Slack.

use poem_openapi::Object;
use poem_openapi::types::Example;
use serde::Deserialize;

use crate::domain::checked::EventPattern;

/// WEBHOOK: a generic receiver; its events are announced to Slack.
#[derive(Debug, Clone, Object, Deserialize)]
#[oai(example, skip_serializing_if_is_none)]
pub struct WebhookConfig {
    /// What sends here, for people.
    pub description: Option<String>,
    /// Which event types to announce: types or prefixes ending in `*`. Absent or empty: all.
    pub events: Option<Vec<EventPattern>>,
    /// A signing secret: deliveries must carry Standard Webhooks headers or
    /// `X-Hub-Signature-256`. Or `${secret:NAME}`. Shown as `***`.
    pub secret: Option<String>,
    /// Let deliveries that passed no signature check (no secret is set) be announced to
    /// Slack. Default `false`: they are stored and shown as unverified, and nothing is sent.
    pub allow_unverified: Option<bool>,
}

impl Example for WebhookConfig {
    fn example() -> Self {
        WebhookConfig {
            description: Some("Production monitoring webhook".into()),
            events: Some(vec![
                EventPattern::parse("drift.critical").expect("example"),
                EventPattern::parse("violation.high").expect("example"),
            ]),
            secret: None,
            allow_unverified: None,
        }
    }
}
