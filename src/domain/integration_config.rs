//! Each integration type's config, as a type: what the spec documents, what creating or
//! changing an integration checks, and what the rest of the server reads.
//!
//! Configs are stored as the JSON object the user sent (with defaults filled in), so keys the
//! server does not know, such as notes, are kept. A key that looks like a misspelling of a
//! known one is refused instead: it would otherwise be silently ignored.

use std::sync::LazyLock;

use poem_openapi::registry::{MetaSchema, MetaSchemaRef, Registry};
use poem_openapi::types::{Example, ParseError, ParseFromJSON, ParseResult, ToJSON, Type};
use poem_openapi::{Object, Union};
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::base::error::{AppError, AppResult};
use crate::domain::checked::{self, NamePattern};
use crate::domain::checked::{
    BaseUrl, Branch, EventPattern, GroupRef, Name, ProjectId, ProjectPattern, RepoPattern,
    RepoSlug, UrlOrSecretRef,
};
use crate::domain::json_fields::from_value;
use crate::domain::model::IntegrationType;

pub const MAX_CONFIG_BYTES: usize = 64 * 1024;
/// GitHub's public API base: a GITHUB integration's without an `api_url`.
pub const GITHUB_API: &str = "https://api.github.com";
/// GitLab's public API base.
pub const GITLAB_API: &str = "https://gitlab.com/api/v4";
/// Slack's Web API base.
pub const SLACK_API: &str = "https://slack.com/api";

/// Whether `pem` is a private key an App's JWT can be signed with: what GitHub downloads
/// (PKCS#1, `BEGIN RSA PRIVATE KEY`) or PKCS#8.
pub fn check_private_key(pem: &str) -> Result<(), String> {
    jsonwebtoken::EncodingKey::from_rsa_pem(pem.trim().as_bytes())
        .map(|_| ())
        .map_err(|_| {
            "must be the GitHub App's RSA private key in PEM (-----BEGIN RSA PRIVATE KEY----- …), as GitHub downloads it".to_string()
        })
}
/// Where a stored `api_url` or `web_url` that is not a base is pointed when it is read: the
/// `.invalid` top-level domain never resolves (RFC 6761), so nothing is ever sent.
pub const UNREACHABLE_BASE: &str = "https://unreadable-base-url.invalid";
pub const DEFAULT_BRANCH: &str = "main";
/// As the spec's `maxItems` says for `repos`.
const MAX_REPO_PATTERNS: usize = 100;

/// GITHUB: pull requests against `branch` trigger eval runs; merges into it, deployments.
#[derive(Debug, Clone, Object, Deserialize)]
#[oai(example, skip_serializing_if_is_none)]
pub struct GithubConfig {
    /// The repository, `owner/name`: the one-repository shorthand for `repos`. One of `repo`
    /// and `repos` is required.
    pub repo: Option<RepoSlug>,
    /// The repositories it takes, as patterns: `["my-org/*", "!my-org/sandbox",
    /// "other-org/agent-*"]`. The last pattern that matches a delivery's repository decides,
    /// and `!` excludes; a repository no pattern matches is recorded and ignored. For one
    /// organisation's GitHub App, whose deliveries come from every repository it is
    /// installed on.
    #[oai(validator(min_items = 1, max_items = 100))]
    pub repos: Option<Vec<RepoPattern>>,
    /// The branch whose PRs are evaluated and whose merges deploy. Default: `main` with
    /// `repo`; with `repos`, each repository's own default branch, as the delivery names it.
    pub branch: Option<Branch>,
    /// A token that may write commit statuses (fine-grained: "Commit statuses: write"), or
    /// `${secret:NAME}`. Shown as `***`.
    pub token: Option<String>,
    /// The webhook's secret: deliveries must carry a valid `X-Hub-Signature-256`. Or
    /// `${secret:NAME}`. Shown as `***`.
    pub webhook_secret: Option<String>,
    /// The API base for GitHub Enterprise Server, e.g. `https://github.example.com/api/v3`.
    /// Default `https://api.github.com`.
    pub api_url: Option<BaseUrl>,
    /// GitHub's web address, where a GitHub App is created from a manifest and installed: for
    /// GitHub Enterprise Server e.g. `https://github.example.com`. Default `https://github.com`.
    pub web_url: Option<BaseUrl>,
    /// The GitHub deployments' environment, e.g. `staging`. Default `production`.
    pub environment: Option<Branch>,
    /// The id of the repository's webhook that points here, for reconciling with its
    /// delivery log (needs `token` with "Webhooks: read and write"). Absent: found by its URL.
    #[serde(default, deserialize_with = "hook_id")]
    #[oai(validator(minimum(value = "1"), maximum(value = "9007199254740991")))]
    pub hook_id: Option<u64>,
    /// Let deliveries that passed no signature check (no secret is set) make outbound
    /// calls: commit statuses, GitHub deployments, Slack messages. Default `false`: such
    /// deliveries are stored, processed and shown as unverified, and nothing is sent on their
    /// behalf, since anyone who learns the webhook URL could send them.
    pub allow_unverified: Option<bool>,
    /// A GitHub App's id. With `private_key`, the integration talks to GitHub as the App's
    /// installation (short-lived installation tokens) instead of with a personal `token`;
    /// an integration has one or the other.
    #[serde(default, deserialize_with = "positive_id")]
    #[oai(validator(minimum(value = "1"), maximum(value = "9007199254740991")))]
    pub app_id: Option<u64>,
    /// The App's private key, in PEM as GitHub downloads it, or (better) `${secret:NAME}`.
    /// Shown as `***`; only ever used here, to sign the App's JWT.
    pub private_key: Option<String>,
    /// The App's installation on the repository's owner. Absent: GitHub is asked for it
    /// (`GET /repos/{owner}/{repo}/installation`) when it is first needed.
    #[serde(default, deserialize_with = "positive_id")]
    #[oai(validator(minimum(value = "1"), maximum(value = "9007199254740991")))]
    pub installation_id: Option<u64>,
}

