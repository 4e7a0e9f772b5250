//! What GitHub and GitLab are told about eval runs and deployments, as outbox rows: the
//! commit status or check run that matches a run's state (`provenant/eval`) with its results
//! against the baseline, the pull request's one results comment, and for a deployment a GitHub
//! deployment with its statuses, or a GitLab commit status (`provenant/deploy`); and the rows
//! that start a run where it runs. Deciding only: the outbox sends them.

use crate::base::error::AppResult;
use crate::db::Conn;
use crate::db::runs::{self, Baseline};
use crate::domain::actions::{DEPLOY_CONTEXT, EVAL_CONTEXT};
use crate::domain::eval_results::{self, Results};
use serde_json::{Value, json};

use crate::db::integrations::Integration;
use crate::db::outbox::NewRow;
use crate::db::runs::{Deployment, EvalRun};
use crate::domain::integration_config::{
    IntegrationConfig, PIPELINE_VARIABLES, Target, WORKFLOW_INPUTS,
};
use crate::domain::model::{OutboxKind, RunKind, RunStatus};
use crate::domain::secrets::SecretBox;
use crate::pipeline::secrets;
use crate::remote;
use crate::remote::call::{ApiCall, Method};
use crate::remote::forge::{Forge, StatusState};

pub const DEFAULT_ENVIRONMENT: &str = "production";

/// Where an integration's API calls queue, as the outbox names it: the API host and a keyed
/// fingerprint of the token (`github:api.github.com:3f9a…`), since that is what GitHub and
/// GitLab rate-limit on. Never the token itself, nor a plain hash of it (a weak token could be
/// confirmed offline). An integration that runs as a GitHub App queues by the App and the
/// repository's owner (`github:api.github.com:app42:octo-org`): GitHub rate-limits per
/// installation, and an App is installed once per account. None when the integration has no
/// credentials.
/// `repo` is the repository the calls are about (`owner/name`), for an integration that
/// takes several.
pub fn api_destination(
    conn: Conn<'_>,
    secrets: &SecretBox,
    integration: &Integration,
    repo: Option<&str>,
) -> Result<Option<String>, String> {
    if let (Some(app), IntegrationConfig::Github(config)) =
        (integration.settings.github_app(), &integration.settings)
    {
        let base = remote::api_base(&integration.settings);
        let Some(repo) = repo.or(config.single_repo()) else {
            return Err("no repository to queue the App's calls by".into());
        };
        let owner = remote::github_app::owner_of(repo).to_ascii_lowercase();
        return Ok(Some(format!(
            "{}:{owner}",
            app_destination(&base, app.app_id)
        )));
    }
    // Only a name for the queue: the token is not sent anywhere from here.
    let Some(token) = secrets::resolve_config_value(
        conn,
        secrets,
        &integration.id,
        "token",
        integration.settings.token(),
        None,
    )?
    else {
        return Ok(None);
    };
    let base = remote::api_base(&integration.settings);
    let host = api_host(&base);
    let prefix = Forge::of(&integration.settings).map_or("github", Forge::label);
    Ok(Some(format!(
        "{prefix}:{host}:{}",
        secrets.fingerprint(&token)
    )))
}

/// Where a GitHub App's own calls queue (with its JWT: its delivery log, redeliveries);
/// its installations' calls queue under it, by account, since GitHub limits each apart.
pub fn app_destination(api_base: &str, app_id: u64) -> String {
    format!("github:{}:app{app_id}", api_host(api_base))
}

fn api_host(base: &str) -> &str {
    base.split("://")
        .nth(1)
        .unwrap_or(base)
        .split('/')
        .next()
        .unwrap_or("")
}

/// A run's place in this server's pages, for a status's `target_url`.
pub fn run_link(public_url: &str, page: &str, id: &str) -> String {
    format!("{public_url}/{page}#{id}")
}

