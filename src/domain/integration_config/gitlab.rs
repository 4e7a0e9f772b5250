//! GITLAB: a project's merge requests trigger eval runs and merges deploy; GitLab's API base.

use poem_openapi::Object;
use poem_openapi::types::Example;
use serde::Deserialize;

use super::dispatch::RunSettings;
use super::{DEFAULT_BRANCH, MAX_REPO_PATTERNS, hook_id};
use crate::base::error::{AppError, AppResult};
use crate::domain::checked::{self, NamePattern};
use crate::domain::checked::{BaseUrl, Branch, GroupRef, ProjectId, ProjectPattern};

/// GitLab's public API base.
pub const GITLAB_API: &str = "https://gitlab.com/api/v4";

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
    // What a new eval run starts and how long it may take (see `RunSettings`; a `///` here
    // would wrap the schema's reference in an `allOf`).
    pub eval: Option<RunSettings>,
    // What a new deployment starts and how long it may take (see `RunSettings`).
    pub deploy: Option<RunSettings>,
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

    pub(super) fn check_projects(&self) -> AppResult<()> {
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
            eval: None,
            deploy: None,
        }
    }
}