/// A GitHub App's credentials, as configured (the key possibly a `${secret:NAME}`).
pub struct AppCredentials<'a> {
    pub app_id: u64,
    pub private_key: &'a str,
    pub installation_id: Option<u64>,
}

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

/// GitHub's App and installation ids: positive integers that JSON carries exactly.
fn positive_id<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    use serde::de::Error;
    let id = u64::deserialize(d)?;
    if (1..=(1u64 << 53) - 1).contains(&id) {
        Ok(Some(id))
    } else {
        Err(D::Error::custom("must be an id from 1 to 9007199254740991"))
    }
}

impl GithubConfig {
    pub fn branch(&self) -> &str {
        self.branch.as_ref().map_or(DEFAULT_BRANCH, Branch::as_str)
    }

    /// The one repository of a `repo` config (None with `repos` patterns).
    pub fn single_repo(&self) -> Option<&str> {
        self.repo.as_ref().map(RepoSlug::as_str)
    }

    /// Whether deliveries from `repo` are taken: `Ok` with why, or `Err` with why not.
    pub fn admission(&self, repo: &str) -> Result<String, String> {
        if let Some(wanted) = &self.repo {
            return if repo.eq_ignore_ascii_case(wanted.as_str()) {
                Ok(format!("repository `{repo}` is `{wanted}`"))
            } else {
                Err(format!("repository `{repo}` is not `{wanted}`"))
            };
        }
        checked::decide(
            "repository",
            "repos",
            repo,
            self.repos.as_deref().unwrap_or_default(),
        )
    }

    /// The watched branch for a delivery whose repository's default branch is
    /// `repository_default`: the configured one, or with `repos` the repository's own.
    pub fn branch_for<'a>(&'a self, repository_default: Option<&'a str>) -> &'a str {
        match (&self.branch, &self.repos) {
            (Some(b), _) => b.as_str(),
            (None, Some(_)) => repository_default.unwrap_or(DEFAULT_BRANCH),
            (None, None) => DEFAULT_BRANCH,
        }
    }

    fn check_repos(&self) -> AppResult<()> {
        match (&self.repo, &self.repos) {
            (None, None) => Err(AppError::invalid(
                "config.repo",
                "is required: the repository, `owner/name` (or `repos`, patterns such as my-org/*)",
            )),
            (Some(_), Some(_)) => Err(AppError::invalid(
                "config.repos",
                "give `repo` (one repository) or `repos` (patterns), not both",
            )),
            (None, Some(patterns)) if patterns.len() > MAX_REPO_PATTERNS => Err(AppError::invalid(
                "config.repos",
                format!("must be at most {MAX_REPO_PATTERNS} patterns"),
            )),
            (None, Some(patterns)) if patterns.iter().all(RepoPattern::excludes) => {
                Err(AppError::invalid(
                    "config.repos",
                    "admits nothing: every pattern excludes (add one such as my-org/*)",
                ))
            }
            _ => Ok(()),
        }
    }

