//! The product's vocabulary: integration types and event statuses, as stored and as shown.

use poem_openapi::Enum;
use serde::{Deserialize, Serialize};

/// The one mapping between an enum and the text it is stored and shown as: `as_str`, `parse`,
/// `ALL` (storage reads and writes the same text: `db::sql`). (serde and poem-openapi derive the same UPPERCASE
/// names on their own; a test checks that they agree.)
macro_rules! text_enum {
    ($name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }

            pub fn parse(text: &str) -> Option<Self> {
                match text {
                    $($text => Some($name::$variant),)+
                    _ => None,
                }
            }
        }

    };
}

/// What an integration connects to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Enum, Serialize, Deserialize)]
#[oai(rename_all = "UPPERCASE")]
#[serde(rename_all = "UPPERCASE")]
pub enum IntegrationType {
    Github,
    Gitlab,
    Slack,
    Webhook,
}

/// Where a received delivery is in its processing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Enum, Serialize, Deserialize)]
#[oai(rename_all = "UPPERCASE")]
#[serde(rename_all = "UPPERCASE")]
pub enum EventStatus {
    /// Stored; waiting for the worker (or for its next attempt).
    Received,
    /// The worker is handling it now.
    Processing,
    /// Handled successfully; `outcome` says what was done.
    Processed,
    /// Handling failed for good; `error` says why.
    Failed,
}

text_enum!(IntegrationType {
    Github => "GITHUB",
    Gitlab => "GITLAB",
    Slack => "SLACK",
    Webhook => "WEBHOOK",
});

text_enum!(EventStatus {
    Received => "RECEIVED",
    Processing => "PROCESSING",
    Processed => "PROCESSED",
    Failed => "FAILED",
});

/// A new unguessable id (UUIDv4: 122 random bits), safe to put in a public URL.
pub fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// A new id for rows made in volume (events, outbox rows): UUIDv7, time-ordered with 74
/// random bits. Consecutive ids sort together, so storing one touches the end of the id index
/// instead of a random page of it (a random UUIDv4 per delivery scattered every commit over
/// the whole index). Still unguessable; integration ids, which are public, stay UUIDv4.
pub fn new_row_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// The canonical form of an id from a URL, or `None` when it cannot be one of ours.
pub fn parse_id(text: &str) -> Option<String> {
    uuid::Uuid::parse_str(text)
        .ok()
        .map(|u| u.hyphenated().to_string())
}

/// Progress of an eval run or a deployment, reported by the rest of the platform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Enum, Serialize, Deserialize)]
#[oai(rename_all = "UPPERCASE")]
#[serde(rename_all = "UPPERCASE")]
pub enum RunStatus {
    Pending,
    Running,
    Succeeded,
    Failed,
}

impl RunStatus {
    /// PENDING → RUNNING → SUCCEEDED or FAILED (a run may also finish straight from PENDING).
    pub fn can_become(self, next: RunStatus) -> bool {
        use RunStatus::*;
        matches!(
            (self, next),
            (Pending, Running) | (Pending | Running, Succeeded | Failed)
        )
    }
}

text_enum!(RunStatus {
    Pending => "PENDING",
    Running => "RUNNING",
    Succeeded => "SUCCEEDED",
    Failed => "FAILED",
});

/// The two kinds of run: an eval run (a pull request's head commit) and a deployment (a
/// merge's commit). They share a life cycle, a runner's dispatch and its callback token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RunKind {
    EvalRun,
    Deployment,
}

impl RunKind {
    /// What a person calls it.
    pub fn what(self) -> &'static str {
        match self {
            RunKind::EvalRun => "eval run",
            RunKind::Deployment => "deployment",
        }
    }

    /// Its collection in the API's paths (`/api/eval-runs/{id}`) and the pages'.
    pub fn path(self) -> &'static str {
        match self {
            RunKind::EvalRun => "eval-runs",
            RunKind::Deployment => "deployments",
        }
    }

    /// Its section of a GITHUB or GITLAB config (`eval.dispatch`, `deploy.timeout`).
    pub fn section(self) -> &'static str {
        match self {
            RunKind::EvalRun => "eval",
            RunKind::Deployment => "deploy",
        }
    }
}