/// What a dispatch says of its run: a workflow's inputs, a pipeline's variables, the ref it
/// runs on.
pub struct Dispatched<'a> {
    pub kind: RunKind,
    pub id: &'a str,
    pub repo: &'a str,
    /// The pull request (an eval run's; a deployment's, when known).
    pub pr_number: Option<i64>,
    /// The commit to evaluate or deploy.
    pub sha: &'a str,
    /// The branch it is compared with (an eval run) or lands on (a deployment).
    pub base_branch: &'a str,
    /// The branch whose head is `sha`: where a workflow or pipeline runs unless its config
    /// names a `ref`, so that the job's OIDC token names the run's commit (the pull request's
    /// branch; for a deployment, the branch it landed on).
    pub at_branch: &'a str,
}

impl<'a> Dispatched<'a> {
    pub fn eval_run(integration: &'a Integration, run: &'a EvalRun) -> Dispatched<'a> {
        Dispatched {
            kind: RunKind::EvalRun,
            id: &run.id,
            repo: &run.repo,
            // A push's run (`eval.on_push`) has none.
            pr_number: (run.number > 0).then_some(run.number),
            sha: &run.head_sha,
            base_branch: integration.settings.branch(),
            at_branch: run
                .head_branch
                .as_deref()
                .unwrap_or(integration.settings.branch()),
        }
    }

    pub fn deployment(deployment: &'a Deployment) -> Dispatched<'a> {
        Dispatched {
            kind: RunKind::Deployment,
            id: &deployment.id,
            repo: &deployment.repo,
            pr_number: deployment.pr_number,
            sha: &deployment.commit_sha,
            base_branch: &deployment.branch,
            at_branch: &deployment.branch,
        }
    }

    /// The run's id, repository, pull request (empty when none), commit and base branch,
    /// under `names` (a workflow's inputs, a pipeline's variables), as strings.
    fn values(&self, names: &'static [&'static str]) -> impl Iterator<Item = (String, Value)> {
        let values = [
            self.id.to_string(),
            self.repo.to_string(),
            self.pr_number.map(|n| n.to_string()).unwrap_or_default(),
            self.sha.to_string(),
            self.base_branch.to_string(),
        ];
        names
            .iter()
            .zip(values)
            .map(|(name, value)| (name.to_string(), json!(value)))
    }
}

/// Whether an outbox destination is an HTTP runner's (`runner:<origin>`), whose rows the
/// outbox makes into signed requests when it sends them.
pub fn is_runner(destination: &str) -> bool {
    destination.starts_with(RUNNER_DESTINATION)
}

/// The prefix of an HTTP runner's outbox destination, before the runner's origin.
const RUNNER_DESTINATION: &str = "runner:";

/// The row that starts a new run where its kind is dispatched (`eval.dispatch`,
/// `deploy.dispatch`), once per run:
/// - for an HTTP runner, queued by the runner's origin; the URL, the secret and the callback
///   token are taken when it is sent, so the stored row carries none of them;
/// - for a GitHub Actions workflow or a GitLab pipeline, the API call that starts it, queued
///   with the integration's other API calls (`api_destination`; None: no credentials,
///   nothing is started).
pub fn dispatch_row(
    integration: &Integration,
    api_destination: Option<&str>,
    run: &Dispatched<'_>,
) -> Option<NewRow> {
    let dispatch = integration.settings.dispatch(run.kind)?;
    let event_type = requested(run.kind);
    let mut row = match dispatch.target()? {
        Target::Runner { url, .. } => {
            let origin = crate::domain::hosts::origin(url.as_str()).unwrap_or_default();
            NewRow {
                kind: OutboxKind::Dispatch,
                integration_id: integration.id.clone(),
                destination: format!("{RUNNER_DESTINATION}{origin}"),
                event_type: None,
                dedupe_key: None,
                coalesce_key: None,
                subject_id: Some(run.id.to_string()),
                source_event_id: None,
                request: json!({"type": event_type, "runId": run.id}),
            }
        }
        forge => {
            let (path, body) = forge_call(&forge, run)?;
            api_row(
                OutboxKind::Dispatch,
                integration,
                api_destination?,
                None,
                run.id,
                Method::Post,
                Some(run.repo),
                &path,
                body,
            )
        }
    };
    row.event_type = Some(event_type.into());
    row.dedupe_key = Some(format!("dispatch:{}", run.id));
    Some(row)
}

