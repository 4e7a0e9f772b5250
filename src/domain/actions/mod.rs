//! What a GitHub or GitLab delivery means for the platform: an eval run, a deployment, or
//! nothing (with the reason). Pure functions of the integration's config and the payload.

/// The commit status (and check run) an eval run is reported as.
pub const EVAL_CONTEXT: &str = "provenant/eval";
/// The commit status a deployment is reported as on GitLab.
pub const DEPLOY_CONTEXT: &str = "provenant/deploy";

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
    /// GitHub's Re-run button on the check run (or its suite): always a new run for the
    /// commit, not the one already recorded.
    pub rerun: bool,
    /// A merge queue's entry (GitHub's `merge_group`): the pull request's own runs are not
    /// superseded by it.
    pub merge_queue: bool,
    /// A re-run asked for on a `provenant/eval` check run that no App of ours made: ours only
    /// if its `external_id` is one of this integration's eval runs of the repository (the
    /// processor looks).
    pub rerun_of: Option<String>,
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

/// What a GitHub App's `installation` or `installation_repositories` delivery changes in
/// what the App can see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InstallationPlan {
    /// Created: it shows exactly `repos`.
    Replace {
        id: i64,
        account: String,
        repos: Vec<String>,
    },
    Added {
        id: i64,
        account: String,
        repos: Vec<String>,
    },
    Removed {
        id: i64,
        repos: Vec<String>,
    },
    /// The App was uninstalled there.
    Deleted {
        id: i64,
    },
    Suspended {
        id: i64,
        suspended: bool,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    EvalRun(EvalRunPlan),
    Deployment(DeploymentPlan),
    Installation(InstallationPlan),
    /// The open eval runs of `repo` at `head_sha` end: their merge queue entry is gone
    /// (`why` says how).
    CancelEvalRuns {
        repo: String,
        head_sha: String,
        why: String,
    },
    /// Nothing to do; the text is the event's outcome ("pong", "ignored: …").
    Nothing(String),
}

/// A payload that lacks what its event type promises: processing it again will not help.
pub type PlanError = String;

/// Why a plan stops early: a malformed payload (the event FAILS), or a value that must not be
/// acted on (the event is PROCESSED as "ignored: …", with the reason).
pub(crate) enum Stop {
    Malformed(PlanError),
    Ignored(String),
}

impl From<PlanError> for Stop {
    fn from(e: PlanError) -> Self {
        Stop::Malformed(e)
    }
}

impl From<&str> for Stop {
    fn from(e: &str) -> Self {
        Stop::Malformed(e.to_string())
    }
}

/// The plan once the stops are read: an ignored delivery is a plan to do nothing.
pub(crate) fn settle(result: Result<Plan, Stop>) -> Result<Plan, PlanError> {
    match result {
        Ok(plan) => Ok(plan),
        Err(Stop::Ignored(why)) => Ok(Plan::Nothing(why)),
        Err(Stop::Malformed(e)) => Err(e),
    }
}

/// A value from a payload as a trace quotes it: cut short, since it is untrusted text.
fn shown(value: &str) -> String {
    let mut out: String = value.chars().take(80).collect();
    if value.chars().count() > 80 {
        out.push('…');
    }
    crate::domain::trace::quoted(&out)
}

/// A commit id as GitHub and GitLab write them: 40 lower-case hex digits (SHA-1), or 64 for
/// SHA-256 repositories. These go into API paths (`…/statuses/{sha}`) and GitHub deployments.
pub fn is_commit_sha(value: &str) -> bool {
    matches!(value.len(), 40 | 64)
        && value
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// A full ref name by `git check-ref-format`'s rules (`refs/heads/main`): at least two
/// components; none empty, starting with `.` or ending with `.lock`; no `..`, `@{`, `\`,
/// control characters, space, `~ ^ : ? * [`; not ending in `/` or `.`; not `@`.
pub fn is_valid_ref_name(name: &str) -> bool {
    if name.is_empty() || name == "@" || name.len() > 1024 {
        return false;
    }
    if name.ends_with('/') || name.ends_with('.') || name.contains("..") || name.contains("@{") {
        return false;
    }
    let bad_char = |c: char| {
        c.is_ascii_control() || matches!(c, ' ' | '~' | '^' | ':' | '?' | '*' | '[' | '\\')
    };
    if name.chars().any(bad_char) {
        return false;
    }
    let components: Vec<&str> = name.split('/').collect();
    components.len() >= 2
        && components
            .iter()
            .all(|c| !c.is_empty() && !c.starts_with('.') && !c.ends_with(".lock"))
}

/// A branch name as git allows it (`main`, `release/1.2`): `refs/heads/<name>` is a valid ref.
pub fn is_valid_branch_name(name: &str) -> bool {
    !name.starts_with('-') && is_valid_ref_name(&format!("refs/heads/{name}"))
}

/// The value at `path` when `valid` takes it (None when absent); a delivery whose value it
/// refuses is ignored, saying the value is not `what`.
fn checked<'a>(
    v: &'a Value,
    path: &[&str],
    valid: fn(&str) -> bool,
    what: &str,
) -> Result<Option<&'a str>, Stop> {
    match text(v, path) {
        Some(value) if !valid(value) => Err(Stop::Ignored(format!(
            "ignored: {} is not {what}: {}",
            path.join("."),
            shown(value)
        ))),
        other => Ok(other),
    }
}

/// The commit id at `path` (required); a delivery whose value is not one is ignored.
pub(crate) fn commit_sha<'a>(v: &'a Value, path: &[&str]) -> Result<&'a str, Stop> {
    required(v, path)?;
    let sha = checked(v, path, is_commit_sha, "a commit id (40 or 64 hex digits)")?;
    Ok(sha.unwrap_or_default())
}

/// The branch name at `path` (when present); a delivery whose value git would refuse is ignored.
pub(crate) fn branch_name<'a>(v: &'a Value, path: &[&str]) -> Result<Option<&'a str>, Stop> {
    checked(v, path, is_valid_branch_name, "a valid branch name")
}

/// The full ref at `path` (required); a delivery whose value git would refuse is ignored.
pub(crate) fn ref_name<'a>(v: &'a Value, path: &[&str]) -> Result<&'a str, Stop> {
    required(v, path)?;
    Ok(checked(v, path, is_valid_ref_name, "a valid ref")?.unwrap_or_default())
}

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
