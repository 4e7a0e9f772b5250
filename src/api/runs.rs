//! `/api/eval-runs` and `/api/deployments`: what GitHub and GitLab deliveries triggered, for
//! the rest of the platform to pick up and report progress on.

use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};
use serde::Deserialize;

use super::body::JsonBody;
use super::errors::{AUTHED, ApiError, CONFLICT, JSON_BODY, NOT_FOUND, UNPROCESSABLE};
use super::paging;
use super::{ApiTags, BearerAuth};
use crate::checked::{Cursor, Id};
use crate::clock;
use crate::db::runs::{self, Deployment, EvalRun, Kind, RunFilter};
use crate::db::{self};
use crate::error::{AppError, AppResult};
use crate::model::{self, RunStatus};
use crate::notify::announce::{self, Announcement};
use crate::state::SharedState;
use crate::worker::processors::{deployment_announcement, eval_run_announcement};

pub struct RunsApi;

/// An eval run, created from a pull/merge request against the integration's branch.
#[derive(Object)]
#[oai(rename_all = "camelCase", skip_serializing_if_is_none)]
pub struct EvalRunOut {
    /// The eval run's id.
    pub id: String,
    /// The GITHUB or GITLAB integration that received the PR/MR event.
    pub integration_id: String,
    /// `owner/name` (GitHub) or `group/project` (GitLab), lower-case.
    pub repo: String,
    /// The PR or MR number.
    pub number: i64,
    /// The PR/MR title.
    pub title: Option<String>,
    /// The commit to evaluate.
    pub head_sha: String,
    /// The PR/MR's source branch.
    pub head_branch: Option<String>,
    /// Who opened the PR/MR.
    pub author: Option<String>,
    /// A link to the PR/MR.
    pub url: Option<String>,
    /// A link to the evaluated commit on GitHub or GitLab, when the PR/MR link is known.
    pub commit_url: Option<String>,
    /// PENDING until the platform reports progress.
    pub status: RunStatus,
    /// The webhook event that created it.
    pub source_event_id: Option<String>,
    /// RFC 3339, UTC.
    pub created_at: String,
    /// RFC 3339, UTC.
    pub updated_at: String,
}

/// A deployment (promotion), created from a merge or push into the integration's branch.
#[derive(Object)]
#[oai(rename_all = "camelCase", skip_serializing_if_is_none)]
pub struct DeploymentOut {
    /// The deployment's id.
    pub id: String,
    /// The GITHUB or GITLAB integration that received the merge or push.
    pub integration_id: String,
    /// `owner/name` (GitHub) or `group/project` (GitLab), lower-case.
    pub repo: String,
    /// The commit that landed on the branch.
    pub commit_sha: String,
    /// The integration's branch.
    pub branch: String,
    /// The merged PR or MR, when known.
    pub pr_number: Option<i64>,
    /// A link to the commit or the merged PR/MR.
    pub url: Option<String>,
    /// A link to the deployed commit on GitHub or GitLab, when known.
    pub commit_url: Option<String>,
    /// A link to the merged PR/MR on GitHub or GitLab, when known.
    pub pr_url: Option<String>,
    /// PENDING until the platform reports progress.
    pub status: RunStatus,
    /// The webhook event that created it.
    pub source_event_id: Option<String>,
    /// RFC 3339, UTC.
    pub created_at: String,
    /// RFC 3339, UTC.
    pub updated_at: String,
}

/// A page of eval runs, newest first.
#[derive(Object)]
#[oai(rename_all = "camelCase", skip_serializing_if_is_none)]
pub struct EvalRunPage {
    /// Eval runs, newest first.
    pub items: Vec<EvalRunOut>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// A page of deployments, newest first.
#[derive(Object)]
#[oai(rename_all = "camelCase", skip_serializing_if_is_none)]
pub struct DeploymentPage {
    /// Deployments, newest first.
    pub items: Vec<DeploymentOut>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// A status change: PENDING → RUNNING → SUCCEEDED or FAILED.
#[derive(Object, Deserialize)]
#[oai(skip_serializing_if_is_none, example)]
pub struct StatusPatch {
    /// RUNNING, SUCCEEDED or FAILED.
    pub status: RunStatus,
}

impl poem_openapi::types::Example for StatusPatch {
    fn example() -> Self {
        StatusPatch {
            status: RunStatus::Succeeded,
        }
    }
}

/// Where a repository lives on the web, read from a PR/MR or commit link to it; and how that
/// host names commits and PRs/MRs. GitHub: `…/pull/N`, `…/commit/SHA`; GitLab:
/// `…/-/merge_requests/N`, `…/-/commit/SHA`.
struct RepoWeb {
    base: String,
    gitlab: bool,
}

impl RepoWeb {
    fn from_link(url: Option<&str>) -> Option<RepoWeb> {
        let url = url.filter(|u| u.starts_with("https://") || u.starts_with("http://"))?;
        for (marker, gitlab) in [
            ("/-/merge_requests/", true),
            ("/-/commit/", true),
            ("/pull/", false),
            ("/commit/", false),
            ("/compare/", false),
        ] {
            if let Some((base, _)) = url.split_once(marker) {
                return Some(RepoWeb {
                    base: base.to_string(),
                    gitlab,
                });
            }
        }
        None
    }

