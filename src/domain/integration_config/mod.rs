//! Each integration type's config, as a type: what the spec documents, what creating or
//! changing an integration checks, and what the rest of the server reads.
//!
//! Configs are stored as the JSON object the user sent (with defaults filled in), so keys the
//! server does not know, such as notes, are kept. A key that looks like a misspelling of a
//! known one is refused instead: it would otherwise be silently ignored.

use poem_openapi::types::Type;
use serde::Deserialize;
use serde_json::Value;

use crate::base::error::{AppError, AppResult};
use crate::domain::checked::{BaseUrl, ProjectId};
use crate::domain::json_fields::from_value;
use crate::domain::model::{IntegrationType, RunKind};

mod dispatch;
mod github;
mod gitlab;
mod published_examples;
mod slack;
mod spec;
mod typos;
mod webhook;

pub use dispatch::{
    DEFAULT_TIMEOUT, Dispatch, Dispatcher, GitlabPipeline, PIPELINE_VARIABLES, RunSettings,
    SECRET_PREFIX, Target, WORKFLOW_INPUTS, generate_missing_secrets, signing_key,
};
pub use github::{AppCredentials, GITHUB_API, GithubConfig, check_private_key};
pub use gitlab::{GITLAB_API, GitlabConfig};
pub use published_examples::is_published_example;
pub use slack::{SLACK_API, SlackConfig};
pub use spec::{
    AnyConfig, NewGithubIntegration, NewGitlabIntegration, NewIntegrationDoc, NewSlackIntegration,
    NewWebhookIntegration,
};
pub use webhook::WebhookConfig;

use published_examples::refuse_published_examples;
use typos::{check_for_typos, known_keys};

pub const MAX_CONFIG_BYTES: usize = 64 * 1024;
/// Where a stored `api_url` or `web_url` that is not a base is pointed when it is read: the
/// `.invalid` top-level domain never resolves (RFC 6761), so nothing is ever sent.
pub const UNREACHABLE_BASE: &str = "https://unreadable-base-url.invalid";
pub const DEFAULT_BRANCH: &str = "main";
/// As the spec's `maxItems` says for `repos`.
const MAX_REPO_PATTERNS: usize = 100;

/// GitHub's hook ids are positive integers that JSON carries exactly (below 2^53).
fn hook_id<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    use serde::de::Error;
    let id = u64::deserialize(d)?;
    if (1..=(1u64 << 53) - 1).contains(&id) {
        Ok(Some(id))
    } else {
        Err(D::Error::custom(
            "must be a hook id from 1 to 9007199254740991",
        ))
    }
}

/// A config, by integration type.
#[derive(Debug, Clone)]
pub enum IntegrationConfig {
    Github(GithubConfig),
    Gitlab(GitlabConfig),
    Slack(SlackConfig),
    Webhook(WebhookConfig),
}

impl IntegrationConfig {
    /// Checks a config for an integration of `kind`. Returns it typed, and as the object to
    /// store (unknown keys kept, defaults filled in).
    pub fn parse(kind: IntegrationType, config: Value) -> AppResult<(IntegrationConfig, Value)> {
        let Value::Object(mut map) = config else {
            return Err(AppError::invalid("config", "must be a JSON object"));
        };
        let size = serde_json::to_vec(&map).map(|v| v.len()).unwrap_or(0);
        if size > MAX_CONFIG_BYTES {
            return Err(AppError::invalid(
                "config",
                format!("must be at most {MAX_CONFIG_BYTES} bytes of JSON"),
            ));
        }
        check_for_typos(kind, &map)?;
        refuse_published_examples(&map, "config")?;
        // The spec declares each known key's type; `null` is not one of them. (Stored
        // configs from older versions may hold nulls: `read` still takes them.)
        if let Some(key) = known_keys(kind)
            .iter()
            .find(|k| map.get(*k) == Some(&Value::Null))
        {
            return Err(AppError::invalid(
                format!("config.{key}"),
                "must not be null: leave the key out instead",
            ));
        }
        let typed = Self::read(kind, Value::Object(map.clone()))?;
        typed.check_canonical_bases()?;
        match &typed {
            Self::Github(c) => {
                c.check_repos()?;
                c.check_auth()?;
            }
            Self::Gitlab(c) => c.check_projects()?,
            _ => {}
        }
        let by = Dispatcher {
            github: matches!(typed, Self::Github(_)),
            gitlab: matches!(typed, Self::Gitlab(_)),
            has_api_credentials: typed.has_api_credentials(),
        };
        for kind in [RunKind::EvalRun, RunKind::Deployment] {
            if let Some(settings) = typed.run_settings(kind) {
                settings.check(kind, by)?;
            }
        }
        // Store what was checked: formats may drop the newline a final `$` lets through.
        for (key, value) in typed.normalized() {
            map.insert(key.into(), value);
        }
        Ok((typed, Value::Object(map)))
    }

