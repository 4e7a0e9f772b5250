//! Slack incoming webhooks: how their answers read. 200 `ok` is done; 429 pauses the webhook
//! for its `Retry-After`; 5xx is retried; any other answer (`invalid_payload`,
//! `channel_not_found`, `no_service` …) will not change by sending again.

use std::time::Duration;

use super::{Answer, excerpt, read_other};
use crate::http::Reply;

pub fn read(reply: Reply) -> Answer {
    let said = excerpt(&reply.body);
    let status = reply.status;
    match status {
        200..=299 => Answer::Accepted {
            status,
            body: reply.body,
        },
        429 => Answer::Pause {
            status,
            error: format!("Slack rate limit (429): {said}"),
            wait: Duration::from_secs(reply.retry_after.unwrap_or(1).max(1)),
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
