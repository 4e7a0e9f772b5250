//! Slack incoming webhooks: how their answers read. 200 `ok` is done; 429 pauses the webhook
//! for its `Retry-After`; 5xx is retried; any other answer (`invalid_payload`,
//! `channel_not_found`, `no_service` …) will not change by sending again.

use std::time::Duration;

use super::{Answer, accepted, read_other, said};
use crate::remote::agent::Reply;

pub fn read(reply: Reply) -> Answer {
    super::read_plain("Slack", reply)
}

/// Slack's Web API (`chat.postMessage`, `chat.update`): it answers 200 with `{"ok": true}` or
/// `{"ok": false, "error": "…"}`; `ratelimited` (or 429) pauses the bot token's queue for its
/// `Retry-After`; errors such as `channel_not_found`, `not_in_channel` or `invalid_auth` will
/// not change by sending again.
pub fn read_api(reply: Reply) -> Answer {
    let said = said(&reply);
    let status = reply.status;
    let doc: serde_json::Value = serde_json::from_str(&reply.body).unwrap_or_default();
    let error = doc["error"].as_str().unwrap_or("").to_string();
    // Slack's own error names (`channel_not_found`) are shown only where its answers are.
    let shown = if reply.hidden.is_some() || error.is_empty() {
        said.clone()
    } else {
        error.clone()
    };
    match status {
        200..=299 if doc["ok"] == true => accepted(reply),
        429 => Answer::Pause {
            status,
            error: format!("Slack rate limit (429): {said}"),
            wait: Duration::from_secs(reply.retry_after.unwrap_or(1).max(1)),
        },
        200..=299 if error == "ratelimited" => Answer::Pause {
            status,
            error: "Slack rate limit: ratelimited".into(),
            wait: Duration::from_secs(reply.retry_after.unwrap_or(1).max(1)),
        },
        200..=299
            if matches!(
                error.as_str(),
                "internal_error" | "fatal_error" | "service_unavailable" | "request_timeout"
            ) =>
        {
            Answer::Retry {
                status: Some(status),
                error: format!("Slack answered {shown}"),
                after: reply.retry_after.map(Duration::from_secs),
            }
        }
        200..=299 => Answer::Refused {
            status: Some(status),
            error: format!("Slack answered {shown}"),
        },
        _ => read_other("Slack", &reply),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(status: u16, body: &str, retry_after: Option<u64>) -> Reply {
        Reply {
            status,
            body: body.into(),
            retry_after,
            ..Reply::default()
        }
    }

    #[test]
    fn answers_are_classified() {
        assert!(matches!(
            read(reply(200, "ok", None)),
            Answer::Accepted { .. }
        ));
        assert_eq!(
            read(reply(429, "rate_limited", Some(30))),
            Answer::Pause {
                status: 429,
                error: "Slack rate limit (429): rate_limited".into(),
                wait: Duration::from_secs(30)
            }
        );
        assert!(matches!(read(reply(503, "", None)), Answer::Retry { .. }));
        assert_eq!(
            read(reply(404, "channel_not_found", None)),
            Answer::Refused {
                status: Some(404),
                error: "Slack answered 404: channel_not_found".into()
            }
        );
    }
}
