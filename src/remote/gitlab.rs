//! GitLab's REST API: commit statuses and a project read.
//!
//! Answers: 2xx done; GitLab refuses a status equal to the current one with 400 "Cannot
//! transition status", which means it already shows what we say; 401, 403, 404 never change
//! on their own; 429 pauses (`Retry-After` / `RateLimit-Reset`); 5xx is retried.

use std::time::Duration;

use super::{Answer, accepted, rate_limit_wait, read_other, refused, said};

const WHO: &str = "GitLab";
use crate::remote::agent::Reply;

pub fn headers(token: &str) -> Vec<(&'static str, String)> {
    vec![("private-token", token.to_string())]
}

pub fn read(reply: Reply, now_ms: i64) -> Answer {
    let said = said(&reply);
    let status = reply.status;
    match status {
        200..=299 => accepted(reply),
        400 if reply.body.contains("Cannot transition status") => accepted(reply),
        429 => Answer::Pause {
            status,
            error: format!("GitLab rate limit (429): {said}"),
            wait: rate_limit_wait(&reply, now_ms, Duration::from_secs(60)),
        },
        401 => refused(WHO, status, "the token is invalid or expired"),
        403 => refused(WHO, status, "the token lacks the api scope"),
        404 => refused(WHO, status, "wrong project, or the token cannot see it"),
        _ => read_other(WHO, &reply),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unchanged_status_counts_as_posted() {
        let reply = Reply {
            status: 400,
            body: r#"{"message":"Cannot transition status via :run from :running"}"#.into(),
            ..Reply::default()
        };
        assert!(matches!(read(reply, 0), Answer::Accepted { .. }));
        let limited = Reply {
            status: 429,
            retry_after: Some(3),
            ..Reply::default()
        };
        assert!(
            matches!(read(limited, 0), Answer::Pause { wait, .. } if wait == Duration::from_secs(3))
        );
    }
}
