//! GITHUB: a repository's (or several's) pull requests trigger eval runs and merges deploy; a
//! token or a GitHub App's credentials to report with; GitHub's API base.

use poem_openapi::Object;
use poem_openapi::types::{Example, Type};
use serde::Deserialize;

use super::dispatch::RunSettings;
use super::{DEFAULT_BRANCH, MAX_REPO_PATTERNS, hook_id};
use crate::base::error::{AppError, AppResult};
use crate::domain::checked::{self, NamePattern};
use crate::domain::checked::{BaseUrl, Branch, RepoPattern, RepoSlug};

/// GitHub's public API base: a GITHUB integration's without an `api_url`.
pub const GITHUB_API: &str = "https://api.github.com";

/// Whether `pem` is a private key an App's JWT can be signed with: what GitHub downloads
/// (PKCS#1, `BEGIN RSA PRIVATE KEY`) or PKCS#8.
pub fn check_private_key(pem: &str) -> Result<(), String> {
    jsonwebtoken::EncodingKey::from_rsa_pem(pem.trim().as_bytes())
        .map(|_| ())
        .map_err(|_| {
            "must be the GitHub App's RSA private key in PEM (-----BEGIN RSA PRIVATE KEY----- …), as GitHub downloads it".to_string()
        })
}

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
    // What a new eval run starts and how long it may take (see `RunSettings`; a `///` here
    // would wrap the schema's reference in an `allOf`).
    pub eval: Option<RunSettings>,
    // What a new deployment starts and how long it may take (see `RunSettings`).
    pub deploy: Option<RunSettings>,
}

/// A GitHub App's credentials, as configured (the key possibly a `${secret:NAME}`).
pub struct AppCredentials<'a> {
    pub app_id: u64,
    pub private_key: &'a str,
    pub installation_id: Option<u64>,
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

    pub(super) fn check_repos(&self) -> AppResult<()> {
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
    pub(super) fn check_auth(&self) -> AppResult<()> {
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
            eval: None,
            deploy: None,
        }
    }
}
