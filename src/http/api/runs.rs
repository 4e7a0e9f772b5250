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
use crate::base::error::{AppError, AppResult};
use crate::db::Conn;
use crate::db::outbox::{self, OutboxRow};
use crate::db::runs::{self, Deployment, EvalRun, RunFilter};
use crate::db::{self};
use crate::domain::audit::{Action, Caller};
use crate::domain::checked::HttpUrl;
use crate::domain::checked::Timestamp;
use crate::domain::checked::{Cursor, Id};
use crate::domain::eval_results::{Case, Metric, Results};
use crate::domain::json_fields::present;
use crate::domain::model::{self, RunKind, RunStatus};
use crate::domain::model::{OutboxKind, OutboxStatus};
use crate::http::state::SharedState;
use crate::pipeline::runs as life;
use serde_json::json;

pub struct RunsApi;

/// An eval run, created from a pull/merge request against the integration's branch.
///
/// `status`: PENDING until the platform reports progress.
/// `lastPost`: What was last posted to the PR's commit, and the answer.
#[derive(Object)]
#[oai(rename_all = "camelCase", skip_serializing_if_is_none)]
pub struct EvalRunOut {
    /// The eval run's id.
    pub id: String,
    /// The GITHUB or GITLAB integration that received the PR/MR event.
    pub integration_id: String,
    /// `owner/name` (GitHub) or `group/project` (GitLab), lower-case.
    pub repo: String,
    /// The PR or MR number; 0 for the run of a push to the branch (`eval.on_push`).
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
    // PENDING until the platform reports progress.
    pub status: RunStatus,
    /// The newer run of the same PR/MR (a new head commit) that replaced this one; its
    /// commit status says so, and later results for it are not posted.
    pub superseded_by: Option<String>,
    // What was last posted to the PR's commit, and the answer.
    pub last_post: Option<PostedOut>,
    /// Whether the delivery that created it passed a signature check. An unverified one is
    /// recorded and shown, but nothing is said about it to GitHub, GitLab or Slack unless its
    /// integration has `allow_unverified`.
    pub verified: bool,
    /// The webhook event that created it.
    pub source_event_id: Option<String>,
    /// 1 for the first run of its commit; each re-run asked for from GitHub (the check run's
    /// Re-run button) is a new run, one more.
    pub attempt: i64,
    /// RFC 3339, UTC.
    pub created_at: Timestamp,
    /// RFC 3339, UTC.
    pub updated_at: Timestamp,
    /// When it fails as timed out if it is still PENDING or RUNNING (RFC 3339, UTC): its
    /// integration's `eval.timeout` (or `deploy.timeout`) after it was made. Absent for a run
    /// made before this server had timeouts.
    pub timeout_at: Option<Timestamp>,
    /// The overall score (0–1) its runner last reported; its metrics and cases are at
    /// `GET /api/eval-runs/{id}/results`.
    pub score: Option<f64>,
}

/// A deployment (promotion), created from a merge or push into the integration's branch.
///
/// `status`: PENDING until the platform reports progress.
/// `lastPost`: What was last posted about it (GitHub deployment or status, GitLab commit status), and the answer.
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
    // PENDING until the platform reports progress.
    pub status: RunStatus,
    /// The GitHub deployment created for it.
    pub remote_id: Option<String>,
    // What was last posted about it (GitHub deployment or status, GitLab commit status),
    // and the answer.
    pub last_post: Option<PostedOut>,
    /// Whether the delivery that created it passed a signature check. An unverified one is
    /// recorded and shown, but nothing is said about it to GitHub, GitLab or Slack unless its
    /// integration has `allow_unverified`.
    pub verified: bool,
    /// The webhook event that created it.
    pub source_event_id: Option<String>,
    /// RFC 3339, UTC.
    pub created_at: Timestamp,
    /// RFC 3339, UTC.
    pub updated_at: Timestamp,
    /// When it fails as timed out if it is still PENDING or RUNNING (RFC 3339, UTC): its
    /// integration's `eval.timeout` (or `deploy.timeout`) after it was made. Absent for a run
    /// made before this server had timeouts.
    pub timeout_at: Option<Timestamp>,
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
///
/// `status`: RUNNING, SUCCEEDED or FAILED.
#[derive(Object, Deserialize)]
#[oai(rename_all = "camelCase", skip_serializing_if_is_none, example)]
#[serde(rename_all = "camelCase")]
pub struct StatusPatch {
    // RUNNING, SUCCEEDED or FAILED.
    pub status: RunStatus,
    /// Where the commit status (or GitHub deployment status) links to, e.g. the eval's
    /// report. Default: the run in this server's pages.
    #[serde(default, deserialize_with = "present")]
    pub target_url: Option<HttpUrl>,
}

