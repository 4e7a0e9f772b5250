//! GitHub's REST API: commit statuses, deployments and their statuses, a repository read.
//!
//! Answers: 2xx done; 401, 404 and 422 never change on their own; 403 and 429 are rate limits
//! when GitHub says so (`Retry-After`, `x-ratelimit-remaining: 0`, "secondary rate limit"),
//! otherwise a missing permission; 5xx is retried.

use std::time::Duration;

use super::{Answer, accepted, rate_limit_wait, read_other, refused, said};

const WHO: &str = "GitHub";
use crate::remote::agent::Reply;

/// GitHub asks integrations that hit its secondary limit to wait at least a minute.
const SECONDARY_LIMIT_WAIT: Duration = Duration::from_secs(60);

pub fn headers(token: &str) -> Vec<(&'static str, String)> {
    vec![
        ("authorization", format!("Bearer {token}")),
        ("accept", "application/vnd.github+json".to_string()),
        ("x-github-api-version", "2022-11-28".to_string()),
    ]
}

fn is_rate_limit(reply: &Reply) -> bool {
    reply.retry_after.is_some()
        || reply.rate_limit_remaining == Some(0)
        || reply.body.to_ascii_lowercase().contains("rate limit")
}

pub fn read(reply: Reply, now_ms: i64) -> Answer {
    let said = said(&reply);
    let status = reply.status;
    match status {
        200..=299 => accepted(reply),
        403 | 429 if is_rate_limit(&reply) => Answer::Pause {
            status,
            error: format!("GitHub rate limit ({status}): {said}"),
            wait: rate_limit_wait(&reply, now_ms, SECONDARY_LIMIT_WAIT),
        },
        429 => Answer::Pause {
            status,
            error: format!("GitHub answered 429: {said}"),
            wait: SECONDARY_LIMIT_WAIT,
        },
        401 => refused(WHO, status, "the token is invalid or expired"),
        403 => refused(
            WHO,
            status,
            "the token lacks a permission (commit statuses: \"Commit statuses: write\" or repo:status; deployments: \"Deployments: write\")",
        ),
        404 => refused(WHO, status, "wrong repository, or the token cannot see it"),
        _ => read_other(WHO, &reply),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(status: u16, body: &str) -> Reply {
        Reply {
            status,
            body: body.into(),
            ..Reply::default()
        }
    }

    #[test]
    fn limits_pause_and_permissions_refuse() {
        let mut secondary = reply(403, "You have exceeded a secondary rate limit");
        secondary.retry_after = Some(7);
        assert!(
            matches!(read(secondary, 0), Answer::Pause { wait, .. } if wait == Duration::from_secs(7))
        );
        let mut exhausted = reply(403, "API rate limit exceeded");
        exhausted.rate_limit_remaining = Some(0);
        exhausted.rate_limit_reset = Some(100);
        assert!(
            matches!(read(exhausted, 40_000), Answer::Pause { wait, .. } if wait == Duration::from_secs(61))
        );
        assert!(matches!(
            read(reply(403, "Resource not accessible"), 0),
            Answer::Refused { .. }
        ));
        assert!(matches!(
            read(reply(422, "Validation Failed"), 0),
            Answer::Refused { .. }
        ));
        assert!(matches!(read(reply(502, ""), 0), Answer::Retry { .. }));
        assert!(matches!(read(reply(201, "{}"), 0), Answer::Accepted { .. }));
    }
}
