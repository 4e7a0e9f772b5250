//! GitHub or GitLab: everything that differs between the two forges' APIs, decided here
//! once: how a request authenticates, how an answer reads, the words of a commit status,
//! where a hook keeps its URL and its delivery log, and how queues are named.

use serde_json::{Value, json};

use super::{Answer, github, gitlab};
use crate::domain::integration_config::IntegrationConfig;
use crate::remote::agent::Reply;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Forge {
    Github,
    Gitlab,
}

/// Where an eval run or a deployment stands, as a commit status says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusState {
    Pending,
    Running,
    Success,
    Failure,
    /// Superseded: not evaluated.
    Cancelled,
}

impl Forge {
    /// The forge a GITHUB or GITLAB integration talks to.
    pub fn of(config: &IntegrationConfig) -> Option<Forge> {
        match config {
            IntegrationConfig::Github(_) => Some(Forge::Github),
            IntegrationConfig::Gitlab(_) => Some(Forge::Gitlab),
            _ => None,
        }
    }

    /// For metrics and queue names: `github`, `gitlab`.
    pub fn label(self) -> &'static str {
        match self {
            Forge::Github => "github",
            Forge::Gitlab => "gitlab",
        }
    }

    /// The headers that authenticate `token` (GitHub: `Authorization: Bearer`; GitLab:
    /// `PRIVATE-TOKEN`) and ask for the API version spoken here.
    pub fn headers(self, token: &str) -> Vec<(&'static str, String)> {
        match self {
            Forge::Github => github::headers(token),
            Forge::Gitlab => gitlab::headers(token),
        }
    }

    /// What an answer means for the request that was sent.
    pub fn read(self, reply: Reply, now_ms: i64) -> Answer {
        match self {
            Forge::Github => github::read(reply, now_ms),
            Forge::Gitlab => gitlab::read(reply, now_ms),
        }
    }

    /// A commit status's body: GitLab names the context `name`, and has words of its own
    /// for running, failed and cancelled; GitHub says `pending` while running and `error`
    /// for a superseded run.
    pub fn status_body(self, state: StatusState, context: &str, description: &str) -> Value {
        let word = match (self, state) {
            (_, StatusState::Pending) => "pending",
            (_, StatusState::Success) => "success",
            (Forge::Github, StatusState::Running) => "pending",
            (Forge::Gitlab, StatusState::Running) => "running",
            (Forge::Github, StatusState::Failure) => "failure",
            (Forge::Gitlab, StatusState::Failure) => "failed",
            (Forge::Github, StatusState::Cancelled) => "error",
            (Forge::Gitlab, StatusState::Cancelled) => "canceled",
        };
        let context_key = match self {
            Forge::Github => "context",
            Forge::Gitlab => "name",
        };
        json!({
            "state": word,
            context_key: context,
            // Both cut a longer description; GitHub refuses one over 140 characters.
            "description": description.chars().take(140).collect::<String>(),
        })
    }

    /// Where a hook object of the API keeps the URL it delivers to (GitHub: `config.url`,
    /// its own `url` being the API's; GitLab: `url`).
    pub fn hook_target(self, hook: &Value) -> Option<&str> {
        match self {
            Forge::Github => hook["config"]["url"].as_str(),
            Forge::Gitlab => hook["url"].as_str(),
        }
    }

    /// The hooks of the repository, project or group at `owner` (its API path).
    pub fn hooks(self, owner: &str) -> String {
        format!("{owner}/hooks?per_page=100")
    }

    /// The log of a hook's recent deliveries (GitLab 17.4 and later: its events).
    pub fn hook_log(self, owner: &str, hook: u64) -> String {
        let log = match self {
            Forge::Github => "deliveries",
            Forge::Gitlab => "events",
        };
        format!("{owner}{}", super::path(&["hooks", &hook.to_string(), log]))
    }

    /// Where a delivery of the log (the attempt `attempt`) is asked for again.
    pub fn redelivery(self, owner: &str, hook: u64, attempt: i64) -> String {
        let (hook, attempt) = (hook.to_string(), attempt.to_string());
        let path = match self {
            Forge::Github => super::path(&["hooks", &hook, "deliveries", &attempt, "attempts"]),
            Forge::Gitlab => super::path(&["hooks", &hook, "events", &attempt, "resend"]),
        };
        format!("{owner}{path}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_forge_says_a_status_in_its_own_words() {
        let gh = Forge::Github.status_body(StatusState::Cancelled, "provenant/eval", "x");
        assert_eq!(
            gh,
            json!({"state": "error", "context": "provenant/eval", "description": "x"})
        );
        let gl = Forge::Gitlab.status_body(StatusState::Running, "provenant/eval", "x");
        assert_eq!(
            gl,
            json!({"state": "running", "name": "provenant/eval", "description": "x"})
        );
        let long = "d".repeat(200);
        let cut = Forge::Github.status_body(StatusState::Success, "c", &long);
        assert_eq!(cut["description"].as_str().map(str::len), Some(140));
    }

    #[test]
    fn hook_logs_and_redeliveries_are_the_forges_own() {
        assert_eq!(
            Forge::Github.redelivery("/repos/o/r", 7, 9),
            "/repos/o/r/hooks/7/deliveries/9/attempts"
        );
        assert_eq!(
            Forge::Gitlab.redelivery("/groups/g", 7, 9),
            "/groups/g/hooks/7/events/9/resend"
        );
        assert_eq!(
            Forge::Gitlab.hook_log("/projects/42", 7),
            "/projects/42/hooks/7/events"
        );
    }
}