    /// A public service's host keeps its one base: `https://api.github.com/admin?x=` or
    /// `http://api.github.com` would send the token somewhere GitHub never meant.
    fn check_canonical_bases(&self) -> AppResult<()> {
        const CANONICAL: &[(&str, &str)] = &[
            ("api.github.com", GITHUB_API),
            ("github.com", "https://github.com"),
            ("gitlab.com", GITLAB_API),
            ("slack.com", SLACK_API),
        ];
        let urls: Vec<(&str, &str)> = match self {
            Self::Github(c) => [("api_url", &c.api_url), ("web_url", &c.web_url)]
                .into_iter()
                .filter_map(|(k, u)| u.as_ref().map(|u| (k, u.as_str())))
                .collect(),
            Self::Gitlab(c) => c.api_url.iter().map(|u| ("api_url", u.as_str())).collect(),
            Self::Slack(c) => c.api_url.iter().map(|u| ("api_url", u.as_str())).collect(),
            Self::Webhook(_) => vec![],
        };
        for (key, url) in urls {
            let host = crate::domain::hosts::host_of(url).unwrap_or_default();
            let host = host.split(':').next().unwrap_or_default();
            if let Some((_, base)) = CANONICAL.iter().find(|(h, _)| host == *h)
                && url.trim_end_matches('/') != *base
            {
                return Err(AppError::invalid(
                    format!("config.{key}"),
                    format!("{host} is only reached at {base}: leave {key} out, or use that"),
                ));
            }
        }
        Ok(())
    }

    /// Reads a config as stored. One saved before `api_url` and `web_url` took a base only
    /// (a query, a fragment, `user:password@` …) still reads, pointed at [`UNREACHABLE_BASE`]:
    /// nothing is sent where the old value pointed, the integration stays listed, and its
    /// stored config still shows the old value until it is saved again with a base.
    pub fn read_stored(kind: IntegrationType, config: Value) -> AppResult<IntegrationConfig> {
        match Self::read(kind, config.clone()) {
            Ok(read) => Ok(read),
            Err(first) => {
                let Value::Object(mut map) = config else {
                    return Err(first);
                };
                let mut changed = false;
                for key in ["api_url", "web_url"] {
                    if let Some(Value::String(url)) = map.get(key)
                        && BaseUrl::parse(url).is_none()
                    {
                        map.insert(key.into(), Value::String(UNREACHABLE_BASE.into()));
                        changed = true;
                    }
                }
                if !changed {
                    return Err(first);
                }
                Self::read(kind, Value::Object(map)).map_err(|_| first)
            }
        }
    }

    /// Reads a stored config (already checked when it was saved).
    pub fn read(kind: IntegrationType, config: Value) -> AppResult<IntegrationConfig> {
        Ok(match kind {
            IntegrationType::Github => Self::Github(from_value(config, "config")?),
            IntegrationType::Gitlab => Self::Gitlab(from_value(config, "config")?),
            IntegrationType::Slack => Self::Slack(from_value(config, "config")?),
            IntegrationType::Webhook => Self::Webhook(from_value(config, "config")?),
        })
    }