    /// The App's credentials, when it runs as a GitHub App.
    /// GitHub's web address (no trailing `/`).
    pub fn web_base(&self) -> String {
        self.web_url
            .as_ref()
            .map_or("https://github.com", BaseUrl::as_str)
            .trim_end_matches('/')
            .to_string()
    }

    pub fn app(&self) -> Option<AppCredentials<'_>> {
        Some(AppCredentials {
            app_id: self.app_id?,
            private_key: self.private_key.as_deref().filter(|k| !k.is_empty())?,
            installation_id: self.installation_id,
        })
    }

    /// A personal token and App credentials exclude each other; App credentials come whole;
    /// an inline key must be one an App's JWT can be signed with.
    fn check_auth(&self) -> AppResult<()> {
        let token = self.token.as_deref().is_some_and(|t| !t.is_empty());
        let key = self.private_key.as_deref().is_some_and(|k| !k.is_empty());
        let app = self.app_id.is_some() || key || self.installation_id.is_some();
        if token && app {
            return Err(AppError::invalid(
                "config.token",
                "a GITHUB integration talks to GitHub either with a personal token or as a GitHub App (app_id and private_key): keep one of them (remove token to run as the App)",
            ));
        }
        if app && self.app_id.is_none() {
            return Err(AppError::invalid(
                "config.app_id",
                "is needed with private_key or installation_id: the GitHub App's id, from its settings page",
            ));
        }
        if app && !key {
            return Err(AppError::invalid(
                "config.private_key",
                "is needed with app_id: the App's private key (PEM), best as ${secret:NAME}",
            ));
        }
        if let Some(pem) = self.private_key.as_deref().filter(|k| {
            !k.is_empty()
                && !crate::domain::credentials::is_sealed(k)
                && crate::domain::secrets::refs::secret_ref(k).is_none()
        }) {
            check_private_key(pem).map_err(|e| AppError::invalid("config.private_key", e))?;
        }
        Ok(())
    }
}

impl Example for GithubConfig {
    fn example() -> Self {
        GithubConfig {
            repo: RepoSlug::parse("my-org/my-agent-repo"),
            repos: None,
            branch: Branch::parse("main"),
            token: None,
            webhook_secret: None,
            api_url: None,
            web_url: None,
            environment: None,
            hook_id: None,
            allow_unverified: None,
            app_id: None,
            private_key: None,
            installation_id: None,
        }
    }
}

/// GITLAB: merge requests against `branch` trigger eval runs; merges into it, deployments.
#[derive(Debug, Clone, Object, Deserialize)]
#[oai(example, skip_serializing_if_is_none)]
pub struct GitlabConfig {
    /// The numeric project id, or the `group/project` path. One of `project_id` and `group`
    /// is required.
    pub project_id: Option<ProjectId>,
    /// A group instead of one project: its id (as text) or path. The group's webhook delivers
    /// every project's events; `projects` says which are taken.
    pub group: Option<GroupRef>,
    /// With `group`: the projects it takes, as path patterns (`my-group/*`, `my-group/**`
    /// for subgroups too, `!my-group/sandbox` excludes; the last match wins). Default: every
    /// project of the group.
    #[oai(validator(min_items = 1, max_items = 100))]
    pub projects: Option<Vec<ProjectPattern>>,
    /// The branch whose MRs are evaluated and whose merges deploy. Default `main`.
    pub branch: Option<Branch>,
    /// A token with the `api` scope (for commit statuses), or `${secret:NAME}`: a project
    /// access token, or with `group` a group access token. Shown as `***`.
    pub token: Option<String>,
    /// The webhook's secret token: deliveries must carry it in `X-Gitlab-Token`. Or
    /// `${secret:NAME}`. Shown as `***`.
    pub webhook_secret: Option<String>,
    /// The API base for self-managed GitLab, e.g. `https://gitlab.example.com/api/v4`.
    /// Default `https://gitlab.com/api/v4`.
    pub api_url: Option<BaseUrl>,
    /// The id of the project's webhook that points here, for reconciling with its event log
    /// (GitLab 17.4 or later; needs `token` with `api` and the Maintainer role). Absent: found
    /// by its URL.
    #[serde(default, deserialize_with = "hook_id")]
    #[oai(validator(minimum(value = "1"), maximum(value = "9007199254740991")))]
    pub hook_id: Option<u64>,
    /// Let deliveries that passed no signature check (no secret is set) make outbound
    /// calls: commit statuses, GitHub deployments, Slack messages. Default `false`: such
    /// deliveries are stored, processed and shown as unverified, and nothing is sent on their
    /// behalf, since anyone who learns the webhook URL could send them.
    pub allow_unverified: Option<bool>,
}