/// The forge API call that starts a run's workflow or pipeline: its path under the
/// repository's and its body. None for an HTTP runner.
fn forge_call(target: &Target<'_>, run: &Dispatched<'_>) -> Option<(String, Value)> {
    match target {
        Target::Runner { .. } => None,
        Target::GithubWorkflow {
            workflow,
            git_ref,
            inputs,
        } => {
            let mut given: serde_json::Map<String, Value> = inputs
                .iter()
                .flat_map(|inputs| inputs.iter())
                .map(|(name, value)| (name.clone(), json!(value)))
                .collect();
            given.extend(run.values(WORKFLOW_INPUTS));
            let path = format!(
                "/actions/workflows/{}/dispatches",
                remote::segment(workflow)
            );
            let body = json!({"ref": git_ref.unwrap_or(run.at_branch), "inputs": given});
            Some((path, body))
        }
        // The trigger token is added when the row is sent: the stored row never holds it.
        Target::GitlabPipeline { git_ref, .. } => {
            let variables: serde_json::Map<String, Value> =
                run.values(PIPELINE_VARIABLES).collect();
            let body = json!({"ref": git_ref.unwrap_or(run.at_branch), "variables": variables});
            Some(("/trigger/pipeline".into(), body))
        }
    }
}

/// What an HTTP runner is asked when an eval run is created.
pub const DISPATCH_REQUESTED: &str = "eval_run.requested";
/// What an HTTP runner is asked when a deployment is created.
pub const DEPLOYMENT_REQUESTED: &str = "deployment.requested";
/// What an HTTP runner is told when a newer head commit supersedes a run it was given.
pub const DISPATCH_CANCELLED: &str = "eval_run.cancelled";

/// The request type that asks a runner to start a run of `kind`.
pub fn requested(kind: RunKind) -> &'static str {
    match kind {
        RunKind::EvalRun => DISPATCH_REQUESTED,
        RunKind::Deployment => DEPLOYMENT_REQUESTED,
    }
}

/// The kind of run a dispatch row's request type is about; None for a type this build does
/// not know.
pub fn dispatched_kind(request_type: &str) -> Option<RunKind> {
    match request_type {
        DISPATCH_REQUESTED | DISPATCH_CANCELLED => Some(RunKind::EvalRun),
        DEPLOYMENT_REQUESTED => Some(RunKind::Deployment),
        _ => None,
    }
}

/// The row that tells the integration's HTTP runner an eval run was superseded: after the
/// run's own request in the runner's queue, so it never arrives first. None for a workflow,
/// which has no such message.
pub fn dispatch_cancel_row(integration: &Integration, run: &EvalRun) -> Option<NewRow> {
    let mut row = dispatch_row(integration, None, &Dispatched::eval_run(integration, run))?;
    row.event_type = Some(DISPATCH_CANCELLED.into());
    row.dedupe_key = Some(format!("dispatch-cancel:{}", run.id));
    row.request = json!({"type": DISPATCH_CANCELLED, "runId": run.id});
    Some(row)
}

/// A SLACK integration's messages queue on their own (one webhook URL each).
pub fn slack_destination(integration_id: &str) -> String {
    format!("slack:{integration_id}")
}

/// A row for the remote's API: `path` under the repository's own (see [`repo_path`]); the
/// repository is kept with the request (who to authenticate as, for a GitHub App).
#[allow(clippy::too_many_arguments)]
fn api_row(
    kind: OutboxKind,
    integration: &Integration,
    destination: &str,
    coalesce_key: Option<String>,
    subject_id: &str,
    method: Method,
    repo: Option<&str>,
    path: &str,
    body: Value,
) -> NewRow {
    let path = format!("{}{path}", repo_path(&integration.settings, repo));
    let call = ApiCall::new(method, path).with_body(body).about(repo);
    call_row(
        kind,
        integration,
        destination,
        coalesce_key,
        subject_id,
        &call,
    )
}