text_enum!(RunKind {
    EvalRun => "EVAL_RUN",
    Deployment => "DEPLOYMENT",
});

/// Delivery state of an outbox row (a Slack message, a commit status …).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Enum, Serialize, Deserialize)]
#[oai(rename_all = "UPPERCASE")]
#[serde(rename_all = "UPPERCASE")]
pub enum OutboxStatus {
    /// Waiting to be sent (or for its next attempt, or for its destination's turn).
    Pending,
    /// A sender is sending it now.
    Sending,
    /// The remote accepted it.
    Sent,
    /// The remote refused it for good, or every attempt failed; `lastError` says why.
    Failed,
}

text_enum!(OutboxStatus {
    Pending => "PENDING",
    Sending => "SENDING",
    Sent => "SENT",
    Failed => "FAILED",
});

/// What an outbox row says to the outside world.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Enum, Serialize, Deserialize)]
#[oai(rename_all = "SCREAMING_SNAKE_CASE")]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OutboxKind {
    /// A message to a SLACK integration's webhook.
    SlackMessage,
    /// A commit status on GitHub or GitLab (`provenant/eval`, `provenant/deploy`).
    CommitStatus,
    /// A GitHub deployment for a deployed commit.
    Deployment,
    /// A status of that GitHub deployment.
    DeploymentStatus,
    /// The test endpoint's check that a token can read its repository or project.
    AccessCheck,
    /// A request that GitHub deliver again a webhook delivery that never arrived here.
    Redelivery,
    /// A GitHub check run `provenant/eval` for an eval run (a GitHub App's integration).
    CheckRun,
    /// A change of that check run: in progress, completed, cancelled when superseded.
    CheckRunUpdate,
    /// A run started where it runs: an HTTP runner's request, a workflow or a pipeline.
    Dispatch,
    /// The pull request's comment (GitLab: the merge request's note) with the newest eval
    /// results: created once, then edited in place.
    PrComment,
}

text_enum!(OutboxKind {
    SlackMessage => "SLACK_MESSAGE",
    CommitStatus => "COMMIT_STATUS",
    Deployment => "DEPLOYMENT",
    DeploymentStatus => "DEPLOYMENT_STATUS",
    AccessCheck => "ACCESS_CHECK",
    CheckRun => "CHECK_RUN",
    CheckRunUpdate => "CHECK_RUN_UPDATE",
    Redelivery => "REDELIVERY",
    Dispatch => "DISPATCH",
    PrComment => "PR_COMMENT",
});

#[cfg(test)]
mod tests {
    use super::*;

    /// serde, poem-openapi and the stored text must name every value the same way.
    fn agree<T>(all: &[T], as_str: fn(T) -> &'static str)
    where
        T: Copy + Serialize + poem_openapi::types::ToJSON + std::fmt::Debug,
    {
        for value in all {
            let text = serde_json::to_value(value).expect("serde");
            assert_eq!(Some(text.clone()), value.to_json(), "{value:?}");
            assert_eq!(text, as_str(*value), "{value:?}");
        }
    }

    #[test]
    fn every_enum_is_named_alike_on_the_wire_and_in_storage() {
        agree(IntegrationType::ALL, IntegrationType::as_str);
        agree(EventStatus::ALL, EventStatus::as_str);
        agree(RunStatus::ALL, RunStatus::as_str);
        agree(OutboxStatus::ALL, OutboxStatus::as_str);
        agree(OutboxKind::ALL, OutboxKind::as_str);
        assert_eq!(RunStatus::parse("RUNNING"), Some(RunStatus::Running));
        assert_eq!(EventStatus::parse("nope"), None);
    }
}