impl GitlabConfig {
    pub fn branch(&self) -> &str {
        self.branch.as_ref().map_or(DEFAULT_BRANCH, Branch::as_str)
    }

    /// Whether deliveries from the project (`id`, `path`) are taken: `Ok` with why, or `Err`
    /// with why not.
    pub fn admission(&self, id: Option<i64>, path: &str) -> Result<String, String> {
        if let Some(wanted) = &self.project_id {
            let ours = match wanted {
                ProjectId::Number(n) => id.is_some_and(|id| u64::try_from(id).ok() == Some(*n)),
                ProjectId::Path(p) => p.eq_ignore_ascii_case(path),
            };
            return if ours {
                Ok(format!("project `{path}` is `{wanted}`"))
            } else {
                Err(format!("project `{path}` is not the configured project"))
            };
        }
        let Some(patterns) = self.projects.as_deref() else {
            // Every project of the group: its webhook delivers no other, and a group named
            // by its path is checked too.
            return match self.group.as_ref().and_then(GroupRef::path) {
                Some(group)
                    if !path
                        .to_ascii_lowercase()
                        .starts_with(&format!("{}/", group.to_ascii_lowercase())) =>
                {
                    Err(format!("project `{path}` is not in group `{group}`"))
                }
                _ => Ok(format!("project `{path}` is in the group")),
            };
        };
        checked::decide("project", "projects", path, patterns)
    }

    /// The configured project, when the integration takes one (not a group).
    pub fn single_project(&self) -> Option<&ProjectId> {
        self.project_id.as_ref()
    }

    fn check_projects(&self) -> AppResult<()> {
        match (&self.project_id, &self.group, &self.projects) {
            (None, None, _) => Err(AppError::invalid(
                "config.project_id",
                "is required: the project's id or `group/project` path (or `group`, for a whole group)",
            )),
            (Some(_), Some(_), _) => Err(AppError::invalid(
                "config.group",
                "give `project_id` (one project) or `group` (its projects), not both",
            )),
            (Some(_), None, Some(_)) => Err(AppError::invalid(
                "config.projects",
                "patterns are for a `group`; with `project_id` leave them out",
            )),
            (None, Some(_), Some(patterns)) if patterns.len() > MAX_REPO_PATTERNS => {
                Err(AppError::invalid(
                    "config.projects",
                    format!("must be at most {MAX_REPO_PATTERNS} patterns"),
                ))
            }
            (None, Some(_), Some(patterns)) if patterns.iter().all(ProjectPattern::excludes) => {
                Err(AppError::invalid(
                    "config.projects",
                    "admits nothing: every pattern excludes (add one such as my-group/*)",
                ))
            }
            _ => Ok(()),
        }
    }
}

impl Example for GitlabConfig {
    fn example() -> Self {
        GitlabConfig {
            project_id: Some(ProjectId::Number(12345)),
            group: None,
            projects: None,
            branch: Branch::parse("main"),
            token: None,
            webhook_secret: None,
            api_url: None,
            hook_id: None,
            allow_unverified: None,
        }
    }
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

/// Known keys per type, read from the documented types so the two cannot drift apart.
fn known_keys(kind: IntegrationType) -> &'static [String] {
    fn keys_of<T: Type>() -> Vec<String> {
        let mut registry = Registry::new();
        T::register(&mut registry);
        registry
            .schemas
            .get(T::name().as_ref())
            .map(|s| s.properties.iter().map(|(k, _)| k.to_string()).collect())
            .unwrap_or_default()
    }
    static KEYS: LazyLock<[Vec<String>; 4]> = LazyLock::new(|| {
        [
            keys_of::<GithubConfig>(),
            keys_of::<GitlabConfig>(),
            keys_of::<SlackConfig>(),
            keys_of::<WebhookConfig>(),
        ]
    });
    let index = match kind {
        IntegrationType::Github => 0,
        IntegrationType::Gitlab => 1,
        IntegrationType::Slack => 2,
        IntegrationType::Webhook => 3,
    };
    &KEYS[index]
}