    fn commit(&self, sha: &str) -> Option<String> {
        let safe = !sha.is_empty() && sha.chars().all(|c| c.is_ascii_hexdigit());
        let part = if self.gitlab {
            "/-/commit/"
        } else {
            "/commit/"
        };
        safe.then(|| format!("{}{part}{sha}", self.base))
    }

    fn pr(&self, number: i64) -> String {
        let part = if self.gitlab {
            "/-/merge_requests/"
        } else {
            "/pull/"
        };
        format!("{}{part}{number}", self.base)
    }
}

fn eval_out(r: EvalRun) -> EvalRunOut {
    let web = RepoWeb::from_link(r.url.as_deref());
    EvalRunOut {
        commit_url: web.and_then(|w| w.commit(&r.head_sha)),
        id: r.id,
        integration_id: r.integration_id,
        repo: r.repo,
        number: r.number,
        title: r.title,
        head_sha: r.head_sha,
        head_branch: r.head_branch,
        author: r.author,
        url: r.url,
        status: r.status,
        source_event_id: r.source_event_id,
        created_at: clock::rfc3339(r.created_at),
        updated_at: clock::rfc3339(r.updated_at),
    }
}

fn deployment_out(d: Deployment) -> DeploymentOut {
    let web = RepoWeb::from_link(d.url.as_deref());
    DeploymentOut {
        commit_url: web.as_ref().and_then(|w| w.commit(&d.commit_sha)),
        pr_url: web.as_ref().zip(d.pr_number).map(|(w, n)| w.pr(n)),
        id: d.id,
        integration_id: d.integration_id,
        repo: d.repo,
        commit_sha: d.commit_sha,
        branch: d.branch,
        pr_number: d.pr_number,
        url: d.url,
        status: d.status,
        source_event_id: d.source_event_id,
        created_at: clock::rfc3339(d.created_at),
        updated_at: clock::rfc3339(d.updated_at),
    }
}

fn filter(
    integration_id: Option<Id>,
    repo: Option<String>,
    status: Option<RunStatus>,
    limit: Option<u32>,
    cursor: Option<Cursor>,
) -> RunFilter {
    RunFilter {
        integration_id: integration_id.map(|id| id.as_str().to_ascii_lowercase()),
        repo,
        status,
        before: paging::before_time_and_id(cursor),
        limit: paging::fetch_count(limit),
    }
}

/// The announcement for a run reaching `status`, when that is worth announcing.
fn finished_event(kind: Kind, status: RunStatus) -> Option<String> {
    let prefix = match kind {
        Kind::EvalRuns => "eval_run",
        Kind::Deployments => "promotion",
    };
    match status {
        RunStatus::Succeeded => Some(format!("{prefix}.succeeded")),
        RunStatus::Failed => Some(format!("{prefix}.failed")),
        RunStatus::Pending | RunStatus::Running => None,
    }
}

/// Moves an eval run's or a deployment's status and, when it finishes, announces it in the
/// same transaction.
async fn change_status<T: Send + 'static>(
    state: &SharedState,
    raw_id: &str,
    patch: StatusPatch,
    kind: Kind,
    load: fn(&rusqlite::Connection, &str) -> AppResult<T>,
    announcement: fn(&str, &T) -> Announcement,
) -> AppResult<T> {
    let id = model::parse_id(raw_id).ok_or(AppError::NotFound(kind.what()))?;
    let next = patch.status;
    let row = state
        .write(move |tx| {
            let now = clock::now_ms();
            let before = runs::set_status(tx, kind, &id, next, now)?;
            let row = load(tx, &id)?;
            if before != next
                && let Some(event_type) = finished_event(kind, next)
            {
                announce::announce(tx, &announcement(&event_type, &row), now)?;
            }
            Ok(row)
        })
        .await?;
    state.wake_worker();
    Ok(row)
}

type ListErrors = ApiError<{ AUTHED | UNPROCESSABLE }>;
type ChangeErrors = ApiError<{ AUTHED | NOT_FOUND | CONFLICT | JSON_BODY }>;

#[OpenApi(tag = "ApiTags::Runs")]
impl RunsApi {
    /// Eval runs, newest first, filtered by integration, repository and status.
    #[oai(path = "/eval-runs", method = "get")]
    #[allow(clippy::too_many_arguments)]
    async fn list_eval_runs(
        &self,
        _auth: BearerAuth,
        state: Data<&SharedState>,
        /// Only runs from this integration.
        #[oai(name = "integrationId")]
        integration_id: Query<Option<Id>>,
        /// Only runs of this repository (`owner/name` or `group/project`).
        repo: Query<Option<String>>,
        /// Only rows with this status.
        status: Query<Option<RunStatus>>,
        /// Page size, 1–200 (default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<Option<u32>>,
        /// `nextCursor` of the previous page.
        cursor: Query<Option<Cursor>>,
    ) -> Result<Json<EvalRunPage>, ListErrors> {
        let f = filter(integration_id.0, repo.0, status.0, limit.0, cursor.0);
        let fetched = f.limit;
        let rows = db::run(&state.pool, move |conn| runs::list_eval_runs(conn, &f)).await?;
        let (rows, next_cursor) =
            paging::split(rows, fetched, |r| format!("{}.{}", r.created_at, r.id));
        Ok(Json(EvalRunPage {
            items: rows.into_iter().map(eval_out).collect(),
            next_cursor,
        }))
    }