/// An eval run's status change: PENDING → RUNNING → SUCCEEDED or FAILED, with the scores.
///
/// `status`: RUNNING, SUCCEEDED or FAILED.
#[derive(Object, Deserialize)]
#[oai(rename_all = "camelCase", skip_serializing_if_is_none, example)]
#[serde(rename_all = "camelCase")]
pub struct EvalRunStatusPatch {
    // RUNNING, SUCCEEDED or FAILED.
    pub status: RunStatus,
    /// Where the commit status or the check run links to, e.g. the eval's report. Default:
    /// the run in this server's pages.
    #[serde(default, deserialize_with = "present")]
    pub target_url: Option<HttpUrl>,
    /// Markdown for the GitHub check run's output (the scores), at most 65,535 characters, as
    /// GitHub takes; for an integration that runs as a GitHub App. Kept: a later status
    /// without one shows the last one, and a new one alone updates the check run.
    #[oai(validator(max_length = 65535))]
    #[serde(default, deserialize_with = "present")]
    pub summary: Option<String>,
    /// The overall score, from 0 to 1. With `metrics` and `cases`, the run's results: any of
    /// the three replaces the results last reported (the others then count as none).
    #[oai(validator(minimum(value = "0"), maximum(value = "1")))]
    #[serde(default, deserialize_with = "present")]
    pub score: Option<f64>,
    /// At most 50 measured values, compared with the baseline's of the same name on the
    /// pull request.
    #[oai(validator(max_items = 50))]
    #[serde(default, deserialize_with = "present")]
    pub metrics: Option<Vec<Metric>>,
    /// At most 1,000 evaluated cases; the failing ones are listed on the pull request, and
    /// those with a `path` and `line` annotate a GitHub App's check run.
    #[oai(validator(max_items = 1000))]
    #[serde(default, deserialize_with = "present")]
    pub cases: Option<Vec<Case>>,
}

impl EvalRunStatusPatch {
    /// The results it reports, if it reports any.
    fn results(&mut self) -> Option<Results> {
        if self.score.is_none() && self.metrics.is_none() && self.cases.is_none() {
            return None;
        }
        Some(Results {
            score: self.score,
            metrics: self.metrics.take().unwrap_or_default(),
            cases: self.cases.take().unwrap_or_default(),
        })
    }
}

impl poem_openapi::types::Example for EvalRunStatusPatch {
    fn example() -> Self {
        EvalRunStatusPatch {
            status: RunStatus::Succeeded,
            target_url: None,
            summary: Some("Nightly suite, 90 cases.".into()),
            score: Some(0.93),
            metrics: Some(vec![Metric {
                name: "accuracy".into(),
                value: 0.93,
                unit: None,
                higher_is_better: true,
                threshold: Some(0.9),
            }]),
            cases: Some(vec![Case {
                name: "adds two numbers".into(),
                passed: false,
                score: Some(0.0),
                message: Some("expected 4, got 5".into()),
                path: Some("evals/math.py".into()),
                line: Some(12),
            }]),
        }
    }
}

impl poem_openapi::types::Example for StatusPatch {
    fn example() -> Self {
        StatusPatch {
            status: RunStatus::Succeeded,
            target_url: None,
        }
    }
}

