//! The product's vocabulary: integration types and event statuses, as stored and as shown.

use poem_openapi::Enum;
use serde::{Deserialize, Serialize};

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

impl IntegrationType {
    pub const ALL: [IntegrationType; 4] = [Self::Github, Self::Gitlab, Self::Slack, Self::Webhook];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Github => "GITHUB",
            Self::Gitlab => "GITLAB",
            Self::Slack => "SLACK",
            Self::Webhook => "WEBHOOK",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == text)
    }
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

impl EventStatus {
    pub const ALL: [EventStatus; 4] = [
        Self::Received,
        Self::Processing,
        Self::Processed,
        Self::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Received => "RECEIVED",
            Self::Processing => "PROCESSING",
            Self::Processed => "PROCESSED",
            Self::Failed => "FAILED",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

/// A new unguessable id (UUIDv4: 122 random bits), safe to put in a public URL.
pub fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
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
    pub const ALL: [RunStatus; 4] = [Self::Pending, Self::Running, Self::Succeeded, Self::Failed];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "PENDING",
            Self::Running => "RUNNING",
            Self::Succeeded => "SUCCEEDED",
            Self::Failed => "FAILED",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// PENDING → RUNNING → SUCCEEDED or FAILED (a run may also finish straight from PENDING).
    pub fn can_become(self, next: RunStatus) -> bool {
        use RunStatus::*;
        matches!(
            (self, next),
            (Pending, Running) | (Pending | Running, Succeeded | Failed)
        )
    }
}

/// Delivery state of a Slack notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Enum, Serialize, Deserialize)]
#[oai(rename_all = "UPPERCASE")]
#[serde(rename_all = "UPPERCASE")]
pub enum NotificationStatus {
    /// Waiting to be sent (or for its next attempt).
    Pending,
    /// The worker is sending it now.
    Sending,
    /// Slack accepted it.
    Sent,
    /// Slack refused it for good, or every attempt failed; `lastError` says why.
    Failed,
}

impl NotificationStatus {
    pub const ALL: [NotificationStatus; 4] =
        [Self::Pending, Self::Sending, Self::Sent, Self::Failed];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "PENDING",
            Self::Sending => "SENDING",
            Self::Sent => "SENT",
            Self::Failed => "FAILED",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }
}