    fn normalized(&self) -> Vec<(&'static str, Value)> {
        let text = |v: &str| Value::String(v.to_string());
        match self {
            Self::Github(c) => {
                let mut out = vec![];
                if let Some(repo) = &c.repo {
                    out.push(("repo", text(repo.as_str())));
                }
                // With patterns and no branch, each repository's own default branch.
                if c.repos.is_none() || c.branch.is_some() {
                    out.push(("branch", text(self.branch())));
                }
                if let Some(u) = &c.api_url {
                    out.push(("api_url", text(u.as_str())));
                }
                out
            }
            Self::Gitlab(c) => {
                let mut out = vec![("branch", text(self.branch()))];
                if let Some(ProjectId::Path(p)) = &c.project_id {
                    out.push(("project_id", text(p)));
                }
                if let Some(u) = &c.api_url {
                    out.push(("api_url", text(u.as_str())));
                }
                out
            }
            Self::Slack(c) => {
                let mut out = Vec::new();
                if let Some(u) = &c.webhook_url {
                    out.push(("webhook_url", text(u.as_str())));
                }
                if let Some(u) = &c.api_url {
                    out.push(("api_url", text(u.as_str())));
                }
                out
            }
            Self::Webhook(_) => vec![],
        }
    }

    /// The secret incoming deliveries are verified with (possibly a `${secret:NAME}`), and
    /// the config key it is under.
    pub fn signing_secret(&self) -> Option<(&'static str, &str)> {
        let (key, value) = match self {
            Self::Github(c) => ("webhook_secret", c.webhook_secret.as_deref()),
            Self::Gitlab(c) => ("webhook_secret", c.webhook_secret.as_deref()),
            Self::Slack(c) => ("signing_secret", c.signing_secret.as_deref()),
            Self::Webhook(c) => ("secret", c.secret.as_deref()),
        };
        value.filter(|v| !v.is_empty()).map(|v| (key, v))
    }

    /// Whether what a delivery leads to may be said to the outside world: it was verified,
    /// or the integration allows unverified deliveries to act. The one rule for processing and
    /// for a run's later status changes alike.
    pub fn may_call_out(&self, verified: bool) -> bool {
        verified || self.allow_unverified()
    }

    /// Whether deliveries that passed no signature check may make outbound calls.
    pub fn allow_unverified(&self) -> bool {
        match self {
            Self::Github(c) => c.allow_unverified,
            Self::Gitlab(c) => c.allow_unverified,
            Self::Webhook(c) => c.allow_unverified,
            Self::Slack(_) => None,
        }
        .unwrap_or(false)
    }

    /// The credentials this config sends somewhere: (key, value as stored, the API base it
    /// goes to). A GITHUB or GITLAB `token` goes to its API; a SLACK `bot_token` to Slack's
    /// Web API. (A Slack `webhook_url` is its own destination; signing secrets go nowhere.)
    pub fn sent_credentials(&self) -> Vec<(&'static str, &str, String)> {
        match self {
            Self::Github(c) => self
                .token()
                .map(|t| ("token", t, self.api_base()))
                .into_iter()
                // The key never leaves, but what it signs goes to the API.
                .chain(
                    c.app()
                        .map(|a| ("private_key", a.private_key, self.api_base())),
                )
                .collect(),
            Self::Gitlab(_) => self
                .token()
                .map(|t| ("token", t, self.api_base()))
                .into_iter()
                .collect(),
            Self::Slack(c) => c
                .bot_token
                .as_deref()
                .filter(|t| !t.is_empty())
                .map(|t| ("bot_token", t, c.api_base()))
                .into_iter()
                .collect(),
            Self::Webhook(_) => vec![],
        }
    }

