//! SLACK: where notifications go (an incoming webhook, or the Web API with a bot token) and
//! the signing secret Slack's own requests are verified with; Slack's API base.

use poem_openapi::Object;
use poem_openapi::types::Example;
use serde::Deserialize;

use crate::domain::checked::{BaseUrl, EventPattern, UrlOrSecretRef};

/// Slack's Web API base.
pub const SLACK_API: &str = "https://slack.com/api";

/// A Slack URL as sent (checked), or as stored: sealed at rest (see `secrets::sealed`). Input
/// never carries the sealed form (the API refuses it before parsing).
fn url_or_sealed<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<UrlOrSecretRef>, D::Error> {
    use serde::de::Error;
    // Stored configs from older versions may hold null.
    let Some(text) = Option::<String>::deserialize(d)? else {
        return Ok(None);
    };
    if crate::domain::credentials::is_sealed(&text) {
        return Ok(Some(UrlOrSecretRef::stored(text)));
    }
    UrlOrSecretRef::parse(&text)
        .map(Some)
        .ok_or_else(|| D::Error::custom(UrlOrSecretRef::HINT))
}

/// SLACK: notifications go to an incoming webhook, or, with a bot token and a channel, are
/// posted through Slack's Web API: one message per eval run and deployment, updated in place as
/// its status changes, all messages about one pull request in one thread. Slack's own requests
/// (interactivity, slash commands, Events API) are received and verified with the app's
/// signing secret.
#[derive(Debug, Clone, Object, Deserialize)]
#[oai(example, skip_serializing_if_is_none)]
pub struct SlackConfig {
    /// The incoming-webhook URL, or `${secret:NAME}` (needed unless `bot_token` and
    /// `channel` are set). It is a credential: shown as `https://hooks.slack.com/services/…/***`.
    #[serde(default, deserialize_with = "url_or_sealed")]
    pub webhook_url: Option<UrlOrSecretRef>,
    /// A bot token (`xoxb-…`; best as `${secret:NAME}`) with `chat:write`: with `channel`,
    /// messages are posted and then updated in place, threaded per pull request. Shown as `***`.
    pub bot_token: Option<String>,
    /// The Slack Web API base. Default `https://slack.com/api`.
    pub api_url: Option<BaseUrl>,
    /// The Slack app's signing secret: requests to this integration's receiver must carry a
    /// valid `X-Slack-Signature`. Or `${secret:NAME}`. Shown as `***`.
    pub signing_secret: Option<String>,
    /// The channel: where a bot token posts (an id such as `C0123456789`, or `#name`); for
    /// a webhook, an override (legacy webhooks only).
    pub channel: Option<String>,
    /// A sender name override, e.g. `Provenant Bot` (legacy webhooks only).
    pub username: Option<String>,
    /// Which notifications to send: event types or prefixes ending in `*`. Absent or empty:
    /// all.
    pub events: Option<Vec<EventPattern>>,
}

impl SlackConfig {
    /// Where its Web API calls go: `api_url`, or Slack's.
    pub fn api_base(&self) -> String {
        self.api_url
            .as_ref()
            .map_or(SLACK_API, BaseUrl::as_str)
            .trim_end_matches('/')
            .to_string()
    }
}

impl Example for SlackConfig {
    fn example() -> Self {
        SlackConfig {
            webhook_url: UrlOrSecretRef::parse("https://hooks.slack.com/services/T000/B000/XXXX"),
            bot_token: None,
            api_url: None,
            signing_secret: None,
            channel: Some("#agent-alerts".into()),
            username: Some("Provenant Bot".into()),
            events: None,
        }
    }
}