/// What was last said about a run to GitHub or GitLab, and the answer.
///
/// `kind`: COMMIT_STATUS, DEPLOYMENT or DEPLOYMENT_STATUS.
/// `status`: PENDING, SENDING, SENT or FAILED.
#[derive(Object)]
#[oai(rename_all = "camelCase", skip_serializing_if_is_none)]
pub struct PostedOut {
    /// The outbox row's id.
    pub id: String,
    // COMMIT_STATUS, DEPLOYMENT or DEPLOYMENT_STATUS.
    pub kind: OutboxKind,
    /// The state sent, e.g. `success`.
    pub state: Option<String>,
    // PENDING, SENDING, SENT or FAILED.
    pub status: OutboxStatus,
    /// When the remote accepted it (RFC 3339, UTC).
    pub sent_at: Option<Timestamp>,
    /// The remote's HTTP status.
    pub response_status: Option<i64>,
    /// Why it has not been accepted.
    pub last_error: Option<String>,
}

fn posted_out(row: OutboxRow) -> PostedOut {
    PostedOut {
        state: row.request["body"]["state"].as_str().map(str::to_string),
        id: row.id,
        kind: row.kind,
        status: row.status,
        sent_at: row.sent_at.map(Timestamp),
        response_status: row.response_status,
        last_error: row.last_error,
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

fn eval_out(r: EvalRun, last_post: Option<OutboxRow>) -> EvalRunOut {
    let web = RepoWeb::from_link(r.url.as_deref());
    EvalRunOut {
        attempt: r.attempt,
        superseded_by: r.superseded_by,
        verified: r.verified,
        last_post: last_post.map(posted_out),
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
        created_at: Timestamp(r.created_at),
        updated_at: Timestamp(r.updated_at),
        timeout_at: r.timeout_at.map(Timestamp),
        score: r.score,
    }
}

fn deployment_out(d: Deployment, last_post: Option<OutboxRow>) -> DeploymentOut {
    let web = RepoWeb::from_link(d.url.as_deref());
    DeploymentOut {
        remote_id: d.remote_id,
        verified: d.verified,
        last_post: last_post.map(posted_out),
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
        created_at: Timestamp(d.created_at),
        updated_at: Timestamp(d.updated_at),
        timeout_at: d.timeout_at.map(Timestamp),
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

/// How a kind of run is loaded, and seen by its life cycle (`pipeline::runs`).
struct RunKindOf<T> {
    kind: RunKind,
    load: fn(Conn<'_>, &str) -> AppResult<T>,
    run: fn(&T) -> life::Run<'_>,
}

/// GitHub's limit for a check run's `output.summary`.
const MAX_SUMMARY_CHARS: usize = 65_535;

/// Moves an eval run's or a deployment's status and, in the same transaction, queues what
/// the remote is told and, when it finishes, the announcement.
async fn change_status<T: Send + 'static>(
    state: &SharedState,
    caller: Caller,
    raw_id: &str,
    patch: StatusPatch,
    summary: Option<String>,
    results: Option<Results>,
    how: RunKindOf<T>,
) -> AppResult<(T, Option<OutboxRow>)> {
    let id = model::parse_id(raw_id).ok_or(AppError::NotFound(how.kind.what()))?;
    let next = patch.status;
    let target_url = patch.target_url.map(HttpUrl::into_string);
    if summary
        .as_ref()
        .is_some_and(|text| text.chars().count() > MAX_SUMMARY_CHARS)
    {
        return Err(AppError::invalid(
            "summary",
            format!("must be at most {MAX_SUMMARY_CHARS} characters, as GitHub takes"),
        ));
    }
    if let Some(results) = &results {
        results.check()?;
    }
    let results = results.map(|r| {
        let json = serde_json::to_string(&r).unwrap_or_default();
        (r, json)
    });
    let row = state
        .write({
            let state = state.clone();
            move |tx| {
                let now = state.clock.now_ms();
                let before = runs::set_status(tx, how.kind, &id, next, now)?;
                // A new summary is news even without a new status: the check run shows it.
                let summary_changed = match &summary {
                    Some(text) if runs::summary(tx, &id)?.as_deref() != Some(text.as_str()) => {
                        runs::set_summary(tx, &id, text)?;
                        true
                    }
                    _ => false,
                };
                // New results are news at one status too: the status line, check run and comment.
                let results_changed = match &results {
                    Some((_, json))
                        if runs::results(tx, &id)?.as_deref() != Some(json.as_str()) =>
                    {
                        runs::set_results(
                            tx,
                            &id,
                            results.as_ref().and_then(|(r, _)| r.score),
                            json,
                        )?;
                        true
                    }
                    _ => false,
                };
                let row = (how.load)(tx, &id)?;
                let run = (how.run)(&row);
                if before != next || summary_changed || results_changed {
                    let action = match how.kind {
                        RunKind::EvalRun => Action::EvalRunStatusChanged,
                        RunKind::Deployment => Action::DeploymentStatusChanged,
                    };
                    let mut entry = caller.did(action, &id).on_integration(run.integration_id());
                    if before != next {
                        entry.changes["status"] =
                            json!({"before": before.as_str(), "after": next.as_str()});
                    }
                    if summary_changed {
                        entry.changes["summary"] = json!({"before": null, "after": summary});
                    }
                    if let (true, Some((r, _))) = (results_changed, &results) {
                        let (passed, total) = r.passed();
                        entry.changes["results"] = json!({"after": {
                            "score": r.score, "metrics": r.metrics.len(),
                            "casesPassed": passed, "cases": total,
                        }});
                    }
                    db::audit::record(tx, &entry, now)?;
                }
                let how_it_moved = life::Move {
                    before,
                    summary_changed,
                    results_changed,
                    target_url: target_url.as_deref(),
                };
                let told = life::moved(tx, &state.secrets, &state.public_url, run, &how_it_moved)?;
                life::queue(tx, &told, now, state.max_queued_alerts)?;
                // What the answer shows as the last post, read in the same turn.
                let post = outbox::latest_for_subject(tx, &id)?;
                Ok((row, post))
            }
        })
        .await?;
    state.outbox.wake();
    Ok(row)
}

/// The newest outbox row about each of `ids`.
fn last_posts(
    conn: Conn<'_>,
    ids: impl Iterator<Item = String>,
) -> AppResult<Vec<Option<OutboxRow>>> {
    ids.map(|id| outbox::latest_for_subject(conn, &id))
        .collect()
}

type ListErrors = ApiError<{ AUTHED | UNPROCESSABLE }>;
type ChangeErrors = ApiError<{ AUTHED | NOT_FOUND | CONFLICT | JSON_BODY }>;

#[OpenApi(tag = "ApiTags::Runs")]
impl RunsApi {
    /// List eval runs.
    ///
    /// Eval runs, newest first, filtered by integration, repository and status.
    #[oai(path = "/eval-runs", method = "get", operation_id = "listEvalRuns")]
    #[allow(clippy::too_many_arguments)]
    async fn list_eval_runs(
        &self,
        _auth: BearerAuth,
        state: Data<&SharedState>,
        /// Only runs from this integration.
        #[oai(name = "integrationId")]
        integration_id: Query<Option<Id>>,
        /// Only runs of this repository (`owner/name` or `group/project`).
        #[oai(example = "crate::http::api::examples::repo")]
        repo: Query<Option<String>>,
        /// Only rows with this status.
        status: Query<Option<RunStatus>>,
        /// Page size, 1–200 (default 50).
        #[oai(
            validator(minimum(value = "1"), maximum(value = "200")),
            example = "crate::http::api::examples::page_size"
        )]
        limit: Query<Option<u32>>,
        /// `nextCursor` of the previous page.
        cursor: Query<Option<Cursor>>,
    ) -> Result<Json<EvalRunPage>, ListErrors> {
        let f = filter(integration_id.0, repo.0, status.0, limit.0, cursor.0);
        let fetched = f.limit;
        let (rows, posts) = db::run(&state.pool, move |conn| {
            let rows = runs::list_eval_runs(conn, &f)?;
            let posts = last_posts(conn, rows.iter().map(|r| r.id.clone()))?;
            Ok((rows, posts))
        })
        .await?;
        let (rows, next_cursor) =
            paging::split(rows, fetched, |r| format!("{}.{}", r.created_at, r.id));
        Ok(Json(EvalRunPage {
            items: rows
                .into_iter()
                .zip(posts)
                .map(|(r, p)| eval_out(r, p))
                .collect(),
            next_cursor,
        }))
    }

    /// Update an eval run's status.
    ///
    /// Move an eval run's status. SUCCEEDED and FAILED are announced to Slack
    /// (`eval_run.succeeded`, `eval_run.failed`); a finished run cannot change again (409).
    #[oai(
        path = "/eval-runs/:id",
        method = "patch",
        operation_id = "updateEvalRun"
    )]
    async fn update_eval_run(
        &self,
        auth: BearerAuth,
        state: Data<&SharedState>,
        /// The eval run's id.
        #[oai(example = "crate::http::api::examples::eval_run_id")]
        id: Path<String>,
        body: JsonBody<EvalRunStatusPatch>,
    ) -> Result<Json<EvalRunOut>, ChangeErrors> {
        let mut patch = body.0;
        let results = patch.results();
        let EvalRunStatusPatch {
            status,
            target_url,
            summary,
            ..
        } = patch;
        let (run, post) = change_status(
            &state,
            auth.0,
            &id.0,
            StatusPatch { status, target_url },
            summary,
            results,
            RunKindOf {
                kind: RunKind::EvalRun,
                load: runs::get_eval_run,
                run: |r: &EvalRun| life::Run::Eval(r),
            },
        )
        .await?;
        Ok(Json(eval_out(run, post)))
    }

    /// List deployments.
    ///
    /// Deployments, newest first, filtered by integration, repository and status.
    #[oai(
        path = "/deployments",
        method = "get",
        operation_id = "listDeployments"
    )]
    #[allow(clippy::too_many_arguments)]
    async fn list_deployments(
        &self,
        _auth: BearerAuth,
        state: Data<&SharedState>,
        /// Only deployments from this integration.
        #[oai(name = "integrationId")]
        integration_id: Query<Option<Id>>,
        /// Only deployments of this repository.
        #[oai(example = "crate::http::api::examples::repo")]
        repo: Query<Option<String>>,
        /// Only rows with this status.
        status: Query<Option<RunStatus>>,
        /// Page size, 1–200 (default 50).
        #[oai(
            validator(minimum(value = "1"), maximum(value = "200")),
            example = "crate::http::api::examples::page_size"
        )]
        limit: Query<Option<u32>>,
        /// `nextCursor` of the previous page.
        cursor: Query<Option<Cursor>>,
    ) -> Result<Json<DeploymentPage>, ListErrors> {
        let f = filter(integration_id.0, repo.0, status.0, limit.0, cursor.0);
        let fetched = f.limit;
        let (rows, posts) = db::run(&state.pool, move |conn| {
            let rows = runs::list_deployments(conn, &f)?;
            let posts = last_posts(conn, rows.iter().map(|d| d.id.clone()))?;
            Ok((rows, posts))
        })
        .await?;
        let (rows, next_cursor) =
            paging::split(rows, fetched, |d| format!("{}.{}", d.created_at, d.id));
        Ok(Json(DeploymentPage {
            items: rows
                .into_iter()
                .zip(posts)
                .map(|(d, p)| deployment_out(d, p))
                .collect(),
            next_cursor,
        }))
    }

    /// Update a deployment's status.
    ///
    /// Move a deployment's status. SUCCEEDED and FAILED are announced to Slack
    /// (`promotion.succeeded`, `promotion.failed`); a finished one cannot change again (409).
    #[oai(
        path = "/deployments/:id",
        method = "patch",
        operation_id = "updateDeployment"
    )]
    async fn update_deployment(
        &self,
        auth: BearerAuth,
        state: Data<&SharedState>,
        /// The deployment's id.
        #[oai(example = "crate::http::api::examples::deployment_id")]
        id: Path<String>,
        body: JsonBody<StatusPatch>,
    ) -> Result<Json<DeploymentOut>, ChangeErrors> {
        let (deployment, post) = change_status(
            &state,
            auth.0,
            &id.0,
            body.0,
            None,
            None,
            RunKindOf {
                kind: RunKind::Deployment,
                load: runs::get_deployment,
                run: |d: &Deployment| life::Run::Deployment(d),
            },
        )
        .await?;
        Ok(Json(deployment_out(deployment, post)))
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