    /// The GitHub App credentials of a GITHUB integration that runs as an App.
    pub fn github_app(&self) -> Option<AppCredentials<'_>> {
        match self {
            Self::Github(c) => c.app(),
            _ => None,
        }
    }

    /// Whether the integration can call its remote's API: a token, or a GitHub App.
    pub fn has_api_credentials(&self) -> bool {
        self.token().is_some() || self.github_app().is_some()
    }

    /// What a new eval run or deployment starts, and how long it may take (GITHUB and
    /// GITLAB: `eval`, `deploy`).
    pub fn run_settings(&self, kind: RunKind) -> Option<&RunSettings> {
        match (self, kind) {
            (Self::Github(c), RunKind::EvalRun) => c.eval.as_ref(),
            (Self::Github(c), RunKind::Deployment) => c.deploy.as_ref(),
            (Self::Gitlab(c), RunKind::EvalRun) => c.eval.as_ref(),
            (Self::Gitlab(c), RunKind::Deployment) => c.deploy.as_ref(),
            _ => None,
        }
    }

    /// The HTTP runner a new run of `kind` is sent to, if one is configured.
    pub fn dispatch(&self, kind: RunKind) -> Option<&Dispatch> {
        self.run_settings(kind).and_then(|s| s.dispatch.as_ref())
    }

    /// Whether eval results are shown in a comment on the pull request (`eval.comment`,
    /// default true).
    pub fn comments_on_pull_requests(&self) -> bool {
        self.run_settings(RunKind::EvalRun)
            .and_then(|s| s.comment)
            .unwrap_or(true)
    }

    /// Whether each push to the branch gets an eval run, whose results are the baseline
    /// (`eval.on_push`, default false).
    pub fn evaluates_pushes(&self) -> bool {
        self.run_settings(RunKind::EvalRun)
            .and_then(|s| s.on_push)
            .unwrap_or(false)
    }

    /// How long a run of `kind` may stay PENDING or RUNNING before it fails as timed out.
    pub fn run_timeout(&self, kind: RunKind) -> std::time::Duration {
        self.run_settings(kind)
            .map_or(DEFAULT_TIMEOUT, RunSettings::timeout)
    }

    /// The API token of a GITHUB or GITLAB integration (possibly a `${secret:NAME}`).
    pub fn token(&self) -> Option<&str> {
        match self {
            Self::Github(c) => c.token.as_deref(),
            Self::Gitlab(c) => c.token.as_deref(),
            _ => None,
        }
        .filter(|t| !t.is_empty())
    }

    /// The watched branch of a GITHUB or GITLAB integration.
    pub fn branch(&self) -> &str {
        match self {
            Self::Github(c) => c.branch(),
            Self::Gitlab(c) => c.branch(),
            _ => DEFAULT_BRANCH,
        }
    }

    /// The API base of a GITHUB or GITLAB integration: its `api_url` (GitHub Enterprise,
    /// self-managed GitLab, a test double) or the public one; no trailing `/`.
    pub fn api_base(&self) -> String {
        let default = match self {
            Self::Gitlab(_) => GITLAB_API,
            _ => GITHUB_API,
        };
        self.api_url()
            .unwrap_or(default)
            .trim_end_matches('/')
            .to_string()
    }

    /// The API base configured for a GITHUB or GITLAB integration, if any.
    pub fn api_url(&self) -> Option<&str> {
        match self {
            Self::Github(c) => c.api_url.as_ref(),
            Self::Gitlab(c) => c.api_url.as_ref(),
            _ => None,
        }
        .map(BaseUrl::as_str)
    }

    /// The `events` filter of a SLACK or WEBHOOK integration, when it has a non-empty one.
    pub fn event_patterns(&self) -> Option<Vec<&str>> {
        let patterns = match self {
            Self::Slack(c) => c.events.as_deref(),
            Self::Webhook(c) => c.events.as_deref(),
            _ => None,
        };
        patterns
            .filter(|p| !p.is_empty())
            .map(|p| p.iter().map(|p| p.as_str()).collect())
    }

    /// The `events` filter of a SLACK or WEBHOOK integration: absent or empty means all.
    pub fn wants(&self, event_type: &str) -> bool {
        let patterns = match self {
            Self::Slack(c) => c.events.as_deref(),
            Self::Webhook(c) => c.events.as_deref(),
            _ => None,
        };
        match patterns {
            Some(p) if !p.is_empty() => p
                .iter()
                .any(|p| crate::domain::checked::pattern_matches(p.as_str(), event_type)),
            _ => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn field_of(r: AppResult<(IntegrationConfig, Value)>) -> String {
        match r {
            Err(AppError::Invalid { field, .. }) => field,
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn github_needs_owner_slash_name_and_gets_a_default_branch() {
        let (typed, stored) =
            IntegrationConfig::parse(IntegrationType::Github, json!({"repo": "my-org/repo"}))
                .expect("valid");
        assert_eq!(stored["branch"], "main");
        assert_eq!(typed.branch(), "main");
        for bad in ["repo", "a/b/c", "/b", "a b/c"] {
            let r = IntegrationConfig::parse(IntegrationType::Github, json!({ "repo": bad }));
            assert_eq!(field_of(r), "config.repo", "{bad}");
        }
    }

    #[test]
    fn wrong_json_types_are_refused_not_coerced() {
        let r = IntegrationConfig::parse(
            IntegrationType::Github,
            json!({"repo": "a/b", "token": true}),
        );
        assert_eq!(field_of(r), "config.token");
        let r = IntegrationConfig::parse(IntegrationType::Slack, json!({"webhook_url": 5}));
        assert_eq!(field_of(r), "config.webhook_url");
    }

    #[test]
    fn unknown_keys_are_kept_but_likely_typos_are_refused() {
        let (_, stored) = IntegrationConfig::parse(
            IntegrationType::Github,
            json!({"repo": "a/b", "notes": "owned by the evals team"}),
        )
        .expect("valid");
        assert_eq!(stored["notes"], "owned by the evals team");
        for typo in [
            "webhook_secert",
            "webhookSecret",
            "Repo",
            "tokne",
            "api-url",
        ] {
            let mut config = json!({"repo": "a/b"});
            config[typo] = json!("x");
            let err = IntegrationConfig::parse(IntegrationType::Github, config)
                .expect_err("typo refused");
            match err {
                AppError::Invalid { field, message } => {
                    assert_eq!(field, format!("config.{typo}"));
                    assert!(message.contains("did you mean"), "{message}");
                }
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn known_keys_come_from_the_documented_types() {
        assert_eq!(
            known_keys(IntegrationType::Slack),
            [
                "webhook_url",
                "bot_token",
                "api_url",
                "signing_secret",
                "channel",
                "username",
                "events"
            ]
        );
    }

    #[test]
    fn an_absent_or_empty_events_filter_means_everything() {
        let read = |v: Value| IntegrationConfig::read(IntegrationType::Webhook, v).expect("valid");
        assert!(read(json!({})).wants("x"));
        assert!(read(json!({"events": []})).wants("x"));
        assert!(!read(json!({"events": ["a"]})).wants("x"));
        assert!(read(json!({"events": ["drift.*"]})).wants("drift.critical"));
    }

    #[test]
    fn a_stored_base_with_a_query_still_reads_but_points_nowhere() {
        let stored = json!({"repo": "o/r", "api_url": "https://ghe.example/api/v3/admin/keys?x=", "token": "t"});
        assert!(IntegrationConfig::read(IntegrationType::Github, stored.clone()).is_err());
        let read = IntegrationConfig::read_stored(IntegrationType::Github, stored).expect("reads");
        assert_eq!(read.api_url(), Some(UNREACHABLE_BASE));
        // Input is checked strictly, and the public hosts keep their bases.
        for (kind, config, field) in [
            (
                IntegrationType::Github,
                json!({"repo": "o/r", "api_url": "https://ghe.example/api?x="}),
                "config.api_url",
            ),
            (
                IntegrationType::Github,
                json!({"repo": "o/r", "api_url": "http://api.github.com"}),
                "config.api_url",
            ),
            (
                IntegrationType::Github,
                json!({"repo": "o/r", "web_url": "https://github.com/evil"}),
                "config.web_url",
            ),
            (
                IntegrationType::Slack,
                json!({"bot_token": "x", "channel": "#c", "api_url": "https://slack.com/api/x"}),
                "config.api_url",
            ),
        ] {
            match IntegrationConfig::parse(kind, config) {
                Err(AppError::Invalid { field: f, .. }) => assert_eq!(f, field),
                other => panic!("{field}: {other:?}"),
            }
        }
        assert!(
            IntegrationConfig::parse(
                IntegrationType::Github,
                json!({"repo": "o/r", "api_url": "https://api.github.com/"})
            )
            .is_ok()
        );
    }

    #[test]
    fn a_published_example_is_no_secret() {
        assert!(is_published_example("choose-a-long-random-string"));
        assert!(is_published_example(" a-long-random-string\n"));
        assert!(!is_published_example("3f9c0b2e7a1d4c58b6e2f0a9d8c7b6a5"));
        let refused = IntegrationConfig::parse(
            IntegrationType::Webhook,
            json!({"secret": "choose-a-long-random-string"}),
        );
        assert!(
            matches!(refused, Err(AppError::Invalid { field, .. }) if field == "config.secret")
        );
    }
}