/// A row that makes `call`.
fn call_row(
    kind: OutboxKind,
    integration: &Integration,
    destination: &str,
    coalesce_key: Option<String>,
    subject_id: &str,
    call: &ApiCall,
) -> NewRow {
    NewRow {
        kind,
        integration_id: integration.id.clone(),
        destination: destination.to_string(),
        event_type: None,
        dedupe_key: None,
        coalesce_key,
        subject_id: Some(subject_id.to_string()),
        source_event_id: None,
        request: call.to_json(),
    }
}

/// Where the integration's webhook lives in its API: the repository's or project's, or with a
/// GitLab `group`, the group's (`/groups/my-group`).
pub fn hook_owner_path(config: &IntegrationConfig) -> String {
    match config {
        IntegrationConfig::Gitlab(c) if c.project_id.is_none() => {
            let group = c.group.as_ref().map(|g| g.as_str()).unwrap_or_default();
            remote::path(&["groups", group])
        }
        _ => repo_path(config, None),
    }
}

/// `/repos/owner/name` or `/projects/42` (`/projects/group%2Fproject`): where a repository
/// lives in its API, each part encoded as one segment. `repo` is a run's repository (its
/// project path on GitLab), for an integration that takes several; else the configured one.
pub fn repo_path(config: &IntegrationConfig, repo: Option<&str>) -> String {
    match config {
        IntegrationConfig::Gitlab(c) => {
            let project = match (&c.project_id, repo) {
                (Some(id), _) => id.to_string(),
                (None, Some(path)) => path.to_string(),
                (None, None) => String::new(),
            };
            remote::path(&["projects", &project])
        }
        IntegrationConfig::Github(c) => {
            let repo = repo.or(c.single_repo()).unwrap_or_default();
            let (owner, name) = repo.split_once('/').unwrap_or((repo, ""));
            remote::path(&["repos", owner, name])
        }
        _ => String::new(),
    }
}

/// A commit status; a newer one for the same commit and context replaces it while queued.
#[allow(clippy::too_many_arguments)]
fn commit_status(
    integration: &Integration,
    destination: &str,
    repo: &str,
    subject_id: &str,
    sha: &str,
    context: &str,
    state: StatusState,
    description: &str,
    target_url: Option<&str>,
) -> NewRow {
    let forge = Forge::of(&integration.settings).unwrap_or(Forge::Github);
    let mut body = forge.status_body(state, context, description);
    if let Some(url) = target_url {
        body["target_url"] = json!(url);
    }
    api_row(
        OutboxKind::CommitStatus,
        integration,
        destination,
        Some(format!("status:{sha}:{context}")),
        subject_id,
        Method::Post,
        Some(repo),
        &remote::path(&["statuses", sha]),
        body,
    )
}

fn short(sha: &str) -> String {
    sha.chars().take(7).collect()
}

/// The `provenant/eval` status that says where `run` stands: with results, their one line
/// (`87/90 passed · accuracy 0.93 (+0.02)`).
fn eval_run_status(
    integration: &Integration,
    destination: &str,
    run: &EvalRun,
    report: &EvalReport<'_>,
) -> NewRow {
    let state = match (report.newer, run.status) {
        (Some(_), _) => StatusState::Cancelled,
        (None, RunStatus::Pending) => StatusState::Pending,
        (None, RunStatus::Running) => StatusState::Running,
        (None, RunStatus::Succeeded) => StatusState::Success,
        (None, RunStatus::Failed) => StatusState::Failure,
    };
    let description = eval_run_headline(run, report.newer, report.shown);
    commit_status(
        integration,
        destination,
        &run.repo,
        &run.id,
        &run.head_sha,
        EVAL_CONTEXT,
        state,
        &description,
        report.target_url,
    )
}

