//! `GET /api/eval-runs/{id}/results`: what an eval run's runner reported (its score, metrics
//! and cases), beside its baseline's: the newest succeeded run of a push to the same
//! repository's base branch (`eval.on_push`), else of a pull request merged into it.

use poem::web::Data;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};

use super::errors::{AUTHED, ApiError, NOT_FOUND};
use super::{ApiTags, BearerAuth};
use crate::base::error::AppError;
use crate::db::{self, integrations, runs};
use crate::domain::eval_results::{self, Case};
use crate::domain::model;
use crate::http::state::SharedState;
use crate::pipeline::report::Shown;

pub struct RunResultsApi;

/// A metric of the run beside the baseline's of the same name.
#[derive(Object)]
#[oai(rename_all = "camelCase", skip_serializing_if_is_none)]
pub struct ComparedMetric {
    /// The metric's name.
    pub name: String,
    /// The run's value.
    pub value: f64,
    /// Its unit (`ms`, `%`).
    pub unit: Option<String>,
    /// Whether a larger value is better.
    pub higher_is_better: bool,
    /// The value it must reach to pass.
    pub threshold: Option<f64>,
    /// The baseline's value, when the baseline measured it.
    pub baseline: Option<f64>,
    /// `value − baseline`.
    pub change: Option<f64>,
    /// Whether it reaches its threshold; absent without one.
    pub passed: Option<bool>,
}

/// The run an eval run's results are compared with.
#[derive(Object)]
#[oai(rename_all = "camelCase")]
pub struct BaselineRun {
    /// The baseline eval run's id.
    pub id: String,
    /// Its merged pull request (GitLab: merge request); 0 for a push's run (`eval.on_push`).
    pub number: i64,
    /// The commit it evaluated.
    pub head_sha: String,
    /// Its overall score, if it had one.
    pub score: Option<f64>,
}

/// An eval run's results beside its baseline's.
#[derive(Object)]
#[oai(rename_all = "camelCase", skip_serializing_if_is_none)]
pub struct EvalRunResults {
    /// The eval run's id.
    pub run_id: String,
    /// Whether its runner reported results at all.
    pub reported: bool,
    /// The overall score (0–1).
    pub score: Option<f64>,
    /// The baseline's overall score.
    pub baseline_score: Option<f64>,
    /// The one line its commit status shows, e.g. `87/90 passed · accuracy 0.93 (+0.02)`.
    pub line: Option<String>,
    /// How many cases passed.
    pub cases_passed: i64,
    /// How many cases it reported.
    pub cases_total: i64,
    /// Its metrics, in the order reported, beside the baseline's.
    pub metrics: Vec<ComparedMetric>,
    /// The cases that failed, in the order reported.
    pub failing_cases: Vec<Case>,
    // The run its results are compared with; absent when no merged pull request's run
    // succeeded with results yet.
    pub baseline: Option<BaselineRun>,
}

type ReadErrors = ApiError<{ AUTHED | NOT_FOUND }>;

fn results_out(run_id: String, shown: Option<Shown>) -> EvalRunResults {
    let Some(shown) = shown else {
        return EvalRunResults {
            run_id,
            reported: false,
            score: None,
            baseline_score: None,
            line: None,
            cases_passed: 0,
            cases_total: 0,
            metrics: vec![],
            failing_cases: vec![],
            baseline: None,
        };
    };
    let baseline_results = shown.baseline.as_ref().map(|(_, r)| r);
    let metrics = eval_results::compare(&shown.results, baseline_results)
        .into_iter()
        .map(|c| ComparedMetric {
            name: c.metric.name.clone(),
            value: c.metric.value,
            unit: c.metric.unit.clone(),
            higher_is_better: c.metric.higher_is_better,
            threshold: c.metric.threshold,
            baseline: c.baseline,
            change: c.delta,
            passed: c.passed,
        })
        .collect();
    let (passed, total) = shown.results.passed();
    EvalRunResults {
        run_id,
        reported: true,
        score: shown.results.score,
        baseline_score: baseline_results.and_then(|r| r.score),
        line: shown.one_line(),
        cases_passed: passed as i64,
        cases_total: total as i64,
        metrics,
        failing_cases: shown
            .results
            .cases
            .iter()
            .filter(|c| !c.passed)
            .cloned()
            .collect(),
        baseline: shown.baseline.as_ref().map(|(b, r)| BaselineRun {
            id: b.id.clone(),
            number: b.number,
            head_sha: b.head_sha.clone(),
            score: r.score,
        }),
    }
}

#[OpenApi(tag = "ApiTags::Runs")]
impl RunResultsApi {
    /// Get an eval run's results.
    ///
    /// The score, metrics and failing cases its runner last reported, beside its baseline's
    /// (the newest succeeded run of a pull request merged into the same repository).
    #[oai(
        path = "/eval-runs/:id/results",
        method = "get",
        operation_id = "getEvalRunResults"
    )]
    async fn get_eval_run_results(
        &self,
        _auth: BearerAuth,
        state: Data<&SharedState>,
        /// The eval run's id.
        #[oai(example = "crate::http::api::examples::eval_run_id")]
        id: Path<String>,
    ) -> Result<Json<EvalRunResults>, ReadErrors> {
        let id = model::parse_id(&id.0).ok_or(AppError::NotFound("eval run"))?;
        let out = db::run(&state.pool, move |conn| {
            let run = runs::get_eval_run(conn, &id)?;
            let from_pushes = integrations::get(conn, &run.integration_id)?
                .settings
                .evaluates_pushes();
            let shown = Shown::load(conn, &run, from_pushes)?;
            Ok(results_out(run.id, shown))
        })
        .await?;
        Ok(Json(out))
    }
}
