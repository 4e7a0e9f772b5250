//! What a GitHub or GitLab delivery means for the platform: an eval run, a deployment, or
//! nothing (with the reason). Pure functions of the integration's config and the payload.

pub mod fields;
pub mod github;
pub mod gitlab;

use serde_json::Value;

/// An eval run to record: a PR/MR got new commits against the watched branch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvalRunPlan {
    pub repo: String,
    pub number: i64,
    pub title: Option<String>,
    pub head_sha: String,
    pub head_branch: Option<String>,
    pub author: Option<String>,
    pub url: Option<String>,
}

/// A deployment to record: a commit landed on the watched branch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeploymentPlan {
    pub repo: String,
    pub commit_sha: String,
    pub branch: String,
    pub pr_number: Option<i64>,
    pub url: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    EvalRun(EvalRunPlan),
    Deployment(DeploymentPlan),
    /// Nothing to do; the text is the event's outcome ("pong", "ignored: …").
    Nothing(String),
}

/// A payload that lacks what its event type promises: processing it again will not help.
pub type PlanError = String;

pub(crate) fn text<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter()
        .try_fold(v, |v, key| v.get(*key))
        .and_then(Value::as_str)
}

pub(crate) fn required<'a>(v: &'a Value, path: &[&str]) -> Result<&'a str, PlanError> {
    text(v, path)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| format!("the payload has no {}", path.join(".")))
}

pub(crate) fn number(v: &Value, path: &[&str]) -> Result<i64, PlanError> {
    path.iter()
        .try_fold(v, |v, key| v.get(*key))
        .and_then(Value::as_i64)
        .ok_or_else(|| format!("the payload has no {}", path.join(".")))
}

/// A push or merge that deletes a branch carries an all-zero SHA.
pub(crate) fn is_zero_sha(sha: &str) -> bool {
    !sha.is_empty() && sha.bytes().all(|b| b == b'0')
}

/// A push to `git_ref` ending at `after`: a deployment when it lands on the watched branch
/// and does not delete it.
pub(crate) fn plan_push(
    repo: String,
    branch: &str,
    git_ref: &str,
    after: &str,
    deleted: bool,
    url: Option<String>,
) -> Plan {
    if git_ref != format!("refs/heads/{branch}") {
        return Plan::Nothing(format!(
            "ignored: push to {git_ref} is not refs/heads/{branch}"
        ));
    }
    if deleted || is_zero_sha(after) {
        return Plan::Nothing(format!("ignored: branch {branch} was deleted"));
    }
    Plan::Deployment(DeploymentPlan {
        repo,
        commit_sha: after.to_string(),
        branch: branch.to_string(),
        pr_number: None,
        url,
    })
}