/// What a commit status's description and a check run's title say of `run`: superseded by
/// `newer`, else its results' one line, else its status in words.
fn eval_run_headline(run: &EvalRun, newer: Option<&str>, shown: Option<&Shown>) -> String {
    if let Some(sha) = newer {
        return format!("Superseded by {}: not evaluated", short(sha));
    }
    if let Some(line) = shown.and_then(Shown::one_line) {
        return line;
    }
    match run.status {
        RunStatus::Pending => "Eval run queued by Provenant",
        RunStatus::Running => "Eval run in progress",
        RunStatus::Succeeded => "Eval run passed",
        RunStatus::Failed => "Eval run failed",
    }
    .to_string()
}

/// What a report of an eval run says besides its status.
#[derive(Default)]
pub struct EvalReport<'a> {
    /// The head commit of the run that superseded it, if one did.
    pub newer: Option<&'a str>,
    /// Where the status or check run links to.
    pub target_url: Option<&'a str>,
    /// The run's page in this server, which the results table links to.
    pub page: Option<&'a str>,
    /// The platform's Markdown for the check run's output.
    pub summary: Option<&'a str>,
    /// Its results, with the baseline's.
    pub shown: Option<&'a Shown>,
    /// Whether the run is new (its check run is created).
    pub created: bool,
}

/// An eval run's results as its reports show them, beside its baseline's.
pub struct Shown {
    pub results: Results,
    /// The baseline run and its results.
    pub baseline: Option<(Baseline, Results)>,
}

impl Shown {
    /// The results of `run` and of its baseline, if its runner reported any (results stored
    /// by this server always read back; ones that do not are shown as none). The baseline is
    /// the newest push's run when `from_pushes` (`eval.on_push`), else the newest merged pull
    /// request's.
    pub fn load(conn: Conn<'_>, run: &EvalRun, from_pushes: bool) -> AppResult<Option<Shown>> {
        let Some(results) = runs::results(conn, &run.id)?
            .and_then(|text| serde_json::from_str::<Results>(&text).ok())
        else {
            return Ok(None);
        };
        let baseline = runs::baseline(conn, run, from_pushes)?.and_then(|b| {
            let results = serde_json::from_str::<Results>(&b.results).ok()?;
            Some((b, results))
        });
        Ok(Some(Shown { results, baseline }))
    }

    fn baseline_results(&self) -> Option<&Results> {
        self.baseline.as_ref().map(|(_, r)| r)
    }

    /// The one line of a commit status or a check run's title.
    pub fn one_line(&self) -> Option<String> {
        eval_results::one_line(&self.results, self.baseline_results())
    }

    /// The Markdown table and failing cases, with the run's page.
    pub fn markdown(&self, link: Option<&str>) -> String {
        eval_results::Report {
            results: &self.results,
            baseline: self.baseline_results(),
            baseline_named: self.baseline.as_ref().map(|(b, _)| match b.number {
                0 => format!("run `{}` of the push of `{}`", b.id, short(&b.head_sha)),
                n => format!("run `{}` of #{n} at `{}`", b.id, short(&b.head_sha)),
            }),
            link,
        }
        .markdown()
    }
}

/// How the hidden mark on a pull request's results comment begins.
pub const COMMENT_MARK_START: &str = "<!-- provenant:eval:";

/// The hidden mark on the results comment of `repo`'s pull request `number`: keyed with this
/// server's key, so that a comment someone else wrote cannot pass for it (the comment is found
/// by it when an answer was lost).
pub fn comment_mark(secrets: &SecretBox, integration_id: &str, repo: &str, number: i64) -> String {
    let key = secrets.fingerprint(&format!("pr-comment\n{integration_id}\n{repo}#{number}"));
    format!("{COMMENT_MARK_START}{key} -->")
}