/// Refuses an unknown key that is a likely misspelling of a known one (`webhookSecret`,
/// `webhook_secert`, `Repo`): ignoring it would leave, say, signatures unchecked.
/// Example credentials that were published where anyone reads them: the docs (this server's
/// and the seed page's), and earlier versions of the spec and the New Integration form, which
/// filled a GITHUB or GITLAB integration's `webhook_secret` with the first.
const DOCUMENTED_EXAMPLES: &[&str] = &[
    "choose-a-long-random-string",
    "a-long-random-string",
    "ghp_xxxx",
    "glpat-xxxx",
    "https://hooks.slack.com/services/T.../B.../xxx",
];

/// Every example value this server publishes for a config: the documented ones, the string
/// values of each type's example config, and the examples of the formats its keys take.
static PUBLISHED_EXAMPLES: LazyLock<Vec<String>> = LazyLock::new(|| {
    fn strings(value: &Value, out: &mut Vec<String>) {
        match value {
            Value::String(s) => out.push(s.clone()),
            Value::Array(items) => items.iter().for_each(|v| strings(v, out)),
            Value::Object(map) => map.values().for_each(|v| strings(v, out)),
            _ => {}
        }
    }
    let mut out: Vec<String> = DOCUMENTED_EXAMPLES.iter().map(|s| s.to_string()).collect();
    for example in [
        GithubConfig::example().to_json(),
        GitlabConfig::example().to_json(),
        SlackConfig::example().to_json(),
        WebhookConfig::example().to_json(),
    ]
    .into_iter()
    .flatten()
    {
        strings(&example, &mut out);
    }
    out.extend(
        [
            checked::UrlOrSecretRef::EXAMPLE,
            checked::BaseUrl::EXAMPLE,
            checked::SecretName::EXAMPLE,
        ]
        .map(str::to_string),
    );
    out.retain(|s| crate::domain::secrets::refs::secret_ref(s).is_none());
    out.sort();
    out.dedup();
    out
});

/// Whether `value` is an example this server publishes (see [`PUBLISHED_EXAMPLES`]): as a
/// credential it would be known to everyone who read the docs.
pub fn is_published_example(value: &str) -> bool {
    let value = value.trim();
    PUBLISHED_EXAMPLES.iter().any(|e| e == value)
}

/// Refuses a secret (a key that names one, at any depth: `webhook_secret`, `secret`,
/// `signing_secret` …) holding a published example: a secret everyone can read verifies
/// nothing, and deliveries signed with it would be badged verified. (An example token or
/// Slack URL is refused by the remote itself, and the seed page's own examples show them.)
fn refuse_published_examples(map: &Map<String, Value>, path: &str) -> AppResult<()> {
    for (key, value) in map {
        let here = format!("{path}.{key}");
        match value {
            Value::String(text)
                if key.to_ascii_lowercase().contains("secret") && is_published_example(text) =>
            {
                return Err(AppError::invalid(
                    here,
                    "is an example value published in the docs, so anyone could know it: use a \
                     value of your own (the form's Generate button makes a random secret)",
                ));
            }
            Value::Object(inner) => refuse_published_examples(inner, &here)?,
            _ => {}
        }
    }
    Ok(())
}

fn check_for_typos(kind: IntegrationType, map: &Map<String, Value>) -> AppResult<()> {
    let known = known_keys(kind);
    for key in map.keys() {
        if known.iter().any(|k| k == key) {
            continue;
        }
        if let Some(meant) = known.iter().find(|k| looks_like(key, k)) {
            return Err(AppError::invalid(
                format!("config.{key}"),
                format!(
                    "is not a {} config key; did you mean `{meant}`?",
                    kind.as_str()
                ),
            ));
        }
    }
    Ok(())
}

fn looks_like(key: &str, known: &str) -> bool {
    let squash = |s: &str| -> String {
        s.chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .map(|c| c.to_ascii_lowercase())
            .collect()
    };
    let (a, b) = (squash(key), squash(known));
    if a.len() < 3 {
        return false;
    }
    if a == b {
        return true;
    }
    // One slip for short keys (`rpeo`), two for long ones (`webhook_secert`).
    let allowed = if b.len() >= 8 { 2 } else { 1 };
    b.len() >= 4 && edit_distance(&a, &b) <= allowed
}