    /// Move an eval run's status. SUCCEEDED and FAILED are announced to Slack
    /// (`eval_run.succeeded`, `eval_run.failed`); a finished run cannot change again (409).
    #[oai(path = "/eval-runs/:id", method = "patch")]
    async fn update_eval_run(
        &self,
        _auth: BearerAuth,
        state: Data<&SharedState>,
        /// The eval run's id.
        id: Path<String>,
        body: JsonBody<StatusPatch>,
    ) -> Result<Json<EvalRunOut>, ChangeErrors> {
        let run = change_status(
            &state,
            &id.0,
            body.0,
            Kind::EvalRuns,
            runs::get_eval_run,
            eval_run_announcement,
        )
        .await?;
        Ok(Json(eval_out(run)))
    }

    /// Deployments, newest first, filtered by integration, repository and status.
    #[oai(path = "/deployments", method = "get")]
    #[allow(clippy::too_many_arguments)]
    async fn list_deployments(
        &self,
        _auth: BearerAuth,
        state: Data<&SharedState>,
        /// Only deployments from this integration.
        #[oai(name = "integrationId")]
        integration_id: Query<Option<Id>>,
        /// Only deployments of this repository.
        repo: Query<Option<String>>,
        /// Only rows with this status.
        status: Query<Option<RunStatus>>,
        /// Page size, 1–200 (default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<Option<u32>>,
        /// `nextCursor` of the previous page.
        cursor: Query<Option<Cursor>>,
    ) -> Result<Json<DeploymentPage>, ListErrors> {
        let f = filter(integration_id.0, repo.0, status.0, limit.0, cursor.0);
        let fetched = f.limit;
        let rows = db::run(&state.pool, move |conn| runs::list_deployments(conn, &f)).await?;
        let (rows, next_cursor) =
            paging::split(rows, fetched, |d| format!("{}.{}", d.created_at, d.id));
        Ok(Json(DeploymentPage {
            items: rows.into_iter().map(deployment_out).collect(),
            next_cursor,
        }))
    }

    /// Move a deployment's status. SUCCEEDED and FAILED are announced to Slack
    /// (`promotion.succeeded`, `promotion.failed`); a finished one cannot change again (409).
    #[oai(path = "/deployments/:id", method = "patch")]
    async fn update_deployment(
        &self,
        _auth: BearerAuth,
        state: Data<&SharedState>,
        /// The deployment's id.
        id: Path<String>,
        body: JsonBody<StatusPatch>,
    ) -> Result<Json<DeploymentOut>, ChangeErrors> {
        let deployment = change_status(
            &state,
            &id.0,
            body.0,
            Kind::Deployments,
            runs::get_deployment,
            deployment_announcement,
        )
        .await?;
        Ok(Json(deployment_out(deployment)))
    }
}

#[cfg(test)]
mod tests {
    use super::RepoWeb;

    #[test]
    fn commit_and_pr_links_follow_the_host() {
        let gh = RepoWeb::from_link(Some("https://github.com/octo/hello/pull/5")).expect("github");
        assert_eq!(
            gh.commit("abc123").as_deref(),
            Some("https://github.com/octo/hello/commit/abc123")
        );
        assert_eq!(gh.pr(5), "https://github.com/octo/hello/pull/5");
        let gl =
            RepoWeb::from_link(Some("https://gitlab.com/grp/proj/-/commit/abc")).expect("gitlab");
        assert_eq!(gl.pr(3), "https://gitlab.com/grp/proj/-/merge_requests/3");
        assert!(gh.commit("not a sha").is_none());
        assert!(RepoWeb::from_link(Some("javascript:alert(1)//pull/1")).is_none());
    }
}