/// What a new result of `run` adds where people look, after its status: the pull request's
/// one comment (GitHub) or note (GitLab) with the table, created or edited in place when the
/// remote is told (unless `eval.comment` is false), carrying `mark` (see [`comment_mark`]);
/// and for a GitHub App's check run, the failing cases with a `path` and `line` as
/// annotations, 50 to a request after the check run's update (`with_annotations`: only for
/// new results, which GitHub would add twice).
pub fn results_rows(
    integration: &Integration,
    destination: &str,
    run: &EvalRun,
    shown: &Shown,
    link: &str,
    with_annotations: bool,
    mark: &str,
) -> Vec<NewRow> {
    let mut rows = vec![];
    if with_annotations && integration.settings.github_app().is_some() {
        let title = eval_run_headline(run, None, Some(shown));
        let summary = check_run_summary(run, None, Some(shown), Some(link));
        for (k, batch) in eval_results::annotation_batches(&shown.results)
            .into_iter()
            .enumerate()
        {
            rows.push(api_row(
                OutboxKind::CheckRunUpdate,
                integration,
                destination,
                Some(format!("check-run-annotations:{}:{k}", run.id)),
                &run.id,
                Method::Patch,
                Some(&run.repo),
                "/check-runs/{check_run_id}",
                json!({"output": {"title": title, "summary": summary, "annotations": batch}}),
            ));
        }
    }
    // A push's run (`eval.on_push`, number 0) has no pull request to comment on.
    if integration.settings.comments_on_pull_requests() && run.number > 0 {
        let verdict = match run.status {
            RunStatus::Pending => "⏳ queued",
            RunStatus::Running => "⏳ in progress",
            RunStatus::Succeeded => "✔ passed",
            RunStatus::Failed => "✘ failed",
        };
        let body = format!(
            "{mark}\n### {EVAL_CONTEXT} {verdict} at `{}`\n\n{}",
            short(&run.head_sha),
            shown.markdown(Some(link))
        );
        let path = match Forge::of(&integration.settings) {
            Some(Forge::Gitlab) => {
                remote::path(&["merge_requests", &run.number.to_string(), "notes"])
            }
            _ => remote::path(&["issues", &run.number.to_string(), "comments"]),
        };
        rows.push(api_row(
            OutboxKind::PrComment,
            integration,
            destination,
            Some(format!("pr-comment:{}#{}", run.repo, run.number)),
            &run.id,
            Method::Post,
            Some(&run.repo),
            &path,
            json!({"body": body}),
        ));
    }
    rows
}

/// A check run's summary: the platform's Markdown, then the results' table.
fn check_run_summary(
    run: &EvalRun,
    summary: Option<&str>,
    shown: Option<&Shown>,
    link: Option<&str>,
) -> String {
    let mut text = summary.map(str::to_string).unwrap_or_default();
    if let Some(shown) = shown {
        if !text.is_empty() {
            text.push_str("\n\n");
        }
        text.push_str(&shown.markdown(link));
    }
    if text.is_empty() {
        text = format!(
            "Eval run `{}` for #{} at `{}`.",
            run.id,
            run.number,
            short(&run.head_sha)
        );
    }
    // GitHub's limit for a check run's summary.
    text.chars().take(65_535).collect()
}