/// Optimal string alignment distance: insertions, deletions, substitutions, transpositions.
fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            d[i][j] = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d[i][j] = d[i][j].min(d[i - 2][j - 2] + 1);
            }
        }
    }
    d[a.len()][b.len()]
}

// ---- What the spec shows for request and response bodies ----

/// A new GITHUB integration.
///
/// `config`: The GitHub config.
#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub struct NewGithubIntegration {
    /// A friendly label, 1–200 characters.
    pub name: Name,
    // The GitHub config.
    pub config: GithubConfig,
}

/// A new GITLAB integration.
///
/// `config`: The GitLab config.
#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub struct NewGitlabIntegration {
    /// A friendly label, 1–200 characters.
    pub name: Name,
    // The GitLab config.
    pub config: GitlabConfig,
}

/// A new SLACK integration.
///
/// `config`: The Slack config.
#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub struct NewSlackIntegration {
    /// A friendly label, 1–200 characters.
    pub name: Name,
    // The Slack config.
    pub config: SlackConfig,
}

/// A new WEBHOOK integration.
///
/// `config`: The generic webhook config.
#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub struct NewWebhookIntegration {
    /// A friendly label, 1–200 characters.
    pub name: Name,
    // The generic webhook config.
    pub config: WebhookConfig,
}

/// A new integration: `type` says which config it has. Keys not listed are kept (for notes),
/// except likely misspellings of listed ones, which are refused.
#[derive(Union)]
#[oai(discriminator_name = "type", one_of)]
pub enum NewIntegrationDoc {
    #[oai(mapping = "GITHUB")]
    Github(NewGithubIntegration),
    #[oai(mapping = "GITLAB")]
    Gitlab(NewGitlabIntegration),
    #[oai(mapping = "SLACK")]
    Slack(NewSlackIntegration),
    #[oai(mapping = "WEBHOOK")]
    Webhook(NewWebhookIntegration),
}

/// A config object of any type, as the spec describes a config whose type is given
/// elsewhere (responses, PATCH). Checked against its type by [`IntegrationConfig::parse`].
#[derive(Debug, Clone, Deserialize)]
#[serde(transparent)]
pub struct AnyConfig(pub Value);

impl Type for AnyConfig {
    const IS_REQUIRED: bool = true;
    type RawValueType = Value;
    type RawElementValueType = Value;

    fn name() -> std::borrow::Cow<'static, str> {
        "AnyConfig".into()
    }

    fn schema_ref() -> MetaSchemaRef {
        let reference =
            |name: std::borrow::Cow<'static, str>| MetaSchemaRef::Reference(name.into());
        MetaSchemaRef::Inline(Box::new(MetaSchema {
            description: Some(
                "The config of the integration's type: GithubConfig, GitlabConfig, SlackConfig \
                 or WebhookConfig, plus any keys of the user's own.",
            ),
            any_of: vec![
                reference(GithubConfig::name()),
                reference(GitlabConfig::name()),
                reference(SlackConfig::name()),
                reference(WebhookConfig::name()),
            ],
            ..MetaSchema::new("object")
        }))
    }

    fn register(registry: &mut Registry) {
        GithubConfig::register(registry);
        GitlabConfig::register(registry);
        SlackConfig::register(registry);
        WebhookConfig::register(registry);
    }

    fn as_raw_value(&self) -> Option<&Value> {
        Some(&self.0)
    }

    fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a Value> + 'a> {
        Box::new(std::iter::once(&self.0))
    }
}

impl ParseFromJSON for AnyConfig {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        match value {
            Some(v @ Value::Object(_)) => Ok(AnyConfig(v)),
            other => Err(ParseError::expected_type(other.unwrap_or_default())),
        }
    }
}

impl ToJSON for AnyConfig {
    fn to_json(&self) -> Option<Value> {
        Some(self.0.clone())
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
    fn edit_distance_counts_transpositions_once() {
        assert_eq!(edit_distance("secert", "secret"), 1);
        assert_eq!(edit_distance("repo", "repo"), 0);
        assert_eq!(edit_distance("abc", "xyz"), 3);
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