/// What GitHub or GitLab is told about where `run` stands: for an integration that runs as a
/// GitHub App, its check run (created with the run when `report.created`, updated after),
/// else the commit status.
pub fn eval_run_report(
    integration: &Integration,
    destination: &str,
    run: &EvalRun,
    report: &EvalReport<'_>,
) -> NewRow {
    if integration.settings.github_app().is_none() {
        return eval_run_status(integration, destination, run, report);
    }
    let (status, conclusion) = match (report.newer, run.status) {
        (Some(_), _) => ("completed", Some("cancelled")),
        (None, RunStatus::Pending) => ("queued", None),
        (None, RunStatus::Running) => ("in_progress", None),
        (None, RunStatus::Succeeded) => ("completed", Some("success")),
        (None, RunStatus::Failed) => ("completed", Some("failure")),
    };
    let title = eval_run_headline(run, report.newer, report.shown);
    let summary = check_run_summary(
        run,
        report.summary,
        report.shown,
        report.page.or(report.target_url),
    );
    let mut body = json!({"status": status, "output": {"title": title, "summary": summary}});
    if let Some(conclusion) = conclusion {
        body["conclusion"] = json!(conclusion);
    }
    if let Some(url) = report.target_url {
        body["details_url"] = json!(url);
    }
    if report.created {
        body["name"] = json!(EVAL_CONTEXT);
        body["head_sha"] = json!(run.head_sha);
        body["external_id"] = json!(run.id);
        return api_row(
            OutboxKind::CheckRun,
            integration,
            destination,
            None,
            &run.id,
            Method::Post,
            Some(&run.repo),
            "/check-runs",
            body,
        );
    }
    // GitHub's id comes from its answer to the CHECK_RUN row (see `outbox::prepare`).
    api_row(
        OutboxKind::CheckRunUpdate,
        integration,
        destination,
        Some(format!("check-run:{}", run.id)),
        &run.id,
        Method::Patch,
        Some(&run.repo),
        "/check-runs/{check_run_id}",
        body,
    )
}

/// What a deployment's state means on the remote: on GitHub, a deployment when it is
/// created and then its statuses; on GitLab, a `provenant/deploy` commit status.
pub fn deployment_rows(
    integration: &Integration,
    destination: &str,
    d: &Deployment,
    created: bool,
    target_url: Option<&str>,
) -> Vec<NewRow> {
    // A GitHub deployment's status has words of its own; GitLab's is a commit status.
    let (github_state, commit_state, description) = match d.status {
        RunStatus::Pending => (
            "queued",
            StatusState::Pending,
            "Deployment queued by Provenant",
        ),
        RunStatus::Running => (
            "in_progress",
            StatusState::Running,
            "Deployment in progress",
        ),
        RunStatus::Succeeded => ("success", StatusState::Success, "Deployed"),
        RunStatus::Failed => ("failure", StatusState::Failure, "Deployment failed"),
    };
    match &integration.settings {
        IntegrationConfig::Github(config) => {
            let environment = config
                .environment
                .as_ref()
                .map_or(DEFAULT_ENVIRONMENT, |e| e.as_str());
            let mut rows = vec![];
            if created {
                rows.push(api_row(
                    OutboxKind::Deployment,
                    integration,
                    destination,
                    None,
                    &d.id,
                    Method::Post,
                    Some(&d.repo),
                    "/deployments",
                    json!({
                        "ref": d.commit_sha,
                        "environment": environment,
                        "auto_merge": false,
                        "required_contexts": [],
                        "description": "Deployment recorded by Provenant",
                        "payload": {"provenant_deployment_id": d.id},
                    }),
                ));
            }
            let mut body = json!({
                "state": github_state,
                "description": description,
                "environment": environment,
            });
            if let Some(url) = target_url {
                body["log_url"] = json!(url);
            }
            rows.push(api_row(
                OutboxKind::DeploymentStatus,
                integration,
                destination,
                Some(format!("deployment-status:{}", d.id)),
                &d.id,
                Method::Post,
                Some(&d.repo),
                "/deployments/{deployment_id}/statuses",
                body,
            ));
            rows
        }
        IntegrationConfig::Gitlab(_) => vec![commit_status(
            integration,
            destination,
            &d.repo,
            &d.id,
            &d.commit_sha,
            DEPLOY_CONTEXT,
            commit_state,
            description,
            target_url,
        )],
        _ => vec![],
    }
}

/// The test endpoint's check that the token can read the repository or project.
pub fn access_check(integration: &Integration, destination: &str) -> NewRow {
    // The repository or project, or the group a GitLab group integration takes.
    let call = ApiCall::new(Method::Get, hook_owner_path(&integration.settings));
    call_row(
        OutboxKind::AccessCheck,
        integration,
        destination,
        None,
        &integration.id,
        &call,
    )
}
